"""Every shipped system in every scenario: one row per system, printed as a table, written as CSV and as a plot
(samples/s per system on a log axis, grouped by scenario; SingleStream's as one over its mean latency)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Sequence

import numpy as np

from accelsim.files import atomic_write_bytes, atomic_write_text, shipped_folder
from accelsim.mlperf.scenarios import MlperfResult
from accelsim.report.figures import figure_bytes, plain_log_axis, subplots

#: The shipped systems `accelsim mlperf --all` predicts, by folder of hwconfigs (gpu/runtime.yaml is the runtime the
#: GPUs share).
SYSTEMS = ("gpu", "cpu")

COLUMNS = ("system", "offline_samples_per_s", "server_samples_per_s", "singlestream_p90_ms", "singlestream_mean_ms",
           "offline_J_per_sample", "server_J_per_sample", "singlestream_J_per_sample", "offline_max_batch")


def shipped_systems() -> list[Path]:
    """The hardware files of every shipped system, by folder and name (installed or in the source checkout)."""
    root = shipped_folder("hwconfigs")
    return [path for folder in SYSTEMS for path in sorted((root / folder).glob("*.yaml")) if path.name != "runtime.yaml"]


def row(system: str, results: dict[str, MlperfResult]) -> dict[str, object]:
    """One system's figures from its three scenarios (missing ones, such as a server run no load satisfies, empty)."""
    off, srv, one = results.get("offline"), results.get("server"), results.get("singlestream")

    def ms(value: float | None) -> float | None:
        return None if value is None else value * 1e3

    return {"system": system,
            "offline_samples_per_s": off.samples_per_s if off else None,
            "server_samples_per_s": srv.samples_per_s if srv else None,
            "singlestream_p90_ms": ms(one.latency_p90_s) if one else None,
            "singlestream_mean_ms": ms(one.latency_mean_s) if one else None,
            "offline_J_per_sample": off.energy_per_sample_J if off else None,
            "server_J_per_sample": srv.energy_per_sample_J if srv else None,
            "singlestream_J_per_sample": one.energy_per_sample_J if one else None,
            "offline_max_batch": off.breakdown.get("max_batch") if off else None}


def _cell(value: object, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)


def text_table(rows: Sequence[dict[str, object]]) -> str:
    head = ("system", "offline/s", "server/s", "SS p90 ms", "SS mean ms", "J/sample off", "J/sample srv", "J/sample SS")
    keys = COLUMNS[:8]
    cells = [head] + [tuple(_cell(r[k]) for k in keys) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    return "\n".join("  ".join(c[i].rjust(widths[i]) if i else c[i].ljust(widths[i]) for i in range(len(head)))
                     for c in cells)


def write_csv(rows: Sequence[dict[str, object]], path: Path) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows([{k: ("" if r[k] is None else r[k]) for k in COLUMNS} for r in rows])
    atomic_write_text(path, buffer.getvalue())


def plot(rows: Sequence[dict[str, object]], fmt: str = "png") -> bytes:
    """Samples/s per system on a log axis, one group of bars per scenario."""
    groups = (("Offline", "offline_samples_per_s", 1.0), ("Server", "server_samples_per_s", 1.0),
              ("SingleStream (1 / mean latency)", "singlestream_mean_ms", -1.0))
    import matplotlib

    fig, ax = subplots(figsize=(10, 5.6))
    width = 0.8 / max(1, len(rows))
    colours = matplotlib.colormaps["tab20"].colors
    for i, r in enumerate(rows):
        values = []
        for _, key, power in groups:
            value = r[key]
            values.append(np.nan if value is None else (value if power > 0 else 1e3 / value))  # type: ignore[operator]
        ax.bar(np.arange(len(groups)) + (i - (len(rows) - 1) / 2) * width, values, width, label=str(r["system"]),
               color=colours[(2 * i) % 20 if i < 10 else (2 * i + 1) % 20])
    plain_log_axis(ax)
    ax.set_xticks(np.arange(len(groups)), [g[0] for g in groups])
    ax.set_ylabel("throughput, log scale (samples/s)")
    ax.set_xlabel("MLPerf scenario")
    ax.set_title("MLPerf RNN-T, predicted by accelsim (A100 SXM 80GB calibrates the GPU runtime)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, ncol=6, loc="upper center", bbox_to_anchor=(0.5, -0.08))
    fig.tight_layout()
    return figure_bytes(fig, fmt, dpi=130)


def write_outputs(rows: Sequence[dict[str, object]], out: Path) -> list[Path]:
    """``out``/mlperf.csv and ``out``/mlperf.png."""
    out.mkdir(parents=True, exist_ok=True)
    table, figure = out / "mlperf.csv", out / "mlperf.png"
    write_csv(rows, table)
    atomic_write_bytes(figure, plot(rows))
    return [table, figure]


def format_result(result: MlperfResult) -> str:
    """One scenario's figures and breakdown, as ``accelsim mlperf`` prints them."""
    b = result.breakdown
    head = f"{result.workload} on {result.hardware}, {result.scenario}"
    if result.scenario == "singlestream":
        lines = [f"{head}: p90 latency {result.latency_p90_s * 1e3:.3f} ms, mean {result.latency_mean_s * 1e3:.3f} ms",
                 f"  p50 {b['latency_p50_s'] * 1e3:.3f} ms, p99 {result.latency_p99_s * 1e3:.3f} ms, max "
                 f"{b['latency_max_s'] * 1e3:.3f} ms over {result.samples:,} samples, one at a time (harness "
                 f"{b['query_overhead_s'] * 1e3:.3g} ms per query; {b['simulated']} simulated, the rest fitted within "
                 f"{b['fit_miss']:.2%})"]
    elif result.scenario == "offline":
        lines = [f"{head}: {result.samples_per_s:,.0f} samples/s",
                 f"  largest batch {b['max_batch']} (best of {', '.join(map(str, b['samples_per_s_by_max_batch']))}), "
                 f"{result.samples:,} samples issued, {b['mean_slots']:,.0f} slots busy per round on average"]
    else:
        lines = [f"{head}: {result.samples_per_s:,.0f} samples/s with p99 latency {result.latency_p99_s * 1e3:.1f} ms "
                 f"(bound {b['bound_s'] * 1e3:.0f} ms)",
                 f"  {b['traffic_s']:g} s of Poisson traffic per rate; full-batch throughput "
                 f"{b['full_batch_samples_per_s']:,.0f} samples/s; {b['confidence']}"]
    shares = ", ".join(f"{name} {share:.1%}" for name, share in b["critical_path"].items())
    lines.append(f"  device busy {b['device_busy']:.1%}; critical path: {shares}")
    if result.energy_per_sample_J is not None:
        lines.append(f"  energy {result.energy_per_sample_J:.4g} J per sample (idle power plus TDP over idle in the "
                     "device's busy share)")
    return "\n".join(lines)
