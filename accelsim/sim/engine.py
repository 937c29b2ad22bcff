"""The SimPy engine: runs an op DAG on the machine's resources and records one row per op.

Every op is a process that waits for its dependencies, requests its resources, holds them for the
duration the cost model gives, and releases them. Weight fetches decided by the residency plan are
processes of their own on the fetch channel; a fetch may start once its op's dependencies have
started (one-deep prefetch, i.e. double buffering), and the op waits for it. No arithmetic about
hardware happens here: durations come from ``accelsim.hw``.

Each record keeps ``pred``, the record whose end released this one (the last dependency to finish,
or the previous holder of a resource it waited for), which is what critical-path attribution follows.
"""

from __future__ import annotations

from dataclasses import dataclass

import simpy

from accelsim.graph.ir import Op
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


@dataclass(frozen=True, slots=True)
class Run:
    records: tuple[Record, ...]
    plan: ResidencyPlan
    busy: dict[str, float]  # busy seconds per physical resource (core0.., host, h2d, d2h, dram)

    @property
    def time_s(self) -> float:
        return max((r.end for r in self.records), default=0.0)


def simulate_ops(ops: list[Op], hw: HardwareSpec) -> Run:
    """Run ``ops`` (topologically ordered, as lowering builds them) on ``hw``."""
    env = simpy.Environment()
    n_cores = hw.coprocessor.cores
    plan = plan_residency(ops, hw)
    resources: dict[str, simpy.Resource] = {f"core{i}": simpy.Resource(env, 1) for i in range(n_cores)}
    for name in ("host", "h2d", "d2h", "dram"):
        resources[name] = simpy.Resource(env, 1)
    busy = {name: 0.0 for name in resources}
    last_release: dict[str, int] = {}
    records: list[Record] = []
    done = [env.event() for _ in ops]
    # Start events only where a prefetch waits for them.
    watched = {d for op in ops if plan.fetch_bytes[op.id] > 0 for d in op.deps}
    started = [env.event() if op.id in watched else None for op in ops]
    start_pred = [-1] * len(ops)
    own_record = [-1] * len(ops)
    fetch_channel = fetch_resource(hw)

    def record(op_name, op, resource, rclass, start, pred, macs, nbytes) -> int:
        idx = len(records)
        records.append(Record(idx, op_name, op.kind if rclass != "fetch" else "fetch", op.component, resource,
                              RESOURCE_CLASS.get(resource, "coprocessor") if rclass != "fetch" else RESOURCE_CLASS[resource],
                              start, env.now, macs, nbytes, pred))
        return idx

    def after_wait(names, ready, pred):
        """The critical-path predecessor once ``names`` are granted: if the op waited for a resource,
        that resource's previous holder, else the dependency that finished last."""
        if env.now > ready:
            pred = max((last_release.get(n, -1) for n in names), key=lambda i: (records[i].end, i) if i >= 0 else (-1.0, -1))
        return pred

    def fetch(op: Op, nbytes: float):
        if op.deps:
            yield simpy.AllOf(env, [started[d] for d in op.deps])
            first = max(op.deps, key=lambda d: (started[d].value, d))
            pred = start_pred[first]
        else:
            pred = -1
        ready = env.now
        request = resources[fetch_channel].request()
        yield request
        pred = after_wait((fetch_channel,), ready, pred)
        start = env.now
        seconds = fetch_seconds(hw, nbytes)
        yield env.timeout(seconds)
        busy[fetch_channel] += seconds
        idx = record(f"{op.name}.fetch", op, fetch_channel, "fetch", start, pred, 0, nbytes)
        last_release[fetch_channel] = idx
        resources[fetch_channel].release(request)
        return idx

    def execute(op: Op, names: tuple[str, ...], label: str, seconds: float, nbytes: float):
        waits = [done[d] for d in op.deps]
        if nbytes > 0:
            waits.append(env.process(fetch(op, nbytes)))
        if len(waits) == 1:
            yield waits[0]
        elif waits:
            yield simpy.AllOf(env, waits)
        preds = [own_record[d] for d in op.deps] + ([waits[-1].value] if nbytes > 0 else [])
        pred = max(preds, key=lambda i: (records[i].end, i)) if preds else -1
        ready = env.now
        requests = []
        for name in names:  # always in ascending order: no deadlock between multi-core ops
            req = resources[name].request()
            requests.append(req)
            yield req
        pred = after_wait(names, ready, pred)
        start = env.now
        start_pred[op.id] = pred
        if started[op.id] is not None:
            started[op.id].succeed(start)
        yield env.timeout(seconds)
        for name in names:
            busy[name] += seconds
        idx = record(op.name, op, label, "", start, pred, op.macs, op.bytes)
        own_record[op.id] = idx
        for name, req in zip(names, requests):
            last_release[name] = idx
            resources[name].release(req)
        done[op.id].succeed(idx)

    for op in ops:
        if op.unit == "core":
            names = tuple(f"core{c}" for c in cores_of(op, n_cores))
            label = names[0] if len(names) == 1 else f"{names[0]}-{names[-1][4:]}"
        else:
            names, label = (op.unit,), op.unit
        seconds = op_cost(op, hw, len(names)).seconds
        env.process(execute(op, names, label, seconds, plan.fetch_bytes[op.id]))
    env.run()
    unfinished = [op.name for op in ops if not done[op.id].triggered]
    if unfinished:  # a dependency cycle or a dangling id: a lowering bug, not a user error
        raise RuntimeError(f"{len(unfinished)} ops never ran, first {unfinished[0]!r}")
    return Run(tuple(records), plan, busy)
