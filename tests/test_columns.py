"""Results tables that explain themselves: units in column names, quantity axes also in SI, 0 (not NaN) for a
resource a point never used, and baselines written before the renames still compared."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

import accelsim
from accelsim.report.regress import compare, metric_columns

REPO = Path(__file__).resolve().parents[1]


def _recipe(tmp_path: Path, axes: dict, zip_: list | None = None) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump({"name": "cols", "workload": str(REPO / "workloads/rnnt_lm_fusion.yaml"),
                                    "hardware": str(REPO / "hwconfigs/rapid_7nm.yaml"),
                                    "set": ["workload.utterance.frames=16", "workload.decoding.beam=2"],
                                    "axes": axes, "zip": zip_ or []}))
    return path


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cols")
    recipe = _recipe(tmp, {"hw.link.bandwidth": ["32 Gbps", "4 GB/s"], "hw.link.latency": ["1 us", "500 ns"]},
                     [{"hw.memory.weights_home": ["host", "device"], "hw.memory.device_bandwidth": ["100 GB/s", "100 GB/s"]}])
    return accelsim.run_sweep(recipe, out=tmp / "out", workers=1)


def test_quantity_axes_have_an_si_column_beside_them(table):
    columns = list(table.columns)
    for axis, si in (("hw.link.bandwidth", "hw.link.bandwidth_bytes_per_s"), ("hw.link.latency", "hw.link.latency_s"),
                     ("hw.memory.device_bandwidth", "hw.memory.device_bandwidth_bytes_per_s")):
        assert columns.index(si) == columns.index(axis) + 1
    assert set(table["hw.link.bandwidth_bytes_per_s"]) == {4e9}  # 32 Gbps is 4 GB/s: same rate, two spellings
    assert sorted(table["hw.link.latency_s"].unique()) == pytest.approx([5e-7, 1e-6], rel=1e-12)
    assert "hw.memory.weights_home_s" not in columns and "precision_s" not in columns


def test_metric_columns_carry_their_unit(table):
    columns = set(table.columns)
    assert {"rtf", "time_s", "audio_s", "model_size_MB", "link_GBps_usable", "fetched_weight_bytes",
            "component_encoder_rtf", "resource_link_rtf", "occupancy_coprocessor"} <= columns
    assert not {"link_GBps", "component_encoder", "resource_link"} & columns
    parts = table[[c for c in columns if c.startswith("resource_")]].sum(axis=1)
    assert parts.to_numpy() == pytest.approx(table["rtf"].to_numpy(), rel=1e-9)


def test_a_resource_a_point_never_used_is_zero_not_missing(table):
    assert {"resource_memory_rtf", "occupancy_memory"} <= set(table.columns)
    host = table[table["hw.memory.weights_home"] == "host"]
    assert not table[["resource_memory_rtf", "occupancy_memory"]].isna().any().any()
    assert (host["resource_memory_rtf"] == 0).all() and (host["occupancy_memory"] == 0).all()
    assert (table[table["hw.memory.weights_home"] == "device"]["resource_memory_rtf"] > 0).all()


def test_a_baseline_with_the_old_column_names_is_still_compared():
    baseline = pd.read_csv(REPO / "reports" / "baselines" / "paper.csv")
    assert "component_lm_ext_rtf" in metric_columns(baseline)
    legacy = baseline.rename(columns={c: c.removesuffix("_rtf") for c in baseline.columns if c.endswith("_rtf")})
    worse = baseline.copy()
    worse["component_lm_ext_rtf"] *= 1.5
    axes = ["precision", "workload.decoding.lm_fusion", "hw.link.bandwidth", "workload.decoding.beam"]
    result = compare(legacy, worse.assign(status="ok"), axes, 2.0)
    assert set(result.worse["metric"]) == {"component_lm_ext_rtf"}
