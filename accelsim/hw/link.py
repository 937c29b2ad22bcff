"""The host <-> device link: the one place where its parameters become seconds."""

from __future__ import annotations

from accelsim.hw.job import JobCost
from accelsim.spec.hardware import HardwareSpec, LinkSpec, UplinkSpec


def link_bytes_per_s(link: LinkSpec | UplinkSpec) -> float:
    """Usable bandwidth of one direction: lanes x lane rate x encoding efficiency."""
    return link.bandwidth * link.lanes * link.efficiency


def uplink_share(hw: HardwareSpec) -> float:
    """In a box, the uplink seconds one second of a device's link time takes (the device link's usable bandwidth over
    the uplink's): the uplink is full when the devices' link shares add up to 1 / this. 0 without a box."""
    if hw.box is None:
        return 0.0
    return link_bytes_per_s(hw.link) / link_bytes_per_s(hw.box.uplink)


def transfer(link: LinkSpec, direction: str, n_bytes: float) -> JobCost:
    """One transfer of ``n_bytes`` in ``direction`` (h2d or d2h): a fixed latency plus bytes over the usable bandwidth.

    On a DMA queue of ``link.queue_depth`` 1 the latency holds the link like the bytes do; deeper, it is spent in a
    queue slot (``queued``), overlapping the transfer before it, and only the bytes hold the link. Every transfer op
    and every weight fetch over the link is costed here (a test spies on it)."""
    data = n_bytes / link_bytes_per_s(link)
    moved = (("host", n_bytes),)
    if link.queue_depth > 1:
        return JobCost(direction, data, data, latency_s=link.latency, queued=True, level_bytes=moved)
    return JobCost(direction, link.latency + data, data, level_bytes=moved)
