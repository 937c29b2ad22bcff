"""Calibrating the GPU runtime on one MLPerf system: at most four values of the shared GPU-runtime file fitted so that
the calibration system's Offline throughput and SingleStream p90 and mean latency come out as published
(``accelsim/reference/mlperf_rnnt.yaml``); every other system is then a prediction from its spec sheet.

The objective is the sum of squared log-ratios simulated / published, searched in each parameter's plausible range by
:func:`accelsim.calibrate.fit.search_box` (the machinery of ``accelsim calibrate``), and the fitted values are
written into the runtime file, each marked ``calibrated:``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

from pydantic import Field

from accelsim.calibrate.fit import Fit, Parameter, search_box, write_calibrated
from accelsim.files import find_input
from accelsim.mlperf.scenarios import Bench, offline, singlestream
from accelsim.pipeline import resolve
from accelsim.reference import __file__ as _reference
from accelsim.report.compare import Comparison
from accelsim.spec.base import Strict, Text
from accelsim.spec.hardware import GpuRuntimeSpec
from accelsim.spec.loader import Variation, read_yaml, validate

REFERENCE = Path(_reference).parent / "mlperf_rnnt.yaml"

#: The fitted values: no spec sheet gives them; each has a physical reading and a plausible range.
PARAMETERS: tuple[Parameter, ...] = (
    Parameter("gpu.runtime.tensor_efficiency", 0.4, 0.95, meaning="share of the tensor cores' peak an SM sustains on "
              "a GEMM tile fed in time; cuBLAS reaches 70-90% of peak on large FP16 GEMMs (NVIDIA's Matrix "
              "Multiplication Background guide), less with clocks lowered under load"),
    Parameter("gpu.runtime.kernel_overhead", 0.5, 6.0, unit="us", log=True, meaning="device time of one kernel beyond "
              "its work: 0.5 us between graph kernels (NVIDIA's CUDA Graphs blog: 3.4 us per 2.9 us kernel) to a "
              "few us with the launch latency and tail of a small kernel"),
    Parameter("gpu.runtime.query_overhead", 0.1, 6.0, unit="ms", log=True, meaning="the harness's host time per query: "
              "the load generator's issue and response, the audio preprocessing pipeline (STFT, mel filterbank, "
              "normalisation) launched per sample; a host pipeline of a few ms"),
)


class Figure(Strict):
    id: Text
    metric: Literal["samples_per_s", "latency_p90_s", "latency_mean_s"]
    value: float = Field(gt=0)


class Reference(Strict):
    """The calibration system and its published figures (``accelsim/reference/mlperf_rnnt.yaml``)."""

    system: Text
    hardware: Text
    workload: Text
    src: Text
    figures: list[Figure] = Field(min_length=1)


def load_reference(path: Path = REFERENCE) -> Reference:
    return validate(Reference, read_yaml(path), str(path))


def simulated(reference: Reference, variation: Variation = Variation()) -> dict[str, float]:
    """The reference's metrics simulated on its system, with ``variation`` applied."""
    point = resolve(find_input(reference.workload, "workloads"), find_input(reference.hardware, "hwconfigs"), variation)
    bench = Bench.of(point)
    metrics = {f.metric for f in reference.figures}
    out: dict[str, float] = {}
    if "samples_per_s" in metrics:
        out["samples_per_s"] = offline(bench).samples_per_s  # type: ignore[assignment]
    if metrics & {"latency_p90_s", "latency_mean_s"}:
        single = singlestream(bench)
        out["latency_p90_s"], out["latency_mean_s"] = single.latency_p90_s, single.latency_mean_s  # type: ignore[assignment]
    return out


def comparisons(reference: Reference, values: dict[str, float]) -> list[Comparison]:
    return [Comparison(f.id, "mlperf", reference.system, f.value, values[f.metric], "calibrate")
            for f in reference.figures]


@dataclass
class Calibration:
    fit: Fit
    parameters: tuple[Parameter, ...]
    reference: Reference


def calibrate_mlperf(reference: Reference, parameters: tuple[Parameter, ...] = PARAMETERS, max_evals: int = 150,
                     samples: int = 16, seed: int = 0,
                     progress: Callable[[int, float], None] | None = None) -> Calibration:
    """Fit ``parameters`` (at most four) so that the reference system reproduces its figures (see the module
    docstring)."""
    if len(parameters) > 4:
        raise ValueError("the GPU runtime is calibrated with at most four parameters")

    def variation(values: list[float]) -> Variation:
        out = Variation()
        for p, v in zip(parameters, values):
            out += p.variation(v)
        return out

    def loss(values: list[float]) -> float:
        found = comparisons(reference, simulated(reference, variation(values)))
        return sum(math.log(c.simulated / c.target) ** 2 for c in found)

    best, value, evaluations = search_box(parameters, loss, max_evals, samples, seed, progress)
    found = comparisons(reference, simulated(reference, variation(best)))
    return Calibration(Fit(dict(zip((p.path for p in parameters), best)), value, evaluations, found), parameters, reference)


def write_runtime(calibration: Calibration, runtime: Path, out: Path) -> None:
    """``runtime`` copied to ``out`` with the fitted values, each marked ``calibrated:`` with its range."""
    local = tuple(Parameter(p.path.removeprefix("gpu.runtime."), p.low, p.high, p.unit, p.log, p.meaning)
                  for p in calibration.parameters)
    fit = calibration.fit
    values = {p.path: fit.values[q.path] for p, q in zip(local, calibration.parameters)}
    procedure = (f"accelsim mlperf --calibrate on {calibration.reference.system} (Offline, SingleStream p90 and mean; "
                 f"loss {fit.loss:.2e})")
    write_calibrated(runtime, out, Fit(values, fit.loss, fit.evaluations, fit.comparisons), local, procedure,
                     check=lambda path: validate(GpuRuntimeSpec, read_yaml(path), str(path)))


def format_calibration(calibration: Calibration) -> str:
    lines = [f"calibrated on {calibration.reference.system} ({calibration.fit.evaluations} evaluations, loss "
             f"{calibration.fit.loss:.3g})"]
    for p in calibration.parameters:
        value = calibration.fit.values[p.path]
        lines.append(f"  {p.path} = {value:.4g}{(' ' + p.unit) if p.unit else ''}  (range {p.low:g}..{p.high:g})")
    for c in calibration.fit.comparisons:
        lines.append(f"  {c.id:<18} published {c.target:.5g}  simulated {c.simulated:.5g}  ({c.error_pct:+.2f}%)")
    return "\n".join(lines)
