"""The critical path of a run: the chain of rows that determined its makespan, and what each accounts for.

Kept apart from :mod:`accelsim.report.metrics` so that the result's own views (per-layer tables) can
follow the path without importing the module that builds results.
"""

from __future__ import annotations

from accelsim.sim.engine import Record


def chain(ends: list[float], preds: list[int]) -> list[tuple[int, float]]:
    """Indices on the critical path, first to last, with the seconds each accounts for.

    Starting from the last row to finish, each row is charged the interval from its predecessor's end
    to its own end (its wait for a resource, if any, is charged to the holder it waited for, which is
    then its predecessor). The charges tile [0, makespan] exactly.
    """
    if not ends:
        return []
    current = max(range(len(ends)), key=lambda i: (ends[i], i))
    path: list[tuple[int, float]] = []
    while current >= 0:
        pred = preds[current]
        path.append((current, ends[current] - (ends[pred] if pred >= 0 else 0.0)))
        current = pred
    path.reverse()
    return path


def critical_path(records: tuple[Record, ...]) -> list[tuple[Record, float]]:
    """The chain of records that determined the makespan, with the time each one accounts for."""
    return [(records[i], s) for i, s in chain([r.end for r in records], [r.pred for r in records])]
