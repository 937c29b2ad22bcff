"""Metrics from event records: RTF, critical-path breakdowns that sum exactly to it, occupancy; a run's
totals (from its rows, or from its distinct segments counted as often as they occur) and the result
built from them; test sets aggregated over their utterances."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable, Sequence

import numpy as np

from accelsim.graph.ir import COMPONENTS
from accelsim.hw.coprocessor import network_formats
from accelsim.hw.energy import energy, work_counters
from accelsim.hw.link import link_bytes_per_s
from accelsim.memo import Memo
from accelsim.errors import AccelsimError
from accelsim.report.critical import chain as _chain, critical_path  # noqa: F401  (critical_path: re-exported)
from accelsim.report.result import SimResult, non_finite
from accelsim.sim.engine import Record, Run
from accelsim.sim.segments import SegmentRun
from accelsim.spec.hardware import HardwareSpec
from accelsim.spec.workload import WorkloadSpec
from accelsim.workload.model import Model
from accelsim.workload.search import DecodeTrace

RESOURCE_CLASSES = ("coprocessor", "host", "link", "memory")


def critical_seconds(run: Run) -> tuple[dict[str, float], dict[str, float]]:
    """Seconds of the critical path by component and by resource class (each sums to the makespan)."""
    by_component: dict[str, float] = {c: 0.0 for c in COMPONENTS}
    by_resource: dict[str, float] = {c: 0.0 for c in RESOURCE_CLASSES}
    for index, seconds in _chain([row.end for row in run.rows], [row.pred for row in run.rows]):
        by_component[run.component(index)] += seconds
        by_resource[run.resource_class(index)] += seconds
    return by_component, by_resource


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


# ---------------------------------------------------------------- totals of a run


@dataclass
class Totals:
    """What a run adds up to: makespan, critical-path seconds by component and resource class, busy seconds
    per resource, ops, weight fetches and fetched bytes."""

    time_s: float = 0.0
    component_s: dict[str, float] = field(default_factory=dict)
    resource_s: dict[str, float] = field(default_factory=dict)
    busy: dict[str, float] = field(default_factory=dict)
    ops: int = 0
    fetches: int = 0
    fetched_bytes: float = 0.0
    work: dict[str, float] = field(default_factory=dict)  # energy's counters (accelsim.hw.energy.work_counters)

    def copy(self) -> "Totals":
        """A copy whose dicts are its own: a memoized Totals must never be added to by the caller (a short
        utterance's encoder totals, returned as they are, were added to in place and every later run grew)."""
        return Totals(self.time_s, dict(self.component_s), dict(self.resource_s), dict(self.busy), self.ops,
                      self.fetches, self.fetched_bytes, dict(self.work))

    def minus(self, other: "Totals") -> "Totals":
        """What this run adds up to beyond ``other`` (e.g. one more recurrent step)."""
        out = self.copy()
        out.add(other, -1)
        return out

    def add(self, other: "Totals", count: int = 1) -> None:
        self.time_s += count * other.time_s
        for target, source in ((self.component_s, other.component_s), (self.resource_s, other.resource_s),
                               (self.busy, other.busy), (self.work, other.work)):
            for name, value in source.items():
                target[name] = target.get(name, 0.0) + count * value
        self.ops += count * other.ops
        self.fetches += count * other.fetches
        self.fetched_bytes += count * other.fetched_bytes


def run_totals(run: Run) -> Totals:
    """The totals of one run from its rows."""
    component_s, resource_s = critical_seconds(run)
    fetched = [b for b in run.plan.fetch_bytes if b > 0]
    return Totals(run.time_s, component_s, resource_s, dict(run.busy), len(run.ops), len(fetched), sum(fetched),
                  work_counters(run.ops))


_SEGMENT_TOTALS = Memo("measured segments", 8192)


def segment_totals(run: SegmentRun) -> Totals:
    """The totals of one distinct segment (memoized with its schedule's key)."""
    return _SEGMENT_TOTALS.get(run.key, lambda: run_totals(run.run())).copy()


def program_totals(runs: Iterable[tuple[SegmentRun, int]]) -> Totals:
    """A program's totals from its distinct segments and how often each occurs. With per-op residency a
    segment's fetches depend on its own ops only, so the sums equal those of the full run (tests compare)."""
    total = Totals()
    for run, count in runs:
        total.add(segment_totals(run), count)
    return total


# ---------------------------------------------------------------- results


def streaming_latency(chunk_latencies: Sequence[float], final_s: float) -> dict[str, float]:
    """A streaming run's latencies: per chunk (end of its audio to its partial result) p50/p90/p99, and the final one
    (end of the utterance's audio to its last result)."""
    waits = np.asarray(chunk_latencies, dtype=float)
    return {"chunks": float(len(waits)), "chunk_p50_s": float(np.percentile(waits, 50)),
            "chunk_p90_s": float(np.percentile(waits, 90)), "chunk_p99_s": float(np.percentile(waits, 99)),
            "final_s": final_s}


def measure(spec: WorkloadSpec, hw: HardwareSpec, model: Model, trace: DecodeTrace, totals: Totals,
            records: tuple[Record, ...] = (), kept_model: Model | None = None,
            latency: dict[str, float] | None = None) -> SimResult:
    """The result of one utterance: RTF = processing time / audio, breakdowns in RTF units."""
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
        occupancy=occupancy_of(totals.busy, totals.time_s, hw.coprocessor.cores),
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
        model=kept_model,  # type: ignore[arg-type]
        formats=formats_of(model, hw),
        machine=hw if records else None,
        latency=dict(latency or {}),
        energy_J=(energy(totals.work, totals.fetched_bytes, totals.time_s, totals.busy.get("host", 0.0), hw)
                  if hw.energy is not None else {}),
    ))


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
    :func:`accelsim.hw.coprocessor.network_formats`)."""
    out = {}
    for name, network in model.networks.items():
        found = [l.precision for l in network.layers if l.kind in MATMUL_KINDS]
        if found:
            out[name] = network_formats(hw.coprocessor, found)
    return out


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
    ))
