"""The critical path of a run: the chain of rows that determined its makespan, and what each accounts for."""

from __future__ import annotations


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
