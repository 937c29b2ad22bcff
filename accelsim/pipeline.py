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
from dataclasses import dataclass
from pathlib import Path

from accelsim.errors import AccelsimError
from accelsim.graph.lower import EncoderWork, Program, Segment, lower_program
from accelsim.memo import Memo
from accelsim.report.metrics import Totals, measure as measure_result, program_totals, run_totals, segment_totals
from accelsim.report.result import SimResult
from accelsim.sim.engine import Run, simulate_ops
from accelsim.sim.segments import distinct_runs, simulate_program
from accelsim.spec.hardware import HardwareSpec
from accelsim.spec.loader import Variation, as_variation, load_hardware, load_workload, override_spec
from accelsim.spec.workload import WorkloadSpec
from accelsim.workload.model import Model, build_model
from accelsim.workload.search import DecodeTrace, EmissionModel, Fusion, load_trace_jsonl, run_alsd
from accelsim.workload.testset import utterance_lengths

# ---------------------------------------------------------------- resolve


@dataclass(frozen=True)
class Point:
    """What one simulation runs: a validated workload on a validated machine."""

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
    """A test set as one point per utterance (its length; emission seed + its index), in utterance order."""
    spec = point.workload
    assert spec.test_set is not None
    points = []
    for index, frames in enumerate(utterance_lengths(spec.test_set)):
        emission = spec.decoding.emission.model_copy(update={"seed": spec.decoding.emission.seed + index})
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


def trace_digest(path: str | None) -> str | None:
    """A hash of a recorded trace's content (a memo or cache must not outlive an edit of the file)."""
    if not path:
        return None
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None  # the run itself reports the missing file


_PREPARED = Memo("prepared workloads", 256)


def prepare(spec: WorkloadSpec) -> Prepared:
    """Model, search trace and op graph of a workload, memoized on its content (and a recorded trace's)."""
    key = spec.model_dump_json() + (trace_digest(spec.decoding.trace) or "")
    return _PREPARED.get(key, lambda: _prepare(spec))


def _prepare(spec: WorkloadSpec) -> Prepared:
    model = _model(spec.model.model_dump_json() + spec.precision.model_dump_json() + str(spec.decoding.lm_fusion), spec)
    trace = decode_trace(spec)
    return Prepared(model, trace, lower_program(model, spec.utterance.frames, trace))


_MODELS = Memo("built models", 64)


def _model(key: str, spec: WorkloadSpec) -> Model:
    """The model of a workload: the same object for every workload with the same model, precision and LMs
    (a test set's utterances), so that lowering memoized by model is found again at once."""
    return _MODELS.get(key, lambda: build_model(spec))


def decode_trace(spec: WorkloadSpec) -> DecodeTrace:
    """The step trace the engine replays: a recorded one, or the search model's."""
    dec = spec.decoding
    if dec.trace:
        trace = load_trace_jsonl(dec.trace)
        if trace.frames != spec.utterance.frames:
            raise AccelsimError(f"{dec.trace}: the trace has {trace.frames} frames, the workload {spec.utterance.frames}")
        if trace.beam != dec.beam:
            raise AccelsimError(f"{dec.trace}: the trace was recorded at beam {trace.beam}, the workload asks for {dec.beam}")
        if not dec.lm_fusion and trace.total_miss_lm:
            raise AccelsimError(f"{dec.trace}: the trace evaluates LMs but the workload has decoding.lm_fusion false")
        return trace
    emission = EmissionModel(seed=dec.emission.seed, label_rate=dec.emission.label_rate,
                             confidence=dec.emission.confidence, off_track=dec.emission.off_track,
                             vocab=spec.model.vocab)
    fusion = Fusion(dec.fusion.mu, dec.fusion.lam, dec.fusion.rho) if dec.lm_fusion else None
    return run_alsd(spec.utterance.frames, dec.beam, emission, fusion, dec.u_max, early_stop=dec.early_stop)


# ---------------------------------------------------------------- execute


@dataclass(frozen=True)
class Execution:
    """What the engine produced: the totals of the run, and the whole run when its rows were asked for."""

    totals: Totals
    run: Run | None = None


def execute(prepared: Prepared, hw: HardwareSpec, records: bool = False, segmented: bool = True) -> Execution:
    """Simulate the program on ``hw``: each distinct segment once (``segmented``), or as one SimPy run.

    Without ``records`` only each distinct segment's totals are kept and counted as often as it occurs;
    with them, the segments' rows are shifted into place to give the rows of the whole run.
    """
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


#: Recurrent steps per layer after which the encoder is expected to repeat itself step by step.
STEADY_STEPS = 8
#: Two per-step increments agree when they differ by less than this (relative), or 1e-15 absolute.
STEADY_TOLERANCE = 1e-9


def encoder_totals(encoder: EncoderWork, hw: HardwareSpec, machine: str) -> Totals:
    """The encoder's totals, from a few recurrent steps when its schedule has become periodic.

    Every recurrent step of a layer is the same work, so once the link, the cores and both directions have
    settled into a rhythm each further step adds the same time to every total. The encoder is simulated
    with k, k+1 and k+2 steps per layer (its batched ops keep the sizes of all the frames); when the two
    increments agree, the T-step encoder is the (k+2)-step one plus T - k - 2 increments (tests compare this
    with the full simulation). Otherwise k doubles, and past the utterance's length the whole encoder runs.
    """
    frames = encoder.frames
    k = STEADY_STEPS
    while k + 2 < frames:
        totals = [_segment_totals(encoder.lower(k + i), hw, machine) for i in range(3)]
        steps = [_difference(totals[i + 1], totals[i]) for i in range(2)]
        if _same(steps[0], steps[1]):
            out = Totals()
            out.add(totals[2])
            out.add(steps[1], frames - (k + 2))
            return out
        k *= 2
    return _segment_totals(encoder.lower(), hw, machine)


def _segment_totals(segment: Segment, hw: HardwareSpec, machine: str) -> Totals:
    ((run, _),) = distinct_runs([segment], hw, machine)
    return segment_totals(run)


def _difference(a: Totals, b: Totals) -> Totals:
    out = Totals()
    out.add(a)
    out.add(b, -1)
    return out


def _same(a: Totals, b: Totals) -> bool:
    def close(x: float, y: float) -> bool:
        return abs(x - y) <= STEADY_TOLERANCE * max(abs(x), abs(y)) + 1e-15

    if (a.ops, a.fetches) != (b.ops, b.fetches) or not close(a.time_s, b.time_s) or not close(a.fetched_bytes, b.fetched_bytes):
        return False
    return all(close(x.get(key, 0.0), y.get(key, 0.0))
               for x, y in ((a.component_s, b.component_s), (a.resource_s, b.resource_s), (a.busy, b.busy))
               for key in set(x) | set(y))


# ---------------------------------------------------------------- measure


def measure(point: Point, prepared: Prepared, execution: Execution, keep_records: bool = False) -> SimResult:
    records = execution.run.records if (keep_records and execution.run is not None) else ()
    return measure_result(point.workload, point.hardware, prepared.model, prepared.trace, execution.totals,
                          records, prepared.model if keep_records else None)


def simulate_point(point: Point, keep_records: bool = False, segmented: bool = True) -> SimResult:
    """The four stages for one utterance (a test set is run point by point, see ``accelsim.simulate``)."""
    if point.workload.test_set is not None:
        raise AccelsimError("simulate_point runs one utterance; this workload describes a test set "
                            "(accelsim.simulate runs it utterance by utterance)")
    prepared = prepare(point.workload)
    return measure(point, prepared, execute(prepared, point.hardware, records=keep_records, segmented=segmented),
                   keep_records)
