"""Streaming: each chunk's work on an idle machine, and the chunks on a real-time clock (each runs once its audio
has arrived and the chunk before it is done)."""

from __future__ import annotations

from typing import Sequence

from accelsim.graph.lower import ChunkWork, Program
from accelsim.sim.encoder import encoder_totals
from accelsim.sim.segments import segments_totals
from accelsim.sim.target import Target
from accelsim.sim.totals import Totals


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


def chunk_totals(program: Program, chunk: ChunkWork, target: Target) -> Totals:
    """One chunk's encoder and decode iterations, on an idle machine."""
    part = encoder_totals(chunk.encoder, target)
    if len(chunk.steps):
        part = part.plus(segments_totals([program.iterations[i][1] for i in chunk.steps], target))
    return part


def chunk_work(program: Program, target: Target) -> tuple[list[float], Totals]:
    """Each chunk's processing time, and the totals of them all."""
    totals, work = Totals(), []
    for chunk in program.chunks:
        part = chunk_totals(program, chunk, target)
        work.append(part.time_s)
        totals = totals.plus(part)
    return work, totals


def chunk_latencies(program: Program, schedule: Sequence[tuple[float, float]], start_s: float = 0.0) -> list[float]:
    """Per chunk, from the end of its audio (the utterance's audio starting at ``start_s``) to its partial result."""
    shift = program.frame_shift_s
    return [done - (start_s + c.chunk.end * shift) for c, (_, done) in zip(program.chunks, schedule)]


def ready_times(program: Program, start_s: float = 0.0) -> list[float]:
    """When each chunk's audio, up to its look-ahead, has arrived."""
    return [start_s + c.chunk.ready_frames * program.frame_shift_s for c in program.chunks]
