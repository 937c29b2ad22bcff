"""Per-layer reports: ops carry their network and layer (not names to parse), and the per-layer table of a run
adds up to the run's totals; the result's DataFrame views and trace writing from the top-level API."""

from __future__ import annotations

import json

import pytest

import accelsim
from accelsim.graph.ir import PLACE_FIELDS, WORK_FIELDS
from accelsim.hw.coprocessor import select_format


@pytest.fixture(scope="module", params=[("int4", True), ("fp16", False), ("int8", True)], ids=lambda p: f"{p[0]}-lm{p[1]}")
def result(request, workload_path, hw_path):
    precision, lm = request.param
    return accelsim.simulate(workload_path, hw_path, precision=precision, lm_fusion=lm, beam=4)


def test_network_and_layer_are_placement_not_cost():
    assert {"network", "layer", "step"} <= PLACE_FIELDS
    assert "network" not in WORK_FIELDS and "layer" not in WORK_FIELDS


def test_every_record_names_its_network_and_layer(result):
    assert all(r.network and r.layer for r in result.records)
    layers = {(r.network, r.layer) for r in result.records}
    assert ("encoder", "blstm3") in layers and ("search", "topk") in layers and ("joint", "log_softmax") in layers
    steps = {r.step for r in result.records if r.network == "encoder" and r.layer == "blstm2" and r.kind == "matmul"}
    assert steps == set(range(152))  # one fused cell per step t = 0..T-1 (152 frames; runtime.lstm_input_projection)


def test_per_layer_sums_equal_the_totals(result):
    table = result.layers()
    assert table["ops"].sum() == result.ops
    assert table["macs"].sum() == sum(r.macs for r in result.records)
    assert table["weight_bytes"].sum() == pytest.approx(result.fetched_weight_bytes, rel=1e-12)
    assert table["critical_s"].sum() == pytest.approx(result.time_s, rel=1e-12)
    assert table["critical_rtf"].sum() == pytest.approx(result.rtf, rel=1e-12)
    by_component = table.groupby("component")["critical_rtf"].sum()
    for component, value in result.breakdown_by_component.items():
        assert by_component.get(component, 0.0) == pytest.approx(value, rel=1e-9, abs=1e-15)


def test_per_layer_bits_and_formats(result, hw_spec):
    table = result.layers().set_index(["network", "layer"])
    for (network, layer), row in table.iterrows():
        if row["mac_format"]:
            assert row["mac_format"] == select_format(hw_spec.coprocessor, int(row["weight_bits"]), int(row["act_bits"]))
    assert set(table["bound_by"]) <= {"", "coprocessor", "host", "link", "memory"}
    if result.presets["encoder"] == "int4":
        assert table.loc[("encoder", "blstm1"), "mac_format"] == "int8"  # Fig. 1: first layer at 8 bits
        assert table.loc[("encoder", "blstm2"), "mac_format"] == "int4"
    if result.presets["encoder"] == "fp16":
        assert table.loc[("encoder", "blstm2"), "weight_bits"] == 16
        assert table.loc[("encoder", "blstm2"), "mac_format"] == "fp16"


def test_ops_frame_and_to_frame(result):
    ops = result.ops_frame()
    assert len(ops) == len(result.records)
    assert {"network", "layer", "step", "kind", "resource_class", "start", "end", "critical_s"} <= set(ops.columns)
    assert ops["critical_s"].sum() == pytest.approx(result.time_s, rel=1e-12)
    head = result.to_frame()
    assert len(head) == 1 and head.loc[0, "rtf"] == result.rtf and head.loc[0, "ops"] == result.ops


def test_views_need_records(workload_path, hw_path):
    bare = accelsim.simulate(workload_path, hw_path, keep_records=False, beam=2)
    with pytest.raises(accelsim.AccelsimError, match="records"):
        bare.layers()
    with pytest.raises(accelsim.AccelsimError, match="records"):
        accelsim.write_trace(bare, "never.json")
    assert len(bare.to_frame()) == 1


def test_write_trace_from_the_api(result, tmp_path):
    path = accelsim.write_trace(result, tmp_path / "t.json")
    assert json.loads(path.read_text())["metadata"]["rtf"] == result.rtf
def test_run_by_layer_text_and_json(run_cli):
    proc = run_cli("run", "--by", "layer", "--beam", "2")
    assert proc.returncode == 0, proc.stderr
    assert "bound by" in proc.stdout and "blstm6" in proc.stdout and "\n  total " in proc.stdout
    proc = run_cli("run", "--by", "layer", "--beam", "2", "--json")
    data = json.loads(proc.stdout)
    assert sum(row["critical_rtf"] for row in data["layers"]) == pytest.approx(data["rtf"], rel=1e-12)
    assert sum(row["ops"] for row in data["layers"]) == data["ops"]


def test_run_prints_the_trace_path(run_cli, tmp_path):
    out = tmp_path / "t.json"
    proc = run_cli("run", "--beam", "1", "--trace", out)
    assert proc.returncode == 0 and proc.stdout.rstrip().endswith(f"wrote {out}") and out.is_file()
