"""Metrics from event records: RTF, critical-path breakdowns that sum exactly to it, occupancy."""

from __future__ import annotations

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


def critical_seconds(run: Run) -> tuple[dict[str, float], dict[str, float]]:
    """Seconds of the critical path by component and by resource class (each sums to the makespan)."""
    by_component: dict[str, float] = {c: 0.0 for c in COMPONENTS}
    by_resource: dict[str, float] = {c: 0.0 for c in RESOURCE_CLASSES}
    for index, seconds in _chain([row[4] for row in run.rows], [row[5] for row in run.rows]):
        by_component[run.component(index)] += seconds
        by_resource[run.resource_class(index)] += seconds
    return by_component, by_resource


def as_rtf(component_s: dict[str, float], resource_s: dict[str, float], audio_s: float) -> tuple[dict[str, float], dict[str, float]]:
    """Critical-path seconds as RTF shares; the memory class is listed only when weights came from it."""
    resources = {c: v / audio_s for c, v in resource_s.items() if c != "memory" or v > 0}
    return {c: v / audio_s for c, v in component_s.items()}, resources


def breakdowns(run: Run, audio_s: float) -> tuple[dict[str, float], dict[str, float]]:
    """RTF split by component and by resource class along the critical path."""
    return as_rtf(*critical_seconds(run), audio_s)


def occupancy_of(busy: dict[str, float], time_s: float, n_cores: int) -> dict[str, float]:
    """Share of ``time_s`` each resource was busy (coprocessor: averaged over its cores)."""
    total = time_s or 1.0
    cores = sum(v for k, v in busy.items() if k.startswith("core"))
    out = {
        "coprocessor": cores / (n_cores * total),
        "host": busy["host"] / total,
        "link_h2d": busy["h2d"] / total,
        "link_d2h": busy["d2h"] / total,
    }
    if busy.get("dram"):
        out["memory"] = busy["dram"] / total
    return out


def occupancy(run: Run, n_cores: int) -> dict[str, float]:
    return occupancy_of(run.busy, run.time_s, n_cores)
