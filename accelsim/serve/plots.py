"""Latency against load for a capacity search, with the objective's line and the capacity found."""

from __future__ import annotations

from accelsim.report.figures import figure_bytes, plain_log_axis, subplots
from accelsim.serve.capacity import Capacity


def plot_capacity(found: Capacity, fmt: str = "png") -> bytes:
    probes = sorted(found.probes, key=lambda p: p.load)
    loads = [p.load for p in probes]
    fig, ax = subplots(figsize=(7, 4.4))
    for attr, label, style in (("latency_p50_s", "p50 latency", "o--"), ("latency_p99_s", "p99 latency", "s-")):
        ax.plot(loads, [getattr(p.result, attr) * 1e3 for p in probes], style, label=f"{label} (seed {found.seeds[0]})")
        if len(found.seeds) > 1:
            worst = [max(getattr(r, attr) for r in p.results) * 1e3 for p in probes]
            ax.plot(loads, worst, style[0] + ":", alpha=0.6, label=f"{label}, worst of {len(found.seeds)} seeds")
    for o in found.objectives:
        if o.metric.endswith("latency"):
            ax.axhline(o.limit * 1e3, color="crimson", linestyle=":", label=f"SLO {o.text}")
    if found.capacity:
        what = "smallest fleet" if found.variable == "chips" else "capacity"
        ax.axvline(found.capacity, color="gray", linestyle="-.", label=f"{what} {found.capacity:g}")
    plain_log_axis(ax, "y")
    ax.set_xlabel({"streams": "load (always-active streams)", "rate": "load (utterances per second)",
                   "chips": "chips in the fleet"}[found.variable])
    ax.set_ylabel("latency, end of audio to result (ms)")
    ax.set_title("Latency against load (accelsim serving run per point)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return figure_bytes(fig, fmt, dpi=130)
