"""Batch-level execution: batches run as their phases (:mod:`accelsim.sim.batch`), not op by op.

A :class:`FluidMachine` accepts batches while it runs, as :class:`accelsim.sim.engine.Machine` accepts op DAGs, on
one machine or on a box of identical devices sharing one host and one host uplink. Each batch goes through its
phases in order:

- a *host phase* holds the host alone; phases waiting for it are served first come, first served (the host runs a
  batch's few long search steps one after the other, as the op-level engine does);
- a *device phase* progresses at a speed between 0 and 1 (1: as on an idle machine); concurrent device phases share
  each resource they use in proportion to their demand, max-min fair: every phase gets the same speed unless a
  resource it does not use is the bottleneck of the others (progressive filling). A phase alone runs at speed 1.

A batch alone on the machine therefore takes exactly its time on an idle machine, which is what the op-level engine
gives it; concurrent batches interleave their jobs on a shared resource in the op-level engine, which the sharing
approximates (docs/DESIGN.md says where and by how much). Busy time per resource is each batch's own, counted once
per batch: the op-level engine's busy time does not depend on contention either.

On a box, each device has its own cores, link and device memory; the host and the uplink to it are shared: a device
phase's link demand loads the uplink in the ratio of the device link's bandwidth to the uplink's
(:func:`accelsim.hw.link.uplink_share`).
"""

from __future__ import annotations

from collections import deque
from typing import Callable

import simpy

from accelsim.sim.batch import BatchCost

#: Link directions, which a box's devices reach the host through, sharing its uplink.
LINK_UNITS = ("h2d", "d2h")
#: A speed or capacity below this is zero.
EPSILON = 1e-12
#: A phase whose remaining time is below this share of its length has ended (what is left is rounding).
DONE = 1e-9


class _Flow:
    """One batch in flight: the phase it is in, the isolated seconds of that phase still to run, its speed; ``through``
    while it is alone on the machine: it then runs through its phases at speed 1 without a wake-up between them, and
    ``remaining`` counts the rest of the whole batch."""

    __slots__ = ("cost", "device", "phase", "remaining", "demand", "serial", "speed", "done", "through")

    def __init__(self, cost: BatchCost, device: int, done: Callable[[float], None] | None):
        self.cost, self.device, self.done = cost, device, done
        self.phase = -1
        self.remaining = 0.0
        self.demand: dict[str, float] = {}
        self.serial = ""
        self.speed = 0.0
        self.through = False


class FluidMachine:
    """One machine (``devices`` 1) or a box of devices, to which batches are submitted while it runs."""

    def __init__(self, devices: int = 1, env: simpy.Environment | None = None, uplink_share: float = 0.0):
        self.env = env or simpy.Environment()
        self.devices = devices
        self.uplink_share = uplink_share  # uplink seconds per second of a device's link time (0: no uplink)
        self.inflight = [0] * devices  # batches in flight per device
        self.submitted: dict[tuple[int, int], list] = {}  # (id of cost, device) -> [cost, device, count]
        self._flows: dict[_Flow, None] = {}  # in order of submission (deterministic sums)
        self._holder: dict[str, _Flow | None] = {}
        self._waiting: dict[str, deque[_Flow]] = {}
        self._demands: dict[tuple[int, int, int], dict[str, float]] = {}
        self._last = self.env.now
        self._version = 0
        self.overlap_s = 0.0  # time during which more than one batch was in flight (exact while it is 0)

    def submit(self, cost: BatchCost, done: Callable[[float], None] | None = None, device: int = 0) -> None:
        """Start the batch of ``cost`` now on ``device``; ``done(time)`` when its last phase ends."""
        self._advance()
        finished = self._materialise(next(iter(self._flows))) if len(self._flows) == 1 else []
        flow = _Flow(cost, device, done)
        self.inflight[device] += 1
        found = self.submitted.get((id(cost), device))
        if found is None:
            self.submitted[(id(cost), device)] = [cost, device, 1]
        else:
            found[2] += 1
        self._flows[flow] = None
        finished += self._next_phase(flow, 0.0)
        self._replan()
        for flow in finished:
            flow.done(self.env.now)

    def least_busy(self) -> int:
        """The device with the fewest batches in flight (the lowest index among equals)."""
        if self.devices == 1:
            return 0
        return min(range(self.devices), key=self.inflight.__getitem__)

    @property
    def busy(self) -> dict[str, float]:
        """Busy seconds per resource of every batch submitted (a box's device resources prefixed ``dev<i>.``, its
        uplink ``uplink.``); the host is shared."""
        busy: dict[str, float] = {}
        for cost, device, count in self.submitted.values():
            for resource, seconds in cost.busy_pairs:
                name = resource if resource == "host" else self._name(resource, device)
                busy[name] = busy.get(name, 0.0) + count * seconds
                if self.uplink_share and resource in LINK_UNITS:
                    busy[f"uplink.{resource}"] = busy.get(f"uplink.{resource}", 0.0) + count * seconds * self.uplink_share
        return busy

    def totals(self, attr: str) -> dict[str, float]:
        """``attr`` (pairs of a :class:`BatchCost`, e.g. its work counters) summed over every batch submitted."""
        out: dict[str, float] = {}
        for cost, _, count in self.submitted.values():
            for name, value in getattr(cost, attr):
                out[name] = out.get(name, 0.0) + count * value
        return out

    @property
    def fetched_bytes(self) -> float:
        return sum(cost.fetched_bytes * count for cost, _, count in self.submitted.values())

    @property
    def ops_done(self) -> int:
        """Ops the submitted batches stand for."""
        return sum(cost.ops * count for cost, _, count in self.submitted.values())

    # -------------------------------------------------------------- phases

    def _name(self, resource: str, device: int) -> str:
        return resource if self.devices == 1 else f"dev{device}.{resource}"

    def _next_phase(self, flow: _Flow, carried: float) -> list[_Flow]:
        """Move ``flow`` to its next phase (skipping empty ones), ``carried`` seconds of it already run; the flows that
        finished (it, or none)."""
        phases = flow.cost.phases
        while True:
            flow.phase += 1
            if flow.phase == len(phases):
                del self._flows[flow]
                self.inflight[flow.device] -= 1
                return [flow] if flow.done is not None else []
            if phases[flow.phase].seconds > 0:
                break
        phase = phases[flow.phase]
        flow.remaining = phase.seconds - carried
        flow.serial = phase.serial
        if phase.serial:
            flow.demand = {}
            if self._holder.get(phase.serial) is None:
                self._holder[phase.serial] = flow
            else:
                self._waiting.setdefault(phase.serial, deque()).append(flow)
        else:
            key = (id(flow.cost), flow.phase, flow.device)
            demand = self._demands.get(key)
            if demand is None:
                demand = self._demands[key] = self._demand(phase.demand, flow.device)
            flow.demand = demand
        return []

    def _demand(self, demand, device: int) -> dict[str, float]:
        out = {self._name(resource, device): share for resource, share in demand}
        if self.uplink_share:
            for resource, share in demand:
                if resource in LINK_UNITS:
                    out[f"uplink.{resource}"] = share * self.uplink_share
        return out

    def _end_phase(self, flow: _Flow, carried: float = 0.0) -> list[_Flow]:
        if flow.serial:
            queue = self._waiting.get(flow.serial)
            self._holder[flow.serial] = queue.popleft() if queue else None
        return self._next_phase(flow, carried)

    # -------------------------------------------------------------- time

    def _advance(self) -> None:
        """Bring every flow to now (a flow running through alone counts down its whole batch)."""
        now = self.env.now
        elapsed = now - self._last
        self._last = now
        if elapsed > 0:
            if len(self._flows) > 1:
                self.overlap_s += elapsed
            for flow in self._flows:
                flow.remaining -= flow.speed * elapsed

    def _materialise(self, flow: _Flow) -> list[_Flow]:
        """A flow that ran through alone is put in the phase it has reached (another batch arrives); itself if it has
        in fact finished."""
        if not flow.through:
            return []
        flow.through = False
        flow.remaining -= flow.cost.after[flow.phase]
        while flow.remaining <= DONE * flow.cost.phases[flow.phase].seconds:
            ended = self._end_phase(flow, max(0.0, -flow.remaining))
            if flow not in self._flows:
                return ended
        return []

    def _replan(self) -> None:
        """Speeds for the flows in flight, and a wake-up when the next phase ends (for a flow alone on the machine:
        when its batch ends)."""
        self._version += 1
        flows = self._flows
        if not flows:
            return
        if len(flows) == 1:
            (flow,) = flows
            if not flow.through:
                flow.speed, flow.through = 1.0, True
                flow.remaining += flow.cost.after[flow.phase]
            wait = flow.remaining
        else:
            shared = []
            for flow in flows:
                flow.through = False
                if flow.serial:
                    flow.speed = 1.0 if self._holder.get(flow.serial) is flow else 0.0
                else:
                    shared.append(flow)
            _share(shared)
            wait = min((f.remaining / f.speed for f in flows if f.speed > EPSILON), default=None)
            if wait is None:
                raise RuntimeError("no batch in flight can progress")  # a host phase waits only for another one
        version = self._version
        self.env.timeout(max(0.0, wait)).callbacks.append(lambda _: self._wake(version))

    def _wake(self, version: int) -> None:
        if version != self._version:  # the flows changed since: a later plan holds
            return
        self._advance()
        if len(self._flows) == 1 and next(iter(self._flows)).through:  # alone to its end
            finished = self._finish(next(iter(self._flows)))
        else:
            finished = []
            ending = [f for f in self._flows if f.speed > EPSILON and f.remaining <= DONE * f.cost.phases[f.phase].seconds]
            for flow in ending:  # in the order they were submitted: deterministic
                finished += self._end_phase(flow, max(0.0, -flow.remaining))
        self._replan()
        for flow in finished:
            flow.done(self.env.now)

    def _finish(self, flow: _Flow) -> list[_Flow]:
        """A batch that ran alone to its end: it releases the unit it held, if it held one."""
        if flow.serial and self._holder.get(flow.serial) is flow:
            self._holder[flow.serial] = None
        del self._flows[flow]
        self.inflight[flow.device] -= 1
        return [flow] if flow.done is not None else []


def _share(flows: list[_Flow]) -> None:
    """Max-min fair speeds of concurrent device phases (progressive filling): all speeds rise together until a
    resource is full, which freezes the phases that use it; a phase alone, or phases that fit, run at speed 1."""
    if len(flows) <= 1:
        for flow in flows:
            flow.speed = 1.0
        return
    load: dict[str, float] = {}
    for flow in flows:
        for name, share in flow.demand.items():
            load[name] = load.get(name, 0.0) + share
    if all(v <= 1.0 + EPSILON for v in load.values()):
        for flow in flows:
            flow.speed = 1.0
        return
    capacity = {name: 1.0 for name in load}
    speed = {flow: 0.0 for flow in flows}
    rising = list(flows)
    while rising:
        load = {}
        for flow in rising:
            for name, share in flow.demand.items():
                load[name] = load.get(name, 0.0) + share
        step = min(1.0 - speed[f] for f in rising)
        for name, total in load.items():
            if total > EPSILON:
                step = min(step, capacity[name] / total)
        for flow in rising:
            speed[flow] += step
        for name, total in load.items():
            capacity[name] -= step * total
        full = {name for name, left in capacity.items() if left <= EPSILON}
        rising = [f for f in rising if speed[f] < 1.0 - EPSILON and not any(
            share > EPSILON and name in full for name, share in f.demand.items())]
    for flow, value in speed.items():
        flow.speed = min(1.0, value)
