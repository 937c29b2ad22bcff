"""The public Python API: what the CLI and the tests call, and what a notebook user gets.

    >>> import accelsim
    >>> result = accelsim.simulate("workloads/rnnt_lm_fusion.yaml", "hwconfigs/rapid_7nm.yaml",
    ...                            precision="fp16", overrides=["hw.link.bandwidth=64 Gbps"])
    >>> result.rtf, result.breakdown_by_component["lm_ext"]
"""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import yaml

from accelsim.errors import AccelsimError
from accelsim.graph.ir import Op
from accelsim.graph.lower import Program, lower_distinct, lower_program
from accelsim.report.metrics import as_rtf, breakdowns, critical_seconds, occupancy, occupancy_of
from accelsim.sim.engine import Record, simulate_ops, simulate_program
from accelsim.spec.hardware import HardwareSpec
from accelsim.spec.loader import load_hardware, load_workload, override_spec
from accelsim.spec.workload import WorkloadSpec
from accelsim.workload.model import Model, build_model
from accelsim.spec.precision import parse_precision_flag
from accelsim.workload.search import DecodeTrace, EmissionModel, Fusion, load_trace_jsonl, run_alsd


def run_overrides(precision: str | None = None, beam: int | None = None, lm_fusion: bool | None = None) -> list[str]:
    """The ``--set`` strings equivalent to the convenience flags ``--precision``, ``--beam``, ``--lm/--no-lm``."""
    out: list[str] = []
    if precision is not None:
        try:
            chosen = parse_precision_flag(precision)
        except ValueError as exc:
            raise AccelsimError(f"--precision: {exc}") from None
        if "default" in chosen:
            out += [f"workload.precision.default={chosen['default']}", "workload.precision.networks={}"]
        else:
            out.append("workload.precision.networks=" + yaml.safe_dump(chosen, default_flow_style=True).strip())
    if beam is not None:
        out.append(f"workload.decoding.beam={beam}")
    if lm_fusion is not None:
        out.append(f"workload.decoding.lm_fusion={'true' if lm_fusion else 'false'}")
    return out


def resolve(workload: WorkloadSpec | str | Path, hardware: HardwareSpec | str | Path,
            overrides: Iterable[str] = ()) -> tuple[WorkloadSpec, HardwareSpec]:
    """Load (or take) the two specs and apply ``--set`` overrides to each."""
    overrides = list(overrides)
    if isinstance(workload, WorkloadSpec):
        if any(o.startswith("workload.") for o in overrides):
            workload = override_spec(workload, "workload", overrides)
    else:
        workload = load_workload(workload, overrides)
    if isinstance(hardware, HardwareSpec):
        if any(o.startswith("hw.") for o in overrides):
            hardware = override_spec(hardware, "hw", overrides)
    else:
        hardware = load_hardware(hardware, overrides)
    return workload, hardware


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


@lru_cache(maxsize=1)
def source_fingerprint() -> str:
    """A hash of accelsim's own source files: part of every cache key that outlives the process."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(Path(__file__).resolve().parent.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def trace_digest(path: str | None) -> str | None:
    """A hash of a recorded trace's content (a cache must not outlive an edit of the file)."""
    if not path:
        return None
    import hashlib

    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None  # the run itself reports the missing file


def clear_caches() -> None:
    """Forget every in-process memo (searches, lowerings, simulated segments, parsed YAML)."""
    from accelsim.graph import lower as lowering
    from accelsim.sim import engine
    from accelsim.spec import loader

    _model_and_trace.cache_clear()
    _prepare.cache_clear()
    _prepare_distinct.cache_clear()
    _SUMMARIES.clear()
    engine._SEGMENTS.clear()
    lowering._lower_encoder.cache_clear()
    loader._read_yaml_cached.cache_clear()


def _cache_key(spec: WorkloadSpec) -> str:
    return spec.model_dump_json() + (trace_digest(spec.decoding.trace) or "")


def prepare(spec: WorkloadSpec) -> tuple[Model, DecodeTrace, Program]:
    """Everything that does not depend on the hardware: model, search trace, op graph.

    Memoized on the spec's content (and a recorded trace's), so sweeps and calibration over hardware
    parameters pay for the search and the lowering once per workload setting.
    """
    return _prepare(_cache_key(spec))


@lru_cache(maxsize=256)
def _model_and_trace(key: str) -> tuple[WorkloadSpec, Model, DecodeTrace]:
    """The model and the search trace of a workload, shared by the full and the summary paths."""
    spec = WorkloadSpec.model_validate_json(key[: key.rindex("}") + 1])  # the key is spec JSON + trace digest
    model = build_model(spec)
    return spec, model, decode_trace(spec)


@lru_cache(maxsize=64)
def _prepare(key: str) -> tuple[Model, DecodeTrace, Program]:
    spec, model, trace = _model_and_trace(key)
    return model, trace, lower_program(model, spec.utterance.frames, trace)


@dataclass(frozen=True)
class SimResult:
    """One simulated utterance. Times in seconds; breakdowns in RTF units (they sum to ``rtf``)."""

    workload: str
    hardware: str
    rtf: float
    time_s: float
    audio_s: float
    breakdown_by_component: dict[str, float]
    breakdown_by_resource: dict[str, float]
    occupancy: dict[str, float]
    model_size_MB: float
    compression: float
    beam: int
    iterations: int
    presets: dict[str, str]
    link_GBps: float
    fetched_weight_bytes: float
    ops: int
    weight_fetches: int
    records: tuple[Record, ...] = field(repr=False, compare=False)
    model: Model = field(repr=False, compare=False)
    utterance_rtfs: tuple[float, ...] = ()  # per utterance, for a test set

    def percentile(self, q: float) -> float:
        """Per-utterance RTF percentile (q in 0..100) of a test set; the RTF itself for one utterance."""
        import numpy as np

        return float(np.percentile(self.utterance_rtfs, q)) if self.utterance_rtfs else self.rtf

    def to_dict(self) -> dict[str, Any]:
        """Everything but the per-op records, JSON-ready."""
        return {
            "workload": self.workload,
            "hardware": self.hardware,
            "rtf": self.rtf,
            "time_s": self.time_s,
            "audio_s": self.audio_s,
            "breakdown_by_component": self.breakdown_by_component,
            "breakdown_by_resource": self.breakdown_by_resource,
            "occupancy": self.occupancy,
            "model_size_MB": self.model_size_MB,
            "compression": self.compression,
            "precision": self.presets,
            "beam": self.beam,
            "iterations": self.iterations,
            "link_GBps": self.link_GBps,
            "fetched_weight_bytes": self.fetched_weight_bytes,
            "ops": self.ops,
            "weight_fetches": self.weight_fetches,
            "utterances": max(1, len(self.utterance_rtfs)),
            "rtf_p50": self.percentile(50),
            "rtf_p90": self.percentile(90),
            "rtf_p99": self.percentile(99),
        }


def simulate(workload: WorkloadSpec | str | Path, hardware: HardwareSpec | str | Path, *,
             overrides: Iterable[str] = (), precision: str | None = None, beam: int | None = None,
             lm_fusion: bool | None = None, keep_records: bool = True, segmented: bool = True,
             workers: int = 1) -> SimResult:
    """Simulate one utterance of ``workload`` on ``hardware`` and measure it (or every utterance of
    its test set, in ``workers`` processes).

    ``keep_records=False`` drops the per-op records (and the model) from the result, which makes it
    small enough to ship between processes in a sweep. ``segmented=False`` runs the whole utterance
    as one SimPy run instead of simulating each distinct decode iteration once (same records; slower).
    """

    overrides = list(overrides) + run_overrides(precision, beam, lm_fusion)
    spec, hw = resolve(workload, hardware, overrides)
    if spec.test_set is not None:
        return _simulate_test_set(spec, hw, segmented, workers)
    return _simulate_one(spec, hw, keep_records, segmented)


def _utterance_spec(spec: WorkloadSpec, index: int, frames: int) -> WorkloadSpec:
    """Utterance ``index`` of a test set: its length, and emission seed + index."""
    emission = spec.decoding.emission.model_copy(update={"seed": spec.decoding.emission.seed + index})
    return spec.model_copy(update={
        "test_set": None,
        "utterance": spec.utterance.model_copy(update={"frames": frames}),
        "decoding": spec.decoding.model_copy(update={"emission": emission}),
    })


def _simulate_utterances(spec: WorkloadSpec, hw: HardwareSpec, segmented: bool,
                         chunk: list[tuple[int, int]]) -> list[SimResult]:
    return [_simulate_one(_utterance_spec(spec, i, frames), hw, keep_records=False, segmented=segmented)
            for i, frames in chunk]


def _simulate_test_set(spec: WorkloadSpec, hw: HardwareSpec, segmented: bool, workers: int = 1) -> SimResult:
    """Each utterance on its own (its length, seed + i), then aggregated: RTF = total time / total audio,
    breakdowns and occupancy weighted by audio and by time. Utterances are split over ``workers``
    processes in contiguous chunks (equal lengths land together, so each process reuses its encoders)."""
    from accelsim.workload.testset import utterance_lengths

    assert spec.test_set is not None
    indexed = sorted(enumerate(utterance_lengths(spec.test_set)), key=lambda item: (item[1], item[0]))
    if workers <= 1 or len(indexed) < 2 * workers:
        results = _simulate_utterances(spec, hw, segmented, indexed)
    else:
        from concurrent.futures import ProcessPoolExecutor

        size = -(-len(indexed) // (4 * workers))
        chunks = [indexed[i:i + size] for i in range(0, len(indexed), size)]
        with ProcessPoolExecutor(max_workers=workers) as pool:
            parts = pool.map(_simulate_utterances, [spec] * len(chunks), [hw] * len(chunks), [segmented] * len(chunks),
                             chunks)
            results = [r for part in parts for r in part]
    order = sorted(range(len(indexed)), key=lambda k: indexed[k][0])
    results = [results[k] for k in order]  # back to utterance order
    time_s = sum(r.time_s for r in results)
    audio_s = sum(r.audio_s for r in results)

    def weighted(attr: str, weight: str, total: float) -> dict[str, float]:
        keys = getattr(results[0], attr)
        return {k: sum(getattr(r, attr)[k] * getattr(r, weight) for r in results) / total for k in keys}

    first = results[0]
    return replace(
        first,
        rtf=time_s / audio_s, time_s=time_s, audio_s=audio_s,
        breakdown_by_component=weighted("breakdown_by_component", "audio_s", audio_s),
        breakdown_by_resource=weighted("breakdown_by_resource", "audio_s", audio_s),
        occupancy=weighted("occupancy", "time_s", time_s),
        iterations=sum(r.iterations for r in results),
        fetched_weight_bytes=sum(r.fetched_weight_bytes for r in results),
        ops=sum(r.ops for r in results), weight_fetches=sum(r.weight_fetches for r in results),
        utterance_rtfs=tuple(r.rtf for r in results),
    )


def _simulate_one(spec: WorkloadSpec, hw: HardwareSpec, keep_records: bool, segmented: bool) -> SimResult:
    if segmented and not keep_records and hw.memory.residency == "per_op":
        return _simulate_summary(spec, hw)
    return _simulate_records(spec, hw, keep_records, segmented)


def prepare_summary(spec: WorkloadSpec) -> tuple[Model, DecodeTrace, list[tuple], dict[tuple, list[Op]]]:
    """What a metrics-only run needs from the workload: model, trace, and its distinct segments (memoized)."""
    return _prepare_distinct(_cache_key(spec))


@lru_cache(maxsize=256)
def _prepare_distinct(key: str) -> tuple[Model, DecodeTrace, list[tuple], dict[tuple, list[Op]]]:
    spec, model, trace = _model_and_trace(key)
    return (model, trace, *lower_distinct(model, spec.utterance.frames, trace))


#: Per (machine, segment content): makespan, critical-path seconds by component and resource class,
#: busy seconds, op count, fetch count, fetched bytes.
_SUMMARIES: dict[tuple, tuple] = {}


def _segment_summary(machine: str, key: tuple, ops: list[Op], hw: HardwareSpec) -> tuple:
    cached = _SUMMARIES.get((machine, key))
    if cached is None:
        run = simulate_ops(ops, hw)
        fetched = [b for b in run.plan.fetch_bytes if b > 0]
        cached = (run.time_s, *critical_seconds(run), run.busy, len(ops), len(fetched), sum(fetched))
        _SUMMARIES[(machine, key)] = cached
        while len(_SUMMARIES) > 4096:
            _SUMMARIES.pop(next(iter(_SUMMARIES)))
    return cached


def _simulate_summary(spec: WorkloadSpec, hw: HardwareSpec) -> SimResult:
    """Metrics without per-op records: each distinct segment simulated once, its summary counted once
    per occurrence. With per-op residency a segment's fetches depend on its own ops only, so the sums
    equal those of the full run (tests compare the two)."""
    model, trace, keys, distinct = prepare_summary(spec)
    machine = hw.model_dump_json()
    time_s = 0.0
    component_s: dict[str, float] = {}
    resource_s: dict[str, float] = {}
    busy: dict[str, float] = {}
    ops = fetches = 0
    fetched = 0.0
    for key, count in Counter(keys).items():
        seg_time, seg_components, seg_resources, seg_busy, seg_ops, seg_fetches, seg_bytes = \
            _segment_summary(machine, key, distinct[key], hw)
        time_s += count * seg_time
        for target, source in ((component_s, seg_components), (resource_s, seg_resources), (busy, seg_busy)):
            for name, value in source.items():
                target[name] = target.get(name, 0.0) + count * value
        ops += count * seg_ops
        fetches += count * seg_fetches
        fetched += count * seg_bytes
    audio_s = spec.utterance.frames * spec.utterance.frame_shift
    by_component, by_resource = as_rtf(component_s, resource_s, audio_s)
    return _result(spec, hw, model, trace, time_s, audio_s, by_component, by_resource,
                   occupancy_of(busy, time_s, hw.coprocessor.cores), fetched, ops, fetches, (), None)


def _simulate_records(spec: WorkloadSpec, hw: HardwareSpec, keep_records: bool, segmented: bool) -> SimResult:
    model, trace, program = prepare(spec)
    run = simulate_program(program, hw) if segmented else simulate_ops(program.ops, hw)
    audio_s = spec.utterance.frames * spec.utterance.frame_shift
    by_component, by_resource = breakdowns(run, audio_s)
    return _result(spec, hw, model, trace, run.time_s, audio_s, by_component, by_resource,
                   occupancy(run, hw.coprocessor.cores), run.plan.total_fetch_bytes, len(program.ops),
                   sum(1 for b in run.plan.fetch_bytes if b > 0), run.records if keep_records else (),
                   copy.deepcopy(model) if keep_records else None)  # the cached model stays untouched


def _result(spec: WorkloadSpec, hw: HardwareSpec, model: Model, trace: DecodeTrace, time_s: float, audio_s: float,
            by_component: dict[str, float], by_resource: dict[str, float], occupancy: dict[str, float],
            fetched: float, ops: int, fetches: int, records: tuple, kept_model: Model | None) -> SimResult:
    from accelsim.hw.link import link_bytes_per_s

    return SimResult(
        workload=spec.name,
        hardware=hw.name,
        rtf=time_s / audio_s,
        time_s=time_s,
        audio_s=audio_s,
        breakdown_by_component=by_component,
        breakdown_by_resource=by_resource,
        occupancy=occupancy,
        model_size_MB=model.stored_bytes / 1e6,
        compression=model.fp32_bytes / model.stored_bytes,
        beam=trace.beam,
        iterations=len(trace.steps),
        presets=dict(model.presets),
        link_GBps=link_bytes_per_s(hw.link) / 1e9,
        fetched_weight_bytes=fetched,
        ops=ops,
        weight_fetches=fetches,
        records=records,
        model=kept_model,  # type: ignore[arg-type]
    )
