"""Figures drawn from a sweep's results table, as a recipe's `plots` entries ask.

Fit for a paper: axes are labelled from the fields' own descriptions (not raw keys), a numeric axis whose
values grow by a constant factor is drawn on a log scale at its real positions, heatmap text contrasts with
each cell, and a figure is PNG, SVG or PDF by its file's extension.
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable

import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm
from matplotlib.ticker import EngFormatter, NullLocator

from accelsim.report.figures import figure_bytes, figure_format, plain_log_axis, subplots
from accelsim.spec.loader import PREFIXES
from accelsim.spec.schema import SI_SUFFIX, field_at, unit_at
from accelsim.sweep.recipe import PlotSpec

COLORS = ["#4477aa", "#66ccee", "#228833", "#ccbb44", "#ee6677", "#aa3377", "#bbbbbb"]
METRIC_LABELS = {"rtf": "real-time factor (processing time / audio)", "time_s": "processing time (s)",
                 "audio_s": "audio (s)", "rtf_p50": "median per-utterance RTF (processing time / audio)",
                 "rtf_p90": "p90 per-utterance RTF (processing time / audio)",
                 "rtf_p99": "p99 per-utterance RTF (processing time / audio)", "model_size_MB": "model size (MB = 10$^6$ bytes)",
                 "compression": "compression vs FP32 (x)", "link_GBps_usable": "usable link bandwidth per direction (GB/s)",
                 "fetched_weight_bytes": "weights fetched (bytes)", "ops": "ops simulated (count)",
                 "weight_fetches": "weight fetches (count)", "iterations": "decode iterations (count)",
                 "beam": "beam width (hypotheses)", "utterances": "utterances (count)",
                 # serving runs (accelsim/serve/result.py)
                 "throughput": "throughput (audio s served per s)", "offered_load": "offered load (audio s per s)",
                 "rate_per_s": "arrival rate asked (utterances per s)", "arrival_rate_per_s": "arrival rate (utterances per s)",
                 "mean_in_system": "mean utterances in the system (count)", "streams": "always-active streams (count)",
                 "max_batch": "largest batch (utterances)", "batch_mean_encoder": "mean encoder batch (utterances)",
                 "batch_mean_decode": "mean decode batch (streams)"}
#: How breakdown parts are named in legends (the same words as the paper figures).
PART_LABELS = {"encoder": "encoder", "prediction": "prediction net", "joint": "joint net", "lm_ext": "LM$_{EXT}$",
               "lm_src": "LM$_{SRC}$", "search": "beam search (launches, transfers, host)",
               "coprocessor": "coprocessor (compute)", "host": "host CPU", "link": "host link", "memory": "device memory",
               "link_h2d": "link host-to-device", "link_d2h": "link device-to-host"}


# ---------------------------------------------------------------- labels


def axis_label(name: str, short: bool = False) -> str:
    """``hw.link.bandwidth`` -> 'link: signalling rate of one lane (hw.link.bandwidth)': the field's description,
    its first clause, with the path a reader can look up (``short``: without the path)."""
    if name == "precision":
        return "precision preset" if short else "precision preset (weights/activations per network)"
    if name in METRIC_LABELS or name.endswith(("_rtf",)) or name.startswith("occupancy_"):
        return metric_label(name)
    prefix, _, path = name.partition(".")
    info = field_at(PREFIXES[prefix], path) if prefix in PREFIXES else None
    if info is None or not info.description:
        return name
    text = re.split(r";|:|, e\.g\.| \(", info.description, maxsplit=1)[0].strip().rstrip(".")
    section = path.split(".")[-2] if "." in path else ""
    text = f"{section}: {text[0].lower()}{text[1:]}" if section else text
    count = info.annotation is int  # a whole number of things: its unit is a count (a quantity's ticks carry its unit)
    if short:
        return text + (" (count)" if count else "")
    return f"{text} ({'count; ' if count else ''}{name})"


def metric_label(column: str) -> str:
    """What a result column is, with its unit."""
    if column in METRIC_LABELS:
        return METRIC_LABELS[column]
    match = re.fullmatch(r"(component|resource)_(\w+)_rtf", column)
    if match:
        part = PART_LABELS.get(match[2], match[2])
        return f"RTF share of {part}" if match[1] == "component" else f"RTF share on {part} (critical path)"
    match = re.fullmatch(r"energy_(\w+)_J_per_audio_h", column)
    if column.startswith("energy_J_per_"):
        return f"energy per {column.removeprefix('energy_J_per_').replace('_', ' ')} (J)"
    if match:
        return f"energy of {PART_LABELS.get(match[1], match[1])} per audio hour (J)"
    if column.startswith("occupancy_"):
        part = column.removeprefix("occupancy_")
        return f"{PART_LABELS.get(part, part)} busy (share of processing time)"
    if column.startswith("utilisation_"):
        part = column.removeprefix("utilisation_")
        return f"{PART_LABELS.get(part, part)} busy (share of the run)"
    for suffix, unit in (("_s", "s"), ("_bytes", "bytes"), ("_MB", "MB")):
        if column.endswith(suffix):
            return f"{column.removesuffix(suffix).replace('_', ' ')} ({unit})"
    return column


# ---------------------------------------------------------------- axes


def _order(values: pd.Series) -> list:
    """Distinct values in first-seen order (the recipe's order)."""
    return list(dict.fromkeys(values.tolist()))


def _si_column(name: str) -> str | None:
    prefix, _, path = name.partition(".")
    unit = unit_at(PREFIXES[prefix], path) if prefix in PREFIXES else None
    return f"{name}_{SI_SUFFIX[unit.si]}" if unit else None


def numeric_axis(data: pd.DataFrame, name: str) -> dict[Any, float] | None:
    """Each value of axis ``name`` as a number (a quantity's SI column, or the value itself), or None when the
    axis is not numeric."""
    si = _si_column(name)
    source = data[si] if si and si in data else data[name]
    out: dict[Any, float] = {}
    for value, number in zip(data[name], source):
        if isinstance(number, bool) or not isinstance(number, (int, float, np.integer, np.floating)) or \
                not math.isfinite(float(number)):
            return None
        out.setdefault(value, float(number))
    return out


def log_spaced(values: list[float]) -> bool:
    """At least three positive values spread over a factor of 8 or more, more evenly spaced in log than linearly."""
    points = sorted(set(values))
    if len(points) < 3 or points[0] <= 0 or points[-1] / points[0] < 8:
        return False
    linear, logs = np.diff(points), np.diff(np.log(points))

    def spread(steps):
        return float(np.std(steps) / np.mean(steps))

    return spread(logs) < spread(linear)


def _select(plot: PlotSpec, table: pd.DataFrame) -> pd.DataFrame:
    data = table[table["status"] == "ok"]
    for name, value in plot.where.items():
        data = data[data[name].astype(str) == str(value)]
    return data


# ---------------------------------------------------------------- kinds

PlotFn = Callable[[PlotSpec, pd.DataFrame, Any], None]
PLOT_KINDS: dict[str, PlotFn] = {}


def register_plot(kind: str):
    """A plot kind a recipe can name (its ``kind`` must also be listed in ``PlotSpec.kind``)."""

    def add(fn: PlotFn) -> PlotFn:
        PLOT_KINDS[kind] = fn
        return fn

    return add


def _default_title(plot: PlotSpec) -> str:
    what = {"bars": f"RTF by {plot.stack}", "line": metric_label(plot.y), "heatmap": metric_label(plot.value)}[plot.kind]
    return f"{what[0].upper()}{what[1:]}"


def draw(plot: PlotSpec, table: pd.DataFrame) -> bytes:
    """The figure, in the format of ``plot.file``'s extension."""
    fmt = figure_format(plot.file)
    data = _select(plot, table)
    fig, ax = subplots(figsize=(7.5, 4.2))
    title = plot.title or _default_title(plot)
    if data.empty:
        ax.text(0.5, 0.5, "no finished points to plot", ha="center", va="center", transform=ax.transAxes)
    else:
        PLOT_KINDS[plot.kind](plot, data, ax)
        if plot.xlabel:
            ax.set_xlabel(plot.xlabel)
        if plot.ylabel:
            ax.set_ylabel(plot.ylabel)
    ax.set_title(title, fontsize=11)
    return figure_bytes(fig, fmt)


@register_plot("line")
def _line(plot: PlotSpec, data: pd.DataFrame, ax) -> None:
    """A result column against an axis, one line per value of `group`."""
    xs = _order(data[plot.x])
    numbers = numeric_axis(data, plot.x)
    log = plot.logx if plot.logx is not None else bool(numbers) and log_spaced(list(numbers.values()))
    positions = [numbers[x] for x in xs] if numbers else list(range(len(xs)))
    groups = _order(data[plot.group]) if plot.group else [None]
    markers = "osD^v<>"
    for i, g in enumerate(groups):
        part = data if g is None else data[data[plot.group] == g]
        ys = [part[part[plot.x] == x][plot.y].mean() if (part[plot.x] == x).any() else np.nan for x in xs]
        order = np.argsort(positions)
        ax.plot(np.array(positions)[order], np.array(ys)[order], marker=markers[i % len(markers)],
                color=COLORS[i % len(COLORS)], label=str(g) if g is not None else None)
    if log:
        ax.set_xscale("log")
        ax.xaxis.set_minor_locator(NullLocator())
    if plot.logy:
        plain_log_axis(ax, "y")
    _bytes_axis(ax, plot.y)
    ax.set_xticks(positions, [str(x) for x in xs])
    ax.set_xlabel(axis_label(plot.x))
    ax.set_ylabel(metric_label(plot.y))
    if plot.group:
        ax.legend(fontsize=9, title=axis_label(plot.group), title_fontsize=9)
    ax.grid(alpha=0.3, which="both")


def _bytes_axis(ax, column: str) -> None:
    """Byte counts read in kB, MB, GB on the ticks (not 1e9 above the axis)."""
    if column.endswith("_bytes") and ax.get_yscale() != "log":
        ax.yaxis.set_major_formatter(EngFormatter(unit="B"))


@register_plot("bars")
def _bars(plot: PlotSpec, data: pd.DataFrame, ax) -> None:
    """The RTF breakdown (by component or resource) of each point, stacked."""
    prefix = f"{plot.stack}_"
    parts = [c for c in data.columns if c.startswith(prefix) and c.endswith("_rtf") and data[c].fillna(0).abs().sum() > 0]
    many = len(data) > 8
    labels = [("  " if many else "\n").join(str(row[a]) for a in ([plot.x] + ([plot.group] if plot.group else [])))
              for _, row in data.iterrows()]
    bottom = np.zeros(len(data))
    for i, col in enumerate(parts):
        values = data[col].fillna(0).to_numpy()
        name = col.removeprefix(prefix).removesuffix("_rtf")
        ax.bar(range(len(data)), values, bottom=bottom, color=COLORS[i % len(COLORS)], label=PART_LABELS.get(name, name),
               width=0.7)
        bottom += values
    if plot.logy:
        plain_log_axis(ax, "y")
    ax.set_xticks(range(len(data)), labels, rotation=30 if many else 0, ha="right" if many else "center")
    ax.set_xlabel(axis_label(plot.x) if not plot.group else
                  f"{axis_label(plot.x, short=True)}, {axis_label(plot.group, short=True)} ({plot.x}, {plot.group})")
    ax.set_ylabel(METRIC_LABELS["rtf"])
    ax.legend(fontsize=9, title=f"critical path by {plot.stack}", title_fontsize=9)
    ax.grid(axis="y", alpha=0.3)


def _text_color(rgba) -> str:
    """Black on a light cell, white on a dark one (relative luminance, sRGB weights)."""
    r, g, b = rgba[:3]
    return "black" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.45 else "white"


@register_plot("heatmap")
def _heatmap(plot: PlotSpec, data: pd.DataFrame, ax) -> None:
    """A result column over two axes, one cell per pair of values."""
    xs, ys = _order(data[plot.x]), _order(data[plot.y])
    grid = np.full((len(ys), len(xs)), np.nan)
    for (yi, y), (xi, x) in ((a, b) for a in enumerate(ys) for b in enumerate(xs)):
        cell = data[(data[plot.x] == x) & (data[plot.y] == y)][plot.value]
        if not cell.empty:
            grid[yi, xi] = cell.mean()
    finite = grid[np.isfinite(grid)]
    spread = finite.size and finite.min() > 0 and finite.max() / finite.min() > 10
    norm = LogNorm(finite.min(), finite.max()) if spread else None  # over a wide range, linear colours look alike
    image = ax.imshow(grid, cmap="viridis_r", aspect="auto", norm=norm)
    for yi in range(len(ys)):
        for xi in range(len(xs)):
            if not np.isnan(grid[yi, xi]):
                ax.text(xi, yi, f"{grid[yi, xi]:.3g}", ha="center", va="center", fontsize=9,
                        color=_text_color(image.cmap(image.norm(grid[yi, xi]))))
    ax.set_xticks(range(len(xs)), [str(x) for x in xs])
    ax.set_yticks(range(len(ys)), [str(y) for y in ys])
    ax.set_xlabel(axis_label(plot.x))
    ax.set_ylabel(axis_label(plot.y))
    bar = ax.figure.colorbar(image, ax=ax, label=metric_label(plot.value) + (", log scale" if spread else ""))
    if spread:
        plain_log_axis(bar.ax, "y")
