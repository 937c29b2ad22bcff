"""Every figure accelsim writes, read as a reviewer reads it.

Each plotting entry point of the package is run on real (short) simulations or on the committed reports, and every
figure it saves is checked as it is saved: every axis that shows numbers is labelled with its unit; no tick label of a
log axis is in scientific notation (2x10^2, 2^7); no axis hides an offset or a power of ten; every legend entry
stands for an artist drawn in its panel. A last test makes sure the walk misses no function that writes a figure.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402
from matplotlib.container import Container  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import accelsim  # noqa: E402
from accelsim.spec.targets import Setting, load_targets  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "accelsim"

# ---------------------------------------------------------------- what a reviewer checks

_MATH = re.compile(r"\\mathdefault|[${}]")


def _numeric(labels: list[str]) -> bool:
    """Tick labels that are numbers (plain, or matplotlib's mathtext powers), not names or quantities ('8 Gbps')."""
    return all(re.fullmatch(r"[\d.,+\-−^×\s]+", _MATH.sub("", t)) for t in labels)


def _has_unit(label: str) -> bool:
    """A parenthesised unit: '(ms)', '(processing time / audio)', '(count)' -- not only a field's dotted path."""
    return any(not re.fullmatch(r"[\w\[\]]+(\.[\w\[\]]+)+", group.strip()) and group.strip()
               for group in re.findall(r"\(([^()]*)\)", label))


def _axis_problems(ax, where: str) -> list[str]:
    problems = []
    for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
        shown = [t.get_text() for t in axis.get_ticklabels(which="both") if t.get_visible() and t.get_text().strip()]
        if not shown:
            continue  # a shared or hidden axis
        label = axis.get_label_text().strip()
        if not label:
            problems.append(f"{where} {name} axis: no label")
        elif _numeric(shown) and not _has_unit(label):
            problems.append(f"{where} {name} axis: {label!r} gives no unit")
        if axis.get_scale() == "log":
            powers = [t for t in shown if re.search(r"\^|\\times|×|\de[+-]?\d", t)]
            if powers:
                problems.append(f"{where} {name} axis (log): tick labels in scientific notation {powers[:4]}")
        if axis.get_offset_text().get_visible() and axis.get_offset_text().get_text().strip():
            problems.append(f"{where} {name} axis: offset {axis.get_offset_text().get_text()!r} hides the values")
    return problems


def _drawn(artist) -> bool:
    """Whether an artist shows something: a line with points, a bar of some height, a non-empty collection."""
    if isinstance(artist, Container):
        return any(_drawn(a) for a in artist if a is not None)
    if not artist.get_visible():
        return False
    if hasattr(artist, "get_xydata"):
        data = np.asarray(artist.get_xydata(), dtype=float)
        return bool(len(data)) and bool(np.isfinite(data).all(axis=1).any())
    if hasattr(artist, "get_height") and hasattr(artist, "get_width"):
        return artist.get_height() != 0 and artist.get_width() != 0
    if hasattr(artist, "get_offsets"):
        return len(artist.get_offsets()) > 0 or len(artist.get_paths()) > 0
    return True


def _legend_problems(legend, axes, where: str) -> list[str]:
    problems = []
    for text in legend.texts:
        name = text.get_text()
        artists = [a for ax in axes for a in (*ax.lines, *ax.patches, *ax.collections, *ax.containers)
                   if a.get_label() == name]
        if not any(_drawn(a) for a in artists):
            problems.append(f"{where}: legend entry {name!r} stands for nothing drawn in its panel")
    return problems


def figure_problems(fig: Figure) -> list[str]:
    """What a reviewer would send back about ``fig``."""
    fig.canvas.draw()  # tick labels and legends are laid out at draw time
    problems = []
    title = fig._suptitle.get_text() if fig._suptitle else ""
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible() or not ax.axison:
            continue
        where = f"{title[:40]!r} panel {i} ({ax.get_title()[:40]!r})"
        problems += _axis_problems(ax, where)
        if ax.get_legend() is not None:
            problems += _legend_problems(ax.get_legend(), [ax], where)
    for legend in fig.legends:
        problems += _legend_problems(legend, fig.axes, f"{title[:40]!r} figure legend")
    return problems


@pytest.fixture()
def reviewed(monkeypatch):
    """Every figure saved while the test runs, with what a reviewer finds wrong in it."""
    seen: list[tuple[str, list[str]]] = []
    save = Figure.savefig

    def savefig(self, *args, **kwargs):
        title = self._suptitle.get_text() if self._suptitle else (self.axes[0].get_title() if self.axes else "")
        seen.append((title, figure_problems(self)))
        return save(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    return seen


@pytest.fixture()
def figures(monkeypatch):
    """Every figure saved while the test runs (drawn, so that their layout is final)."""
    kept: list[Figure] = []
    save = Figure.savefig

    def savefig(self, *args, **kwargs):
        self.canvas.draw()
        kept.append(self)
        return save(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    return kept


def _unstated_thin_segments(fig: Figure, share: float = 0.03) -> list[str]:
    """Stacked segments thinner than ``share`` of their axis whose value is not written in a table of their panel."""
    problems = []
    for i, ax in enumerate(fig.axes):
        top = ax.get_ylim()[1]
        cells = {cell.get_text().get_text() for table in ax.tables for cell in table.get_celld().values()}
        for bar in ax.patches:
            height = bar.get_height()
            shown = np.format_float_positional(height, precision=2, fractional=False, trim="-")
            if 0 < height < share * top and shown not in cells:
                problems.append(f"panel {i}: a segment of {shown} at x={bar.get_x() + bar.get_width() / 2:.2f}")
    return problems


def test_parts_too_thin_to_see_say_their_values(figures, paper_results):
    """Fig. 2(a)'s prediction and joint nets and energy.png's compute, SFU and scratchpad are a few pixels high: a
    table under each panel gives their values."""
    from accelsim.report.plots import plot_energy, plot_fig2a

    plot_fig2a(paper_results, load_targets(None))
    plot_energy(paper_results)
    for fig in figures:
        assert not _unstated_thin_segments(fig), fig._suptitle.get_text()
        assert any(ax.tables for ax in fig.axes)


def _assert_accepted(seen: list[tuple[str, list[str]]], expected: int) -> None:
    assert len(seen) == expected, [t for t, _ in seen]
    problems = [p for _, found in seen for p in found]
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- the figures

@pytest.fixture(scope="module")
def paper_results(tmp_path_factory):
    """The settings of Fig. 2 simulated on a 24-frame utterance (the shape of the figures, in seconds)."""
    spec = accelsim.load_workload(REPO / "workloads/rnnt_lm_fusion.yaml", ["workload.utterance.frames=24"])
    hw = accelsim.load_hardware(REPO / "hwconfigs/rapid_7nm.yaml")
    cache: dict[tuple, object] = {}

    def get(setting: Setting):
        if setting.key() not in cache:
            cache[setting.key()] = accelsim.simulate(spec, hw, overrides=setting.variation(), keep_records=False)
        return cache[setting.key()]

    return get


def test_paper_figures(reviewed, paper_results):
    from accelsim.report.plots import plot_energy, plot_fig2a, plot_fig2b

    targets = load_targets(None)
    plot_fig2a(paper_results, targets)
    plot_fig2b(paper_results, targets)
    plot_energy(paper_results)
    _assert_accepted(reviewed, 3)


@pytest.mark.parametrize("seed", ["002", "003"])
def test_seed_figures(reviewed, seed):
    from accelsim.calibrate.seeds import STUDIES
    from accelsim.report.seeds import plot_performance, plot_sizes

    folder = REPO / "reports" / f"seed{seed}"
    plot_sizes(pd.read_csv(folder / "sizes.csv"), {}, STUDIES[seed].title)
    plot_performance(pd.read_csv(folder / "performance.csv"), STUDIES[seed].title)
    _assert_accepted(reviewed, 2)


def test_capacity_figure(reviewed):
    """Latencies from 207 to 401 ms on a log axis (matplotlib labels such a span 2x10^2, 3x10^2, 4x10^2)."""
    from accelsim.serve.capacity import Capacity, Probe
    from accelsim.serve.plots import plot_capacity
    from accelsim.serve.result import parse_slo

    probes = [Probe(load, (0,), (SimpleNamespace(latency_p50_s=p50, latency_p99_s=p99),), (p99 <= 0.3,))
              for load, p50, p99 in ((4, 0.207, 0.231), (8, 0.224, 0.262), (16, 0.268, 0.401), (12, 0.241, 0.297))]
    plot_capacity(Capacity("streams", parse_slo("p99_latency<=300 ms"), 12, probes, above=16))
    _assert_accepted(reviewed, 1)


def _synthetic_table(recipe) -> pd.DataFrame:
    """A recipe's results table with every point resolved (axes and their SI columns as a sweep writes them) and
    seeded, plausible metrics: the shipped recipes' plots without running their simulations."""
    from accelsim.pipeline import resolve
    from accelsim.spec.loader import Variation
    from accelsim.sweep.recipe import RESULT_COLUMNS, expand
    from accelsim.sweep.run import _table

    rng = np.random.default_rng(0)
    points = expand(recipe.spec)
    base = Variation.from_flags(recipe.spec.set)
    resolved = {p.index: resolve(recipe.workload, recipe.hardware, base + p.variation()) for p in points}
    rows = {p.index: {"status": "ok", "error": "", "key": str(p.index),
                      **{c: float(np.exp(rng.uniform(np.log(0.01), np.log(2.0)))) for c in RESULT_COLUMNS}}
            for p in points}
    return _table(points, rows, resolved)


@pytest.mark.parametrize("name", ["paper", "link_whatif", "serving"])
def test_shipped_recipe_figures(reviewed, name):
    from accelsim.sweep import load_recipe
    from accelsim.sweep.plots import draw

    recipe = load_recipe(REPO / "reports" / f"{name}.yaml")
    table = _synthetic_table(recipe)
    for plot in recipe.spec.plots:
        draw(plot, table)
    _assert_accepted(reviewed, len(recipe.spec.plots))


@pytest.fixture(scope="module")
def small_sweep(tmp_path_factory) -> pd.DataFrame:
    tmp = tmp_path_factory.mktemp("figures")
    return accelsim.run_sweep(workload=str(REPO / "workloads/rnnt_lm_fusion.yaml"), hardware=str(REPO / "hwconfigs/rapid_7nm.yaml"),
                              set=["workload.utterance.frames=16"], out=tmp, workers=1,
                              axes={"precision": ["fp16", "int4"], "workload.decoding.beam": [1, 2, 4, 8],
                                    "hw.link.bandwidth": ["8 Gbps", "32 Gbps", "128 Gbps"]})


@pytest.mark.parametrize("plot", [
    {"kind": "line", "x": "workload.decoding.beam", "y": "rtf", "group": "precision", "logy": True},
    {"kind": "line", "x": "hw.link.bandwidth", "y": "fetched_weight_bytes", "group": "workload.decoding.beam"},
    {"kind": "line", "x": "workload.decoding.beam", "y": "iterations", "where": {"precision": "int4"}},
    {"kind": "line", "x": "hw.link.bandwidth", "y": "occupancy_coprocessor", "logy": True},
    {"kind": "bars", "x": "precision", "group": "hw.link.bandwidth", "where": {"workload.decoding.beam": 4}},
    {"kind": "bars", "x": "hw.link.bandwidth", "stack": "resource", "logy": True, "where": {"precision": "int4"}},
    {"kind": "heatmap", "x": "hw.link.bandwidth", "y": "precision", "value": "rtf"},
    {"kind": "heatmap", "x": "workload.decoding.beam", "y": "hw.link.bandwidth", "value": "ops"},
])
def test_sweep_figures_of_every_kind(reviewed, small_sweep, plot):
    from accelsim.sweep.plots import draw
    from accelsim.sweep.recipe import PlotSpec

    draw(PlotSpec(file="f.png", **plot), small_sweep)
    _assert_accepted(reviewed, 1)


def test_explain_figure(reviewed, tmp_path):
    from accelsim.report.explain import plot_sensitivity

    report = accelsim.explain(REPO / "workloads/rnnt_lm_fusion.yaml", REPO / "hwconfigs/rapid_7nm.yaml",
                              overrides=["workload.utterance.frames=16"], beam=2)
    plot_sensitivity(report, tmp_path / "explain.png")
    _assert_accepted(reviewed, 1)


def test_mlperf_figure(reviewed):
    """Every shipped system's predictions (the committed CSV) by scenario, on a log axis of samples per second."""
    import csv

    from accelsim.mlperf.table import plot

    with open(REPO / "reports" / "mlperf" / "mlperf.csv", encoding="utf-8") as handle:
        rows = [{k: (v if k == "system" else float(v) if v else None) for k, v in r.items()} for r in csv.DictReader(handle)]
    plot(rows)
    _assert_accepted(reviewed, 1)


#: Every function of the package that writes a figure, and the test above that walks it.
WALKED = {"report/plots.py": {"plot_fig2a", "plot_fig2b", "plot_energy"}, "report/seeds.py": {"plot_sizes", "plot_performance"},
          "serve/plots.py": {"plot_capacity"}, "sweep/plots.py": {"draw"}, "report/explain.py": {"sensitivity_png"},
          "mlperf/table.py": {"plot"}}


def test_the_walk_misses_no_figure():
    """Every function that hands a figure to figure_bytes is walked above (a new figure must be added here)."""
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name != "figure_bytes" and any(
                    isinstance(c, ast.Call) and getattr(c.func, "id", getattr(c.func, "attr", "")) == "figure_bytes"
                    for c in ast.walk(node)):
                found.setdefault(path.relative_to(PACKAGE).as_posix(), set()).add(node.name)
    assert found == WALKED


def test_every_plot_kind_is_walked():
    from accelsim.sweep.plots import PLOT_KINDS

    walked = {p.args[0]["kind"] if hasattr(p, "args") else p["kind"]
              for p in test_sweep_figures_of_every_kind.pytestmark[0].args[1]}
    assert walked == set(PLOT_KINDS)


# ---------------------------------------------------------------- the checks can fail

def test_the_reviewer_flags_what_it_should():
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2)
    a.plot([1, 2, 3], [207, 300, 401], label="p99")
    a.set_yscale("log")
    a.set_xlabel("streams")
    a.set_ylabel("latency (ms)")
    b.bar([0], [0], label="nothing")
    b.plot([1, 2], [1e9, 2e9], label="drawn")
    b.legend()
    a.legend(*b.get_legend_handles_labels())
    b.set_xlabel("throughput")
    problems = "\n".join(figure_problems(fig))
    plt.close(fig)
    assert "'streams' gives no unit" in problems
    assert "scientific notation" in problems
    assert "legend entry 'nothing'" in problems and "legend entry 'drawn'" in problems  # b's bar; a's borrowed line
    assert "offset '1e9'" in problems
