"""Figures of the seed reports (`accelsim seed 002|003`): model size against precision, and RTF and streaming latency
against precision and chunk size, with the published figures written beside the simulated ones."""

from __future__ import annotations

import pandas as pd
from matplotlib.ticker import NullLocator

from accelsim.report.figures import figure_bytes, subplots


def plot_sizes(sizes: pd.DataFrame, published: dict[tuple[str, str], str], title: str, fmt: str = "png") -> bytes:
    """Bars of stored size (MB) per precision, one panel per workload; each bar says its compression vs FP32, and a
    published figure for that (workload, precision) is written above it."""
    workloads = list(dict.fromkeys(sizes["workload"]))
    fig, axes = subplots(1, len(workloads), figsize=(5.5 * len(workloads), 4.2), squeeze=False)
    for ax, name in zip(axes[0], workloads):
        rows = sizes[sizes["workload"] == name]
        bars = ax.bar(rows["precision"], rows["size_MB"], color="#4477aa")
        for bar, (_, row) in zip(bars, rows.iterrows()):
            label = f"{row['compression']:.1f}x"
            paper = published.get((name, row["precision"]))
            if paper:
                label += f"\n(paper {paper})"
            ax.annotate(label, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom", fontsize=8)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("precision preset")
        ax.set_ylabel("stored size (MB = 10$^6$ bytes)")
        ax.set_ylim(0, rows["size_MB"].max() * 1.25)
    fig.suptitle(title, fontsize=11)
    return figure_bytes(fig, fmt)


def plot_performance(perf: pd.DataFrame, title: str, fmt: str = "png") -> bytes:
    """Left: RTF per precision without streaming, one bar group per workload. Right: final latency (solid) and p50 chunk
    latency (dashed) against chunk size, one line per workload and precision; a chunk's latency counts the wait for its
    look-ahead audio, as `accelsim run` does (the legend says how much look-ahead each workload has)."""
    fig, (left, right) = subplots(1, 2, figsize=(12, 4.4))
    whole = perf[perf["chunk_frames"] == 0]
    workloads = list(dict.fromkeys(perf["workload"]))
    precisions = list(dict.fromkeys(whole["precision"]))
    width = 0.8 / max(len(workloads), 1)
    for i, name in enumerate(workloads):
        rows = whole[whole["workload"] == name].set_index("precision").reindex(precisions)
        left.bar([x + i * width for x in range(len(precisions))], rows["rtf"], width, label=name)
    left.set_xticks([x + width * (len(workloads) - 1) / 2 for x in range(len(precisions))], precisions)
    left.set_xlabel("precision preset")
    left.set_ylabel("real-time factor (processing time / audio)")
    left.set_title("RTF, whole utterance", fontsize=10)
    left.legend(fontsize=8)
    streamed = perf[perf["chunk_frames"] > 0]
    for (name, precision), rows in streamed.groupby(["workload", "precision"], sort=False):
        rows = rows.sort_values("chunk_s")
        ahead = rows["look_ahead_s"].iloc[0] * 1e3 if "look_ahead_s" in rows else 0.0
        key = f"{name} {precision}" + (f" ({ahead:g} ms look-ahead)" if ahead else "")
        line, = right.plot(rows["chunk_s"] * 1e3, rows["final_s"] * 1e3, marker="o", label=f"{key}: final")
        right.plot(rows["chunk_s"] * 1e3, rows["chunk_p50_s"] * 1e3, marker="x", linestyle="--", color=line.get_color(),
                   label=f"{key}: chunk p50")
    chunks_ms = sorted(set((streamed["chunk_s"] * 1e3).round(6)))
    right.set_xscale("log", base=2)
    right.set_xticks(chunks_ms, [f"{c:g}" for c in chunks_ms], rotation=45 if len(chunks_ms) > 5 else 0)
    right.xaxis.set_minor_locator(NullLocator())
    right.set_xlabel("chunk (ms of audio)")
    right.set_ylabel("latency (ms), end of the audio to its result")
    right.set_title("streaming latency (a chunk waits for its look-ahead audio)", fontsize=10)
    right.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)  # below: lines fill it
    fig.suptitle(title, fontsize=11)
    return figure_bytes(fig, fmt)
