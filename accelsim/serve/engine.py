"""The serving engine: a fleet of machines behind a dispatcher, each batching the work of its own streams.

A dispatcher (:mod:`accelsim.serve.dispatch`) sends each utterance, when it first needs a machine, to one chip of the
fleet (``serving.chips``: that many of the hardware file's machine, or one per listed hardware file); a chip may be
a box of several devices sharing one host (``hardware.box``), which serve its one queue. Each chip has two queues,
one per kind of batch (encoder, decode iteration). An utterance joins the encoder queue when it is ready
(:mod:`accelsim.serve.traffic`); when its encoder ends it joins the decode queue, and after each decode iteration
again, until its last iteration ends. A streaming utterance (``workload.streaming``) does so chunk by chunk: a chunk
joins the encoder queue once its audio (with its look-ahead) has arrived and the stream's chunk before it is done,
its encoder batched only with other streams' chunks of the same shape; its decode iterations follow; when the last
ends, its partial result is out (its latency: from the end of the chunk's audio). A queue starts a batch of its
first ``max_batch`` utterances as long as fewer than ``max_inflight`` batches of its kind are running per device:
the encoder queue when it holds that many or when its oldest has waited ``max_wait``; the decode queue at once, with
whatever is waiting (continuous batching: a stream that waited for a decode batch to fill would wait at each of its
hundreds of iterations).

How a chip runs a batch is ``serving.level``:

- ``op``: its ops and weight fetches are submitted to one :class:`accelsim.sim.engine.Machine`, where they contend
  for the cores, host and link with every other batch in flight, under the engine's own resource model and policies
  (the reference);
- ``batch``: it runs as its phases (:mod:`accelsim.sim.batch`, measured once per machine and batch shape) on a
  :class:`accelsim.sim.fluid.FluidMachine`: exact while it is alone on the machine, approximate while batches overlap.

With one stream on one chip the machine is idle whenever an utterance is ready (if it keeps up), and every utterance
is the program ``accelsim run`` simulates: :func:`serve_alone` then runs each through the engine's own entry point
(:func:`accelsim.sim.execute.execute`, exact segment reuse; tests check that the paths agree).

Limit: each batch's weight fetches are planned on their own, so the decode loop's prefetch of the next iteration's
first weights during the host's search (``runtime.prefetch_next_iteration``) does not reach into the next batch, and
a batch does not find weights an earlier one left pinned on chip. Shared-machine results are therefore a little
pessimistic where those matter (one stream, 24 frames, beam 4: 3% slower than the exact path, which has the
prefetch).
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, field
from itertools import islice
from typing import Callable

import simpy

from accelsim.errors import AccelsimError
from accelsim.graph.lower import ChunkWork, EncoderWork, Segment
from accelsim.hw.energy import work_counters
from accelsim.hw.family import Reads
from accelsim.hw.link import uplink_share
from accelsim.pipeline import Point, Prepared, prepare, utterance_points
from accelsim.serve.batching import batch_encoder, batch_iteration, step_work, summed
from accelsim.serve.dispatch import dispatcher_for
from accelsim.serve.traffic import Arrival, arrivals, ready_times
from accelsim.sim.batch import BatchCost, encoder_cost, segment_cost
from accelsim.sim.engine import Machine
from accelsim.sim.execute import execute
from accelsim.sim.fluid import FluidMachine
from accelsim.sim.streaming import chunk_latencies, chunk_work, ready_times as chunk_ready_times, stream_schedule
from accelsim.sim.target import Target, target_for
from accelsim.spec.hardware import HardwareSpec
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
    chip: int = 0  # the chip of the fleet serving it
    steps_end: int = 0  # one past the last decode iteration of its encoder (of its chunk's, streaming)
    #: Its work still to do, in seconds of its chip alone, and what each encoder and each decode iteration takes off it
    #: (kept only for the least-loaded dispatcher).
    left_s: float = 0.0
    encoder_s: float = 0.0
    iteration_s: float = 0.0

    def __post_init__(self) -> None:
        self._set_steps_end()

    def _set_steps_end(self) -> None:
        if self.chunks is None:
            self.steps_end = len(self.prepared.trace.steps)
        elif self.chunk < len(self.chunks):
            self.steps_end = self.chunks[self.chunk].steps.stop

    @property
    def latency_s(self) -> float:
        """From the end of its audio (when it was ready) to its (final) result."""
        return self.done_s - self.arrival.ready_s

    @property
    def encoder(self) -> EncoderWork:
        """The encoder it waits for or runs: its whole encoder, or its chunk's."""
        return self.prepared.program.encoder if self.chunks is None else self.chunks[self.chunk].encoder

    def chunk_ready_s(self, index: int) -> float:
        """When chunk ``index``'s audio, up to its look-ahead, has arrived."""
        return self.arrival.start_s + self.chunks[index].chunk.ready_frames * self.prepared.program.frame_shift_s

    def chunk_done(self, now: float) -> None:
        chunk = self.chunks[self.chunk].chunk
        self.chunk_latencies_s.append(now - (self.arrival.start_s + chunk.end * self.prepared.program.frame_shift_s))
        self.chunk += 1
        self._set_steps_end()


@dataclass
class ChipRun:
    """What one chip (a machine, or a box of devices) of the fleet did."""

    hardware: HardwareSpec
    busy: dict[str, float]  # busy seconds per resource (a box's devices prefixed dev0., dev1., its uplink uplink.)
    batches: dict[str, Counter]  # kind -> batch size -> count
    fetched_bytes: float = 0.0
    work: dict[str, float] = field(default_factory=dict)  # energy's work counters of every batch
    jobs: int = 0  # op level: ops and weight fetches run; batch level: the ops the batches stand for
    overlap_s: float = 0.0  # batch level: time during which batches shared the machine (its figures are exact at 0)


@dataclass
class Served:
    """What a serving run produced: every utterance's outcome and what each chip did."""

    spec: ServingSpec
    utterances: list[Utterance]
    end_s: float  # when the last result came out
    chips: list[ChipRun]
    in_system_s: float = 0.0  # time integral of the number of utterances in the system over the statistics window
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


# ---------------------------------------------------------------- how a chip runs a batch


class _OpLevel:
    """Every op and fetch of every batch on one :class:`accelsim.sim.engine.Machine` (the reference)."""

    devices = 1

    def __init__(self, target: Target, lanes: list[tuple[int, int]], env: simpy.Environment):
        if target.spec.box is not None:
            raise AccelsimError(f"hardware {target.spec.name!r}: a box of devices (hardware.box) is served at batch level "
                                f"only; drop serving.level op")
        self.target = target
        self.machine = Machine(target, lanes=lanes, keep_rows=False, env=env)
        self.submitted: Counter = Counter()  # segment -> times submitted

    def prepare(self, work: Segment | EncoderWork) -> Segment:
        return work.lower() if isinstance(work, EncoderWork) else work

    def submit(self, segment: Segment, done: Callable[[float], None]) -> None:
        self.submitted[segment] += 1
        self.machine.submit(segment.ops, fetch_plan(segment, self.target), done, key=segment)

    def finish(self, run: ChipRun) -> None:
        run.busy, run.jobs = dict(self.machine.busy), self.machine.jobs_done
        for segment, count in self.submitted.items():
            run.fetched_bytes += count * sum(n for reads in fetch_plan(segment, self.target) for _, n in reads)
            for name, value in work_counters(segment.ops).items():
                run.work[name] = run.work.get(name, 0.0) + count * value


class _BatchLevel:
    """Every batch as its phases on a :class:`accelsim.sim.fluid.FluidMachine` (one device, or a box of them)."""

    def __init__(self, target: Target, env: simpy.Environment):
        box = target.spec.box
        self.devices = box.devices if box is not None else 1
        self.target = target
        self.machine = FluidMachine(self.devices, env, uplink_share(target.spec))

    def prepare(self, work: Segment | EncoderWork) -> BatchCost:
        return encoder_cost(work, self.target) if isinstance(work, EncoderWork) else segment_cost(work, self.target)

    def submit(self, cost: BatchCost, done: Callable[[float], None]) -> None:
        self.machine.submit(cost, done, self.machine.least_busy())

    def finish(self, run: ChipRun) -> None:
        machine = self.machine
        run.busy, run.jobs, run.fetched_bytes = machine.busy, machine.ops_done, machine.fetched_bytes
        run.work, run.overlap_s = machine.totals("work_pairs"), machine.overlap_s


def _add(into: dict[str, float], pairs) -> None:
    for name, value in pairs:
        into[name] = into.get(name, 0.0) + value


# ---------------------------------------------------------------- one chip's queues


class _Queue:
    def __init__(self, kind: str, start: Callable[[list[Utterance]], None]):
        self.kind = kind
        self.items: deque[Utterance] = deque()
        self.inflight = 0
        self.start = start
        self.timer_at = -1.0


class Chip:
    """One machine (or box) of the fleet: its two queues, and the machine its batches run on."""

    def __init__(self, fleet: "Fleet", index: int, hardware: HardwareSpec):
        self.fleet, self.index, self.spec, self.env = fleet, index, fleet.spec, fleet.env
        self.target = target_for(hardware)
        self.run = ChipRun(hardware, {}, {"encoder": Counter(), "decode": Counter()})
        if self.spec.level == "op":
            self.backend: _OpLevel | _BatchLevel = _OpLevel(self.target, fleet.lanes, self.env)
        else:
            self.backend = _BatchLevel(self.target, self.env)
        self._iterations: dict[tuple[int, ...], Segment | BatchCost] = {}  # by the batch's summed work
        self.slots = self.spec.max_inflight * self.backend.devices  # batches of one kind in flight at once
        self.queues = {"encoder": _Queue("encoder", self._start_encoders),
                       "decode": _Queue("decode", self._start_iteration)}
        self.present: dict[int, Utterance] = {}  # utterances sent here and not done, by arrival index
        self._releasing = False  # a finished batch's utterances are moving on: queues wait until all have
        self.tracks_load = self.spec.dispatcher == "least_loaded" and self.spec.fleet_size > 1
        self.load_s = 0.0  # the work left of the utterances here (least-loaded dispatch only)
        self._alone: dict[int, tuple[float, float]] = {}

    def accept(self, u: Utterance) -> None:
        """``u``, whose (first) encoder is ready now, is this chip's from now on."""
        u.chip = self.index
        self.present[u.arrival.index] = u
        if self.tracks_load:
            u.encoder_s, u.iteration_s = self._alone_s(u)
            u.left_s = u.encoder_s * (len(u.chunks) if u.chunks is not None else 1) + u.iteration_s * len(
                u.prepared.trace.steps)
            self.load_s += u.left_s
        self._join(self.queues["encoder"], u)

    def outstanding_s(self) -> float:
        """The work of the utterances here that is still to do, in seconds of this machine alone: each utterance's
        encoder time while its encoders are not done, and its decode time by the share of iterations left."""
        return max(0.0, self.load_s)

    def _worked(self, u: Utterance, seconds: float) -> None:
        u.left_s -= seconds
        self.load_s -= seconds

    def _alone_s(self, u: Utterance) -> tuple[float, float]:
        """Seconds of one of ``u``'s encoders (the whole one, or a chunk's on average) and of one of its decode
        iterations on average, its utterance alone on this machine."""
        source = u.arrival.source
        if source not in self._alone:
            program = u.prepared.program
            whole = execute(program, self.target).totals.time_s
            encoders = [c.encoder for c in program.chunks] or [program.encoder]
            encoder_s = sum(encoder_cost(e, self.target).time_s for e in encoders)
            steps = len(u.prepared.trace.steps)
            self._alone[source] = (encoder_s / len(encoders), max(0.0, whole - encoder_s) / steps if steps else 0.0)
        return self._alone[source]

    # -------------------------------------------------------------- queues

    def _join(self, queue: _Queue, u: Utterance) -> None:
        u.queued_s = self.env.now
        queue.items.append(u)
        if not self._releasing:
            self._try(queue)

    def _try(self, queue: _Queue) -> None:
        spec, now, largest = self.spec, self.env.now, self.spec.max_batch
        while queue.items and queue.inflight < self.slots:
            due = queue.items[0].queued_s + (spec.max_wait if queue.kind == "encoder" else 0.0)
            shaped = self.fleet.chunked and queue.kind == "encoder"
            size = len(self._same_shape(queue)) if shaped else min(len(queue.items), largest)
            if size < largest and now < due:
                if queue.timer_at != due:  # wake up when the oldest has waited long enough
                    queue.timer_at = due
                    self.env.timeout(due - now).callbacks.append(lambda _: self._try(queue))
                return
            if shaped:
                batch = self._same_shape(queue)
                taken = {id(u) for u in batch}
                queue.items = deque(u for u in queue.items if id(u) not in taken)
            elif size == len(queue.items):
                batch = list(queue.items)
                queue.items.clear()
            else:
                popleft = queue.items.popleft
                batch = [popleft() for _ in range(size)]
            for u in batch:
                u.wait_s += now - u.queued_s
            queue.inflight += 1
            self.run.batches[queue.kind][size] += 1
            queue.start(batch)

    def _same_shape(self, queue: _Queue) -> list[Utterance]:
        """Streaming chunks are batched with chunks of the same shape (frames computed, attention keys) as the oldest's:
        those the queue's next batch may take, oldest first."""
        head = queue.items[0].encoder
        same = (u for u in queue.items if (u.encoder.frames, u.encoder.keys) == (head.frames, head.keys))
        return list(islice(same, self.spec.max_batch))

    def _submit(self, queue: _Queue, work, batch: list[Utterance], then: Callable[[list[Utterance]], None]) -> None:
        def done(_time: float) -> None:  # every utterance of the batch moves on before any queue starts a batch
            queue.inflight -= 1
            self._releasing = True
            then(batch)
            self._releasing = False
            self._try(self.queues["decode"])
            self._try(self.queues["encoder"])

        self.backend.submit(work, done)

    def _start_encoders(self, batch: list[Utterance]) -> None:
        longest = max(batch, key=lambda u: u.encoder.frames)
        work = self.backend.prepare(batch_encoder(longest.encoder, len(batch)))
        self._submit(self.queues["encoder"], work, batch, self._encoders_done)

    def _encoders_done(self, batch: list[Utterance]) -> None:
        for u in batch:
            if self.tracks_load:
                self._worked(u, u.encoder_s)
            self._decode_next(u)

    def _start_iteration(self, batch: list[Utterance]) -> None:
        works = self.fleet.works
        work = summed([works[u.arrival.source][u.step] for u in batch])
        prepared = self._iterations.get(work)
        if prepared is None:
            segment = batch_iteration(self.fleet.model, work, self.fleet.beam)
            prepared = self._iterations[work] = self.backend.prepare(segment)
        self._submit(self.queues["decode"], prepared, batch, self._iteration_done)

    def _iteration_done(self, batch: list[Utterance]) -> None:
        """Each utterance of a decode batch is one iteration further: back in the decode queue (the common case, done
        here without a call per utterance), or on to its next chunk or its result."""
        now, items = self.env.now, self.queues["decode"].items
        if self.tracks_load:
            for u in batch:
                self._worked(u, u.iteration_s)
        for u in batch:
            u.step += 1
            if u.step < u.steps_end:
                u.queued_s = now
                items.append(u)
            else:
                self._decode_next(u)

    def _decode_next(self, u: Utterance) -> None:
        if u.step < u.steps_end:
            self._join(self.queues["decode"], u)
            return
        if u.chunks is not None:
            u.chunk_done(self.env.now)
            if u.chunk < len(u.chunks):
                self.fleet.at(u.chunk_ready_s(u.chunk), lambda: self._join(self.queues["encoder"], u))
                return
        u.done_s = self.env.now
        del self.present[u.arrival.index]
        self._worked(u, u.left_s)  # what rounding left
        self.fleet.finished(u)


# ---------------------------------------------------------------- the fleet


class Fleet:
    """Serve the traffic of ``point.workload.serving`` on its fleet in one SimPy run."""

    def __init__(self, point: Point, env: simpy.Environment | None = None, hardware: list[HardwareSpec] | None = None):
        spec = point.workload.serving
        assert spec is not None and spec.duration is not None
        self.spec = spec
        self.env = env or simpy.Environment()
        self.prepared = distinct_utterances(point)
        self.plans = [p.program.chunks if p.program.streaming else None for p in self.prepared]
        self.chunked = any(plan is not None for plan in self.plans)
        self.audio = audio_seconds(point, self.prepared)
        self.model, self.beam = self.prepared[0].model, self.prepared[0].trace.beam
        self.works = [[step_work(s) for s in p.trace.steps] for p in self.prepared]  # per utterance, per iteration
        sample = self.prepared[0].program
        lanes = {(op.lane, op.lanes) for seg in sample.segments[:2] for op in seg.ops if op.unit == "core"}
        self.lanes = sorted(lanes | {(0, 1)})
        machines = hardware or [point.hardware] * spec.fleet_size
        self.chips = [Chip(self, i, hw) for i, hw in enumerate(machines)]
        self.dispatch = dispatcher_for(spec, self.chips)
        self.in_system = 0
        self.in_system_since = spec.warmup
        self.in_system_s = 0.0

    def at(self, time: float, then: Callable[[], None]) -> None:
        """``then()`` at ``time``: now if it has passed."""
        if time <= self.env.now:
            then()
        else:
            self.env.timeout(time - self.env.now).callbacks.append(lambda _: then())

    def _count(self, change: int) -> None:
        """The number of measured utterances in the system changes by ``change`` now (Little's law's integral)."""
        now = self.env.now
        window = min(max(now, self.spec.warmup), self.spec.duration)
        self.in_system_s += self.in_system * (window - self.in_system_since)
        self.in_system_since = window
        self.in_system += change

    def _audio_ended(self, u: Utterance) -> None:
        if u.arrival.ready_s >= self.spec.warmup:  # in the system (and measured) from the end of its audio
            self._count(+1)

    def _enter(self, u: Utterance) -> None:
        """``u`` first needs a machine: the dispatcher chooses its chip."""
        self.chips[self.dispatch(u)].accept(u)

    def finished(self, u: Utterance) -> None:
        if u.arrival.ready_s >= self.spec.warmup:
            self._count(-1)

    def run(self) -> Served:
        utterances = [Utterance(a, self.prepared[a.source], chunks=self.plans[a.source])
                      for a in arrivals(self.spec, self.audio)]
        for u in utterances:
            if u.chunks is None:  # a non-streaming encoder starts once the last part of the audio is ready
                ready = ready_times(u.arrival)[-1]
                self.at(ready, lambda u=u: (self._audio_ended(u), self._enter(u)))
            else:  # in the system from the end of its audio; its first chunk starts when that chunk's audio is in
                self.at(u.arrival.ready_s, lambda u=u: self._audio_ended(u))
                self.at(u.chunk_ready_s(0), lambda u=u: self._enter(u))
        self.env.run()
        self._count(0)  # close the window's integral
        for chip in self.chips:
            chip.backend.finish(chip.run)
        end = max((u.done_s for u in utterances), default=0.0)
        return Served(self.spec, utterances, end, [chip.run for chip in self.chips], self.in_system_s)


def serve_alone(point: Point) -> Served:
    """One stream on a machine that is idle whenever its next utterance is ready: each utterance's time is that
    of ``accelsim run`` (each distinct segment simulated once, :mod:`accelsim.sim.segments`; a streaming one's
    chunks on the audio clock as there), and an utterance ready before the previous one's result waits for it.
    Valid for one stream on one machine only (``exact_reuse``)."""
    spec = point.workload.serving
    assert spec is not None and spec.arrivals == "closed" and spec.streams == 1
    target = target_for(point.hardware)
    prepared = distinct_utterances(point)
    run = ChipRun(point.hardware, {}, {"encoder": Counter(), "decode": Counter()})
    utterances = []
    free = 0.0
    for a in arrivals(spec, audio_seconds(point, prepared)):
        p = prepared[a.source]
        u, totals = _alone(a, p, target, free)
        free = u.done_s
        utterances.append(u)
        _add(run.busy, totals.busy_pairs)
        _add(run.work, totals.work_pairs)
        run.fetched_bytes += totals.fetched_bytes
        run.batches["encoder"][1] += len(p.program.chunks) or 1
        run.batches["decode"][1] += len(p.trace.steps)
    in_system = sum(max(0.0, min(u.done_s, spec.duration) - max(u.arrival.ready_s, spec.warmup))
                    for u in utterances if u.arrival.ready_s >= spec.warmup)
    end = max((u.done_s for u in utterances), default=0.0)
    return Served(spec, utterances, end, [run], in_system, exact_reuse=True)


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


def serve(point: Point, exact_reuse: bool = True, env: simpy.Environment | None = None) -> Served:
    """Serve the point's traffic: one stream on one machine by exact segment reuse when allowed, else the fleet in one
    SimPy run. An unset ``serving.duration`` is made long enough for ``serving.min_utterances`` (:func:`window`)."""
    spec = point.workload.serving
    if spec is None:
        raise ValueError("the workload has no serving section")
    hardware = fleet_hardware(point)
    if spec.duration is None:
        spec = spec.model_copy(update={"duration": window(spec, audio_seconds(point, distinct_utterances(point)))})
        point = Point(point.workload.model_copy(update={"serving": spec}), point.hardware)
    alone = spec.arrivals == "closed" and spec.streams == 1 and len(hardware) == 1 and hardware[0].box is None
    if exact_reuse and alone:
        return serve_alone(Point(point.workload, hardware[0]))
    return Fleet(point, env, hardware).run()


def window(spec: ServingSpec, audio_s: list[float]) -> float:
    """A traffic window long enough to measure ``spec.min_utterances`` utterances at the offered rate (always-active
    streams: one utterance per stream per mean audio length), after the warm-up, in whole seconds (at most an hour)."""
    rate = spec.rate if spec.arrivals == "poisson" else spec.streams / (sum(audio_s) / len(audio_s))
    mean = sum(audio_s) / len(audio_s)
    return float(min(3600, math.ceil(spec.warmup + spec.min_utterances / rate + mean)))


def fleet_hardware(point: Point) -> list[HardwareSpec]:
    """The fleet's machines: ``serving.chips`` of the point's hardware, or one per listed hardware file. Every machine
    must run the workload's layers in the same arithmetic formats (one model, served one way)."""
    spec = point.workload.serving
    assert spec is not None
    if isinstance(spec.chips, int):
        return [point.hardware] * spec.chips
    from accelsim.report.metrics import formats_of
    from accelsim.spec.loader import load_hardware

    machines = [load_hardware(path) for path in spec.chips]
    model = distinct_utterances(point)[0].model
    seen: dict[str, tuple[str, dict[str, str]]] = {}
    for path, hw in zip(spec.chips, machines):
        try:
            formats = formats_of(model, hw)
        except AccelsimError as exc:
            raise AccelsimError(f"{path}: serving.chips: this machine cannot run the workload: {exc}") from None
        for other, (other_path, other_formats) in seen.items():
            if formats != other_formats:
                net = next(n for n in formats if formats.get(n) != other_formats.get(n))
                raise AccelsimError(f"{path}: serving.chips: runs {net} in {formats.get(net)}, but {other_path} runs it in "
                                    f"{other_formats.get(net)}; a mixed fleet must run the workload in the same formats")
        seen.setdefault(hw.model_dump_json(), (path, formats))
    return machines
