"""The cost record of one job (see :mod:`accelsim.hw.cost`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class JobCost:
    """What one job costs: ``unit`` (core, host, h2d, d2h or dram) is held for ``busy_s``; a ``queued`` job first
    spends ``latency_s`` in a slot of that unit's DMA queue (overlapping the job before it on the unit), an
    unqueued one has its fixed part in ``busy_s``. ``level_bytes``: bytes moved, per memory level read from."""

    unit: str
    busy_s: float
    roofline_s: float
    latency_s: float = 0.0
    queued: bool = False
    level_bytes: tuple[tuple[str, float], ...] = ()

    @property
    def seconds(self) -> float:
        """The job's whole duration on an otherwise idle machine."""
        return self.latency_s + self.busy_s
