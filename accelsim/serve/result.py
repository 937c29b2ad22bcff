"""Metrics of a serving run: latency percentiles, queueing delay, throughput, utilisation, batch sizes, Little's law.

Statistics cover the utterances ready within the window [warmup, duration); every utterance runs to completion,
so an overloaded machine shows as latencies that grow with the window, and as a throughput below the offered load.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

import numpy as np

from accelsim.errors import AccelsimError
from accelsim.hw.energy import ENERGY_COMPONENTS, energy
from accelsim.hw.family import family_of
from accelsim.report.metrics import occupancy_of
from accelsim.serve.engine import ChipRun, Served


@dataclass(frozen=True)
class ServeResult:
    """One serving run. Times in seconds; ``latency`` is from the end of an utterance's audio to its result."""

    workload: str
    hardware: str
    arrivals: str
    streams: int  # closed: always-active streams; poisson: 0
    rate: float  # utterances per second ready in the window (poisson: the asked rate)
    max_batch: int
    max_wait_s: float
    utterances: int  # measured (ready within the window)
    offered_load: float  # audio seconds ready per second of the window (= mean concurrent streams of audio)
    throughput: float  # audio seconds served per second, over the whole run (0 .. last result)
    latency_p50_s: float
    latency_p90_s: float
    latency_p99_s: float
    latency_mean_s: float
    latency_max_s: float
    queueing_mean_s: float  # time spent waiting in the batch queues
    queueing_p99_s: float
    rtf_p99: float  # per utterance: latency / audio duration
    mean_in_system: float  # time average of the number of utterances in the system over the window
    arrival_rate: float  # measured utterances per second of the window
    utilisation: dict[str, float]  # busy share of the run, per resource class (coprocessor averaged over cores)
    batch_mean: dict[str, float]  # mean batch size per kind (encoder, decode)
    batch_sizes: dict[str, dict[int, int]]  # per kind: batch size -> number of batches
    fetched_weight_bytes: float
    end_s: float
    jobs: int  # op level: ops and weight fetches run; batch level: the ops its batches stand for; 0 on the exact path
    exact_reuse: bool
    served_audio_s: float = 0.0  # audio of every utterance served (the window's and the warm-up's)
    served: int = 0  # utterances served
    latencies_s: tuple[float, ...] = field(repr=False, default=())
    energy: dict[str, float] = field(default_factory=dict)  # joules per component over the run (empty: no energy model)
    #: Streaming: the measured utterances' chunks, and their latencies from the end of a chunk's audio to its partial
    #: result (``latency_*`` is then the final one, end of the audio to the last result); 0 when not streaming.
    chunks: int = 0
    chunk_latency_p50_s: float = 0.0
    chunk_latency_p90_s: float = 0.0
    chunk_latency_p99_s: float = 0.0
    level: str = "op"  # how batches ran: "op" (every op, the reference) or "batch" (their phases)
    chips: int = 1  # machines of the fleet (a box counts once)
    dispatcher: str = ""  # how utterances were sent to chips (a fleet of one: "")
    #: Per chip: its hardware, measured utterances, latency p50/p99 and utilisation (see :func:`chip_rows`).
    per_chip: tuple[dict, ...] = field(repr=False, default=())
    warnings: tuple[str, ...] = ()  # what the figures cannot carry (a percentile resting on too few utterances)
    #: Batch level: the share of the run during which batches shared a machine, averaged over the chips (0: every
    #: batch ran alone, and the batch level is exact); 0 at op level.
    batch_overlap: float = 0.0

    def tail_counts(self) -> dict[str, float]:
        """How many measured utterances each latency percentile rests on: those at or above it."""
        return {f"p{q}": self.utterances * (100 - q) / 100 for q in PERCENTILES}

    @property
    def little_l(self) -> float:
        """Little's law: arrival rate x mean time in system (to compare with ``mean_in_system``)."""
        return self.arrival_rate * self.latency_mean_s

    def row(self) -> dict[str, Any]:
        """A results-table row, units in the names."""
        row: dict[str, Any] = {
            "arrivals": self.arrivals, "streams": self.streams, "rate_per_s": self.rate, "max_batch": self.max_batch,
            "max_wait_s": self.max_wait_s, "utterances": self.utterances, "offered_load": self.offered_load,
            "throughput": self.throughput, "latency_p50_s": self.latency_p50_s, "latency_p90_s": self.latency_p90_s,
            "latency_p99_s": self.latency_p99_s, "latency_mean_s": self.latency_mean_s, "latency_max_s": self.latency_max_s,
            "queueing_mean_s": self.queueing_mean_s, "queueing_p99_s": self.queueing_p99_s, "rtf_p99": self.rtf_p99,
            "mean_in_system": self.mean_in_system, "arrival_rate_per_s": self.arrival_rate,
            "fetched_weight_bytes": self.fetched_weight_bytes, "end_s": self.end_s, "chips": self.chips,
            "level": self.level, "batch_overlap": self.batch_overlap,
        }
        if self.chunks:
            row.update({"chunks": self.chunks, "chunk_latency_p50_s": self.chunk_latency_p50_s,
                        "chunk_latency_p90_s": self.chunk_latency_p90_s, "chunk_latency_p99_s": self.chunk_latency_p99_s})
        row.update({f"utilisation_{k}": v for k, v in self.utilisation.items()})
        row.update({f"batch_mean_{k}": v for k, v in self.batch_mean.items()})
        row.update(energy_columns(self.energy, self.served_audio_s, self.served))
        return row

    def to_json(self) -> dict[str, Any]:
        """What a sweep's cache keeps (read back by :meth:`from_json`)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["batch_sizes"] = {k: {str(size): n for size, n in v.items()} for k, v in self.batch_sizes.items()}
        data["latencies_s"] = list(self.latencies_s)
        data["per_chip"] = list(self.per_chip)
        data["warnings"] = list(self.warnings)
        return {"result": "serve"} | data

    @classmethod
    def from_json(cls, data: Any) -> "ServeResult":
        """A result as :meth:`to_json` wrote it; ValueError for anything else (every field present and of its type)."""
        if not isinstance(data, dict) or data.get("result") != "serve":
            raise ValueError("not a serving result")
        out: dict[str, Any] = {}
        for f in fields(cls):
            value = data[f.name]
            kind = _KINDS[f.name] if f.name in _KINDS else type(f.default) if f.default is not MISSING else float
            if kind is dict:
                if not isinstance(value, dict):
                    raise ValueError(f"{f.name}: expected an object")
                if f.name == "batch_sizes":
                    value = {k: {int(size): int(n) for size, n in v.items()} for k, v in value.items()}
                    value = {k: dict(sorted(value[k].items())) for k in _order(value, ("encoder", "decode"))}
                else:
                    value = {str(k): _finite(value[k], f.name) for k in _order(value, _ORDERS.get(f.name, ()))}
            elif f.name == "latencies_s":
                value = tuple(_finite(v, f.name) for v in value)
            elif f.name == "warnings":
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise ValueError("warnings: expected a list of strings")
                value = tuple(value)
            elif f.name == "per_chip":
                value = tuple(_chip_row(v) for v in value) if isinstance(value, list) else _chip_row(None)
            else:
                value = _typed(value, kind, f.name)
            out[f.name] = value
        return cls(**out)

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame([{"workload": self.workload, "hardware": self.hardware} | self.row()])

    def to_dict(self) -> dict[str, Any]:
        out = {"workload": self.workload, "hardware": self.hardware} | self.row()
        out["batch_sizes"] = {k: {str(size): n for size, n in v.items()} for k, v in self.batch_sizes.items()}
        out["utilisation"] = self.utilisation
        out["energy_J"] = self.energy
        out["percentile_utterances"] = self.tail_counts()
        out["dispatcher"] = self.dispatcher
        out["per_chip"] = list(self.per_chip)
        out["warnings"] = list(self.warnings)
        return out


#: Field types the JSON reader checks (the rest are numbers).
_KINDS = {"workload": str, "hardware": str, "arrivals": str, "streams": int, "max_batch": int, "utterances": int,
          "jobs": int, "served": int, "chunks": int, "exact_reuse": bool, "utilisation": dict, "batch_mean": dict, "batch_sizes": dict,
          "energy": dict, "latencies_s": tuple, "level": str, "chips": int, "dispatcher": str, "per_chip": tuple,
          "warnings": tuple}
#: The latency percentiles reported.
PERCENTILES = (50, 90, 99)
#: A chip's row: its index, hardware and measured utterances, then numbers, then its utilisation by resource.
_CHIP_TEXT, _CHIP_INT = ("hardware",), ("chip", "utterances")


def _chip_row(value: Any) -> dict:
    """One chip's row as :func:`chip_rows` makes it; ValueError for anything else."""
    if not isinstance(value, dict) or not isinstance(value.get("utilisation"), dict):
        raise ValueError("per_chip: expected a list of objects with a utilisation")
    out: dict[str, Any] = {}
    for key, v in value.items():
        if key == "utilisation":
            out[key] = {str(k): _finite(x, "per_chip.utilisation") for k, x in v.items()}
        else:
            out[key] = _typed(v, str if key in _CHIP_TEXT else int if key in _CHIP_INT else float, f"per_chip.{key}")
    return out


def _typed(value: Any, kind: type, name: str) -> Any:
    """``value`` if it is of ``kind`` (str, bool, int; float: a finite number), else ValueError naming ``name``."""
    if kind is str:
        if not isinstance(value, str):
            raise ValueError(f"{name}: expected a string")
    elif kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{name}: expected true or false")
    elif kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name}: expected a whole number")
    else:
        value = _finite(value, name)
    return value


#: The order a fresh result gives each dict's keys (a cache file keeps them sorted; a results table's columns must not move).
_ORDERS = {"energy": ENERGY_COMPONENTS, "batch_mean": ("encoder", "decode"),
           "utilisation": ("coprocessor", "host", "link_h2d", "link_d2h", "memory")}


def _order(found: dict, order: tuple[str, ...]) -> list[str]:
    return [k for k in order if k in found] + sorted(k for k in found if k not in order)


def _finite(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    return value


#: Columns of a serving point in a sweep's results table (see :meth:`ServeResult.row`); energy columns as a run's.
SERVE_COLUMNS = ("rate_per_s", "max_wait_s", "offered_load", "throughput", "latency_p50_s", "latency_p90_s",
                 "latency_p99_s", "latency_mean_s", "latency_max_s", "queueing_mean_s", "queueing_p99_s", "mean_in_system",
                 "arrival_rate_per_s", "end_s", "utilisation_coprocessor", "utilisation_host", "utilisation_link_h2d",
                 "utilisation_link_d2h", "batch_mean_encoder", "batch_mean_decode", "streams", "max_batch")


def energy_columns(energy: dict[str, float], audio_s: float, utterances: int) -> dict[str, float]:
    """Energy per utterance and per audio hour, in total and per component (J/h), when an energy model was given."""
    if not energy or audio_s <= 0:
        return {}
    per_hour = 3600.0 / audio_s
    out = {"energy_J_per_utterance": sum(energy.values()) / max(1, utterances),
           "energy_J_per_audio_h": sum(energy.values()) * per_hour}
    out.update({f"energy_{k}_J_per_audio_h": v * per_hour for k, v in energy.items()})
    return out


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else 0.0


def served_energy(served: Served) -> dict[str, float]:
    """Joules by component of everything the fleet did: every batch's ops and fetches, each chip's host and static
    power over the whole run (0 .. last result); empty when a chip has no energy model."""
    if any(run.hardware.energy is None for run in served.chips):
        return {}
    out: dict[str, float] = {}
    for run in served.chips:
        for k, v in energy(run.work, run.fetched_bytes, served.end_s, run.busy.get("host", 0.0), run.hardware).items():
            out[k] = out.get(k, 0.0) + v
    return out


def chip_occupancy(run: ChipRun, time_s: float) -> dict[str, float]:
    """Busy share of ``time_s`` per resource class of one chip; a box's device resources averaged over its devices,
    its shared host as it is, its uplink as ``uplink_h2d`` / ``uplink_d2h``."""
    box = run.hardware.box
    if box is None:
        return occupancy_of({"host": 0.0, "h2d": 0.0, "d2h": 0.0} | run.busy, time_s, family_of(run.hardware).cores)
    folded: dict[str, float] = {"host": run.busy.get("host", 0.0) * box.devices, "h2d": 0.0, "d2h": 0.0}
    for name, seconds in run.busy.items():
        if name.startswith("dev"):
            resource = name.partition(".")[2]
            folded[resource] = folded.get(resource, 0.0) + seconds
    out = occupancy_of(folded, time_s * box.devices, family_of(run.hardware).cores)
    total = time_s or 1.0
    out.update({f"uplink_{unit}": run.busy.get(f"uplink.{unit}", 0.0) / total for unit in ("h2d", "d2h")})
    return out


def chip_rows(served: Served, measured) -> tuple[dict, ...]:
    """Per chip: index, hardware name, measured utterances, latency p50/p99 and utilisation."""
    rows = []
    for i, run in enumerate(served.chips):
        latencies = [u.latency_s for u in measured if u.chip == i]
        rows.append({"chip": i, "hardware": run.hardware.name, "utterances": len(latencies),
                     "latency_p50_s": _percentile(latencies, 50), "latency_p99_s": _percentile(latencies, 99),
                     "utilisation": chip_occupancy(run, served.end_s)})
    return tuple(rows)


def _mean_utilisation(rows: tuple[dict, ...]) -> dict[str, float]:
    """The fleet's utilisation: each resource class's share averaged over the chips that have it."""
    out: dict[str, list[float]] = {}
    for row in rows:
        for name, share in row["utilisation"].items():
            out.setdefault(name, []).append(share)
    return {name: sum(v) / len(rows) for name, v in out.items()}


def tail_warnings(measured: int, what: str = "latency") -> tuple[str, ...]:
    """A warning for each reported percentile that rests on fewer than one measured utterance."""
    out = []
    for q in PERCENTILES:
        if measured * (100 - q) / 100 < 1:
            out.append(f"the p{q} {what} rests on fewer than one of the {measured} measured utterances (it needs at "
                       f"least {100 // (100 - q)}); lengthen serving.duration or leave it unset")
    return tuple(out)


#: Share of a batch-level run with batches sharing a machine above which its latencies are flagged as approximate.
OVERLAP_NOTE = 0.05


def overlap_warnings(served: Served) -> tuple[str, ...]:
    """Batch level: a note when batches shared a machine for a noticeable part of the run (the fluid sharing of
    accelsim.sim.fluid stands in for op-by-op contention there; docs/DESIGN.md gives its measured error)."""
    if served.spec.level != "batch" or served.exact_reuse or not served.end_s:
        return ()
    share = max(run.overlap_s for run in served.chips) / served.end_s
    if share <= OVERLAP_NOTE:
        return ()
    return (f"batches shared a machine {share:.0%} of the time: batch-level latencies are approximate there (a few "
            f"percent, more near saturation; docs/DESIGN.md); --level op is the reference",)


def serve_result(workload: str, served: Served) -> ServeResult:
    spec = served.spec
    window = spec.duration - spec.warmup
    measured = [u for u in served.utterances if u.arrival.ready_s >= spec.warmup]
    if not measured:
        raise AccelsimError(f"workload {workload!r}: no utterance's audio ends within the serving window "
                            f"[warmup {spec.warmup:g} s, duration {spec.duration:g} s); lengthen serving.duration")
    latencies = [u.latency_s for u in measured]
    chunks = [t for u in measured for t in u.chunk_latencies_s]
    waits = [u.wait_s for u in measured]
    audio_all = sum(u.arrival.audio_s for u in served.utterances)
    sizes: dict[str, Counter] = {}
    for run in served.chips:
        for kind, counts in run.batches.items():
            sizes[kind] = sizes.get(kind, Counter()) + counts
    counts = {k: dict(sorted(v.items())) for k, v in sizes.items()}
    means = {k: (sum(s * n for s, n in v.items()) / sum(v.values()) if v else 0.0) for k, v in counts.items()}
    rows = chip_rows(served, measured)
    names = list(dict.fromkeys(run.hardware.name for run in served.chips))
    return ServeResult(
        workload=workload, hardware="+".join(names) if len(names) > 1 else names[0], arrivals=spec.arrivals,
        streams=spec.streams if spec.arrivals == "closed" else 0,
        rate=spec.rate if spec.rate is not None else len(measured) / window,
        max_batch=spec.max_batch, max_wait_s=spec.max_wait, utterances=len(measured),
        offered_load=sum(u.arrival.audio_s for u in measured) / window,
        throughput=audio_all / served.end_s if served.end_s > 0 else 0.0,
        latency_p50_s=_percentile(latencies, 50), latency_p90_s=_percentile(latencies, 90),
        latency_p99_s=_percentile(latencies, 99), latency_mean_s=float(np.mean(latencies)) if latencies else 0.0,
        latency_max_s=max(latencies, default=0.0), queueing_mean_s=float(np.mean(waits)) if waits else 0.0,
        queueing_p99_s=_percentile(waits, 99),
        rtf_p99=_percentile([u.latency_s / u.arrival.audio_s for u in measured], 99),
        mean_in_system=served.in_system_s / window, arrival_rate=len(measured) / window,
        utilisation=_mean_utilisation(rows), batch_mean=means, batch_sizes=counts,
        fetched_weight_bytes=sum(run.fetched_bytes for run in served.chips), end_s=served.end_s,
        jobs=sum(run.jobs for run in served.chips), exact_reuse=served.exact_reuse,
        served_audio_s=audio_all, served=len(served.utterances), latencies_s=tuple(latencies),
        energy=served_energy(served), chunks=len(chunks), chunk_latency_p50_s=_percentile(chunks, 50),
        chunk_latency_p90_s=_percentile(chunks, 90), chunk_latency_p99_s=_percentile(chunks, 99),
        level="exact" if served.exact_reuse else spec.level, chips=len(served.chips),
        batch_overlap=sum(run.overlap_s for run in served.chips) / (len(served.chips) * served.end_s) if served.end_s else 0.0,
        dispatcher=spec.dispatcher if len(served.chips) > 1 else "", per_chip=rows,
        warnings=tail_warnings(len(measured)) + overlap_warnings(served),
    )


# ---------------------------------------------------------------- service-level objectives

#: Metrics an objective may name, and the result field each reads.
SLO_METRICS = {
    "p50_latency": "latency_p50_s", "p90_latency": "latency_p90_s", "p99_latency": "latency_p99_s",
    "mean_latency": "latency_mean_s", "max_latency": "latency_max_s", "p99_queueing": "queueing_p99_s",
    "rtf": "rtf_p99", "rtf_p99": "rtf_p99",
}
_UNITS = {"": 1.0, "s": 1.0, "ms": 1e-3, "us": 1e-6}
_SLO = re.compile(r"^\s*([a-z0-9_]+)\s*<=\s*([0-9.eE+-]+)\s*([a-z]*)\s*$")


@dataclass(frozen=True)
class Objective:
    metric: str
    limit: float  # SI (seconds, or a ratio for rtf)
    text: str

    def value(self, result: ServeResult) -> float:
        return getattr(result, SLO_METRICS[self.metric])

    def met(self, result: ServeResult) -> bool:
        return self.value(result) <= self.limit


def parse_slo(text: str) -> list[Objective]:
    """``"p99_latency<=300 ms, rtf<=1"`` as objectives; AccelsimError naming what was expected otherwise."""
    out = []
    for part in text.split(","):
        found = _SLO.match(part)
        if not found or found.group(1) not in SLO_METRICS or found.group(3) not in _UNITS:
            raise AccelsimError(f"--slo: expected METRIC<=VALUE [s|ms|us] separated by commas, METRIC one of "
                                f"{sorted(SLO_METRICS)}; got {part.strip()!r}")
        metric, number, unit = found.groups()
        try:
            limit = float(number) * _UNITS[unit]
        except ValueError:
            raise AccelsimError(f"--slo: {number!r} is not a number in {part.strip()!r}") from None
        if not math.isfinite(limit) or limit <= 0:
            raise AccelsimError(f"--slo: the limit must be a positive finite number, got {part.strip()!r}")
        if metric.startswith("rtf") and unit:
            raise AccelsimError(f"--slo: rtf is a ratio and takes no unit, got {part.strip()!r}")
        out.append(Objective(metric, limit, part.strip()))
    return out
