"""The SimPy engine: runs an op DAG on the machine's resources and records one row per op.

Every op waits for its dependencies, requests its resources, holds them for the duration the cost
model gives, and releases them (as SimPy event callbacks, see :func:`_simulate_rows`). Weight fetches
decided by the residency plan are rows of their own on the fetch channel; a fetch may start once its
op's dependencies have started (one-deep prefetch, i.e. double buffering), and the op waits for it.
No arithmetic about hardware happens here: durations come from ``accelsim.hw``.

Each row keeps ``pred``, the row whose end released this one (the last dependency to finish, or the
previous holder of a resource it waited for), which is what critical-path attribution follows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import simpy

from accelsim.graph.ir import Op
from accelsim.graph.lower import Program
from accelsim.hw.cost import op_cost
from accelsim.hw.link import fetch_resource, fetch_seconds
from accelsim.sim.placement import cores_of
from accelsim.sim.residency import ResidencyPlan, plan_residency
from accelsim.spec.hardware import HardwareSpec

RESOURCE_CLASS = {"host": "host", "h2d": "link", "d2h": "link", "dram": "memory"}


@dataclass(frozen=True, slots=True)
class Record:
    index: int
    op: str
    kind: str
    component: str
    resource: str  # "core0", "core0-1", "host", "h2d", "d2h", "dram"
    resource_class: str  # coprocessor | host | link | memory
    start: float
    end: float
    macs: int
    bytes: float
    pred: int  # index of the record that made this one ready; -1 at the start


class Run:
    """The outcome of a simulation: one row per op and per weight fetch, busy time per resource.

    ``rows`` are (op index, is_fetch, resource label, start, end, pred) tuples; ``records`` builds the
    named :class:`Record` objects from them on first use (reports that only need metrics never do).
    """

    def __init__(self, rows: list[tuple], ops: list[Op], plan: ResidencyPlan, busy: dict[str, float]):
        self.rows = rows
        self.ops = ops
        self.plan = plan
        self.busy = busy  # busy seconds per physical resource (core0.., host, h2d, d2h, dram)

    @property
    def time_s(self) -> float:
        return max((row[4] for row in self.rows), default=0.0)

    @cached_property
    def records(self) -> tuple[Record, ...]:
        return tuple(_records(self.rows, self.ops, self.plan.fetch_bytes))

    def component(self, index: int) -> str:
        return self.ops[self.rows[index][0]].component

    def resource_class(self, index: int) -> str:
        return _resource_class(self.rows[index][2])


def simulate_ops(ops: list[Op], hw: HardwareSpec) -> Run:
    """Run ``ops`` (topologically ordered, as lowering builds them) on ``hw`` as one SimPy run."""
    plan = plan_residency(ops, hw)
    rows, busy = _simulate_rows(ops, hw, plan.fetch_bytes)
    return Run(rows, ops, plan, busy)


#: Schedules of segments already simulated in this process, by (machine, content, fetches): a sweep
#: over beams or LM settings re-simulates the same encoder on the same machine only once.
_SEGMENTS: dict[tuple, tuple[list[tuple], dict[str, float]]] = {}
_SEGMENT_CACHE_SIZE = 2048


def simulate_program(program: Program, hw: HardwareSpec) -> Run:
    """Run a lowered program segment by segment, simulating each distinct segment once.

    Segments (the encoder, each decode iteration) never overlap in time and start on an idle machine,
    so a segment's schedule depends only on its ops and their weight fetches: two iterations with the
    same counts and fetches have the same schedule, shifted. This gives the records of one SimPy run of
    the whole program (tests check it against :func:`simulate_ops`) at the cost of the distinct segments.
    """
    plan = plan_residency(program.ops, hw)
    machine = hw.model_dump_json()
    rows: list[tuple] = []
    busy: dict[str, float] = {}
    clock = 0.0
    last = -1  # the record every segment's first op waited for: the previous segment's last to end
    for seg in program.segments:
        fetch = plan.fetch_bytes[seg.start:seg.stop]
        key = (machine, seg.key, fetch)
        cached = _SEGMENTS.get(key)
        if cached is None:
            local = [replace(op, id=op.id - seg.start, deps=tuple(d - seg.start for d in op.deps if d >= seg.start))
                     for op in program.ops[seg.start:seg.stop]]
            cached = _SEGMENTS[key] = _simulate_rows(local, hw, fetch)
            while len(_SEGMENTS) > _SEGMENT_CACHE_SIZE:
                _SEGMENTS.pop(next(iter(_SEGMENTS)))
        seg_rows, seg_busy = cached
        base = len(rows)
        end = clock
        for op_index, is_fetch, resource, start, stop, pred in seg_rows:
            rows.append((op_index + seg.start, is_fetch, resource, clock + start, clock + stop,
                         pred + base if pred >= 0 else last))
        for name, seconds in seg_busy.items():
            busy[name] = busy.get(name, 0.0) + seconds
        if len(rows) > base:
            last = max(range(base, len(rows)), key=lambda i: (rows[i][4], i))
            end = rows[last][4]
        clock = end
    return Run(rows, program.ops, plan, busy)


def _simulate_rows(ops: list[Op], hw: HardwareSpec, fetch_bytes: tuple[float, ...]) -> tuple[list[tuple], dict[str, float]]:
    """The SimPy run itself: rows of (op index, is_fetch, resource label, start, end, pred) and busy time.

    An op requests its resources when its last dependency (and its weight fetch, if any) has finished;
    a fetch when its op's dependencies have all started. Whoever completes that last requirement is
    its critical-path predecessor.
    """
    env = simpy.Environment()
    n_cores = hw.coprocessor.cores
    fetch_channel = fetch_resource(hw)

    # Cores are grouped into the coarsest blocks that every placement is a union of (e.g. {0,1} and
    # {2,3} when the encoder's two lanes take half the chip each and decode ops take all of it): one
    # SimPy resource per block gives the same exclusion as one per core with fewer requests.
    core_sets = {cores_of(op, n_cores) for op in ops if op.unit == "core"}
    block_of = _core_blocks(n_cores, core_sets)
    resources: dict[str, simpy.Resource] = {name: simpy.Resource(env, 1) for name in sorted(set(block_of.values()))}
    for name in ("host", "h2d", "d2h", "dram"):
        resources[name] = simpy.Resource(env, 1)
    busy = {f"core{i}": 0.0 for i in range(n_cores)} | {name: 0.0 for name in ("host", "h2d", "d2h", "dram")}

    # Per op: resources to hold, record label, busy counters, duration.
    placed: list[tuple[tuple[str, ...], str, tuple[str, ...], float]] = []
    costs: dict[tuple, float] = {}  # the encoder repeats the same few ops thousands of times
    for op in ops:
        if op.unit == "core":
            cores = cores_of(op, n_cores)
            names = tuple(sorted({block_of[c] for c in cores}))
            label = f"core{cores[0]}" if len(cores) == 1 else f"core{cores[0]}-{cores[-1]}"
            counters = tuple(f"core{c}" for c in cores)
        else:
            names = counters = (op.unit,)
            label = op.unit
        shape = (op.kind, op.m, op.k, op.n, op.weight_bits, op.act_bits, op.elements, op.passes, op.bytes, len(counters))
        if shape not in costs:
            costs[shape] = op_cost(op, hw, len(counters)).seconds
        placed.append((names, label, counters, costs[shape]))
    fetching = [b > 0 for b in fetch_bytes]
    waiting = [len(op.deps) + fetching[op.id] for op in ops]  # unfinished requirements
    unstarted = [len(op.deps) if fetching[op.id] else 0 for op in ops]  # deps a fetch waits to see start
    successors: list[list[int]] = [[] for _ in ops]
    watchers: list[list[int]] = [[] for _ in ops]
    for op in ops:
        for d in op.deps:
            successors[d].append(op.id)
            if fetching[op.id]:
                watchers[d].append(op.id)

    rows: list[tuple] = []  # (op index, is_fetch, resource, start, end, pred)
    ends: list[float] = []
    last_release: dict[str, int] = {}

    # Each op and each fetch is a small state machine driven by SimPy event callbacks: request its
    # resources one by one (always in the same order: no deadlock), hold them for the cost model's
    # duration, release them. Callbacks rather than one generator process per op: the same events
    # and resources, without a process start and end event per op.
    def acquire(op_id: int, is_fetch: bool, pred: int) -> None:
        names = (fetch_channel,) if is_fetch else placed[op_id][0]
        _request(op_id, is_fetch, names, 0, [], env.now, pred)

    def _request(op_id, is_fetch, names, k, requests, ready, pred) -> None:
        req = resources[names[k]].request()
        requests.append(req)
        if k + 1 < len(names):
            req.callbacks.append(lambda _: _request(op_id, is_fetch, names, k + 1, requests, ready, pred))
        else:
            req.callbacks.append(lambda _: granted(op_id, is_fetch, names, requests, ready, pred))

    def granted(op_id, is_fetch, names, requests, ready, pred) -> None:
        if env.now > ready:  # it waited for a resource: that resource's previous holder is on its path
            pred = max((last_release.get(n, -1) for n in names), key=lambda i: (ends[i], i) if i >= 0 else (-1.0, -1))
        start = env.now
        if is_fetch:
            seconds = fetch_seconds(hw, fetch_bytes[op_id])
        else:
            seconds = placed[op_id][3]
            for w in watchers[op_id]:
                unstarted[w] -= 1
                if unstarted[w] == 0:  # the last dependency of w started: w's weights may stream in now
                    acquire(w, True, pred)
        env.timeout(seconds).callbacks.append(lambda _: finished(op_id, is_fetch, names, requests, start, pred, seconds))

    def finished(op_id, is_fetch, names, requests, start, pred, seconds) -> None:
        idx = len(rows)
        if is_fetch:
            rows.append((op_id, True, fetch_channel, start, env.now, pred))
            busy[fetch_channel] += seconds
        else:
            rows.append((op_id, False, placed[op_id][1], start, env.now, pred))
            for name in placed[op_id][2]:
                busy[name] += seconds
        ends.append(env.now)
        for name, req in zip(names, requests):
            last_release[name] = idx
            resources[name].release(req)
        for succ in ((op_id,) if is_fetch else successors[op_id]):
            waiting[succ] -= 1
            if waiting[succ] == 0:
                acquire(succ, False, idx)

    for op in ops:
        if fetching[op.id] and not op.deps:
            acquire(op.id, True, -1)
        if waiting[op.id] == 0:
            acquire(op.id, False, -1)
    env.run()
    if len(rows) != len(ops) + sum(fetching):  # a dependency cycle or a dangling id: a lowering bug
        raise RuntimeError(f"only {len(rows)} of {len(ops) + sum(fetching)} ops and fetches ran")
    return rows, busy


def _records(rows: list[tuple], ops: list[Op], fetch_bytes: tuple[float, ...]) -> list[Record]:
    records = []
    for idx, (op_id, is_fetch, resource, start, end, pred) in enumerate(rows):
        op = ops[op_id]
        if is_fetch:
            records.append(Record(idx, f"{op.name}.fetch", "fetch", op.component, resource, _resource_class(resource),
                                  start, end, 0, fetch_bytes[op_id], pred))
        else:
            records.append(Record(idx, op.name, op.kind, op.component, resource, _resource_class(resource),
                                  start, end, op.macs, op.bytes, pred))
    return records


def _resource_class(resource: str) -> str:
    """coprocessor for any core label ("core0", "core0-3"), else host / link / memory."""
    return RESOURCE_CLASS.get(resource, "coprocessor")

def _core_blocks(n_cores: int, core_sets: set[tuple[int, ...]]) -> dict[int, str]:
    """Map each core to the block resource it belongs to: cores always placed together share a block."""
    signature = {c: tuple(sorted(i for i, cs in enumerate(sorted(core_sets)) if c in cs)) for c in range(n_cores)}
    blocks: dict[tuple, list[int]] = {}
    for c in range(n_cores):
        blocks.setdefault(signature[c], []).append(c)
    return {c: f"cores{members[0]}-{members[-1]}" for members in blocks.values() for c in members}
