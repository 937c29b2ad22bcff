"""Data movement: the host link (per direction) and, where weights live there, device memory."""

from __future__ import annotations

from accelsim.spec.hardware import HardwareSpec, LinkSpec


def link_bytes_per_s(link: LinkSpec) -> float:
    """Usable bandwidth of one direction: lanes x lane rate x encoding efficiency."""
    return link.bandwidth * link.lanes * link.efficiency


def transfer_seconds(link: LinkSpec, n_bytes: float) -> float:
    """One transfer over the link: fixed latency plus bytes over bandwidth."""
    return link.latency + n_bytes / link_bytes_per_s(link)


def transfer_phases(link: LinkSpec, n_bytes: float) -> tuple[float, float]:
    """(setup, data) seconds of one transfer on a DMA queue of ``link.queue_depth``: with depth 1 the latency
    holds the link like the bytes do (setup 0); deeper, the latency is spent in a queue slot, overlapping the
    transfer before it, and only the bytes hold the link."""
    data = n_bytes / link_bytes_per_s(link)
    if link.queue_depth > 1:
        return link.latency, data
    return 0.0, link.latency + data


def fetch_phases(hw: HardwareSpec, n_bytes: float) -> tuple[float, float]:
    """(setup, data) seconds of a weight fetch: the link's DMA queue, or device memory (no setup)."""
    if hw.memory.weights_home == "host":
        return transfer_phases(hw.link, n_bytes)
    return 0.0, fetch_seconds(hw, n_bytes)


def fetch_resource(hw: HardwareSpec) -> str:
    """Which channel weight fetches use: the host->device link or device memory."""
    return "h2d" if hw.memory.weights_home == "host" else "dram"


def fetch_seconds(hw: HardwareSpec, n_bytes: float) -> float:
    """Bring weights that are not resident into the scratchpad."""
    if hw.memory.weights_home == "host":
        return transfer_seconds(hw.link, n_bytes)
    assert hw.memory.device_bandwidth is not None  # guaranteed by MemorySpec validation
    return n_bytes / hw.memory.device_bandwidth
