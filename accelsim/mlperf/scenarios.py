"""The three MLPerf Inference scenarios of a workload's test set on one machine.

- **Offline**: every sample is there at once; the machine runs them with continuous batching
  (:mod:`accelsim.mlperf.rounds`) in batches of up to B slots. The figure is the highest samples/s over B in the
  powers of two up to ``max_batch`` (and ``max_batch``), searched from the largest down until the rate falls. The load generator issues the data set shuffled, ``passes``
  times over, so that the end of the run (the last slots draining one by one) weighs as little as in the
  benchmark's long runs.
- **Server**: samples arrive as a Poisson process and join the batch at the next round while a slot is free; the
  figure is the highest arrival rate whose 99th-percentile latency (arrival to result) is at most 1 s, found by the
  serving capacity search (:func:`accelsim.serve.capacity.find_capacity`).
- **SingleStream**: one sample at a time on an idle machine, its own program (:func:`accelsim.sim.execute.execute`);
  the figures are the 90th-percentile and mean latency over the data set.

A query's latency (SingleStream, Server) also holds the serving harness's host time per query (the GPU runtime's
``query_overhead``: load generator, audio preprocessing pipeline, response), which batched queries overlap with the
device's rounds (it does not limit Offline's throughput).

Energy per sample, where the config gives ``power``: idle power plus (TDP - idle) x the device's busy share, times
the run's time, per sample (a linear power model; no per-operation energies).
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from accelsim.errors import AccelsimError
from accelsim.mlperf.batching_jit import run_rounds
from accelsim.mlperf.rounds import bucket, round_cost
from accelsim.mlperf.samples import Sample, data_set, issue_order
from accelsim.pipeline import Point, prepare, utterance_spec
from accelsim.report.metrics import occupancy_of
from accelsim.serve.capacity import Capacity, find_capacity
from accelsim.serve.result import Objective
from accelsim.sim.execute import execute
from accelsim.sim.target import Target, target_for
from accelsim.sim.totals import Totals
from accelsim.spec.serving import ServingSpec
from accelsim.workload.model import Model, build_model

SCENARIOS = ("offline", "server", "singlestream")
#: The RNN-T Server scenario's latency bound (the 99th percentile of arrival-to-result).
SERVER_BOUND_S = 1.0
DEFAULT_MAX_BATCH = 2048


@dataclass(frozen=True)
class Bench:
    """What every scenario runs: the samples on one machine, and the load generator's settings."""

    point: Point
    samples: tuple[Sample, ...]
    model: Model
    passes: int = 10
    seed: int = 0

    @cached_property
    def target(self) -> Target:  # looked up once: target_for keys the spec by its JSON
        return target_for(self.point.hardware)

    @cached_property
    def batchings(self) -> dict[int, "Batching"]:
        """The continuous batching of this bench per largest batch, made once (its round costs, its arrays)."""
        return {}

    @cached_property
    def offline_runs(self) -> dict[int, tuple[float, "_Tally", float]]:
        """Offline's runs per largest batch, run once (Server asks for them too)."""
        return {}

    def batching(self, max_batch: int) -> "Batching":
        if max_batch not in self.batchings:
            self.batchings[max_batch] = Batching(self, max_batch)
        return self.batchings[max_batch]

    @classmethod
    def of(cls, point: Point, passes: int = 10, seed: int = 0) -> "Bench":
        spec = point.workload
        return cls(point, data_set(spec), build_model(spec), passes, seed)


@dataclass(frozen=True)
class MlperfResult:
    """One scenario's outcome; ``breakdown`` holds the scenario's own details."""

    scenario: str
    workload: str
    hardware: str
    samples: int  # samples run
    samples_per_s: float | None = None  # offline, server
    latency_p90_s: float | None = None  # singlestream (server: at its capacity)
    latency_p99_s: float | None = None
    latency_mean_s: float | None = None
    energy_per_sample_J: float | None = None
    breakdown: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        keys = {"offline": ("samples_per_s",), "server": ("samples_per_s", "latency_p99_s"),
                "singlestream": ("latency_p90_s", "latency_mean_s", "latency_p99_s")}[self.scenario]
        out = {"scenario": self.scenario, "workload": self.workload, "hardware": self.hardware, "samples": self.samples}
        out.update({key: getattr(self, key) for key in keys})
        out["energy_per_sample_J"] = self.energy_per_sample_J
        return out | {"breakdown": self.breakdown}


def check_scenario(scenario: str, max_batch: int) -> None:
    """One clear error for a scenario name that is none of :data:`SCENARIOS`, or a largest batch below 1."""
    if scenario not in SCENARIOS:
        close = difflib.get_close_matches(scenario, SCENARIOS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise AccelsimError(f"--scenario {scenario!r}: expected one of {', '.join(SCENARIOS)}{hint}")
    if max_batch < 1:
        raise AccelsimError(f"--max-batch {max_batch}: expected at least 1 (a batch of one sample)")


def run_scenario(bench: Bench, scenario: str, max_batch: int = DEFAULT_MAX_BATCH) -> MlperfResult:
    if scenario == "offline":
        return offline(bench, max_batch)
    if scenario == "server":
        return server(bench, max_batch)
    return singlestream(bench)


# ---------------------------------------------------------------- the machine's busy share and energy


@dataclass
class _Tally:
    """Rounds added up: their seconds, the busy seconds of each resource, the critical-path seconds by component."""

    seconds: float = 0.0
    busy: dict[str, float] = field(default_factory=dict)
    components: dict[str, float] = field(default_factory=dict)

    def add(self, totals: Totals, count: float) -> None:
        self.seconds += count * totals.time_s
        for name, value in totals.busy_pairs:
            self.busy[name] = self.busy.get(name, 0.0) + count * value
        for name, value in totals.component_pairs:
            self.components[name] = self.components.get(name, 0.0) + count * value

    def device_share(self, bench: Bench) -> float:
        busy = {"host": 0.0, "h2d": 0.0, "d2h": 0.0} | self.busy
        return occupancy_of(busy, self.seconds, bench.target.device.cores)["coprocessor"]

    def shares(self) -> dict[str, float]:
        total = sum(self.components.values()) or 1.0
        return {name: value / total for name, value in self.components.items() if value > 0}


def energy_per_sample(bench: Bench, seconds: float, busy_share: float, samples: int) -> float | None:
    power = bench.point.hardware.power
    if power is None or samples == 0:
        return None
    return (power.idle_W + (power.tdp_W - power.idle_W) * busy_share) * seconds / samples


# ---------------------------------------------------------------- continuous batching on one machine


class Batching:
    """Continuous batching of the bench's samples with at most ``max_batch`` slots on its machine: the cost of a
    round of every shape it can meet (:func:`accelsim.mlperf.rounds.round_cost`, one per bucket and number of joint
    evaluations), and the compiled loop (:func:`accelsim.mlperf.batching_jit.run_rounds`) that runs arrivals on it."""

    def __init__(self, bench: Bench, max_batch: int):
        self.bench, self.max_batch = bench, max_batch
        sizes = sorted({bucket(b) for b in range(1, max_batch + 1)})
        index = {size: i for i, size in enumerate(sizes)}
        self.bucket_of = np.array([0] + [index[bucket(b)] for b in range(1, max_batch + 1)], dtype=np.int64)
        most = max(max(s.labels, default=0) for s in bench.samples)
        self.totals = [[round_cost(bench.target, bench.model, size, m + 1) for m in range(most + 1)] for size in sizes]
        self.costs = np.array([[t.time_s for t in row] for row in self.totals])
        self.frames = np.array([s.frames for s in bench.samples], dtype=np.int64)
        self.offsets = np.concatenate(([0], np.cumsum(self.frames)[:-1])).astype(np.int64)
        self.labels = np.concatenate([np.asarray(s.labels, dtype=np.int64) for s in bench.samples])

    def run(self, order: np.ndarray, arrivals: np.ndarray) -> tuple[np.ndarray, _Tally, float]:
        """(when each arrival's result is out, the rounds' tally, mean occupied slots per round)."""
        done, counts, slot_rounds, rounds = run_rounds(arrivals, order.astype(np.int64), self.frames, self.offsets,
                                                       self.labels, self.max_batch, self.bucket_of, self.costs)
        tally = _Tally()
        for (i, m), count in np.ndenumerate(counts):
            if count:
                tally.add(self.totals[i][m], int(count))
        return done, tally, slot_rounds / max(rounds, 1)


# ---------------------------------------------------------------- Offline


def batch_sizes(max_batch: int) -> list[int]:
    """The largest batches Offline tries: the powers of two up to ``max_batch``, and ``max_batch``."""
    sizes = [1 << i for i in range(max_batch.bit_length()) if 1 << i <= max_batch]
    return sorted(set(sizes) | {max_batch})


def offline_run(bench: Bench, max_batch: int) -> tuple[float, _Tally, float]:
    """(samples/s, the rounds' tally, mean occupied slots) of Offline with at most ``max_batch`` slots: every sample
    there at time 0, in the load generator's order. The rate is the run's while every slot is busy
    (:func:`steady_rate`): the start and the drain at the end, which the benchmark's runs of minutes make negligible,
    are left out."""
    if max_batch not in bench.offline_runs:
        order = issue_order(len(bench.samples), bench.passes, bench.seed)
        done, tally, slots = bench.batching(max_batch).run(order, np.zeros(len(order)))
        bench.offline_runs[max_batch] = (steady_rate(done, max_batch), tally, slots)
    return bench.offline_runs[max_batch]


def steady_rate(done: np.ndarray, max_batch: int) -> float:
    """Samples per second while every slot is busy: between the B-th result and the (n - B)-th (which frees the slot
    the last sample takes), n - 2B results come out, with as much work in flight at both ends; every result over
    the run when it is too short for that."""
    ends = np.sort(done)
    first, last = max_batch, len(ends) - max_batch
    if last - first < max_batch:
        return len(ends) / float(ends[-1])
    return (last - first) / float(ends[last - 1] - ends[first - 1])


def offline(bench: Bench, max_batch: int = DEFAULT_MAX_BATCH) -> MlperfResult:
    """Offline's rate at the best largest batch: from ``max_batch`` down the powers of two while the rate grows (a
    machine's rate rises with its batch, then flattens or falls: the first fall ends the search)."""
    runs: dict[int, tuple[float, _Tally, float]] = {}
    for size in sorted(batch_sizes(max_batch), reverse=True):
        runs[size] = offline_run(bench, size)
        if len(runs) > 1 and runs[size][0] < max(r[0] for s, r in runs.items() if s != size):
            break
    best = max(runs, key=lambda size: (runs[size][0], -size))
    rate, tally, slots = runs[best]
    samples = bench.passes * len(bench.samples)
    share = tally.device_share(bench)
    breakdown = {"max_batch": best, "time_s": tally.seconds, "mean_slots": slots, "device_busy": share,
                 "critical_path": tally.shares(), "samples_per_s_by_max_batch": {s: r[0] for s, r in runs.items()}}
    return MlperfResult("offline", bench.point.workload.name, bench.point.hardware.name, samples, samples_per_s=rate,
                        energy_per_sample_J=energy_per_sample(bench, tally.seconds, share, samples), breakdown=breakdown)


# ---------------------------------------------------------------- SingleStream


def alone(bench: Bench, sample: Sample) -> Totals:
    """One sample's program on an idle machine (the pipeline's program of that utterance), memoised on the machine
    by what it depends on: its frames and the labels it emits per frame."""
    utterance = utterance_spec(bench.point.workload, sample.index, sample.frames)
    return bench.target.memo("mlperf samples alone", 4096).get(
        (bench.model, sample.frames, sample.labels), lambda: execute(prepare(utterance).program, bench.target).totals)


#: SingleStream simulates this many samples' programs (spread over the lengths) and fits the rest.
ANCHORS = 12


def singlestream(bench: Bench, anchors: int | None = ANCHORS) -> MlperfResult:
    """p90 and mean latency of the samples one at a time. A sample's latency is its program's time on an idle
    machine: the encoder, affine in its frames once its steps repeat, and its decode programs, two kinds (with or
    without a new label) of steady cost. So ``anchors`` samples spread over the lengths are simulated and the rest are
    ``a + b x frames + c x labels`` fitted to them (least squares; the largest relative miss at the anchors is in the
    breakdown, and tests compare the fit with simulating every sample); ``anchors=None`` simulates them all."""
    keys = sorted({(s.frames, sum(s.labels)) for s in bench.samples})
    chosen = keys if anchors is None or len(keys) <= anchors else \
        [keys[round(i * (len(keys) - 1) / (anchors - 1))] for i in range(anchors)]
    by_key = {(s.frames, sum(s.labels)): s for s in bench.samples}
    tally = _Tally()
    exact = {}
    for key in chosen:
        totals = alone(bench, by_key[key])
        tally.add(totals, 1)
        exact[key] = totals.time_s
    design = np.array([[1.0, f, n] for f, n in chosen])
    coef = np.linalg.lstsq(design, np.array([exact[k] for k in chosen]), rcond=None)[0]
    fitted = {k: float(coef @ (1.0, k[0], k[1])) for k in keys}
    miss = max(abs(fitted[k] / exact[k] - 1) for k in chosen)
    query = bench.target.device.query_seconds()
    values = query + np.array([exact.get(k, fitted[k]) for k in ((s.frames, sum(s.labels)) for s in bench.samples)])
    share = tally.device_share(bench) * (1 - query / float(values.mean()))  # the device idles during the harness's part
    breakdown = {"latency_p50_s": float(np.percentile(values, 50)), "latency_max_s": float(values.max()),
                 "query_overhead_s": query, "device_busy": share, "critical_path": tally.shares(), "simulated": len(chosen),
                 "fit_s": {"per_sample": coef[0], "per_frame": coef[1], "per_label": coef[2]}, "fit_miss": miss}
    return MlperfResult("singlestream", bench.point.workload.name, bench.point.hardware.name, len(values),
                        latency_p90_s=float(np.percentile(values, 90)), latency_p99_s=float(np.percentile(values, 99)),
                        latency_mean_s=float(values.mean()),
                        energy_per_sample_J=energy_per_sample(bench, float(values.sum()), share, len(values)),
                        breakdown=breakdown)


# ---------------------------------------------------------------- Server


#: Seconds of Poisson traffic a Server run simulates: the backlog near the machine's limit must have time to show.
SERVER_SECONDS = 60.0


@dataclass(frozen=True)
class ServerRun:
    """One Server run at one arrival rate (what the capacity search compares with the bound)."""

    rate: float
    samples: int
    latency_p50_s: float
    latency_p90_s: float
    latency_p99_s: float
    latency_mean_s: float
    end_s: float
    mean_in_system: float  # the time average of samples arrived and not done, over [0, end]
    device_busy: float
    mean_slots: float
    energy_per_sample_J: float | None
    critical_path: dict[str, float] = field(default_factory=dict)  # the rounds' critical path by component

    @property
    def arrival_rate(self) -> float:
        """Samples per second of the run (Little's law: arrival_rate x latency_mean_s = mean_in_system)."""
        return self.samples / self.end_s

    def row(self) -> dict[str, Any]:
        return {"rate_per_s": self.rate, "latency_p99_s": self.latency_p99_s, "latency_p90_s": self.latency_p90_s,
                "latency_mean_s": self.latency_mean_s, "mean_in_system": self.mean_in_system,
                "device_busy": self.device_busy, "mean_slots": self.mean_slots}


def server_run(batching: Batching, rate: float, seed: int, limit: float, seconds: float = SERVER_SECONDS) -> ServerRun:
    """Poisson arrivals at ``rate`` for ``seconds`` (the samples in the load generator's order, as many passes as
    that takes), each joining the batch at the first round after it arrives while a slot is free. A rate above
    ``limit``, the machine's full-batch throughput, is overloaded: its backlog grows for as long as the benchmark
    runs (minutes), so its latency is unbounded (infinite here, not simulated)."""
    if rate > limit:
        return ServerRun(rate, 0, *(math.inf,) * 5, math.inf, 1.0, float(batching.max_batch), None)
    bench = batching.bench
    count = max(1, math.ceil(rate * seconds))
    order = issue_order(len(bench.samples), math.ceil(count / len(bench.samples)), bench.seed)[:count]
    arrivals = np.cumsum(np.random.default_rng(seed).exponential(1.0 / rate, size=count))
    done, tally, slots = batching.run(order, arrivals)
    done = done + bench.target.device.query_seconds()  # the harness's host time per query, beside the batch's rounds
    latencies = done - arrivals
    end = float(done.max())
    share = tally.device_share(bench) * tally.seconds / end
    return ServerRun(rate, count, *(float(np.percentile(latencies, q)) for q in (50, 90, 99)),
                     float(latencies.mean()), end, in_system(arrivals, done), share, slots,
                     energy_per_sample(bench, end, share, count), tally.shares())


def in_system(arrivals: np.ndarray, done: np.ndarray) -> float:
    """The time average over [0, last result] of the samples that have arrived and are not done (a step function
    integrated over its own events, not from the latencies)."""
    times = np.concatenate([arrivals, done])
    steps = np.concatenate([np.ones_like(arrivals), -np.ones_like(done)])
    by_time = np.argsort(times, kind="stable")
    times, counts = times[by_time], np.cumsum(steps[by_time])
    return float(np.sum(counts[:-1] * np.diff(times)) / times[-1])


def server(bench: Bench, max_batch: int = DEFAULT_MAX_BATCH, tolerance: float = 0.01) -> MlperfResult:
    """The highest Poisson rate the machine sustains whose p99 latency meets the bound, over the largest batches up
    to ``max_batch`` (from the largest down, until a batch's full-batch throughput cannot beat the best rate found)."""
    alone_p99 = singlestream(bench).latency_p99_s
    if alone_p99 > SERVER_BOUND_S:  # type: ignore[operator]
        raise AccelsimError(f"server: no load meets the bound on {bench.point.hardware.name!r}: alone on an idle "
                            f"machine the samples' p99 latency is already {alone_p99:.3g} s > {SERVER_BOUND_S:g} s")
    best: tuple[Capacity, float, int] | None = None
    for size in sorted(batch_sizes(max_batch), reverse=True):
        full = offline_run(bench, size)[0]
        if best is not None and full <= best[0].capacity:
            break  # smaller batches sustain less still
        found = server_capacity(bench, size, full, tolerance)
        if best is None or found.capacity > best[0].capacity:
            best = (found, full, size)
    assert best is not None
    capacity, full, size = best
    if capacity.capacity <= 0:
        raise AccelsimError(f"server: no Poisson rate meets p99 latency <= {SERVER_BOUND_S:g} s on "
                            f"{bench.point.hardware.name!r}")
    run = next(p.result for p in capacity.probes if p.load == capacity.capacity)
    breakdown = {"latency_p50_s": run.latency_p50_s, "latency_p90_s": run.latency_p90_s,
                 "latency_mean_s": run.latency_mean_s, "mean_in_system": run.mean_in_system,
                 "device_busy": run.device_busy, "critical_path": run.critical_path, "mean_slots": run.mean_slots,
                 "max_batch": size, "bound_s": SERVER_BOUND_S, "full_batch_samples_per_s": full,
                 "traffic_s": SERVER_SECONDS, "confidence": capacity.statement(),
                 "trials": [{"rate_per_s": p.load, "met": p.met,  # an overloaded rate's latency is unbounded: null
                             "latency_p99_s": p.result.latency_p99_s if math.isfinite(p.result.latency_p99_s) else None}
                            for p in capacity.probes]}
    return MlperfResult("server", bench.point.workload.name, bench.point.hardware.name, run.samples,
                        samples_per_s=capacity.capacity, latency_p99_s=run.latency_p99_s,
                        energy_per_sample_J=run.energy_per_sample_J, breakdown=breakdown)


def server_capacity(bench: Bench, max_batch: int, full: float, tolerance: float) -> Capacity:
    """The serving capacity search (seeded; one confidence rerun at another seed) from the full-batch throughput down,
    with at most ``max_batch`` slots."""
    bound = Objective("p99_latency", SERVER_BOUND_S, f"p99_latency<={SERVER_BOUND_S:g} s")
    batching = bench.batching(max_batch)
    spec = ServingSpec(arrivals="poisson", rate=full, seed=bench.seed, duration="1 s")
    return find_capacity(spec, lambda settings: [server_run(batching, s.rate, s.seed, full) for s in settings], [bound],
                         replications=1, tolerance=tolerance, start=full)


def check_formats(bench: Bench, hardware_file: str) -> None:
    """Every layer that multiplies by weights has its format on the machine: else one error naming the layer, the
    format it needs and the file."""
    device = bench.target.device
    for net in bench.model.networks.values():
        for layer in net.layers:
            if not layer.weight_params:
                continue
            try:
                device.layer_format(layer.precision)
            except AccelsimError as exc:
                raise AccelsimError(f"{hardware_file}: layer {layer.network}.{layer.name}: {exc}") from None
