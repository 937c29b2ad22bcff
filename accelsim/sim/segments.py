"""Running a lowered program segment by segment, each distinct segment simulated once per machine.

Segments (the encoder, each decode iteration) never overlap in time, and each starts on an idle machine
once the one before has ended, so a segment's schedule depends only on its own ops and their weight
fetches: two iterations with the same counts and fetches have the same schedule, shifted in time. This
gives the rows of one SimPy run of the whole program (tests check it against
:func:`accelsim.sim.engine.simulate_ops`) at the cost of the distinct segments only, and lets a
metrics-only run measure each distinct segment once and count it as often as it occurs.

This exact reuse assumes one utterance on an otherwise idle machine. :func:`repeats_step_by_step` tells
whether a run's recurrent steps have settled into a rhythm in which the machine's state repeats, which is
what lets :mod:`accelsim.sim.encoder` measure an encoder from a few steps. Every memo lives on the machine's
:class:`accelsim.sim.target.Target`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from accelsim.graph.lower import Program, Segment
from accelsim.hw.family import Reads
from accelsim.sim.engine import Row, Run, simulate
from accelsim.sim.policies import ResidencyPlan
from accelsim.sim.target import Target
from accelsim.sim.totals import Totals, run_totals, sum_totals


@dataclass(frozen=True)
class SegmentRun:
    """One distinct segment as simulated from an idle machine at time 0 (local op ids)."""

    segment: Segment
    reads: tuple[Reads, ...]
    rows: tuple[Row, ...]
    busy: dict[str, float]
    streams: bool = False

    @property
    def time_s(self) -> float:
        return max((row.end for row in self.rows), default=0.0)

    def run(self) -> Run:
        return Run(list(self.rows), self.segment.ops, ResidencyPlan(frozenset(), self.reads), self.busy, self.streams)


def run_segment(segment: Segment, reads: tuple[Reads, ...], target: Target) -> SegmentRun:
    """The schedule of ``segment`` on ``target``, memoized there by content: a sweep over beams or LM settings, or a
    test set, simulates the same encoder and iterations only once."""

    def make() -> SegmentRun:
        rows, busy = simulate(segment.ops, target, reads)
        return SegmentRun(segment, reads, tuple(rows), busy, target.costs.streams)

    return target.memo("simulated segments", 4096).get((segment, reads), make)


def segment_totals(run: SegmentRun, target: Target) -> Totals:
    """The totals of one distinct segment's schedule (memoized on the target with the schedule's key)."""
    return target.memo("measured segments", 8192).get((run.segment, run.reads), lambda: run_totals(run.run()))


def distinct_runs(segments: list[Segment], target: Target) -> list[tuple[SegmentRun, int]]:
    """Each distinct (segment, reads) pair of a sequence of segments simulated once, with how often it occurs."""
    _, fetches = target.plan_fetches(segments)
    counts = Counter(zip(segments, fetches))
    return [(run_segment(seg, fetch, target), count) for (seg, fetch), count in counts.items()]


def segments_totals(segments: list[Segment], target: Target) -> Totals:
    """The totals of a sequence of segments from its distinct ones counted as often as each occurs. With per-op
    residency a segment's fetches depend on its own ops only, so the sums equal those of the full run (tests
    compare)."""
    return sum_totals((segment_totals(run, target), count) for run, count in distinct_runs(segments, target))


def simulate_program(program: Program, target: Target) -> Run:
    """The rows of the whole program, each distinct segment simulated once and shifted into place."""
    segments = program.segments
    pinned, fetches = target.plan_fetches(segments)
    rows: list[Row] = []
    busy: dict[str, float] = {}
    clock = 0.0
    last = -1  # the row every segment's first job waited for: the previous segment's last to end
    base_op = 0
    for seg, fetch in zip(segments, fetches):
        run = run_segment(seg, fetch, target)
        base = len(rows)
        end = clock
        for row in run.rows:
            rows.append(Row(row.op + base_op, row.fetch, row.resource, clock + row.start, clock + row.end,
                            row.pred + base if row.pred >= 0 else last))
        for name, seconds in run.busy.items():
            busy[name] = busy.get(name, 0.0) + seconds
        if len(rows) > base:
            last = max(range(base, len(rows)), key=lambda i: (rows[i].end, i))
            end = rows[last].end
        clock = end
        base_op += len(seg.ops)
    plan = ResidencyPlan(pinned, tuple(r for fetch in fetches for r in fetch))
    return Run(rows, program.ops, plan, busy, target.costs.streams)


def run_alone(segment: Segment, target: Target) -> SegmentRun:
    """One segment simulated on its own (with its own fetch plan), memoized like any other."""
    ((run, _),) = distinct_runs([segment], target)
    return run


def repeats_step_by_step(run: SegmentRun, steps: int) -> bool:
    """Whether the machine's state repeats from step to step near the end of every layer of ``run``.

    For steps w0..w4 = steps-6..steps-2 (the last step is left out: the next layer may start during it),
    every job of steps w1..w4 must be its counterpart of the step before shifted by one period common to
    the layer (same resource, start and end), and every other job of the layer -- its batched ops and
    anything of a step before w0, such as a long weight fetch still in flight -- must have ended before
    step w2 begins (one direction may lag the other by a step). Then everything in flight when w2 begins is
    of steps w0..w2, and the state when w3 begins is the same shifted by the period.
    """
    ops = run.segment.ops
    window = tuple(range(steps - 6, steps - 1))
    if window[0] < 1:
        return False
    base: dict[tuple, int] = {}
    for op in ops:
        if op.step >= 0:
            base.setdefault((op.region, op.lane, op.step), op.id)
    jobs: dict[str, dict[tuple, tuple[float, float, str]]] = {}
    earlier_end: dict[str, float] = {}
    for row in run.rows:
        op = ops[row.op]
        if op.step in window:
            key = (op.lane, op.step, op.id - base[(op.region, op.lane, op.step)], row.fetch)
            jobs.setdefault(op.region, {})[key] = (row.start, row.end, row.resource)
        elif op.step < window[0]:
            earlier_end[op.region] = max(earlier_end.get(op.region, 0.0), row.end)
    tolerance = 1e-12 * max(run.time_s, 1e-9)
    for region in {op.region for op in ops if op.step >= 0}:
        found = jobs.get(region, {})
        counts = [sum(1 for key in found if key[1] == s) for s in window]
        if not counts[0] or len(set(counts)) != 1:
            return False
        if earlier_end.get(region, 0.0) > min(v[0] for key, v in found.items() if key[1] == window[2]):
            return False
        period = None
        for (lane, step, position, fetch), (start, end, resource) in found.items():
            if step == window[0]:
                continue
            before = found.get((lane, step - 1, position, fetch))
            if before is None or before[2] != resource:
                return False
            shift = start - before[0]
            period = shift if period is None else period
            if abs(shift - period) > tolerance or abs((end - before[1]) - period) > tolerance:
                return False
    return True
