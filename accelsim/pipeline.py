"""One simulation, in four stages, each a small function with typed input and output:

    resolve(workload, hardware, variation) -> Point       the two validated specs
    prepare(workload spec)                 -> Prepared    model, search trace, lowered program (no hardware)
    execute(prepared, hardware spec)       -> Execution   the distinct segments simulated (or the whole run)
    measure(point, prepared, execution)    -> SimResult   RTF and breakdowns (accelsim.report.metrics)

Data flows one way through them. What does not depend on the hardware (the search and the lowering) is
memoized on the workload's content, so sweeps and calibration over hardware parameters pay for it once
per workload setting; simulated segments are memoized per machine (``accelsim/sim/segments.py``).
A test set is many points, one per utterance (:func:`utterance_points`), run by the sweep runner.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple


from accelsim.errors import AccelsimError, shown_path
from accelsim.graph.lower import EncoderWork, Program, Segment, lower_program
from accelsim.memo import Memo
from accelsim.report.metrics import (Totals, measure as measure_result, program_totals, run_totals, segment_totals,
                                     streaming_latency)
from accelsim.report.result import SimResult
from accelsim.sim.engine import Run, simulate_ops
from accelsim.sim.segments import distinct_runs, repeats_step_by_step, run_alone, simulate_program
from accelsim.sim.streaming import stream_schedule
from accelsim.spec.hardware import HardwareSpec
from accelsim.spec.loader import Variation, as_variation, load_hardware, load_workload, override_spec
from accelsim.spec.workload import StreamingSpec, WorkloadSpec
from accelsim.workload.model import Model, build_model
from accelsim.workload.streaming import Chunk, chunk_of_iteration, plan_chunks
from accelsim.workload.search import (DecodeTrace, EmissionModel, TraceFormatError, load_trace_jsonl, read_trace_bytes,
                                     run_alsd)
from accelsim.workload.testset import utterance_lengths

# ---------------------------------------------------------------- resolve


class Point(NamedTuple):
    """What one simulation runs: a validated workload on a validated machine (``workload, hardware = point``)."""

    workload: WorkloadSpec
    hardware: HardwareSpec


def resolve(workload: WorkloadSpec | str | Path, hardware: HardwareSpec | str | Path,
            variation: Variation | list[str] | tuple[str, ...] = Variation()) -> Point:
    """Load (or take) the two specs and apply the variation's changes to each, validating again."""
    variation = as_variation(variation)
    spec = (override_spec(workload, "workload", variation) if isinstance(workload, WorkloadSpec)
            else load_workload(workload, variation))
    hw = (override_spec(hardware, "hw", variation) if isinstance(hardware, HardwareSpec)
          else load_hardware(hardware, variation))
    return Point(spec, hw)


def utterance_points(point: Point) -> list[Point]:
    """A test set as one point per utterance (its length; emission seed + its index, drawing from the noise pool
    of the base seed), in utterance order."""
    spec = point.workload
    assert spec.test_set is not None
    base = spec.decoding.emission
    pool = base.seed if base.noise_seed is None else base.noise_seed
    points = []
    for index, frames in enumerate(utterance_lengths(spec.test_set)):
        emission = base.model_copy(update={"seed": base.seed + index, "noise_seed": pool})
        utterance = spec.model_copy(update={
            "test_set": None,
            "utterance": spec.utterance.model_copy(update={"frames": frames}),
            "decoding": spec.decoding.model_copy(update={"emission": emission}),
        })
        points.append(Point(utterance, point.hardware))
    return points


# ---------------------------------------------------------------- prepare


@dataclass(frozen=True)
class Prepared:
    """Everything that does not depend on the hardware."""

    model: Model
    trace: DecodeTrace
    program: Program
    streaming: StreamingSpec | None = None  # chunked execution (see execute_streaming)
    frame_shift: float = 0.0


def trace_digest(path: str | None) -> str | None:
    """A hash of a recorded trace's content (a memo or cache must not outlive an edit of the file)."""
    if not path:
        return None
    try:
        return hashlib.sha256(read_trace_bytes(path)).hexdigest()
    except TraceFormatError:
        return None  # the run itself reports the missing (or refused) file


_PREPARED = Memo("prepared workloads", 256)


def prepare(spec: WorkloadSpec) -> Prepared:
    """Model, search trace and op graph of a workload, memoized on its content (and a recorded trace's)."""
    key = spec.model_dump_json() + (trace_digest(spec.decoding.trace) or "")
    return _PREPARED.get(key, lambda: _prepare(spec))


def _prepare(spec: WorkloadSpec) -> Prepared:
    model = _model(spec.model.model_dump_json() + spec.precision.model_dump_json() + spec.runtime.model_dump_json()
                   + str(spec.decoding.lm_fusion), spec)
    trace = decode_trace(spec)
    return Prepared(model, trace, lower_program(model, spec.utterance.frames, trace), spec.streaming,
                    spec.utterance.frame_shift)


_MODELS = Memo("built models", 64)


def _model(key: str, spec: WorkloadSpec) -> Model:
    """The model of a workload: the same object for every workload with the same model, precision and LMs
    (a test set's utterances), so that lowering memoized by model is found again at once."""
    return _MODELS.get(key, lambda: build_model(spec))


def decode_trace(spec: WorkloadSpec) -> DecodeTrace:
    """The step trace the engine replays: a recorded one, or the search model's."""
    dec = spec.decoding
    if dec.trace:
        trace, where = load_trace_jsonl(dec.trace), shown_path(dec.trace)
        if trace.frames != spec.utterance.frames:
            raise AccelsimError(f"{where}: the trace has {trace.frames} frames, the workload {spec.utterance.frames}")
        if trace.beam != dec.beam:
            raise AccelsimError(f"{where}: the trace was recorded at beam {trace.beam}, the workload asks for {dec.beam}")
        if not dec.lm_fusion and trace.total_miss_lm:
            raise AccelsimError(f"{where}: the trace evaluates LMs but the workload has decoding.lm_fusion false")
        return trace
    emission = EmissionModel(**dict(dec.emission), vocab=spec.model.vocab)
    return run_alsd(spec.utterance.frames, dec.beam, emission, dec.fusion if dec.lm_fusion else None, dec.u_max,
                    early_stop=dec.early_stop)


# ---------------------------------------------------------------- execute


@dataclass(frozen=True)
class Execution:
    """What the engine produced: the totals of the run, and the whole run when its rows were asked for."""

    totals: Totals
    run: Run | None = None
    latency: dict[str, float] = field(default_factory=dict)  # streaming: per-chunk and final latencies


def execute(prepared: Prepared, hw: HardwareSpec, records: bool = False, segmented: bool = True) -> Execution:
    """Simulate the program on ``hw``: each distinct segment once (``segmented``), or as one SimPy run.

    Without ``records`` only each distinct segment's totals are kept and counted as often as it occurs;
    with them, the segments' rows are shifted into place to give the rows of the whole run. A streaming
    workload runs chunk by chunk (:func:`execute_streaming`), without records.
    """
    if prepared.streaming is not None:
        return execute_streaming(prepared, hw)
    if not segmented:
        run = simulate_ops(prepared.program.ops, hw)
        return Execution(run_totals(run), run)
    if records:
        run = simulate_program(prepared.program, hw)
        return Execution(run_totals(run), run)
    machine = hw.model_dump_json()
    program = prepared.program
    totals = encoder_totals(program.encoder, hw, machine)
    totals.add(program_totals(distinct_runs([seg for _, seg in program.iterations], hw, machine)))
    return Execution(totals)


def execute_streaming(prepared: Prepared, hw: HardwareSpec) -> Execution:
    """Chunk by chunk: each chunk's encoder (its frames, attending to its context) and the decode iterations that run
    on its frames (see ``accelsim/workload/streaming.py``), simulated segment by segment; the chunks then run on the
    audio's clock (:func:`accelsim.sim.streaming.stream_schedule`). The totals, and so the RTF, count processing time
    only; waiting for audio shows in the latencies: per chunk, from the end of its audio to its partial result
    (p50/p90/p99), and the final one, from the end of the utterance's audio to the last result."""
    chunks, work, totals = streaming_work(prepared, hw)
    shift = prepared.frame_shift
    schedule = stream_schedule([c.ready_frames * shift for c in chunks], work)
    waits = [done - c.end * shift for c, (_, done) in zip(chunks, schedule)]
    return Execution(totals, None, streaming_latency(waits, schedule[-1][1] - prepared.program.encoder.frames * shift))


def streaming_work(prepared: Prepared, hw: HardwareSpec) -> tuple[list[Chunk], list[float], Totals]:
    """The chunks, each one's processing time (its encoder and its decode iterations, on an idle machine) and
    the totals of them all."""
    machine = hw.model_dump_json()
    totals, work, chunks = Totals(), [], []
    for chunk, encoder, steps in streaming_chunks(prepared):
        part = encoder_totals(encoder, hw, machine)
        if len(steps):
            part.add(program_totals(distinct_runs([prepared.program.iterations[i][1] for i in steps], hw, machine)))
        chunks.append(chunk)
        work.append(part.time_s)
        totals.add(part)
    return chunks, work, totals


def streaming_chunks(prepared: Prepared) -> list[tuple[Chunk, EncoderWork, range]]:
    """Each chunk of a streaming utterance, its encoder (its frames, attending to its context) and the decode
    iterations that run on its frames (consecutive indices into the program's iterations: the chunk of an
    iteration never decreases, see ``accelsim/workload/streaming.py``)."""
    assert prepared.streaming is not None
    encoder = prepared.program.encoder
    recomputes = any(layer.spec.encoder_only for layer in encoder.network.layers)
    chunks = plan_chunks(encoder.frames, prepared.streaming, recomputes)
    n = len(prepared.program.iterations)
    of = [chunk_of_iteration(i, n, encoder.frames, prepared.streaming.chunk_frames, len(chunks)) for i in range(n)]
    out, first = [], 0
    for chunk in chunks:
        count = of.count(chunk.index)
        out.append((chunk, replace(encoder, frames=chunk.rows, keys=chunk.keys), range(first, first + count)))
        first += count
    return out


#: Recurrent steps per layer of the shortest encoder measured for the steady state (see encoder_totals).
STEADY_STEPS = 6


def encoder_totals(encoder: EncoderWork, hw: HardwareSpec, machine: str) -> Totals:
    """The encoder's totals, from a few recurrent steps once its schedule repeats itself step by step.

    Every recurrent step of a layer is the same work. The encoder is simulated with k and k+1 steps per
    layer and direction (its batched ops keep the sizes of all the frames). If, in the (k+1)-step run, every
    job (op and weight fetch, both directions) of each of the last steps but one is the same job of the
    step before shifted by one common period per layer, with nothing else of the layer still running, the
    machine's state repeats: each further step adds one period, and the T-step totals are the k+1-step
    totals plus T - k - 1 times the difference between the two runs (tests compare this with the full
    simulation). Otherwise k doubles; past the utterance's length the whole encoder is simulated.
    Memoized per machine and encoder (a test set meets each length many times); the caller gets a copy.
    """
    return _ENCODERS.get((machine, encoder), lambda: _encoder_totals(encoder, hw, machine)).copy()


_ENCODERS = Memo("encoder totals", 4096)


def _encoder_totals(encoder: EncoderWork, hw: HardwareSpec, machine: str) -> Totals:
    frames = encoder.frames
    out = Totals()  # a new object: the segments' totals are memoized and must stay as they are
    k = STEADY_STEPS
    while k + 1 < frames:
        short, longer = (run_alone(encoder.lower(n), hw, machine) for n in (k, k + 1))
        if repeats_step_by_step(longer, k + 1):
            a, b = segment_totals(short), segment_totals(longer)
            out.add(b)
            out.add(b.minus(a), frames - k - 1)
            return out
        k *= 2
    out.add(segment_totals(run_alone(encoder.lower(), hw, machine)))
    return out


def _segment_totals(segment: Segment, hw: HardwareSpec, machine: str) -> Totals:
    """One segment simulated on its own, measured (tests compare the steady-state encoder with it)."""
    return segment_totals(run_alone(segment, hw, machine))


# ---------------------------------------------------------------- measure


def measure(point: Point, prepared: Prepared, execution: Execution, keep_records: bool = False) -> SimResult:
    records = execution.run.records if (keep_records and execution.run is not None) else ()
    return measure_result(point.workload, point.hardware, prepared.model, prepared.trace, execution.totals,
                          records, prepared.model if keep_records else None, execution.latency)


def simulate_point(point: Point, keep_records: bool = False, segmented: bool = True) -> SimResult:
    """The four stages for one utterance (a test set is run point by point, see ``accelsim.simulate``)."""
    if point.workload.test_set is not None:
        raise AccelsimError("simulate_point runs one utterance; this workload describes a test set "
                            "(accelsim.simulate runs it utterance by utterance)")
    prepared = prepare(point.workload)
    return measure(point, prepared, execute(prepared, point.hardware, records=keep_records, segmented=segmented),
                   keep_records)
