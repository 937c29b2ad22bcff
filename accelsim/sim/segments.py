"""Running a lowered program segment by segment, each distinct segment simulated once per machine.

Segments (the encoder, each decode iteration) never overlap in time, and each starts on an idle machine
once the one before has ended, so a segment's schedule depends only on its own ops and their weight
fetches: two iterations with the same counts and fetches have the same schedule, shifted in time. This
gives the rows of one SimPy run of the whole program (tests check it against
:func:`accelsim.sim.engine.simulate_ops`) at the cost of the distinct segments only, and lets a
metrics-only run measure each distinct segment once and count it as often as it occurs.

This exact reuse assumes one utterance on an otherwise idle machine. :func:`repeats_step_by_step` tells
whether a run's recurrent steps have settled into a rhythm in which the machine's state repeats, which is
what lets ``accelsim.pipeline`` measure an encoder from a few steps.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from accelsim.graph.lower import Program, Segment
from accelsim.memo import Memo
from accelsim.sim.engine import Row, Run, simulate
from accelsim.sim.policies import ResidencyPlan, policies_for
from accelsim.spec.hardware import HardwareSpec

#: Schedules of segments already simulated in this process, by (machine, segment, its fetches): a sweep
#: over beams or LM settings, or a test set, simulates the same encoder and iterations only once.
_RUNS = Memo("simulated segments", 4096)


@dataclass(frozen=True)
class SegmentRun:
    """One distinct segment as simulated from an idle machine at time 0 (local op ids)."""

    machine: str  # the hardware spec's JSON
    segment: Segment
    fetch_bytes: tuple[float, ...]
    rows: tuple[Row, ...]
    busy: dict[str, float]

    @property
    def key(self) -> tuple:
        """What the schedule depends on: the machine, the segment's content and its fetches."""
        return (self.machine, self.segment, self.fetch_bytes)

    @property
    def time_s(self) -> float:
        return max((row.end for row in self.rows), default=0.0)

    def run(self) -> Run:
        return Run(list(self.rows), self.segment.ops, ResidencyPlan(frozenset(), self.fetch_bytes), self.busy)


def run_segment(segment: Segment, fetch_bytes: tuple[float, ...], hw: HardwareSpec, machine: str) -> SegmentRun:
    """The schedule of ``segment`` on ``hw`` (``machine`` is its JSON), memoized by content."""

    def make() -> SegmentRun:
        rows, busy = simulate(segment.ops, hw, fetch_bytes, policies_for(hw), machine)
        return SegmentRun(machine, segment, fetch_bytes, tuple(rows), busy)

    return _RUNS.get((machine, segment, fetch_bytes), make)


def distinct_runs(segments: list[Segment], hw: HardwareSpec, machine: str) -> list[tuple[SegmentRun, int]]:
    """Each distinct (segment, fetches) pair of a sequence of segments simulated once, with how often it occurs."""
    _, fetches = _plan(segments, hw, machine)
    counts = Counter(zip(segments, fetches))
    return [(run_segment(seg, fetch, hw, machine), count) for (seg, fetch), count in counts.items()]


def simulate_program(program: Program, hw: HardwareSpec) -> Run:
    """The rows of the whole program, each distinct segment simulated once and shifted into place."""
    machine = hw.model_dump_json()
    segments = program.segments
    pinned, fetches = _plan(segments, hw, machine)
    rows: list[Row] = []
    busy: dict[str, float] = {}
    clock = 0.0
    last = -1  # the row every segment's first job waited for: the previous segment's last to end
    base_op = 0
    for seg, fetch in zip(segments, fetches):
        run = run_segment(seg, fetch, hw, machine)
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
    plan = ResidencyPlan(pinned, tuple(b for fetch in fetches for b in fetch))
    return Run(rows, program.ops, plan, busy)


def _plan(segments: list[Segment], hw: HardwareSpec, machine: str) -> tuple[frozenset, list[tuple[float, ...]]]:
    """Per occurrence, the weight bytes each op fetches (per-op residency: the same for equal segments)."""
    residency = policies_for(hw).residency
    if residency.name == "per_op" and not any(seg.prefetches for seg in segments):
        # every occurrence of a segment fetches alike: plan each distinct one once
        def plan(seg: Segment) -> tuple[float, ...]:
            return _PLANS.get((machine, seg), lambda: residency.plan([seg.ops], hw)[1][0])

        return frozenset(), [plan(seg) for seg in segments]
    if residency.name == "per_op" and _prefetch_at_ends(segments):
        # a segment's fetches depend on it, whether the one before prefetched, and the one after: plan each
        # distinct triple once (a test set's utterances share most of theirs)
        def planned(i: int) -> tuple[float, ...]:
            seg = segments[i]
            carried_by = segments[i - 1].ops[-1] if i and segments[i - 1].prefetches else None
            following = segments[i + 1] if i + 1 < len(segments) and seg.prefetches else None
            return _PLANS.get((machine, seg, carried_by, following), lambda: residency.segment_plan(
                seg.ops, hw, carried_by, following.ops if following is not None else None))

        return frozenset(), [planned(i) for i in range(len(segments))]
    return residency.plan([seg.ops for seg in segments], hw)


def _prefetch_at_ends(segments: list[Segment]) -> bool:
    """Every segment after the first prefetching one prefetches too, with its prefetch op last (and only there):
    then no prefetched weights are left over for a later segment than the next."""
    seen = False
    for seg in segments:
        if seg.prefetches:
            seen = True
            if not seg.prefetches_last:
                return False
        elif seen:
            return False
    return True


#: Per-op fetch plans of distinct segments, by (machine, segment) or, with prefetches, (machine, segment, the
#: prefetch op before it, the segment after it).
_PLANS = Memo("per-op fetch plans", 8192)


def run_alone(segment: Segment, hw: HardwareSpec, machine: str) -> SegmentRun:
    """One segment simulated on its own (with its own fetch plan), memoized like any other."""
    ((run, _),) = distinct_runs([segment], hw, machine)
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
