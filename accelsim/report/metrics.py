"""Metrics from event records: RTF, critical-path breakdowns that sum exactly to it, occupancy."""

from __future__ import annotations

from collections import defaultdict

from accelsim.graph.ir import COMPONENTS
from accelsim.sim.engine import Record, Run

RESOURCE_CLASSES = ("coprocessor", "host", "link", "memory")


def _chain(ends: list[float], preds: list[int]) -> list[tuple[int, float]]:
    """Indices on the critical path, first to last, with the seconds each accounts for.

    Starting from the last row to finish, each row is charged the interval from its predecessor's end
    to its own end (its wait for a resource, if any, is charged to the holder it waited for, which is
    then its predecessor). The charges tile [0, makespan] exactly.
    """
    if not ends:
        return []
    current = max(range(len(ends)), key=lambda i: (ends[i], i))
    chain: list[tuple[int, float]] = []
    while current >= 0:
        pred = preds[current]
        chain.append((current, ends[current] - (ends[pred] if pred >= 0 else 0.0)))
        current = pred
    chain.reverse()
    return chain


def critical_path(records: tuple[Record, ...]) -> list[tuple[Record, float]]:
    """The chain of records that determined the makespan, with the time each one accounts for."""
    return [(records[i], s) for i, s in _chain([r.end for r in records], [r.pred for r in records])]


def breakdowns(run: Run, audio_s: float) -> tuple[dict[str, float], dict[str, float]]:
    """RTF split by component and by resource class along the critical path."""
    by_component: dict[str, float] = {c: 0.0 for c in COMPONENTS}
    by_resource: dict[str, float] = defaultdict(float)
    for index, seconds in _chain([row[4] for row in run.rows], [row[5] for row in run.rows]):
        by_component[run.component(index)] += seconds / audio_s
        by_resource[run.resource_class(index)] += seconds / audio_s
    resources = {c: by_resource.get(c, 0.0) for c in RESOURCE_CLASSES if c != "memory" or c in by_resource}
    return by_component, resources


def occupancy(run: Run, n_cores: int) -> dict[str, float]:
    """Share of the run each resource was busy (coprocessor: averaged over its cores)."""
    total = run.time_s or 1.0
    cores = sum(v for k, v in run.busy.items() if k.startswith("core"))
    out = {
        "coprocessor": cores / (n_cores * total),
        "host": run.busy["host"] / total,
        "link_h2d": run.busy["h2d"] / total,
        "link_d2h": run.busy["d2h"] / total,
    }
    if run.busy.get("dram"):
        out["memory"] = run.busy["dram"] / total
    return out
