"""Figures drawn from a sweep's results table, as a recipe's `plots` entries ask."""

from __future__ import annotations

import io
from typing import Any, Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from accelsim.sweep.recipe import PlotSpec  # noqa: E402

COLORS = ["#4477aa", "#66ccee", "#228833", "#ccbb44", "#ee6677", "#aa3377", "#bbbbbb"]
METRIC_LABELS = {"rtf": "real-time factor (processing / audio)", "time_s": "processing time (s)",
                 "rtf_p50": "median per-utterance RTF", "rtf_p90": "p90 per-utterance RTF",
                 "rtf_p99": "p99 per-utterance RTF", "model_size_MB": "model size (MB)", "compression": "compression vs FP32"}


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _order(values: pd.Series) -> list:
    """Distinct values in first-seen order (the recipe's order)."""
    return list(dict.fromkeys(values.tolist()))


def _select(plot: PlotSpec, table: pd.DataFrame) -> pd.DataFrame:
    data = table[table["status"] == "ok"]
    for name, value in plot.where.items():
        data = data[data[name].astype(str) == str(value)]
    return data


PlotFn = Callable[[PlotSpec, pd.DataFrame, Any], None]
PLOT_KINDS: dict[str, PlotFn] = {}


def register_plot(kind: str):
    """A plot kind a recipe can name (its ``kind`` must also be listed in ``PlotSpec.kind``)."""

    def add(fn: PlotFn) -> PlotFn:
        PLOT_KINDS[kind] = fn
        return fn

    return add


def draw(plot: PlotSpec, table: pd.DataFrame) -> bytes:
    data = _select(plot, table)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    title = plot.title or f"{plot.kind}: {plot.y if plot.kind != 'bars' else 'RTF breakdown'} by {plot.x}"
    if data.empty:
        ax.text(0.5, 0.5, "no finished points to plot", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(title)
        return _png(fig)
    PLOT_KINDS[plot.kind](plot, data, ax)
    ax.set_title(title, fontsize=10)
    return _png(fig)


@register_plot("line")
def _line(plot: PlotSpec, data: pd.DataFrame, ax) -> None:
    """A metric against an axis, one line per value of `group`."""
    xs = _order(data[plot.x])
    groups = _order(data[plot.group]) if plot.group else [None]
    for i, g in enumerate(groups):
        part = data if g is None else data[data[plot.group] == g]
        ys = [part[part[plot.x] == x][plot.y].mean() if (part[plot.x] == x).any() else np.nan for x in xs]
        ax.plot(range(len(xs)), ys, marker="o", color=COLORS[i % len(COLORS)],
                label=f"{plot.group} = {g}" if g is not None else plot.y)
    ax.set_xticks(range(len(xs)), [str(x) for x in xs])
    ax.set_xlabel(plot.x)
    ax.set_ylabel(METRIC_LABELS.get(plot.y, plot.y))
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)


@register_plot("bars")
def _bars(plot: PlotSpec, data: pd.DataFrame, ax) -> None:
    """The RTF breakdown (by component or resource) of each point, stacked."""
    prefix = f"{plot.stack}_"
    parts = [c for c in data.columns if c.startswith(prefix) and data[c].fillna(0).abs().sum() > 0]
    labels = [" / ".join(str(row[a]) for a in ([plot.x] + ([plot.group] if plot.group else []))) for _, row in data.iterrows()]
    bottom = np.zeros(len(data))
    for i, col in enumerate(parts):
        values = data[col].fillna(0).to_numpy()
        ax.bar(range(len(data)), values, bottom=bottom, color=COLORS[i % len(COLORS)], label=col.removeprefix(prefix).removesuffix("_rtf"))
        bottom += values
    ax.set_xticks(range(len(data)), labels, rotation=30, ha="right", fontsize=8)
    ax.set_xlabel(plot.x + (f" / {plot.group}" if plot.group else ""))
    ax.set_ylabel(METRIC_LABELS["rtf"])
    ax.legend(fontsize=8, title=f"by {plot.stack}")
    ax.grid(axis="y", alpha=0.3)


@register_plot("heatmap")
def _heatmap(plot: PlotSpec, data: pd.DataFrame, ax) -> None:
    """A metric over two axes, one cell per pair of values."""
    xs, ys = _order(data[plot.x]), _order(data[plot.y])
    grid = np.full((len(ys), len(xs)), np.nan)
    for (yi, y), (xi, x) in ((a, b) for a in enumerate(ys) for b in enumerate(xs)):
        cell = data[(data[plot.x] == x) & (data[plot.y] == y)][plot.value]
        if not cell.empty:
            grid[yi, xi] = cell.mean()
    image = ax.imshow(grid, cmap="viridis_r", aspect="auto")
    for yi in range(len(ys)):
        for xi in range(len(xs)):
            if not np.isnan(grid[yi, xi]):
                ax.text(xi, yi, f"{grid[yi, xi]:.3g}", ha="center", va="center", fontsize=8, color="white")
    ax.set_xticks(range(len(xs)), [str(x) for x in xs])
    ax.set_yticks(range(len(ys)), [str(y) for y in ys])
    ax.set_xlabel(plot.x)
    ax.set_ylabel(plot.y)
    ax.figure.colorbar(image, ax=ax, label=METRIC_LABELS.get(plot.value, plot.value))
