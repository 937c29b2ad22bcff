"""What one simulation reports: the RTF, its breakdowns and the figures around them (one utterance, or a
whole test set aggregated)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from accelsim.sim.engine import Record
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

    def row(self) -> dict[str, Any]:
        """One results-table row: headline metrics, both breakdowns and occupancy as columns."""
        row: dict[str, Any] = {
            "rtf": self.rtf, "time_s": self.time_s, "audio_s": self.audio_s, "rtf_p50": self.percentile(50),
            "rtf_p90": self.percentile(90), "rtf_p99": self.percentile(99), "utterances": max(1, len(self.utterance_rtfs)),
            "model_size_MB": self.model_size_MB, "compression": self.compression, "beam": self.beam,
            "iterations": self.iterations, "link_GBps": self.link_GBps,
        }
        row.update({f"component_{k}": v for k, v in self.breakdown_by_component.items()})
        row.update({f"resource_{k}": v for k, v in self.breakdown_by_resource.items()})
        row.update({f"occupancy_{k}": v for k, v in self.occupancy.items()})
        return row

    def to_json(self) -> dict[str, Any]:
        """What a cache keeps: :meth:`to_dict` and the per-utterance RTFs (read back by :meth:`from_json`)."""
        return self.to_dict() | {"utterance_rtfs": list(self.utterance_rtfs)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "SimResult":
        names = {"workload", "hardware", "rtf", "time_s", "audio_s", "breakdown_by_component", "breakdown_by_resource",
                 "occupancy", "model_size_MB", "compression", "beam", "iterations", "link_GBps",
                 "fetched_weight_bytes", "ops", "weight_fetches"}
        return cls(**{k: data[k] for k in names}, presets=dict(data["precision"]), records=(), model=None,  # type: ignore[arg-type]
                   utterance_rtfs=tuple(data.get("utterance_rtfs", ())))
