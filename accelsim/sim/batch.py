"""A batch as a few phases: what batch-level serving needs to know of a batch's work on a machine.

Batch-level serving (:mod:`accelsim.sim.fluid`) does not run a batch's ops; it runs its *phases*, cut from the
schedule of the batch on an otherwise idle machine, which the engine simulates once per machine and distinct batch
(memoized on the :class:`accelsim.sim.target.Target`):

- the batch's critical path (each row's ``pred``, back from the last row to end) is cut where it passes from the
  device (cores, weight fetches, transfers) to the host's search steps and back; a window shorter than
  :data:`MERGE` of the batch's time joins the window before it (a decode iteration: its device part, then its host
  part; an encoder: one device phase);
- a host phase holds the host alone (its few long steps run one after the other on one CPU core); a device phase
  says, per resource, which share of its window that resource was busy (its *demand*): concurrent device phases
  share the resources in proportion to it (see :mod:`accelsim.sim.fluid`).

An encoder is costed from its totals (:func:`accelsim.sim.encoder.encoder_totals`: a few recurrent steps once the
machine's state repeats): it has no host step, so it is one device phase whose demand is its busy time per
resource over its time. Everything here is measured by the engine; nothing is computed about the hardware.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from accelsim.graph.lower import EncoderWork, Segment
from accelsim.sim.critical import chain
from accelsim.sim.encoder import encoder_totals
from accelsim.sim.engine import Row, row_counters
from accelsim.sim.segments import run_segment, segment_totals
from accelsim.sim.target import Target
from accelsim.sim.totals import Pairs, Totals

#: A window of the critical path shorter than this share of the batch's time joins its neighbour.
MERGE = 0.02
#: The unit a host phase holds alone.
HOST = "host"


@dataclass(frozen=True, slots=True)
class Phase:
    """Part of a batch: ``seconds`` on an otherwise idle machine; ``demand``: per resource, the share of those seconds
    it is busy; ``serial``: the unit it holds alone (the host), or "" for a phase that shares the device."""

    seconds: float
    demand: Pairs
    serial: str = ""


@dataclass(frozen=True)
class BatchCost:
    """One batch on one machine: its time alone, its busy seconds per resource, the weight bytes it fetches, energy's
    work counters, its phases, and how many ops it stands for."""

    time_s: float
    busy_pairs: Pairs
    fetched_bytes: float
    work_pairs: Pairs
    phases: tuple[Phase, ...]
    ops: int

    @cached_property
    def after(self) -> tuple[float, ...]:
        """Per phase, the seconds of the phases after it."""
        seconds = [p.seconds for p in self.phases]
        return tuple(sum(seconds[i + 1:]) for i in range(len(seconds)))


def segment_cost(segment: Segment, target: Target) -> BatchCost:
    """A batch lowered as ``segment`` (a decode iteration), its fetches planned on its own (as op-level serving plans
    them), simulated once per machine and cut into phases."""

    def make() -> BatchCost:
        fetch = target.plan_alone(segment)
        run = run_segment(segment, fetch, target)
        totals = segment_totals(run, target)
        return BatchCost(run.time_s, totals.busy_pairs, totals.fetched_bytes, totals.work_pairs,
                         phases(run.rows, run.time_s), totals.ops)

    return target.memo("batch costs", 16384).get(segment, make)


def encoder_cost(encoder: EncoderWork, target: Target) -> BatchCost:
    """A batch of encoders (``encoder.batch`` utterances of its length): one device phase from its totals."""
    return target.memo("batch costs of encoders", 4096).get(encoder, lambda: _from_totals(encoder_totals(encoder, target)))


def _from_totals(totals: Totals) -> BatchCost:
    if totals.busy.get(HOST, 0.0) > 0:  # a segment with host steps must be cut along its critical path
        raise ValueError("a batch with host steps is costed from its schedule (segment_cost), not its totals")
    time = totals.time_s
    demand = tuple((name, seconds / time) for name, seconds in totals.busy_pairs if seconds > 0) if time > 0 else ()
    return BatchCost(time, totals.busy_pairs, totals.fetched_bytes, totals.work_pairs, (Phase(time, demand),), totals.ops)


def phases(rows: tuple[Row, ...] | list[Row], time_s: float) -> tuple[Phase, ...]:
    """The phases of a schedule (see the module docstring)."""
    if not rows or time_s <= 0:
        return (Phase(time_s, ()),) if time_s > 0 else ()
    windows = _windows(rows, time_s)
    return tuple(_phase(rows, start, end, serial) for start, end, serial in windows)


def _windows(rows, time_s: float) -> list[list]:
    """[start, end, serial unit] of each window of the critical path, short ones merged into their neighbour."""
    windows: list[list] = []
    start = 0.0
    for index, _ in chain([r.end for r in rows], [r.pred for r in rows]):
        row = rows[index]
        serial = HOST if row.resource == HOST else ""
        if windows and windows[-1][2] == serial:
            windows[-1][1] = row.end
        else:
            windows.append([start, row.end, serial])
        start = row.end
    windows[-1][1] = time_s
    merged: list[list] = []
    for window in windows:
        if merged and window[1] - window[0] < MERGE * time_s:
            merged[-1][1] = window[1]
        else:
            merged.append(window)
    if len(merged) > 1 and merged[0][1] - merged[0][0] < MERGE * time_s:
        first = merged.pop(0)
        merged[0][0] = first[0]
    return [w for w in merged if w[1] > w[0]]


def _phase(rows, start: float, end: float, serial: str) -> Phase:
    """A window's phase: a host phase holds the host alone; a device phase's demand is each resource's busy share of
    the window (the host's own steps belong to host phases)."""
    if serial:
        return Phase(end - start, ((serial, 1.0),), serial)
    length = end - start
    demand: dict[str, float] = {}
    for row in rows:
        overlap = min(row.end, end) - max(row.start, start)
        if overlap > 0 and row.resource != HOST:
            for name in row_counters(row.resource):
                demand[name] = demand.get(name, 0.0) + overlap / length
    return Phase(length, tuple(sorted(demand.items())))
