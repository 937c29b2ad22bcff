"""The SimPy engine: runs an op DAG on the machine's resources and records one row per op and per fetch.

The loop is the whole engine: a job (an op, or the weight fetch of an op) waits for its requirements,
acquires its resources one by one (always in the same order: no deadlock), holds them for the duration its
cost record gives, and releases them. Everything else is a policy object (:mod:`accelsim.sim.policies`):
where an op runs, how many bytes it fetches, when its fetch may start. No arithmetic about hardware happens
here: every job's unit, queueing and durations come from its :class:`accelsim.hw.job.JobCost`.

Jobs are SimPy event callbacks rather than one generator process each: the same events and resources,
without a process start and end event per op. Each row keeps ``pred``, the row whose end released this
job (the last requirement to complete, or the previous holder of a resource it waited for), which is what
critical-path attribution follows.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Callable, NamedTuple, Sequence

import simpy

from accelsim.graph.ir import Op
from accelsim.hw.family import Reads
from accelsim.hw.job import JobCost
from accelsim.sim.policies import ResidencyPlan
from accelsim.sim.target import Target

#: Resource class of every resource label that is not a coprocessor core ("core0", "core0-3").
RESOURCE_CLASS = {"host": "host", "h2d": "link", "d2h": "link", "dram": "memory"}
NON_CORE = ("host", "h2d", "d2h", "dram")
#: Suffix of a link direction's DMA queue (a resource of link.queue_depth slots; only with a depth above 1).
QUEUE = ".queue"


def resource_class(resource: str) -> str:
    """coprocessor for any core label, else host / link / memory."""
    return RESOURCE_CLASS.get(resource, "coprocessor")


def row_counters(label: str) -> tuple[str, ...]:
    """The busy counters a row's resource label stands for: "core0-3" is core0..core3 (a job's cores are one
    contiguous block, see :func:`_jobs`), any other label itself."""
    if not label.startswith("core") or label in RESOURCE_CLASS:
        return (label,)
    first, _, last = label[4:].partition("-")
    return tuple(f"core{i}" for i in range(int(first), int(last or first) + 1))


class Row(NamedTuple):
    """One job as it ran: ``op`` is the op's index; ``fetch`` says whether this is the op's weight fetch."""

    op: int
    fetch: bool
    resource: str  # "core0", "core0-1", "host", "h2d", "d2h", "dram"
    start: float
    end: float
    pred: int  # index of the row that made this one ready; -1 at the start


@dataclass(frozen=True, slots=True)
class Record:
    """A row with its op's names and work, for reports and traces."""

    index: int
    op: str
    kind: str
    component: str
    resource: str
    resource_class: str  # coprocessor | host | link | memory
    start: float
    end: float
    macs: int
    bytes: float
    pred: int
    network: str = ""  # the op's network and layer (see accelsim.graph.ir.Op), for per-layer reports
    layer: str = ""
    step: int = -1
    weight_bits: int = 16
    act_bits: int = 16
    level: str = ""  # the memory level(s) the weights this row moved came from ("L3", "host"; "" when none)
    weight_bytes: float = 0.0  # weight bytes this row moved (a fetch, or an op that streams its weights)


class Run:
    """The outcome of a simulation: the rows, the ops they ran, the residency plan, busy time per resource, and
    whether ops streamed their weight reads (else fetch rows moved them)."""

    def __init__(self, rows: list[Row], ops: Sequence[Op], plan: ResidencyPlan, busy: dict[str, float],
                 streams: bool = False):
        self.rows = rows
        self.ops = ops
        self.plan = plan
        self.busy = busy  # busy seconds per physical resource (core0.., host, h2d, d2h, dram)
        self.streams = streams

    @property
    def time_s(self) -> float:
        return max((row.end for row in self.rows), default=0.0)

    @cached_property
    def records(self) -> tuple[Record, ...]:
        out = []
        fetched = self.plan.fetch_bytes
        for idx, row in enumerate(self.rows):
            op = self.ops[row.op]
            moved = row.fetch or self.streams  # the row that moved the op's weights
            level = "+".join(name for name, _ in self.plan.reads[row.op]) if moved else ""
            weights = fetched[row.op] if moved else 0.0
            if row.fetch:
                out.append(Record(idx, f"{op.name}.fetch", "fetch", op.component, row.resource,
                                  resource_class(row.resource), row.start, row.end, 0, weights, row.pred,
                                  op.network, op.layer, op.step, op.weight_bits, op.act_bits, level, weights))
            else:
                out.append(Record(idx, op.name, op.kind, op.component, row.resource, resource_class(row.resource),
                                  row.start, row.end, op.macs, op.bytes, row.pred, op.network, op.layer, op.step,
                                  op.weight_bits, op.act_bits, level, weights))
        return tuple(out)

    def component(self, index: int) -> str:
        return self.ops[self.rows[index].op].component

    def resource_class(self, index: int) -> str:
        return resource_class(self.rows[index].resource)


def simulate_ops(ops: Sequence[Op], target: Target) -> Run:
    """Run ``ops`` (topologically ordered, as lowering builds them) on ``target`` as one SimPy run."""
    pinned, (reads,) = target.policies.residency.plan([ops], target.device)
    plan = ResidencyPlan(pinned, reads)
    rows, busy = simulate(ops, target, reads)
    return Run(rows, ops, plan, busy, target.costs.streams)


@dataclass(frozen=True, slots=True)
class _Job:
    resources: tuple[str, ...]  # SimPy resources held, in request order
    label: str  # the row's resource label
    counters: tuple[str, ...]  # busy counters charged
    seconds: float
    setup: float = 0.0  # spent holding only the first resource (a DMA queue slot) before the others are requested


def simulate(ops: Sequence[Op], target: Target, reads: Sequence[Reads]) -> tuple[list[Row], dict[str, float]]:
    """The SimPy run of ``ops`` whose weight reads are ``reads`` (per op): its rows and busy seconds."""
    machine = Machine(target)
    machine.submit(ops, reads)
    machine.env.run()
    expected = len(ops) + (0 if target.costs.streams else sum(bool(r) for r in reads))
    if len(machine.rows) != expected:  # a dependency cycle or a dangling id: a lowering bug
        raise RuntimeError(f"only {len(machine.rows)} of {expected} ops and fetches ran")
    return machine.rows, machine.busy


class Machine:
    """One machine's resources in one SimPy environment, to which op DAGs are submitted while it runs.

    :func:`simulate` submits one DAG to an idle machine; the serving engine (``accelsim.serve``) submits the
    work of many streams over time, and their jobs contend for the same cores, host and link. Core blocks
    (see :func:`_core_blocks`) must be the same for every submission, so a machine shared by DAGs of several
    lane layouts is told them all up front (``lanes``: (lane, lanes) pairs); without it the first submission's
    layout is used. ``keep_rows=False`` records no rows (and no critical-path predecessors), only busy time;
    with rows, a row's ``op`` is the op's index within its own submission.
    """

    def __init__(self, target: Target, lanes: Sequence[tuple[int, int]] = (), keep_rows: bool = True,
                 env: simpy.Environment | None = None):
        self.target = target
        self.env = env or simpy.Environment()
        self.keep_rows = keep_rows
        self.resources: dict[str, simpy.Resource] = {}
        cores = target.device.cores
        self.busy = {f"core{i}": 0.0 for i in range(cores)} | {name: 0.0 for name in NON_CORE}
        self.rows: list[Row] = []
        self.jobs_done = 0
        self.last_release: dict[str, int] = {}
        self._plans: dict[object, _Plan] = {}
        placed = {target.policies.placement.cores(Op(0, "", "", "core", "", "", lane=lane, lanes=count), cores)
                  for lane, count in lanes}
        self._blocks = _core_blocks(cores, placed) if lanes else None

    def submit(self, ops: Sequence[Op], reads: Sequence[Reads], done: Callable[[float], None] | None = None,
               key: object = None) -> None:
        """Start ``ops`` now (their ids 0..n-1, deps among them) with their weight ``reads``; ``done(time)`` once every
        op and fetch has ended.

        ``key`` names the (ops, reads) pair when the caller submits equal ones again: their jobs and
        dependency lists are then built once per machine."""
        plan = self._plans.get(key) if key is not None else None
        if plan is None:
            plan = self._plan(ops, reads)
            if key is not None:
                self._plans[key] = plan
        _Submission(self, plan, done).start()

    def _plan(self, ops: Sequence[Op], reads: Sequence[Reads]) -> "_Plan":
        jobs, self._blocks = _jobs(ops, self.target, reads, self._blocks)
        for job in jobs:
            if job is not None:
                for name in job.resources:
                    if name not in self.resources:
                        slots = self.target.costs.queue_slots(name[:-len(QUEUE)]) if name.endswith(QUEUE) else 1
                        self.resources[name] = simpy.Resource(self.env, slots)
        return _Plan.of(ops, jobs, self.target.policies.prefetch.on_start)


class _Plan(NamedTuple):
    """What a submission of n ops needs before it runs (read-only while it runs): its jobs (ops 0..n-1, then their
    fetches n..2n-1, None where an op fetches nothing), which ops fetch, per job the count of requirements it waits
    for, who is released when a job ends or starts, and how many jobs there are."""

    jobs: list[_Job | None]
    fetching: list[bool]
    waiting: list[int]
    on_end: list[list[int]]
    on_start: list[list[int]]
    total: int

    @classmethod
    def of(cls, ops: Sequence[Op], jobs: list[_Job | None], fetch_on_start: bool) -> "_Plan":
        n = len(ops)
        fetching = [job is not None for job in jobs[n:]]
        waiting = [len(op.deps) + fetching[op.id] for op in ops] + [len(op.deps) for op in ops]
        on_end: list[list[int]] = [[] for _ in range(2 * n)]
        on_start: list[list[int]] = [[] for _ in range(2 * n)]
        fetch_waits_on = on_start if fetch_on_start else on_end
        for op in ops:
            for d in op.deps:
                on_end[d].append(op.id)
                if fetching[op.id]:
                    fetch_waits_on[d].append(n + op.id)
            if fetching[op.id]:
                on_end[n + op.id].append(op.id)
        return cls(jobs, fetching, waiting, on_end, on_start, n + sum(fetching))


class _Submission:
    """One submitted DAG while it runs: each job, once its requirements are met, requests its resources one after
    the other, holds them for its duration, releases them and releases the jobs waiting for it."""

    __slots__ = ("env", "resources", "busy", "rows", "last_release", "keep_rows", "machine", "jobs", "fetching", "n",
                 "waiting", "on_end", "on_start", "remaining", "done")

    def __init__(self, machine: Machine, plan: _Plan, done: Callable[[float], None] | None):
        self.machine = machine
        self.env, self.resources, self.busy = machine.env, machine.resources, machine.busy
        self.rows, self.last_release, self.keep_rows = machine.rows, machine.last_release, machine.keep_rows
        self.jobs, self.fetching, self.on_end, self.on_start = plan.jobs, plan.fetching, plan.on_end, plan.on_start
        self.n = len(plan.fetching)
        self.waiting = list(plan.waiting)
        self.remaining = plan.total
        self.done = done

    def start(self) -> None:
        n, waiting, fetching = self.n, self.waiting, self.fetching
        for i in range(n):
            if fetching[i] and waiting[n + i] == 0:
                self.ready(n + i, -1)
            if waiting[i] == 0:
                self.ready(i, -1)
        if self.remaining == 0 and self.done is not None:
            self.done(self.env.now)

    def ready(self, j: int, pred: int) -> None:
        """Every requirement of job j is met: request its resources, one after the other."""
        self.acquire(j, 0, [], self.env.now, pred)

    def acquire(self, j: int, k: int, held: list, since: float, pred: int, slot_at: float | None = None) -> None:
        job = self.jobs[j]
        request = self.resources[job.resources[k]].request()
        held.append(request)
        if k == 0 and job.setup > 0:
            request.callbacks.append(lambda _: self.queued(j, held, since, pred))
        elif k + 1 < len(job.resources):
            request.callbacks.append(lambda _: self.acquire(j, k + 1, held, since, pred, slot_at))
        else:
            request.callbacks.append(lambda _: self.hold(j, held, since, pred, slot_at))

    def queued(self, j: int, held: list, since: float, pred: int) -> None:
        """In a slot of a DMA queue: the transfer's latency passes, then it requests the link itself."""
        env = self.env
        if env.now > since:  # it waited for the slot: whoever freed it released this job
            pred = self.last_release.get(self.jobs[j].resources[0], pred)
        slot_at = env.now
        self.started(j, pred)  # a transfer in the queue has started (what waits for its start may go)
        env.timeout(self.jobs[j].setup).callbacks.append(lambda _: self.acquire(j, 1, held, env.now, pred, slot_at))

    def started(self, j: int, pred: int) -> None:
        waiting = self.waiting
        for w in self.on_start[j]:  # e.g. a fetch that may start once its op's dependencies have started
            waiting[w] -= 1
            if waiting[w] == 0:
                self.ready(w, pred)

    def hold(self, j: int, held: list, since: float, pred: int, slot_at: float | None = None) -> None:
        """Granted: whoever held a resource it waited for is on its path; then hold for the job's duration.

        A queued transfer's row starts when its last wait ended: at the link's release when it waited for
        the link after its latency (the latency was hidden), else when it got its queue slot (the latency is
        on its path)."""
        env, job = self.env, self.jobs[j]
        if env.now > since:
            if self.keep_rows:
                rows, last = self.rows, self.last_release
                pred = max((last.get(name, -1) for name in job.resources),
                           key=lambda i: (rows[i].end, i) if i >= 0 else (-1.0, -1))
            start = env.now
        else:
            start = env.now if slot_at is None else slot_at
        if slot_at is None:
            self.started(j, pred)
        env.timeout(job.seconds).callbacks.append(lambda _: self.release(j, held, start, pred))

    def release(self, j: int, held: list, start: float, pred: int) -> None:
        job, rows, n = self.jobs[j], self.rows, self.n
        index = len(rows)
        if self.keep_rows:
            rows.append(Row(j % n if j >= n else j, j >= n, job.label, start, self.env.now, pred))
        busy = self.busy
        for name in job.counters:
            busy[name] += job.seconds
        resources, last = self.resources, self.last_release
        for name, request in zip(job.resources, held):
            last[name] = index
            resources[name].release(request)
        self.machine.jobs_done += 1
        self.remaining -= 1
        if self.remaining == 0 and self.done is not None:
            self.done(self.env.now)
        waiting = self.waiting
        for w in self.on_end[j]:
            waiting[w] -= 1
            if waiting[w] == 0:
                self.ready(w, index)


def _jobs(ops: Sequence[Op], target: Target, reads: Sequence[Reads],
          block_of: dict[int, str] | None = None) -> tuple[list[_Job | None], dict[int, str]]:
    """Resources, label, busy counters and duration of every op and every fetch, from their cost records; and the
    core blocks used (``block_of`` when given, else those of these ops' placements). On a machine that streams, an
    op's reads are part of its own cost; else each op that reads is preceded by a fetch job."""
    n_cores = target.device.cores
    where: dict[tuple[int, int], tuple[int, ...]] = {}  # placement depends on the lane only
    placed = []
    for op in ops:
        if op.unit != "core":
            placed.append(())
            continue
        lane = (op.lane, op.lanes)
        if lane not in where:
            where[lane] = target.policies.placement.cores(op, n_cores)
        placed.append(where[lane])
    if block_of is None:
        block_of = _core_blocks(n_cores, set(where.values()))
    costs = target.costs
    # Resources, label and busy counters per distinct core set.
    holds = {cores: (tuple(sorted({block_of[c] for c in cores})),
                     f"core{cores[0]}" if len(cores) == 1 else f"core{cores[0]}-{cores[-1]}",
                     tuple(f"core{c}" for c in cores)) for cores in set(where.values())}
    streams = costs.streams
    jobs: list[_Job | None] = []
    for op, cores, read in zip(ops, placed, reads):
        streamed = read if streams else ()
        if cores:
            names, label, counters = holds[cores]
            jobs.append(_Job(names, label, counters, costs.op(op, len(cores), streamed).busy_s))
        else:
            jobs.append(_unit_job(costs.op(op, 1, streamed)))
    jobs.extend(None if streams or not read else _unit_job(costs.fetch(read)) for read in reads)
    return jobs, block_of


def _unit_job(cost: JobCost) -> _Job:
    """A job on one unit (host, a link direction, device memory); a queued one first waits ``latency_s`` in a slot of
    the unit's DMA queue, then holds the unit for its bytes."""
    unit = cost.unit
    if cost.queued:
        return _Job((unit + QUEUE, unit), unit, (unit,), cost.busy_s, cost.latency_s)
    return _Job((unit,), unit, (unit,), cost.busy_s)


def _core_blocks(n_cores: int, core_sets: set[tuple[int, ...]]) -> dict[int, str]:
    """Cores always placed together share one SimPy resource (e.g. {0,1} and {2,3} when the encoder's two
    lanes take half the chip each and decode ops take all of it): the same exclusion as one resource per
    core, with fewer requests."""
    signature = {c: tuple(sorted(i for i, cs in enumerate(sorted(core_sets)) if c in cs)) for c in range(n_cores)}
    blocks: dict[tuple, list[int]] = {}
    for c in range(n_cores):
        blocks.setdefault(signature[c], []).append(c)
    return {c: f"cores{members[0]}-{members[-1]}" for members in blocks.values() for c in members}
