"""Chunks on a real-time clock: each chunk runs once its audio has arrived and the chunk before it is done."""

from __future__ import annotations

from typing import Sequence


def stream_schedule(ready_s: Sequence[float], work_s: Sequence[float], free_s: float = 0.0) -> list[tuple[float, float]]:
    """(start, done) of each chunk: start = max(its audio is complete, the previous chunk is done); done = start +
    its work (the machine serves one utterance, chunk after chunk, and is free from ``free_s`` on)."""
    out: list[tuple[float, float]] = []
    done = free_s
    for ready, work in zip(ready_s, work_s):
        start = max(ready, done)
        done = start + work
        out.append((start, done))
    return out
