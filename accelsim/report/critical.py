"""The critical path of a run's records, for the result's own views (per-layer tables, traces, explanations)."""

from __future__ import annotations

from accelsim.sim.critical import chain
from accelsim.sim.engine import Record


def critical_path(records: tuple[Record, ...]) -> list[tuple[Record, float]]:
    """The chain of records that determined the makespan, with the time each one accounts for."""
    return [(records[i], s) for i, s in chain([r.end for r in records], [r.pred for r in records])]
