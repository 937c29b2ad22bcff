"""What one simulation reports: the RTF, its breakdowns and the figures around them (one utterance, or a
whole test set aggregated)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from accelsim.graph.ir import COMPONENTS
from accelsim.hw.energy import ENERGY_COMPONENTS
from accelsim.sim.engine import Record
from accelsim.spec.hardware import HardwareSpec
from accelsim.workload.model import Model


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
    #: Per network, the arithmetic format(s) its matmuls ran in on this chip (e.g. "int8+int4"), see
    #: :func:`accelsim.hw.coprocessor.select_format`.
    formats: dict[str, str] = field(default_factory=dict)
    machine: HardwareSpec | None = field(default=None, repr=False, compare=False)  # kept with the records (MAC formats)
    #: A streaming run's latencies in seconds: chunks, chunk_p50_s / chunk_p90_s / chunk_p99_s (end of a chunk's audio
    #: to its partial result) and final_s (end of the audio to the last result); empty when not streaming.
    latency: dict[str, float] = field(default_factory=dict)
    #: Joules by component (accelsim.hw.energy.ENERGY_COMPONENTS) of the utterance or test set; empty when the
    #: machine has no energy model.
    energy_J: dict[str, float] = field(default_factory=dict)
    #: Weight bytes read, by "component/level" ("encoder/L3", "lm_ext/host"), and per level the least time it needed
    #: to deliver them at its full bandwidth (its busy time; absent where the level's bandwidth is not charged).
    traffic_bytes: dict[str, float] = field(default_factory=dict)
    level_busy_s: dict[str, float] = field(default_factory=dict)

    def level_bytes(self) -> dict[str, float]:
        """Weight bytes read per memory level, over every component."""
        out: dict[str, float] = {}
        for key, n_bytes in self.traffic_bytes.items():
            level = key.split("/", 1)[1]
            out[level] = out.get(level, 0.0) + n_bytes
        return out

    def energy_row(self) -> dict[str, float]:
        """Energy per utterance and per audio hour, in total and by component (empty without an energy model)."""
        if not self.energy_J:
            return {}
        utterances = max(1, len(self.utterance_rtfs))
        total = sum(self.energy_J.values())
        per_hour = 3600.0 / self.audio_s
        out = {"energy_J_per_utterance": total / utterances, "energy_J_per_audio_h": total * per_hour}
        out.update({f"energy_{k}_J_per_audio_h": v * per_hour for k, v in self.energy_J.items()})
        return out

    def percentile(self, q: float) -> float:
        """Per-utterance RTF percentile (q in 0..100) of a test set; the RTF itself for one utterance."""
        import numpy as np

        return float(np.percentile(self.utterance_rtfs, q)) if self.utterance_rtfs else self.rtf

    def to_frame(self):
        """The headline metrics as a one-row pandas DataFrame (the columns of a sweep's results table)."""
        from accelsim.report.frames import headline_frame

        return headline_frame(self)

    def ops_frame(self):
        """One row per record (op or weight fetch) as a pandas DataFrame, with its critical-path seconds."""
        from accelsim.report.frames import ops_frame

        return ops_frame(self)

    def layers(self):
        """One row per layer as a pandas DataFrame: ops, MACs, weight bytes fetched, critical-path seconds and
        RTF share, what bound it, its bits and MAC format (see ``accelsim.report.frames.LAYER_COLUMNS``)."""
        from accelsim.report.frames import layers_frame

        return layers_frame(self)

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
            "formats": self.formats,
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
        } | ({"latency": dict(self.latency)} if self.latency else {}) | (
            {"energy_J": self.energy_J} | self.energy_row() if self.energy_J else {}) | (
            {"traffic_bytes": self.traffic_bytes, "level_busy_s": self.level_busy_s} if self.traffic_bytes else {})

    def row(self) -> dict[str, Any]:
        """One results-table row: headline metrics, both breakdowns and occupancy as columns, each name saying its
        unit: ``*_rtf`` (shares of the RTF that sum to it), ``*_s``, ``*_bytes``, ``*_MB`` (10^6 bytes),
        ``link_GBps_usable`` (10^9 bytes/s per direction after lanes and efficiency); ``occupancy_*`` are shares
        of the processing time (0..1), ``compression`` a ratio against FP32."""
        row: dict[str, Any] = {
            "rtf": self.rtf, "time_s": self.time_s, "audio_s": self.audio_s, "rtf_p50": self.percentile(50),
            "rtf_p90": self.percentile(90), "rtf_p99": self.percentile(99), "utterances": max(1, len(self.utterance_rtfs)),
            "model_size_MB": self.model_size_MB, "compression": self.compression, "beam": self.beam,
            "iterations": self.iterations, "link_GBps_usable": self.link_GBps,
            "fetched_weight_bytes": self.fetched_weight_bytes, "ops": self.ops, "weight_fetches": self.weight_fetches,
        }
        row.update({f"component_{k}_rtf": v for k, v in self.breakdown_by_component.items()})
        row.update({f"resource_{k}_rtf": v for k, v in self.breakdown_by_resource.items()})
        row.update({f"occupancy_{k}": v for k, v in self.occupancy.items()})
        row.update({f"latency_{k}": v for k, v in self.latency.items()})
        row.update(self.energy_row())
        row.update({f"level_{k}_bytes": v for k, v in self.level_bytes().items()})
        row.update({f"level_{k}_busy_s": v for k, v in self.level_busy_s.items()})
        return row

    def to_json(self) -> dict[str, Any]:
        """What a cache keeps: :meth:`to_dict` and the per-utterance RTFs (read back by :meth:`from_json`)."""
        return self.to_dict() | {"utterance_rtfs": list(self.utterance_rtfs)}

    @classmethod
    def from_json(cls, data: Any) -> "SimResult":
        """A result as :meth:`to_json` wrote it; ValueError for anything else (a truncated, edited or foreign file):
        every number finite, every count a whole number, every name a string, breakdowns in their usual order."""
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        fields_ = {k: _text(data, k) for k in ("workload", "hardware")}
        fields_ |= {k: _number(data, k) for k in _NUMBERS}
        fields_ |= {k: _count(data, k) for k in _COUNTS}
        for k, order in _ORDERS.items():
            found = data.get(k)
            if not isinstance(found, dict):
                raise ValueError(f"{k}: expected an object")
            fields_[k] = {name: _number(found, name) for name in _ordered(found, order)}
        rtfs = data.get("utterance_rtfs", [])
        if not isinstance(rtfs, list):
            raise ValueError("utterance_rtfs: expected a list")
        latency = data.get("latency", {})
        if not isinstance(latency, dict):
            raise ValueError("latency: expected an object")
        energy_J = data.get("energy_J", {})
        if not isinstance(energy_J, dict):
            raise ValueError("energy_J: expected an object")
        fields_["energy_J"] = {k: _number(energy_J, k) for k in _ordered(energy_J, ENERGY_COMPONENTS)}
        for key in ("traffic_bytes", "level_busy_s"):
            found = data.get(key, {})
            if not isinstance(found, dict):
                raise ValueError(f"{key}: expected an object")
            fields_[key] = {k: _number(found, k) for k in found}
        return cls(**fields_, presets=_names(data, "precision"), formats=_names(data, "formats", {}), records=(),
                   model=None, utterance_rtfs=tuple(_number(rtfs, i) for i in range(len(rtfs))),  # type: ignore[arg-type]
                   latency={k: _number(latency, k) for k in latency})


_NUMBERS = ("rtf", "time_s", "audio_s", "model_size_MB", "compression", "link_GBps", "fetched_weight_bytes")
_COUNTS = ("beam", "iterations", "ops", "weight_fetches")
#: The order :func:`accelsim.report.metrics.measure` gives each breakdown's keys (a cache file keeps them
#: sorted): a result read back makes the same results-table columns, in the same order, as a fresh one.
_ORDERS = {
    "breakdown_by_component": COMPONENTS,
    "breakdown_by_resource": ("coprocessor", "host", "link", "memory"),
    "occupancy": ("coprocessor", "host", "link_h2d", "link_d2h", "memory"),
}


def _ordered(found: dict, order: tuple[str, ...]) -> list[str]:
    return [k for k in order if k in found] + [k for k in found if k not in order]


def _text(data: dict, key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise ValueError(f"{key}: expected a string")
    return value


def _number(data: Any, key: Any) -> float:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{key}: expected a finite number, got {value!r}")
    return value


def _count(data: dict, key: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{key}: expected a whole number >= 0, got {value!r}")
    return value


def _names(data: dict, key: str, default: dict | None = None) -> dict[str, str]:
    value = data.get(key, default)
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValueError(f"{key}: expected an object of strings")
    return dict(value)


def non_finite(result: SimResult) -> str | None:
    """The first number of ``result`` that is not finite, as 'name = value', or None when all are."""
    data = result.to_dict()
    for key, value in data.items():
        values = value.items() if isinstance(value, dict) else [(None, value)]
        for sub, v in values:
            if isinstance(v, float) and not math.isfinite(v):
                return f"{key}{'.' + sub if sub else ''} = {v}"
    bad = next((v for v in result.utterance_rtfs if not math.isfinite(v)), None)
    return None if bad is None else f"utterance_rtfs contains {bad}"
