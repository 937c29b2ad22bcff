"""Metrics of a run: RTF, critical-path breakdowns that sum exactly to it, occupancy, energy, streaming latencies;
the result built from an execution's totals (:mod:`accelsim.sim.execute`); test sets aggregated over their
utterances."""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np

from accelsim.errors import AccelsimError
from accelsim.hw.energy import energy
from accelsim.hw.family import family_of
from accelsim.hw.link import link_bytes_per_s
from accelsim.report.critical import critical_path  # noqa: F401  (re-exported: the records' critical path)
from accelsim.report.result import SimResult, non_finite
from accelsim.sim.engine import Run
from accelsim.sim.execute import Execution
from accelsim.sim.totals import RESOURCE_CLASSES, critical_seconds
from accelsim.spec.hardware import HardwareSpec
from accelsim.spec.workload import WorkloadSpec
from accelsim.workload.model import Model
from accelsim.workload.search import DecodeTrace

__all__ = ["RESOURCE_CLASSES", "aggregate", "as_rtf", "breakdowns", "critical_path", "finite", "formats_of", "measure",
           "occupancy", "occupancy_of", "streaming_latency"]


def as_rtf(component_s: dict[str, float], resource_s: dict[str, float], audio_s: float) -> tuple[dict[str, float], dict[str, float]]:
    """Critical-path seconds as RTF shares; the memory class is listed only when weights came from it."""
    resources = {c: v / audio_s for c, v in resource_s.items() if c != "memory" or v > 0}
    return {c: v / audio_s for c, v in component_s.items()}, resources


def breakdowns(run: Run, audio_s: float) -> tuple[dict[str, float], dict[str, float]]:
    """RTF split by component and by resource class along the critical path."""
    return as_rtf(*critical_seconds(run), audio_s)


def occupancy_of(busy: dict[str, float], time_s: float, n_cores: int) -> dict[str, float]:
    """Share of ``time_s`` each resource was busy (coprocessor: averaged over its cores)."""
    total = time_s or 1.0
    cores = sum(v for k, v in busy.items() if k.startswith("core"))
    out = {
        "coprocessor": cores / (n_cores * total),
        "host": busy["host"] / total,
        "link_h2d": busy["h2d"] / total,
        "link_d2h": busy["d2h"] / total,
    }
    if busy.get("dram"):
        out["memory"] = busy["dram"] / total
    return out


def occupancy(run: Run, n_cores: int) -> dict[str, float]:
    return occupancy_of(run.busy, run.time_s, n_cores)


# ---------------------------------------------------------------- results


def streaming_latency(chunk_latencies: Sequence[float], final_s: float) -> dict[str, float]:
    """A streaming run's latencies: per chunk (end of its audio to its partial result) p50/p90/p99, and the final one
    (end of the utterance's audio to its last result)."""
    waits = np.asarray(chunk_latencies, dtype=float)
    return {"chunks": float(len(waits)), "chunk_p50_s": float(np.percentile(waits, 50)),
            "chunk_p90_s": float(np.percentile(waits, 90)), "chunk_p99_s": float(np.percentile(waits, 99)),
            "final_s": final_s}


def measure(spec: WorkloadSpec, hw: HardwareSpec, model: Model, trace: DecodeTrace, execution: Execution,
            keep_records: bool = False) -> SimResult:
    """The result of one utterance: RTF = processing time / audio, breakdowns in RTF units; with ``keep_records``
    the run's records and the model (for per-layer tables and traces)."""
    totals = execution.totals
    records = execution.run.records if (keep_records and execution.run is not None) else ()
    latency = (streaming_latency(execution.chunk_latencies_s, execution.final_latency_s)
               if execution.final_latency_s is not None else {})
    audio_s = spec.utterance.frames * spec.utterance.frame_shift
    by_component, by_resource = as_rtf(totals.component_s, totals.resource_s, audio_s)
    return finite(SimResult(
        workload=spec.name,
        hardware=hw.name,
        rtf=totals.time_s / audio_s,
        time_s=totals.time_s,
        audio_s=audio_s,
        breakdown_by_component=by_component,
        breakdown_by_resource=by_resource,
        occupancy=occupancy_of(totals.busy, totals.time_s, family_of(hw).cores),
        model_size_MB=model.stored_bytes / 1e6,
        compression=model.fp32_bytes / model.stored_bytes,
        beam=trace.beam,
        iterations=len(trace.steps),
        presets=dict(model.presets),
        link_GBps=link_bytes_per_s(hw.link) / 1e9,
        fetched_weight_bytes=totals.fetched_bytes,
        ops=totals.ops,
        weight_fetches=totals.fetches,
        records=records,
        model=model if keep_records else None,  # type: ignore[arg-type]
        formats=formats_of(model, hw),
        machine=hw if records else None,
        latency=latency,
        energy_J=(energy(totals.work, totals.fetched_bytes, totals.time_s, totals.busy.get("host", 0.0), hw)
                  if hw.energy is not None else {}),
        traffic_bytes=totals.traffic, level_busy_s=level_busy(totals.traffic, hw),
    ))


def level_busy(traffic: dict[str, float], hw: HardwareSpec) -> dict[str, float]:
    """Per memory level, the least time it needed to deliver the bytes read from it (``traffic``: by component/level)."""
    memory = family_of(hw).memory
    per_level: dict[str, float] = {}
    for key, n_bytes in traffic.items():
        level = key.split("/", 1)[1]
        per_level[level] = per_level.get(level, 0.0) + n_bytes
    out = {level: memory.delivery_seconds(level, n) for level, n in per_level.items()}
    return {level: seconds for level, seconds in out.items() if seconds is not None}


def finite(result: SimResult) -> SimResult:
    """``result``, when every number in it is finite; else a clear error (never Infinity or NaN in output)."""
    bad = non_finite(result)
    if bad is not None:
        raise AccelsimError(f"workload {result.workload!r} on {result.hardware!r}: the simulated {bad} is not a finite "
                            "number; the inputs are beyond what accelsim can compute in double precision")
    return result


#: Layer kinds lowered to matmuls (the others run on the special-function units).
MATMUL_KINDS = ("lstm", "blstm", "gru", "bgru", "linear", "conv1d", "conv_subsampling", "conformer_ffn", "conformer_mhsa",
                "conformer_conv")


def formats_of(model: Model, hw: HardwareSpec) -> dict[str, str]:
    """Per network, the distinct arithmetic formats its matmul layers run in, in layer order ("int8+int4"; see
    :func:`join_formats`)."""
    out = {}
    device = family_of(hw)
    for name, network in model.networks.items():
        found = [device.layer_format(l.precision) for l in network.layers if l.kind in MATMUL_KINDS]
        if found:
            out[name] = join_formats(found)
    return out


def join_formats(labels: list[str]) -> str:
    """A network's layers' formats as reports print them ('int8', 'int8 (codebook decoded in the load path)'), each
    once, in layer order: 'int8+int4', or 'int8 (codebook decoded in the load path for 65 of 66 layers)' when only
    some layers of a format take that path."""
    groups: dict[str, list[str]] = {}
    for label in labels:
        base, _, note = label.partition(" (")
        groups.setdefault(base, []).append(note.removesuffix(")"))
    parts = []
    for base, notes in groups.items():
        said = [n + (f" for {notes.count(n)} of {len(notes)} layers" if notes.count(n) < len(notes) else "")
                for n in dict.fromkeys(notes) if n]
        parts.append(base + (f" ({'; '.join(said)})" if said else ""))
    return "+".join(parts)


def aggregate(results: Sequence[SimResult]) -> SimResult:
    """A test set from its utterances (in order): RTF = total time / total audio, breakdowns weighted by
    audio, occupancy by time, counts summed, and the per-utterance RTFs kept for percentiles."""
    time_s = sum(r.time_s for r in results)
    audio_s = sum(r.audio_s for r in results)

    def weighted(attr: str, weight: str, total: float) -> dict[str, float]:
        keys = list(dict.fromkeys(k for r in results for k in getattr(r, attr)))  # an entry may be absent in some
        return {k: sum(getattr(r, attr).get(k, 0.0) * getattr(r, weight) for r in results) / total for k in keys}

    return finite(replace(
        results[0],
        rtf=time_s / audio_s, time_s=time_s, audio_s=audio_s,
        breakdown_by_component=weighted("breakdown_by_component", "audio_s", audio_s),
        breakdown_by_resource=weighted("breakdown_by_resource", "audio_s", audio_s),
        occupancy=weighted("occupancy", "time_s", time_s),
        iterations=sum(r.iterations for r in results),
        fetched_weight_bytes=sum(r.fetched_weight_bytes for r in results),
        ops=sum(r.ops for r in results), weight_fetches=sum(r.weight_fetches for r in results),
        utterance_rtfs=tuple(r.rtf for r in results), records=(), model=None, machine=None,
        energy_J={k: sum(r.energy_J.get(k, 0.0) for r in results) for k in results[0].energy_J},
        traffic_bytes=_summed(results, "traffic_bytes"), level_busy_s=_summed(results, "level_busy_s"),
    ))


def _summed(results: Sequence[SimResult], attr: str) -> dict[str, float]:
    keys = list(dict.fromkeys(k for r in results for k in getattr(r, attr)))
    return {k: sum(getattr(r, attr).get(k, 0.0) for r in results) for k in keys}
