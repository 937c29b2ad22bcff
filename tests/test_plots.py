"""Plots fit for a paper: labels from the fields' descriptions, log axes where the values are log-spaced,
heatmap text that contrasts with each cell, PNG / SVG / PDF by extension, recipe keys for labels and scales."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import matplotlib.pyplot as plt
import pandas as pd
import pytest

import accelsim
from accelsim.errors import SpecError
from accelsim.graph.ir import COMPONENTS
from accelsim.report.plots import plot_fig2a, plot_fig2b
from accelsim.spec.targets import load_targets
from accelsim.sweep import load_recipe
from accelsim.sweep.plots import PLOT_KINDS, axis_label, draw, log_spaced, metric_label
from accelsim.sweep.recipe import RESULT_COLUMNS, PlotSpec, is_result_column

REPO = Path(__file__).resolve().parents[1]
MAGIC = {"png": b"\x89PNG", "svg": b"<?xml", "pdf": b"%PDF"}


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> pd.DataFrame:
    import yaml

    tmp = tmp_path_factory.mktemp("plots")
    recipe = tmp / "r.yaml"
    recipe.write_text(yaml.safe_dump({
        "name": "p", "workload": str(REPO / "workloads/rnnt_lm_fusion.yaml"), "hardware": str(REPO / "hwconfigs/rapid_7nm.yaml"),
        "set": ["workload.utterance.frames=16", "workload.decoding.beam=2"],
        "axes": {"precision": ["fp16", "int4"], "hw.link.bandwidth": ["8 Gbps", "32 Gbps", "128 Gbps"]}}))
    return accelsim.run_sweep(recipe, out=tmp / "out", workers=1)


def test_labels_come_from_descriptions_not_keys():
    assert axis_label("hw.link.bandwidth") == "link: signalling rate of one lane (hw.link.bandwidth)"
    assert axis_label("workload.decoding.beam").startswith("decoding: beam width")
    assert metric_label("rtf") == "real-time factor (processing time / audio)"
    assert metric_label("component_lm_ext_rtf") == "RTF share of LM$_{EXT}$"
    assert metric_label("occupancy_coprocessor").startswith("coprocessor (compute) busy")
    assert metric_label("time_s") == "processing time (s)"


def test_log_spacing_is_detected():
    assert log_spaced([8e9, 16e9, 32e9, 64e9, 128e9, 256e9])
    assert log_spaced([1, 2, 4, 8, 16])
    assert not log_spaced([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    assert not log_spaced([1, 2, 4])  # a factor of 4 only: linear reads fine


def _line_axes(plot: PlotSpec, table: pd.DataFrame):
    fig, ax = plt.subplots()
    PLOT_KINDS["line"](plot, table[table["status"] == "ok"], ax)
    return fig, ax


def test_a_log_spaced_quantity_axis_is_drawn_on_a_log_scale(table):
    fig, ax = _line_axes(PlotSpec(kind="line", file="l.png", x="hw.link.bandwidth", group="precision"), table)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "linear"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["8 Gbps", "32 Gbps", "128 Gbps"]
    assert ax.get_xlabel() == axis_label("hw.link.bandwidth")
    plt.close(fig)
    fig, ax = _line_axes(PlotSpec(kind="line", file="l.png", x="hw.link.bandwidth", logx=False, logy=True,
                                  y="occupancy_link_h2d"), table)
    assert ax.get_xscale() == "linear" and ax.get_yscale() == "log"
    assert ax.get_ylabel() == metric_label("occupancy_link_h2d")
    plt.close(fig)


def test_heatmap_text_contrasts_with_each_cell(table):
    fig, ax = plt.subplots()
    PLOT_KINDS["heatmap"](PlotSpec(kind="heatmap", file="h.png", x="hw.link.bandwidth", y="precision"), table, ax)
    colors = {t.get_color() for t in ax.texts}
    assert colors == {"black", "white"}  # dark cells (slow: FP16 at 8 Gbps) get white text, light cells black
    plt.close(fig)


def test_heatmap_colours_are_logarithmic_over_a_wide_range(table):
    """Over a range of more than 10x linear colours make most cells look alike: the scale is logarithmic, and every
    cell says its value."""
    from matplotlib.colors import LogNorm

    ok = table[table["status"] == "ok"]
    assert ok["rtf"].max() / ok["rtf"].min() > 10
    fig, ax = plt.subplots()
    PLOT_KINDS["heatmap"](PlotSpec(kind="heatmap", file="h.png", x="hw.link.bandwidth", y="precision"), ok, ax)
    assert isinstance(ax.images[0].norm, LogNorm)
    assert sorted(t.get_text() for t in ax.texts) == sorted(f"{v:.3g}" for v in ok["rtf"])
    plt.close(fig)
    narrow = ok[ok["hw.link.bandwidth"] == "128 Gbps"]
    assert narrow["rtf"].max() / narrow["rtf"].min() < 10
    fig, ax = plt.subplots()
    PLOT_KINDS["heatmap"](PlotSpec(kind="heatmap", file="h.png", x="hw.link.bandwidth", y="precision"), narrow, ax)
    assert not isinstance(ax.images[0].norm, LogNorm)
    plt.close(fig)


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
@pytest.mark.parametrize("kind", ["line", "bars", "heatmap"])
def test_every_kind_in_every_format_and_reproducibly(table, kind, fmt):
    extra = {"y": "precision"} if kind == "heatmap" else {}
    plot = PlotSpec(kind=kind, file=f"f.{fmt}", x="hw.link.bandwidth", title="T", xlabel="my x", **extra)
    first = draw(plot, table)
    assert first.startswith(MAGIC[fmt])
    assert draw(plot, table) == first


def test_recipe_plot_keys(tmp_path):
    import yaml

    def recipe(plot):
        path = tmp_path / "r.yaml"
        path.write_text(yaml.safe_dump({"name": "p", "workload": str(REPO / "workloads/rnnt_lm_fusion.yaml"),
                                        "hardware": str(REPO / "hwconfigs/rapid_7nm.yaml"),
                                        "axes": {"precision": ["fp16"]}, "plots": [plot]}))
        return load_recipe(path)

    spec = recipe({"kind": "line", "file": "a.PDF", "x": "precision", "y": "component_lm_ext_rtf", "logy": True,
                   "ylabel": "LM share", "title": "t"}).spec.plots[0]
    assert spec.logy and spec.ylabel == "LM share"
    with pytest.raises(SpecError, match="not a result column"):
        recipe({"kind": "line", "file": "a.png", "x": "precision", "y": "component_lm_ext"})
    with pytest.raises(SpecError, match="ending in"):
        recipe({"kind": "line", "file": "sub/a.svg", "x": "precision"})


def test_every_result_column_can_be_plotted(workload_path, hw_path):
    row = accelsim.simulate(workload_path, hw_path, keep_records=False, beam=1,
                            overrides=["hw.memory.weights_home=device", "hw.memory.device_bandwidth=100 GB/s"]).row()
    numeric = {k for k, v in row.items()}
    assert {"level_device_bytes", "level_device_busy_s"} <= numeric  # named after the machine's memory levels
    assert all(is_result_column(k) for k in numeric), numeric - set(RESULT_COLUMNS)


def _fake_get(setting):
    share = {c: 0.01 * (i + 1) for i, c in enumerate(COMPONENTS)}
    return SimpleNamespace(breakdown_by_component=share, breakdown_by_resource={"host": 0.005, "coprocessor": 0.01, "link": 0.2},
                           rtf=sum(share.values()), occupancy={"host": 0.1}, time_s=0.2, audio_s=3.04, iterations=190)


def test_fig2_explains_bw64_and_shares_category_names():
    targets = load_targets(None)
    a = plot_fig2a(_fake_get, targets, "svg").decode()
    b = plot_fig2b(_fake_get, targets, "svg").decode()
    assert "BW64 is INT4 with the link doubled to 64 Gbps" in a and "default host link of 32 Gbps" in a
    assert "precision (weights/activations" in a  # an x label
    for name in ("encoder", "decoding: "):
        assert name in a and name in b
    assert "decoding: host (non-accelerable)" in b
