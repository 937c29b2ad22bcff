"""Running a lowered program on one machine: the one entry point of execution.

:func:`execute` runs a :class:`accelsim.graph.lower.Program` (one utterance, or one utterance of a test set) on a
:class:`accelsim.sim.target.Target` in one of its ways:

- metrics only (the default; sweeps, reproduce, test sets): the encoder from a few recurrent steps once its
  schedule repeats (:mod:`accelsim.sim.encoder`), each distinct decode iteration simulated once and counted as often
  as it occurs (:mod:`accelsim.sim.segments`);
- with records (``records=True``; ``accelsim run``, traces, per-layer tables): each distinct segment simulated once
  and its rows shifted into place, giving the rows of one SimPy run of the whole program;
- whole (``whole=True``): the program as one SimPy run, the reference the two above are checked against;
- streaming (a program with chunks): chunk by chunk on the audio's clock (:mod:`accelsim.sim.streaming`), metrics
  only; the totals (and so the RTF) count processing time, the latencies the waiting for audio.

The result is an :class:`Execution`: immutable totals (:mod:`accelsim.sim.totals`), the run's rows when asked for,
and a streaming run's latencies, which :mod:`accelsim.report.metrics` turns into metrics.
"""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.graph.lower import Program
from accelsim.sim.encoder import encoder_totals
from accelsim.sim.engine import Run, simulate_ops
from accelsim.sim.segments import segments_totals, simulate_program
from accelsim.sim.streaming import chunk_latencies, chunk_work, ready_times, stream_schedule
from accelsim.sim.target import Target
from accelsim.sim.totals import Totals, run_totals


@dataclass(frozen=True)
class Execution:
    """What the engine produced: the run's totals; its rows when they were asked for; a streaming run's latencies
    (per chunk, from the end of its audio to its partial result, and the final one, from the end of the
    utterance's audio to its last result)."""

    totals: Totals
    run: Run | None = None
    chunk_latencies_s: tuple[float, ...] = ()
    final_latency_s: float | None = None


def execute(program: Program, target: Target, records: bool = False, whole: bool = False) -> Execution:
    """Run ``program`` on ``target`` (see the module docstring for the ways)."""
    if program.streaming:
        return _streaming(program, target)
    if whole:
        run = simulate_ops(program.ops, target)
        return Execution(run_totals(run), run)
    if records:
        run = simulate_program(program, target)
        return Execution(run_totals(run), run)
    totals = encoder_totals(program.encoder, target)
    return Execution(totals.plus(segments_totals([seg for _, seg in program.iterations], target)))


def _streaming(program: Program, target: Target) -> Execution:
    """Chunk by chunk: each chunk's encoder (its frames, attending to its context) and the decode iterations that
    run on its frames, each on an idle machine; the chunks then run on the audio's clock."""
    work, totals = chunk_work(program, target)
    schedule = stream_schedule(ready_times(program), work)
    final = schedule[-1][1] - program.encoder.frames * program.frame_shift_s
    return Execution(totals, None, tuple(chunk_latencies(program, schedule)), final)
