"""One simulation, in four stages, each a small function with typed input and output:

    resolve(workload, hardware, variation) -> Point       the two validated specs
    prepare(workload spec)                 -> Prepared    model, search trace, lowered program (no hardware)
    run(prepared, hardware spec)           -> Execution   the program run on the machine (accelsim.sim.execute)
    measure(point, prepared, execution)    -> SimResult   RTF and breakdowns (accelsim.report.metrics)

Data flows one way through them; how a program is run is the engine's business (``accelsim/sim/``), not this
module's. What does not depend on the hardware (the search and the lowering) is memoized on the workload's
content, so sweeps and calibration over hardware parameters pay for it once per workload setting; what was
simulated on a machine is memoized on its target (``accelsim/sim/target.py``). A test set is many points, one per
utterance (:func:`utterance_points`), run by the sweep runner.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from accelsim.errors import AccelsimError, shown_path
from accelsim.graph.lower import Program, lower_program
from accelsim.memo import Memo
from accelsim.report.metrics import measure as measure_result
from accelsim.report.result import SimResult
from accelsim.sim.execute import Execution, execute
from accelsim.sim.target import target_for
from accelsim.spec.hardware import HardwareSpec
from accelsim.spec.loader import Variation, as_variation, load_hardware, load_workload, override_spec
from accelsim.spec.workload import WorkloadSpec
from accelsim.workload.greedy import run_greedy
from accelsim.workload.model import Model, build_model
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
    return [Point(utterance_spec(spec, index, frames), point.hardware)
            for index, frames in enumerate(utterance_lengths(spec.test_set))]


def utterance_spec(spec: WorkloadSpec, index: int, frames: int) -> WorkloadSpec:
    """Utterance ``index`` of ``spec``'s test set, ``frames`` long: emission seed + its index, drawing from the noise
    pool of the base seed (the one rule every test-set consumer decodes by)."""
    base = spec.decoding.emission
    pool = base.seed if base.noise_seed is None else base.noise_seed
    emission = base.model_copy(update={"seed": base.seed + index, "noise_seed": pool})
    return spec.model_copy(update={
        "test_set": None,
        "utterance": spec.utterance.model_copy(update={"frames": frames}),
        "decoding": spec.decoding.model_copy(update={"emission": emission}),
    })


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
    return Prepared(model, trace, lower_program(model, spec.utterance.frames, trace, spec.streaming,
                                                spec.utterance.frame_shift))


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
    if dec.search == "greedy":
        return run_greedy(spec.utterance.frames, emission, dec.max_symbols)
    return run_alsd(spec.utterance.frames, dec.beam, emission, dec.fusion if dec.lm_fusion else None, dec.u_max,
                    early_stop=dec.early_stop)


# ---------------------------------------------------------------- run


def run(prepared: Prepared, hw: HardwareSpec, records: bool = False, segmented: bool = True) -> Execution:
    """The program run on ``hw`` by the engine: metrics only, with its records, or (``segmented=False``) as one
    SimPy run, the reference (see :mod:`accelsim.sim.execute`)."""
    return execute(prepared.program, target_for(hw), records=records, whole=not segmented)


# ---------------------------------------------------------------- measure


def measure(point: Point, prepared: Prepared, execution: Execution, keep_records: bool = False) -> SimResult:
    return measure_result(point.workload, point.hardware, prepared.model, prepared.trace, execution, keep_records)


def simulate_point(point: Point, keep_records: bool = False, segmented: bool = True) -> SimResult:
    """The four stages for one utterance (a test set is run point by point, see ``accelsim.simulate``)."""
    if point.workload.test_set is not None:
        raise AccelsimError("simulate_point runs one utterance; this workload describes a test set "
                            "(accelsim.simulate runs it utterance by utterance)")
    prepared = prepare(point.workload)
    return measure(point, prepared, run(prepared, point.hardware, records=keep_records, segmented=segmented),
                   keep_records)
