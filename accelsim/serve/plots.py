"""Latency against load for a capacity search, with the objective's line and the capacity found."""

from __future__ import annotations

from accelsim.report.figures import figure_bytes, plain_log_axis, subplots
from accelsim.serve.capacity import Capacity


def plot_capacity(found: Capacity, fmt: str = "png") -> bytes:
    trials = sorted(found.trials, key=lambda t: t.load)
    loads = [t.load for t in trials]
    fig, ax = subplots(figsize=(7, 4.4))
    for attr, label, style in (("latency_p50_s", "p50 latency", "o--"), ("latency_p99_s", "p99 latency", "s-")):
        ax.plot(loads, [getattr(t.result, attr) * 1e3 for t in trials], style, label=label)
    for o in found.objectives:
        if o.metric.endswith("latency"):
            ax.axhline(o.limit * 1e3, color="crimson", linestyle=":", label=f"SLO {o.text}")
    if found.capacity:
        ax.axvline(found.capacity, color="gray", linestyle="-.", label=f"capacity {found.capacity:g}")
    plain_log_axis(ax, "y")
    ax.set_xlabel("load (always-active streams)" if found.variable == "streams" else "load (utterances per second)")
    ax.set_ylabel("latency, end of audio to result (ms)")
    ax.set_title("Latency against load (accelsim serving run per point)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return figure_bytes(fig, fmt, dpi=130)
