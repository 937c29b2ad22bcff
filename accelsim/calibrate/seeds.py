"""`accelsim seed 002|003`: the other two seed papers' figures computed on the shipped workloads and machines, and a
reproduce-style report: comparison.csv, sizes.csv, performance.csv, sizes.png and performance.png.

Nothing is fitted: the seed figures (``seeds`` in ``accelsim/reference/paper_targets.yaml``, role validate) are read
off the simulation and compared; the models, precision schemes and machines are the stated assumptions of the YAMLs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from accelsim.files import atomic_write_bytes, atomic_write_text
from accelsim.pipeline import resolve, simulate_point
from accelsim.report.compare import Comparison
from accelsim.report.seeds import plot_performance, plot_sizes
from accelsim.spec.loader import Variation, flag_variation, load_workload
from accelsim.spec.targets import SeedFigure, load_targets
from accelsim.workload.model import build_model, model_size


@dataclass(frozen=True)
class SeedStudy:
    """What a seed's report runs: its workloads, the machine, the precisions compared and the chunk sizes streamed."""

    title: str
    workloads: tuple[str, ...]
    hardware: str
    precisions: tuple[str, ...]
    streamed: tuple[str, ...]  # precisions also run streaming at each chunk size
    chunks: tuple[int, ...] = (4, 8, 16, 32)
    left_context: int = 32  # for a workload shipped without streaming (its own settings are kept otherwise)


STUDIES = {
    "002": SeedStudy("Seed 002: 4-bit Conformer transducer (Ding et al. 2022) on the phone NPU",
                     ("workloads/conformer_transducer.yaml",), "hwconfigs/phone_npu.yaml",
                     ("fp32", "fp16", "int8", "w4a8_mixed", "w4a8"), ("int8", "w4a8")),
    "003": SeedStudy("Seed 003: GQ sub-8-bit RNN-T and Conformer (Zhen et al. 2022) on the phone NPU",
                     ("workloads/ondevice_rnnt.yaml", "workloads/ondevice_conformer.yaml"), "hwconfigs/phone_npu.yaml",
                     ("int8", "gq"), ("int8", "gq")),
}


@dataclass
class SeedReport:
    comparisons: list[Comparison]
    figures: list[SeedFigure]
    sizes: pd.DataFrame
    performance: pd.DataFrame
    files: list[Path] = field(default_factory=list)


def _size(workload: str, precision: str) -> dict:
    return model_size(build_model(load_workload(workload, flag_variation(precision=precision))))


def _simulate(workload: str, hardware: str, precision: str, streaming: dict | None | str = "as shipped"):
    changes = flag_variation(precision=precision)
    if streaming != "as shipped":
        changes = changes + Variation.of({"workload.streaming": streaming}, source="seed report")
    return simulate_point(resolve(workload, hardware, changes))


def _streaming(spec, study: SeedStudy) -> dict:
    """How a workload streams in the report, but for the chunk size: as it is shipped (its left context and look-ahead,
    so that the latencies are those `run` prints), or, for a workload shipped whole, the study's left context and no
    look-ahead."""
    if spec.streaming is None:
        return {"left_context": study.left_context, "look_ahead": 0}
    return {"left_context": spec.streaming.left_context, "look_ahead": spec.streaming.look_ahead}


def seed_value(fig: SeedFigure) -> float:
    """A seed figure read off accelsim: a size ratio (``accelsim size``) or a saving of processing time."""
    if fig.metric == "compression":
        return _size(fig.workload, fig.precision)["compression"]
    if fig.metric == "memory_saving":
        return 1.0 - _size(fig.workload, fig.precision)["total_MB"] / _size(fig.workload, fig.baseline)["total_MB"]
    assert fig.hardware is not None, f"{fig.id}: a latency figure needs its hardware"
    return 1.0 - (_simulate(fig.workload, fig.hardware, fig.precision).time_s
                  / _simulate(fig.workload, fig.hardware, fig.baseline).time_s)


def seed_report(seed: str, out_dir: str | Path, targets_path: str | None = None,
                chunks: tuple[int, ...] | None = None) -> SeedReport:
    study = STUDIES[seed]
    figures = [f for f in load_targets(targets_path).seeds if f.seed == seed]
    comparisons = [Comparison(f.id, f.metric, f"{Path(f.workload).stem} {f.precision} vs {f.baseline}", f.value,
                              seed_value(f), f.role) for f in figures]
    size_rows, perf_rows = [], []
    for workload in study.workloads:
        name = Path(workload).stem
        for precision in study.precisions:
            size = _size(workload, precision)
            size_rows.append({"workload": name, "precision": precision, "size_MB": size["total_MB"],
                              "fp32_MB": size["fp32_MB"], "compression": size["compression"]})
            whole = _simulate(workload, study.hardware, precision, None)
            perf_rows.append({"workload": name, "precision": precision, "chunk_frames": 0, "chunk_s": whole.audio_s,
                              "rtf": whole.rtf, "chunk_p50_s": whole.time_s, "chunk_p90_s": whole.time_s,
                              "chunk_p99_s": whole.time_s, "final_s": whole.time_s, "look_ahead_s": 0.0})
            if precision not in study.streamed:
                continue
            spec = load_workload(workload)
            streaming = _streaming(spec, study)
            for frames in chunks or study.chunks:
                r = _simulate(workload, study.hardware, precision, {**streaming, "chunk_frames": frames})
                perf_rows.append({"workload": name, "precision": precision, "chunk_frames": frames,
                                  "chunk_s": frames * spec.utterance.frame_shift, "rtf": r.rtf,
                                  **{k: r.latency[k] for k in ("chunk_p50_s", "chunk_p90_s", "chunk_p99_s", "final_s")},
                                  "look_ahead_s": streaming["look_ahead"] * spec.utterance.frame_shift})
    sizes, perf = pd.DataFrame(size_rows), pd.DataFrame(perf_rows)
    published = {(Path(f.workload).stem, f.precision): f"{f.value:g}x" for f in figures if f.metric == "compression"}
    out = Path(out_dir)
    files = [out / "comparison.csv", out / "sizes.csv", out / "performance.csv", out / "sizes.png",
             out / "performance.png"]
    table = pd.DataFrame([c.to_dict() for c in comparisons], columns=list(Comparison("", "", "", 1, 1, "").to_dict()))
    atomic_write_text(files[0], table.to_csv(index=False, float_format="%.6g"), parents=True)
    atomic_write_text(files[1], sizes.to_csv(index=False, float_format="%.6g"), parents=True)
    atomic_write_text(files[2], perf.to_csv(index=False, float_format="%.6g"), parents=True)
    atomic_write_bytes(files[3], plot_sizes(sizes, published, study.title), parents=True)
    atomic_write_bytes(files[4], plot_performance(perf, study.title), parents=True)
    return SeedReport(comparisons, figures, sizes, perf, files)


def format_seed_report(report: SeedReport) -> str:
    lines = [f"  {'figure':<26}{'role':<10}{'target':>9}{'accelsim':>10}{'error':>9}   assumption"]
    for c, f in zip(report.comparisons, report.figures):
        lines.append(f"  {c.id:<26}{c.role:<10}{c.target:>9.4g}{c.simulated:>10.4g}{c.error_pct:>+8.1f}%   {f.assumption}")
    whole = report.performance[report.performance["chunk_frames"] == 0]
    lines += ["", "  whole-utterance RTF by precision"]
    lines += [f"  {r.workload:<24}{r.precision:<12}{r.rtf:>9.4f}" for r in whole.itertuples()]
    streamed = report.performance[report.performance["chunk_frames"] > 0]
    if len(streamed):
        lines += ["", f"  {'streaming':<24}{'precision':<12}{'chunk ms':>9}{'RTF':>9}{'p50 ms':>9}{'p99 ms':>9}{'final ms':>10}"]
        lines += [f"  {r.workload:<24}{r.precision:<12}{r.chunk_s * 1e3:>9.0f}{r.rtf:>9.4f}{r.chunk_p50_s * 1e3:>9.1f}"
                  f"{r.chunk_p99_s * 1e3:>9.1f}{r.final_s * 1e3:>10.1f}" for r in streamed.itertuples()]
    return "\n".join(lines)
