"""The serving engine: a scheduler that batches the work of many streams onto one shared machine.

Two queues, one per kind of batch (encoder, decode iteration). An utterance joins the encoder queue when it is
ready (:mod:`accelsim.serve.traffic`); when its encoder ends it joins the decode queue, and after each decode
iteration again, until its last iteration ends. A streaming utterance (``workload.streaming``) does so chunk by
chunk (:func:`accelsim.pipeline.streaming_chunks`): a chunk joins the encoder queue once its audio (with its
look-ahead) has arrived and the stream's chunk before it is done, its encoder batched only with other streams'
chunks of the same shape; its decode iterations follow; when the last ends, its partial result is out (its
latency: from the end of the chunk's audio). A queue starts a batch of its first ``max_batch`` utterances as
long as fewer than ``max_inflight`` batches of its kind are running: the encoder queue when it holds that many
or when its oldest has waited ``max_wait``; the decode queue at once, with whatever is waiting (continuous
batching: a stream that waited for a decode batch to fill would wait at each of its hundreds of iterations).
Batches are submitted to one :class:`accelsim.sim.engine.Machine`: their ops contend for the cores, host and
link with every other batch in flight, under the engine's own resource model and policies (placement,
residency, prefetch, fetch channel).

With one stream the machine is idle whenever an utterance is ready (if it keeps up), and every utterance is the
program ``accelsim run`` simulates: :func:`serve_alone` then runs each through the engine's own entry point
(:func:`accelsim.sim.execute.execute`, exact segment reuse; tests check that both paths agree).

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
from itertools import islice
from typing import Callable

from accelsim.graph.lower import ChunkWork, EncoderWork, Segment
from accelsim.hw.family import Reads
from accelsim.pipeline import Point, Prepared, prepare, utterance_points
from accelsim.serve.batching import batch_encoder, batch_iteration
from accelsim.serve.traffic import Arrival, arrivals, ready_times
from accelsim.sim.engine import Machine
from accelsim.sim.execute import execute
from accelsim.sim.streaming import chunk_latencies, chunk_work, ready_times as chunk_ready_times, stream_schedule
from accelsim.sim.target import Target, target_for
from accelsim.spec.serving import ServingSpec


@dataclass
class Utterance:
    """One utterance as it goes through the system."""

    arrival: Arrival
    prepared: Prepared
    step: int = 0  # the next decode iteration
    chunks: tuple[ChunkWork, ...] | None = None  # streaming: each chunk, its encoder and its decode iterations
    chunk: int = 0  # streaming: the chunk it is on
    chunk_latencies_s: list[float] = field(default_factory=list)  # streaming: end of each chunk's audio to its result
    queued_s: float = 0.0  # when it joined its current queue
    wait_s: float = 0.0  # total time spent in queues
    done_s: float = math.nan

    @property
    def latency_s(self) -> float:
        """From the end of its audio (when it was ready) to its (final) result."""
        return self.done_s - self.arrival.ready_s

    @property
    def encoder(self) -> EncoderWork:
        """The encoder it waits for or runs: its whole encoder, or its chunk's."""
        return self.prepared.program.encoder if self.chunks is None else self.chunks[self.chunk].encoder

    @property
    def steps_end(self) -> int:
        """One past the last decode iteration of its encoder (of its chunk's, streaming)."""
        return len(self.prepared.trace.steps) if self.chunks is None else self.chunks[self.chunk].steps.stop

    def chunk_ready_s(self, index: int) -> float:
        """When chunk ``index``'s audio, up to its look-ahead, has arrived."""
        return self.arrival.start_s + self.chunks[index].chunk.ready_frames * self.prepared.program.frame_shift_s

    def chunk_done(self, now: float) -> None:
        chunk = self.chunks[self.chunk].chunk
        self.chunk_latencies_s.append(now - (self.arrival.start_s + chunk.end * self.prepared.program.frame_shift_s))
        self.chunk += 1


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
    spec = point.workload.model_copy(update={"serving": None})  # the traffic does not change the search or lowering
    base = Point(spec, point.hardware)
    points = utterance_points(base) if spec.test_set is not None else [base]
    return [prepare(p.workload) for p in points]


def audio_seconds(point: Point, prepared: list[Prepared]) -> list[float]:
    shift = point.workload.utterance.frame_shift
    return [p.program.encoder.frames * shift for p in prepared]


def fetch_plan(segment: Segment, target: Target) -> tuple[Reads, ...]:
    """The weight reads of each op of a batch, planned for the batch on its own (per-op residency, as the shipped
    chip, is exact; with pinned residency a batch does not find weights a batch before it left)."""
    return target.plan_alone(segment)


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
        self.target = target_for(point.hardware)
        self.prepared = distinct_utterances(point)
        self.plans = [p.program.chunks if p.program.streaming else None for p in self.prepared]
        self.chunked = any(plan is not None for plan in self.plans)
        self.audio = audio_seconds(point, self.prepared)
        model = self.prepared[0].model
        self.model, self.beam = model, self.prepared[0].trace.beam
        sample = self.prepared[0].program
        lanes = {(op.lane, op.lanes) for seg in sample.segments[:2] for op in seg.ops if op.unit == "core"}
        self.machine = Machine(self.target, lanes=sorted(lanes | {(0, 1)}), keep_rows=False, env=env)
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
            batch = self._batchable(queue)
            if len(batch) < spec.max_batch and now < due:
                if queue.timer_at != due:  # wake up when the oldest has waited long enough
                    queue.timer_at = due
                    self.env.timeout(due - now).callbacks.append(lambda _: self._try(queue))
                return
            if self.chunked and queue.kind == "encoder":
                taken = {id(u) for u in batch}
                queue.items = deque(u for u in queue.items if id(u) not in taken)
            else:
                for _ in batch:
                    queue.items.popleft()
            for u in batch:
                u.wait_s += now - u.queued_s
            queue.inflight += 1
            self.batches[queue.kind][len(batch)] += 1
            queue.start(batch)

    def _batchable(self, queue: _Queue) -> list[Utterance]:
        """What the queue's next batch may take, oldest first: everything, except that streaming chunks are batched
        with chunks of the same shape (frames computed, attention keys) as the oldest's."""
        if queue.kind != "encoder" or not self.chunked:
            return list(islice(queue.items, self.spec.max_batch))
        head = queue.items[0].encoder
        same = (u for u in queue.items if (u.encoder.frames, u.encoder.keys) == (head.frames, head.keys))
        return list(islice(same, self.spec.max_batch))

    def _submit(self, queue: _Queue, segment: Segment, batch: list[Utterance], then: Callable[[Utterance], None]) -> None:
        fetch = fetch_plan(segment, self.target)
        self.fetched += sum(n for reads in fetch for _, n in reads)
        self.submitted[segment] += 1

        def done(_time: float) -> None:
            queue.inflight -= 1
            for u in batch:
                then(u)
            self._try(queue)

        self.machine.submit(segment.ops, fetch, done, key=segment)

    def _start_encoders(self, batch: list[Utterance]) -> None:
        longest = max(batch, key=lambda u: u.encoder.frames)
        segment = batch_encoder(longest.encoder.lower(), len(batch))
        self._submit(self.queues["encoder"], segment, batch, self._decode_next)

    def _start_iteration(self, batch: list[Utterance]) -> None:
        steps = [u.prepared.trace.steps[u.step] for u in batch]
        segment = batch_iteration(self.model, steps, self.beam)

        def advance(u: Utterance) -> None:
            u.step += 1
            self._decode_next(u)

        self._submit(self.queues["decode"], segment, batch, advance)

    def _decode_next(self, u: Utterance) -> None:
        if u.step < u.steps_end:
            self._join(self.queues["decode"], u)
            return
        if u.chunks is not None:
            u.chunk_done(self.env.now)
            if u.chunk < len(u.chunks):
                self._at(u.chunk_ready_s(u.chunk), lambda: self._join(self.queues["encoder"], u))
                return
        u.done_s = self.env.now
        if u.arrival.ready_s >= self.spec.warmup:
            self._count(-1)

    def _ready(self, u: Utterance) -> None:
        self._audio_ended(u)
        self._join(self.queues["encoder"], u)

    def _audio_ended(self, u: Utterance) -> None:
        if u.arrival.ready_s >= self.spec.warmup:  # in the system (and measured) from the end of its audio
            self._count(+1)

    def _at(self, time: float, then: Callable[[], None]) -> None:
        """``then()`` at ``time``: now if it has passed."""
        if time <= self.env.now:
            then()
        else:
            self.env.timeout(time - self.env.now).callbacks.append(lambda _: then())

    # -------------------------------------------------------------- run

    def run(self) -> Served:
        utterances = [Utterance(a, self.prepared[a.source], chunks=self.plans[a.source])
                      for a in arrivals(self.spec, self.audio)]
        for u in utterances:
            if u.chunks is None:  # a non-streaming encoder starts once the last part of the audio is ready
                ready = ready_times(u.arrival)[-1]
                self.env.timeout(ready - self.env.now).callbacks.append(lambda _, u=u: self._ready(u))
            else:  # in the system from the end of its audio; its first chunk starts when that chunk's audio is in
                self._at(u.arrival.ready_s, lambda u=u: self._audio_ended(u))
                self._at(u.chunk_ready_s(0), lambda u=u: self._join(self.queues["encoder"], u))
        self.env.run()
        self._count(0)  # close the window's integral
        end = max((u.done_s for u in utterances), default=0.0)
        return Served(self.spec, utterances, end, dict(self.machine.busy), self.batches, self.fetched, self.in_system_s,
                      self.machine.jobs_done, list(self.submitted.items()))


def serve_alone(point: Point) -> Served:
    """One stream on a machine that is idle whenever its next utterance is ready: each utterance's time is that
    of ``accelsim run`` (each distinct segment simulated once, :mod:`accelsim.sim.segments`; a streaming one's
    chunks on the audio clock as there), and an utterance ready before the previous one's result waits for it.
    Valid for one stream only (``exact_reuse``)."""
    spec = point.workload.serving
    assert spec is not None and spec.arrivals == "closed" and spec.streams == 1
    target = target_for(point.hardware)
    prepared = distinct_utterances(point)
    busy: dict[str, float] = {}
    fetched = 0.0
    batches = {"encoder": Counter(), "decode": Counter()}
    utterances = []
    free = 0.0
    submitted: Counter = Counter()
    for a in arrivals(spec, audio_seconds(point, prepared)):
        p = prepared[a.source]
        u, totals = _alone(a, p, target, free)
        free = u.done_s
        utterances.append(u)
        for name, seconds in totals.busy_pairs:
            busy[name] = busy.get(name, 0.0) + seconds
        fetched += totals.fetched_bytes
        encoders = [c.encoder for c in p.program.chunks] or [p.program.encoder]
        batches["encoder"][1] += len(encoders)
        batches["decode"][1] += len(p.trace.steps)
        for encoder in encoders:
            submitted[encoder.lower()] += 1
        for _, seg in p.program.iterations:
            submitted[seg] += 1
    in_system = sum(max(0.0, min(u.done_s, spec.duration) - max(u.arrival.ready_s, spec.warmup))
                    for u in utterances if u.arrival.ready_s >= spec.warmup)
    end = max((u.done_s for u in utterances), default=0.0)
    return Served(spec, utterances, end, busy, batches, fetched, in_system, 0, list(submitted.items()), exact_reuse=True)


def _alone(a: Arrival, p: Prepared, target: Target, free: float):
    """One utterance of a lone stream, on a machine free from ``free`` on: its outcome and the totals of its work."""
    program = p.program
    if not program.streaming:
        totals = execute(program, target).totals
        u = Utterance(a, p, step=len(p.trace.steps), wait_s=max(0.0, free - a.ready_s))
        u.done_s = max(free, a.ready_s) + totals.time_s
        return u, totals
    # chunk by chunk on the audio clock, from when the machine is free (the schedule of a streaming execution)
    work, totals = chunk_work(program, target)
    ready = chunk_ready_times(program, a.start_s)
    schedule = stream_schedule(ready, work, free)
    u = Utterance(a, p, step=len(p.trace.steps), chunk=len(program.chunks), wait_s=max(0.0, free - ready[0]),
                  chunk_latencies_s=chunk_latencies(program, schedule, a.start_s))
    u.done_s = schedule[-1][1]
    return u, totals


def serve(point: Point, exact_reuse: bool = True, env=None) -> Served:
    """Serve the point's traffic: one stream by exact segment reuse when allowed, else one shared SimPy run."""
    spec = point.workload.serving
    if spec is None:
        raise ValueError("the workload has no serving section")
    if exact_reuse and spec.arrivals == "closed" and spec.streams == 1:
        return serve_alone(point)
    return Server(point, env).run()
