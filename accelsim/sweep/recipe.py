"""Report recipes: a base workload and machine, axes to vary, and the plots to draw.

    name: link_whatif
    workload: ../workloads/rnnt_lm_fusion.yaml     # relative to the recipe file
    hardware: ../hwconfigs/rapid_7nm.yaml
    set: ["workload.decoding.beam=16"]             # base overrides (optional)
    axes:                                          # the grid: every combination
      precision: [fp16, int8, int4]
      hw.link.bandwidth: ["16 Gbps", "32 Gbps", "64 Gbps"]
    zip:                                           # optional: each group's lists vary together
      - {hw.link.bandwidth: ["32 Gbps", "64 Gbps"], hw.link.latency: ["1 us", "0.5 us"]}
    plots:
      - {kind: line, file: rtf_vs_link.png, x: hw.link.bandwidth, y: rtf, group: precision}

An axis is ``precision`` (a preset or per-network flag, as for --precision) or any field of either
spec by its dotted ``hw.`` / ``workload.`` path.
"""

from __future__ import annotations

import re

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from accelsim.graph.ir import COMPONENTS
from accelsim.hw.energy import ENERGY_COMPONENTS
from accelsim.report.metrics import RESOURCE_CLASSES
from accelsim.serve.result import SERVE_COLUMNS
from accelsim.spec.base import Strict
from accelsim.spec.hardware import HardwareSpec
from accelsim.files import find_input
from accelsim.spec.loader import Change, Variation, flag_variation, read_yaml, validate
from accelsim.spec.precision import parse_precision_flag
from accelsim.spec.workload import WorkloadSpec

METRICS = ("rtf", "time_s", "rtf_p50", "rtf_p90", "rtf_p99", "model_size_MB", "compression")
#: Every numeric column of a results table a plot may show (``SimResult.row``; a test keeps them in step).
RESULT_COLUMNS = (*METRICS, "audio_s", "utterances", "beam", "iterations", "link_GBps_usable", "fetched_weight_bytes",
                  "ops", "weight_fetches", *(f"component_{c}_rtf" for c in COMPONENTS),
                  *(f"resource_{r}_rtf" for r in RESOURCE_CLASSES),
                  *(f"occupancy_{r}" for r in ("coprocessor", "host", "link_h2d", "link_d2h", "memory")),
                  # with a machine's energy model (hw.energy): see accelsim/hw/energy.py
                  "energy_J_per_utterance", "energy_J_per_audio_h", *(f"energy_{c}_J_per_audio_h" for c in ENERGY_COMPONENTS),
                  # points whose workload has a serving: section (accelsim/serve/result.py)
                  *SERVE_COLUMNS)
#: Result columns named after a machine's memory levels (``level_L3_bytes``, ``level_host_busy_s``).
LEVEL_COLUMN = re.compile(r"^level_[\w.+-]+_(bytes|busy_s)$")


def is_result_column(name: str) -> bool:
    return name in RESULT_COLUMNS or bool(LEVEL_COLUMN.match(name))


#: Figure files, by extension.
PLOT_SUFFIXES = (".png", ".svg", ".pdf")


def _check_axis(name: str, values: list[Any]) -> str:
    """A known kind of axis; a precision axis's values are presets (or per-network flags), checked here so that a bad
    one is an error of the recipe's key, not of a --precision flag the user never typed."""
    if name != "precision" and not name.startswith(("hw.", "workload.")):
        raise ValueError(f"axis {name!r}: expected 'precision' or a dotted path starting with 'hw.' or 'workload.'")
    if name == "precision":
        for i, value in enumerate(values):
            try:
                parse_precision_flag(str(value))
            except ValueError as exc:
                raise ValueError(f"precision[{i}]: {exc}") from None
    return name


class PlotSpec(Strict):
    """One figure drawn from the results table."""

    kind: Literal["bars", "line", "heatmap"] = Field(description="bars: stacked RTF breakdown per point; line: a metric "
                                                     "against an axis, one line per value of `group`; heatmap: a metric over two axes.")
    file: str = Field(description="Output file name inside the sweep's output folder; .png, .svg or .pdf (the format).")
    x: str = Field(description="Axis along the x direction.")
    y: str = Field("rtf", description="line: the result column drawn (rtf, time_s, rtf_p90, component_lm_ext_rtf, "
                                      "occupancy_coprocessor, ...); heatmap: the second axis.")
    value: str = Field("rtf", description="heatmap: the result column shown in the cells.")
    group: str | None = Field(None, description="line: one line per value of this axis; bars: one panel per value.")
    stack: Literal["component", "resource"] = Field("component", description="bars: what the bars are split by.")
    where: dict[str, Any] = Field(default_factory=dict, description="Keep only points with these axis values.")
    title: str | None = Field(None, description="Figure title (default: what is plotted against what).")
    xlabel: str | None = Field(None, description="x axis label (default: the axis field's description and path).")
    ylabel: str | None = Field(None, description="y axis label (default: what the metric or axis is, with its unit).")
    logx: bool | None = Field(None, description="line: log-scale x axis (default: when the axis values are numbers, or "
                                                "quantities such as '8 Gbps', spaced by a constant factor).")
    logy: bool = Field(False, description="line, bars: log-scale y axis.")

    @field_validator("file")
    @classmethod
    def _figure_file(cls, value: str) -> str:
        if "/" in value or "\\" in value or not value.lower().endswith(PLOT_SUFFIXES):
            raise ValueError(f"expected a file name ending in {', '.join(PLOT_SUFFIXES)}, got {value!r}")
        return value


class RecipeSpec(Strict):
    name: str = Field(description="The recipe's name: a plain folder name (letters, digits, '.', '_', '-', spaces...; no "
                                  "'/' or '\\', not '.' or '..'); the default output folder is out/<name> beside the recipe.")
    description: str = Field("", description="Free text.")
    workload: str = Field(description="Workload YAML, relative to the recipe file.")
    hardware: str = Field(description="Hardware YAML, relative to the recipe file.")
    set: list[str] = Field(default_factory=list, description="Overrides applied to every point (--set syntax).")
    axes: dict[str, list[Any]] = Field(default_factory=dict, description="Grid axes: every combination of their values.")
    zip: list[dict[str, list[Any]]] = Field(default_factory=list, description="Groups of axes whose values vary together.")
    plots: list[PlotSpec] = Field(default_factory=list, description="Figures drawn from the results table.")

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        # The name becomes a folder under <recipe folder>/out/ when --out is omitted: refuse (rather than
        # silently rewrite) anything that would leave it, so the user sees where outputs go.
        if (not value.strip() or value in (".", "..") or any(c in value for c in "/\\\0")
                or any(ord(c) < 32 for c in value) or len(value) > 200):
            raise ValueError(f"expected a plain folder name (no '/', '\\', control characters, not '.' or '..', at most "
                             f"200 characters): outputs go to out/<name> beside the recipe; got {value[:60]!r}")
        return value

    @field_validator("axes")
    @classmethod
    def _axes(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for name, values in value.items():
            _check_axis(name, values)
            if not values:
                raise ValueError(f"axis {name!r} has no values")
        return value

    @field_validator("zip")
    @classmethod
    def _zips(cls, value: list[dict[str, list[Any]]]) -> list[dict[str, list[Any]]]:
        for i, group in enumerate(value):
            lengths = {len(v) for v in group.values()}
            for name, values in group.items():
                try:
                    _check_axis(name, values)
                except ValueError as exc:
                    raise ValueError(f"zip.{i}: {exc}") from None
            if len(lengths) != 1 or 0 in lengths:
                raise ValueError(f"zip.{i}: every axis of a zipped group needs the same, non-zero number of values")
        return value

    @model_validator(mode="after")
    def _names_unique_and_plotted(self) -> "RecipeSpec":
        names = list(self.axes) + [n for g in self.zip for n in g]
        if len(names) != len(set(names)):
            raise ValueError("an axis appears twice (in axes and zip, or in two zip groups)")
        for i, plot in enumerate(self.plots):
            used = [plot.x, *( [plot.group] if plot.group else []), *plot.where]
            if plot.kind == "heatmap":
                used.append(plot.y)
            for name in used:
                if name not in names:
                    raise ValueError(f"plots.{i}: {name!r} is not an axis of this recipe; axes are {names}")
            if plot.kind == "line" and not is_result_column(plot.y):
                raise ValueError(f"plots.{i}: y={plot.y!r} is not a result column; expected one of {list(RESULT_COLUMNS)}")
            if plot.kind == "heatmap" and not is_result_column(plot.value):
                raise ValueError(f"plots.{i}: value={plot.value!r} is not a result column; expected one of "
                                 f"{list(RESULT_COLUMNS)}")
        return self

    @property
    def axis_names(self) -> list[str]:
        return list(self.axes) + [n for g in self.zip for n in g]


@dataclass(frozen=True)
class Recipe:
    """A recipe and where it stands: a file (its base files are relative to it, outputs go to ``out/<name>`` beside
    it), or one made in Python (:func:`recipe_from`), whose base specs it holds and whose outputs go to ``out/<name>``
    in the current folder."""

    spec: RecipeSpec
    path: Path
    base: tuple[WorkloadSpec, HardwareSpec] | None = None

    @property
    def workload(self) -> Path | WorkloadSpec:
        return self.base[0] if self.base else (self.path.parent / self.spec.workload).resolve()

    @property
    def hardware(self) -> Path | HardwareSpec:
        return self.base[1] if self.base else (self.path.parent / self.spec.hardware).resolve()


def load_recipe(path: str | Path) -> Recipe:
    from accelsim.errors import SpecError

    path = find_input(path, "reports")  # a path, or a shipped recipe's name (paper, link_whatif, serving)
    recipe = Recipe(validate(RecipeSpec, read_yaml(path), str(path)), path)
    for label, file in (("workload", recipe.workload), ("hardware", recipe.hardware)):
        if not file.is_file():
            raise SpecError(str(path), label, f"no such file {file}")
    return recipe


def _base_spec(model: type, value: Any, label: str, load) -> Any:
    """A base workload or machine given in Python: a spec, a path, or a mapping as its YAML file holds it."""
    from accelsim.errors import SpecError

    if isinstance(value, model):
        return value
    if isinstance(value, (str, Path)):
        return load(value)
    if isinstance(value, dict):
        return validate(model, value, f"{label} (a dict)")
    raise SpecError(label, None, f"expected a path, a dict or a {model.__name__}, got {type(value).__name__}")


def recipe_from(workload: Any, hardware: Any, **recipe: Any) -> Recipe:
    """A recipe made in Python: the base ``workload`` and ``hardware`` as paths, dicts (as their YAML files hold them)
    or specs, and the recipe's other keys as keyword arguments (``axes``, ``zip``, ``set``, ``plots``, ``name``,
    ``description``), validated as a recipe file's are."""
    from accelsim.spec.loader import load_hardware, load_workload

    base = (_base_spec(WorkloadSpec, workload, "workload", load_workload),
            _base_spec(HardwareSpec, hardware, "hardware", load_hardware))
    data = {"name": "sweep", **recipe, "workload": "(given in Python)", "hardware": "(given in Python)"}
    return Recipe(validate(RecipeSpec, data, "run_sweep"), Path.cwd() / "run_sweep", base)


@dataclass(frozen=True)
class Point:
    index: int
    axes: dict[str, Any]

    def variation(self) -> Variation:
        """This point's changes (after the recipe's base ``set:``): typed as the recipe's YAML gives them."""
        out = Variation()
        for name, value in self.axes.items():
            if name == "precision":
                out += flag_variation(precision=str(value))
            else:
                prefix, _, key = name.partition(".")
                out += Variation((Change(prefix, key, value, f"axis {name}={_short(value)}"),))
        return out


def _short(value: Any) -> str:
    text = repr(value).replace("\n", " ")
    return text if len(text) <= 60 else text[:57] + "..."


def expand(spec: RecipeSpec) -> list[Point]:
    """The grid (product of ``axes``) crossed with each zipped group, in a stable order."""
    factors: list[list[dict[str, Any]]] = [[{name: v} for v in values] for name, values in spec.axes.items()]
    for group in spec.zip:
        names = list(group)
        factors.append([dict(zip(names, vals)) for vals in zip(*(group[n] for n in names))])
    points = []
    for i, combo in enumerate(itertools.product(*factors)):
        axes: dict[str, Any] = {}
        for part in combo:
            axes.update(part)
        points.append(Point(i, axes))
    return points
