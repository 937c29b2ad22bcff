"""The serving engine: a scheduler that batches the work of many streams onto one shared machine.

Two queues, one per kind of batch (encoder, decode iteration). An utterance joins the encoder queue when it is
ready (:mod:`accelsim.serve.traffic`); when its encoder ends it joins the decode queue, and after each decode
iteration again, until its last iteration ends. A queue starts a batch of its first ``max_batch`` utterances
as long as fewer than ``max_inflight`` batches of its kind are running: the encoder queue when it holds that
many or when its oldest has waited ``max_wait``; the decode queue at once, with whatever is waiting (continuous
batching: a stream that waited for a decode batch to fill would wait at each of its hundreds of iterations).
Batches are submitted to one :class:`accelsim.sim.engine.Machine`: their ops contend for the cores, host and
link with every other batch in flight, under the engine's own resource model and policies (placement,
residency, prefetch, fetch channel).

With one stream the machine is idle whenever an utterance is ready (if it keeps up), and every utterance is the
program ``accelsim run`` simulates: :func:`serve_alone` then reuses the exact segment memo of
``accelsim.sim.segments`` (tests check that both paths agree).

Limit: each batch's weight fetches are planned on their own, so the decode loop's prefetch of the next
iteration's first weights during the host's search (``runtime.prefetch_next_iteration``) does not reach into
the next batch, and a batch does not find weights an earlier one left pinned on chip. Shared-machine results
are therefore a little pessimistic where those matter (one stream, 24 frames, beam 4: 3% slower than the
exact path, which has the prefetch).
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Callable

from accelsim.errors import AccelsimError
from accelsim.graph.lower import Segment
from accelsim.memo import Memo
from accelsim.pipeline import Point, Prepared, execute, prepare, utterance_points
from accelsim.serve.batching import batch_encoder, batch_iteration
from accelsim.serve.traffic import Arrival, arrivals, ready_times
from accelsim.sim.engine import Machine
from accelsim.sim.policies import plan_residency
from accelsim.spec.hardware import HardwareSpec
from accelsim.spec.serving import ServingSpec


@dataclass
class Utterance:
    """One utterance as it goes through the system."""

    arrival: Arrival
    prepared: Prepared
    step: int = 0  # the next decode iteration
    queued_s: float = 0.0  # when it joined its current queue
    wait_s: float = 0.0  # total time spent in queues
    done_s: float = math.nan

    @property
    def latency_s(self) -> float:
        """From the end of its audio (when it was ready) to its result."""
        return self.done_s - self.arrival.ready_s


@dataclass
class Served:
    """What a serving run produced: every utterance's outcome and what the machine did."""

    spec: ServingSpec
    utterances: list[Utterance]
    end_s: float  # when the last result came out
    busy: dict[str, float]  # busy seconds per resource
    batches: dict[str, Counter] = field(default_factory=dict)  # kind -> batch size -> count
    fetched_bytes: float = 0.0
    in_system_s: float = 0.0  # time integral of the number of utterances in the system over the statistics window
    jobs: int = 0  # ops and weight fetches the engine ran
    segments: list = field(default_factory=list)  # (segment, count) of every distinct batch submitted, for energy
    exact_reuse: bool = False


def distinct_utterances(point: Point) -> list[Prepared]:
    """The utterances the traffic takes in turn: the test set's, or the workload's one utterance."""
    if point.workload.streaming is not None:
        raise AccelsimError("serving: chunked streaming encoders (workload.streaming) are not wired into the serving "
                            "engine yet: each utterance is served whole once its audio ends; drop streaming to serve it")
    spec = point.workload.model_copy(update={"serving": None})  # the traffic does not change the search or lowering
    base = Point(spec, point.hardware)
    points = utterance_points(base) if spec.test_set is not None else [base]
    return [prepare(p.workload) for p in points]


def audio_seconds(point: Point, prepared: list[Prepared]) -> list[float]:
    shift = point.workload.utterance.frame_shift
    return [p.program.encoder.frames * shift for p in prepared]


_FETCHES = Memo("serving fetch plans", 4096)


def fetch_plan(segment: Segment, hw: HardwareSpec, machine: str) -> tuple[float, ...]:
    """The weight bytes each op of a batch fetches, planned for the batch on its own (per-op residency, as the
    shipped chip, is exact; with pinned residency a batch does not find weights a batch before it left)."""
    return _FETCHES.get((machine, segment), lambda: plan_residency(segment.ops, hw).fetch_bytes)


class _Queue:
    def __init__(self, kind: str, spec: ServingSpec, start: Callable[[list[Utterance]], None]):
        self.kind = kind
        self.items: deque[Utterance] = deque()
        self.inflight = 0
        self.spec = spec
        self.start = start
        self.timer_at = -1.0


class Server:
    """Serve the traffic of ``point.workload.serving`` on ``point.hardware`` in one SimPy run."""

    def __init__(self, point: Point, env=None):
        spec = point.workload.serving
        assert spec is not None
        self.spec = spec
        self.hw = point.hardware
        self.machine_key = self.hw.model_dump_json()
        self.prepared = distinct_utterances(point)
        self.audio = audio_seconds(point, self.prepared)
        model = self.prepared[0].model
        self.model, self.beam = model, self.prepared[0].trace.beam
        sample = self.prepared[0].program
        lanes = {(op.lane, op.lanes) for seg in sample.segments[:2] for op in seg.ops if op.unit == "core"}
        self.machine = Machine(self.hw, machine=self.machine_key, lanes=sorted(lanes | {(0, 1)}), keep_rows=False, env=env)
        self.env = self.machine.env
        self.batches: dict[str, Counter] = {"encoder": Counter(), "decode": Counter()}
        self.fetched = 0.0
        self.submitted: Counter = Counter()
        self.queues = {"encoder": _Queue("encoder", spec, self._start_encoders),
                       "decode": _Queue("decode", spec, self._start_iteration)}
        self.in_system = 0
        self.in_system_since = spec.warmup
        self.in_system_s = 0.0

    # -------------------------------------------------------------- bookkeeping of the number in the system

    def _count(self, change: int) -> None:
        now = self.env.now
        window = min(max(now, self.spec.warmup), self.spec.duration)
        self.in_system_s += self.in_system * (window - self.in_system_since)
        self.in_system_since = window
        self.in_system += change

    # -------------------------------------------------------------- queues

    def _join(self, queue: _Queue, u: Utterance) -> None:
        u.queued_s = self.env.now
        queue.items.append(u)
        self._try(queue)

    def _try(self, queue: _Queue) -> None:
        spec, now = self.spec, self.env.now
        while queue.items and queue.inflight < spec.max_inflight:
            due = queue.items[0].queued_s + (spec.max_wait if queue.kind == "encoder" else 0.0)
            if len(queue.items) < spec.max_batch and now < due:
                if queue.timer_at != due:  # wake up when the oldest has waited long enough
                    queue.timer_at = due
                    self.env.timeout(due - now).callbacks.append(lambda _: self._try(queue))
                return
            batch = [queue.items.popleft() for _ in range(min(spec.max_batch, len(queue.items)))]
            for u in batch:
                u.wait_s += now - u.queued_s
            queue.inflight += 1
            self.batches[queue.kind][len(batch)] += 1
            queue.start(batch)

    def _submit(self, queue: _Queue, segment: Segment, batch: list[Utterance], then: Callable[[Utterance], None]) -> None:
        fetch = fetch_plan(segment, self.hw, self.machine_key)
        self.fetched += sum(fetch)
        self.submitted[segment] += 1

        def done(_time: float) -> None:
            queue.inflight -= 1
            for u in batch:
                then(u)
            self._try(queue)

        self.machine.submit(segment.ops, fetch, done, key=segment)

    def _start_encoders(self, batch: list[Utterance]) -> None:
        longest = max(batch, key=lambda u: u.prepared.program.encoder.frames)
        segment = batch_encoder(longest.prepared.program.encoder.lower(), len(batch))
        self._submit(self.queues["encoder"], segment, batch, self._decode_next)

    def _start_iteration(self, batch: list[Utterance]) -> None:
        steps = [u.prepared.trace.steps[u.step] for u in batch]
        segment = batch_iteration(self.model, steps, self.beam)

        def advance(u: Utterance) -> None:
            u.step += 1
            self._decode_next(u)

        self._submit(self.queues["decode"], segment, batch, advance)

    def _decode_next(self, u: Utterance) -> None:
        if u.step < len(u.prepared.trace.steps):
            self._join(self.queues["decode"], u)
        else:
            u.done_s = self.env.now
            if u.arrival.ready_s >= self.spec.warmup:
                self._count(-1)

    def _ready(self, u: Utterance) -> None:
        if u.arrival.ready_s >= self.spec.warmup:
            self._count(+1)
        self._join(self.queues["encoder"], u)

    # -------------------------------------------------------------- run

    def run(self) -> Served:
        utterances = [Utterance(a, self.prepared[a.source]) for a in arrivals(self.spec, self.audio)]
        for u in utterances:  # a non-streaming encoder starts once the last part of the audio is ready
            ready = ready_times(u.arrival)[-1]
            self.env.timeout(ready - self.env.now).callbacks.append(lambda _, u=u: self._ready(u))
        self.env.run()
        self._count(0)  # close the window's integral
        end = max((u.done_s for u in utterances), default=0.0)
        return Served(self.spec, utterances, end, dict(self.machine.busy), self.batches, self.fetched, self.in_system_s,
                      self.machine.jobs_done, list(self.submitted.items()))


def serve_alone(point: Point) -> Served:
    """One stream on a machine that is idle whenever its next utterance is ready: each utterance's time is that
    of ``accelsim run`` (each distinct segment simulated once, :mod:`accelsim.sim.segments`), and an utterance
    ready before the previous one's result waits for it. Valid for one stream only (``exact_reuse``)."""
    spec = point.workload.serving
    assert spec is not None and spec.arrivals == "closed" and spec.streams == 1
    prepared = distinct_utterances(point)
    busy: dict[str, float] = {}
    fetched = 0.0
    batches = {"encoder": Counter(), "decode": Counter()}
    utterances = []
    free = 0.0
    submitted: Counter = Counter()
    for a in arrivals(spec, audio_seconds(point, prepared)):
        p = prepared[a.source]
        totals = execute(p, point.hardware).totals
        u = Utterance(a, p, step=len(p.trace.steps), wait_s=max(0.0, free - a.ready_s))
        u.done_s = free = max(free, a.ready_s) + totals.time_s
        utterances.append(u)
        for name, seconds in totals.busy.items():
            busy[name] = busy.get(name, 0.0) + seconds
        fetched += totals.fetched_bytes
        batches["encoder"][1] += 1
        batches["decode"][1] += len(p.trace.steps)
        submitted[p.program.encoder.lower()] += 1
        for _, seg in p.program.iterations:
            submitted[seg] += 1
    in_system = sum(max(0.0, min(u.done_s, spec.duration) - max(u.arrival.ready_s, spec.warmup))
                    for u in utterances if u.arrival.ready_s >= spec.warmup)
    end = max((u.done_s for u in utterances), default=0.0)
    return Served(spec, utterances, end, busy, batches, fetched, in_system, 0, list(submitted.items()), exact_reuse=True)


def serve(point: Point, exact_reuse: bool = True, env=None) -> Served:
    """Serve the point's traffic: one stream by exact segment reuse when allowed, else one shared SimPy run."""
    spec = point.workload.serving
    if spec is None:
        raise ValueError("the workload has no serving section")
    if exact_reuse and spec.arrivals == "closed" and spec.streams == 1:
        return serve_alone(point)
    return Server(point, env).run()
