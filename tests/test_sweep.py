"""Sweeps: grid expansion, caching and resume, failure capture, interruption, worker counts, Dask."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

import accelsim
from accelsim.errors import AccelsimError, SpecError
from accelsim.sweep import expand, load_recipe
from accelsim.sweep import runner as sweep_runner

REPO = Path(__file__).resolve().parents[1]
SMALL = ["workload.utterance.frames=16"]


def _recipe(tmp_path: Path, **fields) -> Path:
    data = {"name": "t", "workload": str(REPO / "workloads/rnnt_lm_fusion.yaml"),
            "hardware": str(REPO / "hwconfigs/rapid_7nm.yaml"), "set": SMALL,
            "axes": {"precision": ["fp16", "int4"], "workload.decoding.beam": [1, 4]}}
    data.update(fields)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_grid_and_zip_expansion(tmp_path):
    recipe = load_recipe(_recipe(tmp_path, zip=[{"hw.link.bandwidth": ["32 Gbps", "64 Gbps"],
                                                 "hw.link.latency": ["1 us", "0.5 us"]}]))
    points = expand(recipe.spec)
    assert len(points) == 2 * 2 * 2  # grid 2x2, crossed with one zipped group of 2
    assert [p.index for p in points] == list(range(8))
    assert {(p.axes["hw.link.bandwidth"], p.axes["hw.link.latency"]) for p in points} == {("32 Gbps", "1 us"), ("64 Gbps", "0.5 us")}
    assert len({json.dumps(p.axes, sort_keys=True) for p in points}) == 8
    changes = {c.path: c.value for c in points[-1].variation().changes}
    assert changes["workload.precision.default"] == "int4"


@pytest.mark.parametrize("fields, message", [
    ({"axes": {"link.bandwidth": ["32 Gbps"]}}, "expected 'precision' or a dotted path"),
    ({"zip": [{"hw.link.lanes": [1, 2], "hw.link.latency": ["1 us"]}]}, "same, non-zero number"),
    ({"plots": [{"kind": "line", "file": "a.png", "x": "hw.cores"}]}, "not an axis of this recipe"),
    ({"plots": [{"kind": "line", "file": "a.gif", "x": "precision"}]}, "ending in .png, .svg, .pdf"),
    ({"plots": [{"kind": "line", "file": "a.png", "x": "precision", "y": "speed"}]}, "not a result column"),
    ({"workload": "nope.yaml"}, "no such file"),
])
def test_bad_recipes_are_refused(tmp_path, fields, message):
    with pytest.raises(SpecError, match=message):
        load_recipe(_recipe(tmp_path, **fields))


def test_results_table_and_outputs(tmp_path):
    out = tmp_path / "out"
    recipe = _recipe(tmp_path, plots=[{"kind": "line", "file": "l.png", "x": "workload.decoding.beam", "group": "precision"},
                                      {"kind": "bars", "file": "b.png", "x": "precision", "where": {"workload.decoding.beam": 4}},
                                      {"kind": "heatmap", "file": "h.png", "x": "precision", "y": "workload.decoding.beam"}])
    table = accelsim.run_sweep(recipe, out=out, workers=1)
    assert list(table["status"]) == ["ok"] * 4
    for column in ("precision", "workload.decoding.beam", "rtf", "rtf_p90", "model_size_MB", "component_encoder_rtf",
                   "resource_link_rtf", "occupancy_coprocessor", "status", "error", "key"):
        assert column in table.columns
    parts = table[[c for c in table.columns if c.startswith("component_")]].sum(axis=1)
    assert parts.to_numpy() == pytest.approx(table["rtf"].to_numpy(), rel=1e-9)
    on_disk = pd.read_csv(out / "results.csv")
    assert on_disk["rtf"].to_numpy() == pytest.approx(table["rtf"].to_numpy(), rel=1e-12)
    parquet = pd.read_parquet(out / "results.parquet")  # pyarrow is a dependency: Parquet is a documented output
    assert parquet["rtf"].to_numpy() == pytest.approx(table["rtf"].to_numpy(), rel=1e-12)
    for name in ("l.png", "b.png", "h.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    assert len(list((out / "points").glob("*.json"))) == 4


def test_resume_skips_finished_points(tmp_path, monkeypatch):
    recipe, out = _recipe(tmp_path), tmp_path / "out"
    first = accelsim.run_sweep(recipe, out=out, workers=1)
    calls = []
    real = sweep_runner.run_point
    monkeypatch.setattr(sweep_runner, "run_point", lambda *a: calls.append(a) or real(*a))
    again = accelsim.run_sweep(recipe, out=out, workers=1, resume=True)
    assert calls == []
    assert again["rtf"].tolist() == first["rtf"].tolist()
    accelsim.run_sweep(recipe, out=out, workers=1)  # without --resume every point runs again
    assert len(calls) == 4


def test_key_changes_with_any_resolved_field(tmp_path):
    a = accelsim.run_sweep(_recipe(tmp_path), out=tmp_path / "a", workers=1)
    b = accelsim.run_sweep(_recipe(tmp_path, set=[*SMALL, "hw.link.latency=2 us"]), out=tmp_path / "b", workers=1)
    assert set(a["key"]).isdisjoint(set(b["key"]))


def test_a_failing_point_is_recorded_and_the_rest_finish(tmp_path):
    recipe = _recipe(tmp_path, axes={"workload.decoding.beam": [2, 0, 4], "workload.decoding.trace": [None]})
    table = accelsim.run_sweep(recipe, out=tmp_path / "out", workers=1)
    assert list(table["status"]) == ["ok", "invalid", "ok"]
    assert "decoding.beam" in table.loc[1, "error"]
    recipe = _recipe(tmp_path, axes={"workload.decoding.trace": [None, str(tmp_path / "missing.jsonl")]})
    table = accelsim.run_sweep(recipe, out=tmp_path / "out2", workers=2)
    assert list(table["status"]) == ["ok", "failed"]
    assert "missing.jsonl" in table.loc[1, "error"]
    assert pd.read_csv(tmp_path / "out2" / "results.csv")["status"].tolist() == ["ok", "failed"]


def test_all_points_invalid_is_a_user_error(tmp_path):
    with pytest.raises(AccelsimError, match="no point of the recipe is valid"):
        accelsim.run_sweep(_recipe(tmp_path, axes={"workload.decoding.beam": [0]}), out=tmp_path / "o", workers=1)


def test_interrupted_sweep_keeps_what_finished(tmp_path):
    out = tmp_path / "out"

    def stop_after_two(done, failed, total):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        accelsim.run_sweep(_recipe(tmp_path), out=out, workers=1, progress=stop_after_two)
    table = pd.read_csv(out / "results.csv")
    assert table["status"].tolist() == ["ok", "ok", "not run", "not run"]
    resumed = accelsim.run_sweep(_recipe(tmp_path), out=out, workers=1, resume=True)
    assert resumed["status"].tolist() == ["ok"] * 4


def test_results_identical_across_worker_counts(tmp_path):
    from accelsim.api import clear_caches

    clear_caches()  # the workers must compute, not inherit the parent's memos
    two = accelsim.run_sweep(_recipe(tmp_path), out=tmp_path / "two", workers=2)
    clear_caches()
    one = accelsim.run_sweep(_recipe(tmp_path), out=tmp_path / "one", workers=1)
    pd.testing.assert_frame_equal(one, two)


def test_dask_local_cluster(tmp_path):
    pytest.importorskip("distributed")
    from accelsim.api import clear_caches

    clear_caches()
    dask = accelsim.run_sweep(_recipe(tmp_path), out=tmp_path / "dask", workers=2, dask="local")
    clear_caches()
    local = accelsim.run_sweep(_recipe(tmp_path), out=tmp_path / "local", workers=1)
    pd.testing.assert_frame_equal(local, dask)


def test_string_axis_values_stay_strings(tmp_path):
    recipe = _recipe(tmp_path, axes={"workload.name": ["2024", "on", "v2"]})
    table = accelsim.run_sweep(recipe, out=tmp_path / "o", workers=1)
    assert table["status"].tolist() == ["ok"] * 3


def test_a_code_change_changes_the_point_key(monkeypatch):
    from accelsim.sweep.runner import point_key

    before = point_key('{"a": 1}', '{"b": 2}')
    monkeypatch.setattr(sweep_runner, "source_fingerprint", lambda: "edited")
    assert point_key('{"a": 1}', '{"b": 2}') != before


def test_cli_sweep(run_cli, tmp_path):
    proc = run_cli("sweep", _recipe(tmp_path), "--out", tmp_path / "cli", "--workers", 2)
    assert proc.returncode == 0, proc.stderr
    assert "4 points, 4 ok" in proc.stdout
    proc = run_cli("sweep", tmp_path / "absent.yaml")
    assert proc.returncode == 2 and "no such file" in proc.stderr


def test_test_set_aggregates_utterances(tmp_path):
    lengths = [12, 20, 16]
    overrides = [f"workload.test_set={{lengths: {lengths}}}", "workload.decoding.beam=4"]
    agg = accelsim.simulate(REPO / "workloads/rnnt_lm_fusion.yaml", REPO / "hwconfigs/rapid_7nm.yaml", overrides=overrides)
    singles = [accelsim.simulate(REPO / "workloads/rnnt_lm_fusion.yaml", REPO / "hwconfigs/rapid_7nm.yaml",
                                 overrides=[f"workload.utterance.frames={n}", f"workload.decoding.emission.seed={i}",
                                            "workload.decoding.emission.noise_seed=0", "workload.decoding.beam=4"])
               for i, n in enumerate(lengths)]
    assert agg.rtf == pytest.approx(sum(s.time_s for s in singles) / sum(s.audio_s for s in singles), rel=1e-12)
    assert list(agg.utterance_rtfs) == pytest.approx([s.rtf for s in singles], rel=1e-12)
    assert sum(agg.breakdown_by_component.values()) == pytest.approx(agg.rtf, rel=1e-9)
    d = agg.to_dict()
    assert d["utterances"] == 3 and d["rtf_p50"] <= d["rtf_p90"] <= d["rtf_p99"]


def test_test_set_drawn_lengths_are_seeded():
    from accelsim.spec.workload import TestSetSpec
    from accelsim.workload.testset import utterance_lengths

    spec = TestSetSpec(count=50, mean_frames=300, std_frames=100, min_frames=40, seed=3)
    a, b = utterance_lengths(spec), utterance_lengths(spec)
    assert a == b and len(a) == 50 and min(a) >= 40
    assert utterance_lengths(spec.model_copy(update={"seed": 4})) != a
    with pytest.raises(ValueError, match="either lengths or count"):
        TestSetSpec(lengths=[10], count=2, mean_frames=10)


def test_test_set_in_processes_equals_serial():
    from accelsim.api import clear_caches

    overrides = ["workload.test_set={count: 8, mean_frames: 20, std_frames: 6, min_frames: 8}", "workload.decoding.beam=2"]
    clear_caches()
    parallel = accelsim.simulate(REPO / "workloads/rnnt_lm_fusion.yaml", REPO / "hwconfigs/rapid_7nm.yaml",
                                 overrides=overrides, workers=2)
    clear_caches()
    serial = accelsim.simulate(REPO / "workloads/rnnt_lm_fusion.yaml", REPO / "hwconfigs/rapid_7nm.yaml", overrides=overrides)
    assert parallel.to_dict() == serial.to_dict()
    assert parallel.utterance_rtfs == serial.utterance_rtfs


# ---------------------------------------------------------------- a recipe made in Python (a notebook)

AXES = {"precision": ["fp16", "int4"], "workload.decoding.beam": [1, 4]}


def test_run_sweep_takes_dicts_and_gives_the_file_recipe_s_table(tmp_path, monkeypatch):
    """run_sweep(workload=dict, hardware=path, axes=dict) is the recipe file's sweep: same points, same figures."""
    from_file = accelsim.run_sweep(_recipe(tmp_path), out=tmp_path / "file", workers=1)
    workload = yaml.safe_load((REPO / "workloads/rnnt_lm_fusion.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    table = accelsim.run_sweep(workload=workload, hardware=REPO / "hwconfigs/rapid_7nm.yaml", axes=AXES, set=SMALL,
                               name="nb", workers=1, plots=[{"kind": "bars", "file": "b.png", "x": "precision"}])
    assert table["status"].tolist() == ["ok"] * 4
    pd.testing.assert_frame_equal(table.drop(columns="key"), from_file.drop(columns="key"))
    assert (tmp_path / "out" / "nb" / "results.csv").is_file() and (tmp_path / "out" / "nb" / "b.png").is_file()


def test_run_sweep_from_dicts_caches_resumes_and_takes_specs(tmp_path, monkeypatch):
    hardware = accelsim.load_hardware(REPO / "hwconfigs/rapid_7nm.yaml")
    kwargs = dict(workload=str(REPO / "workloads/rnnt_lm_fusion.yaml"), hardware=hardware, axes=AXES, set=SMALL,
                  out=tmp_path / "o", workers=1)
    first = accelsim.run_sweep(**kwargs)
    calls = []
    real = sweep_runner.run_point
    monkeypatch.setattr(sweep_runner, "run_point", lambda *a: calls.append(a) or real(*a))
    again = accelsim.run_sweep(**kwargs, resume=True)
    assert calls == [] and again["rtf"].tolist() == first["rtf"].tolist()


def test_run_sweep_from_dicts_in_worker_processes_and_on_dask(tmp_path):
    pytest.importorskip("distributed")
    from accelsim.api import clear_caches

    workload = yaml.safe_load((REPO / "workloads/rnnt_lm_fusion.yaml").read_text())
    hardware = yaml.safe_load((REPO / "hwconfigs/rapid_7nm.yaml").read_text())
    tables = []
    for workers, dask in ((1, None), (2, None), (2, "local")):
        clear_caches()
        tables.append(accelsim.run_sweep(workload=workload, hardware=hardware, axes=AXES, set=SMALL,
                                         out=tmp_path / f"{workers}{dask}", workers=workers, dask=dask))
    pd.testing.assert_frame_equal(tables[0], tables[1])
    pd.testing.assert_frame_equal(tables[0], tables[2])


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"workload": {"name": "x"}, "hardware": REPO / "hwconfigs/rapid_7nm.yaml", "axes": AXES}, "workload \\(a dict\\)"),
    ({"workload": 3, "hardware": REPO / "hwconfigs/rapid_7nm.yaml", "axes": AXES}, "expected a path, a dict"),
    ({"workload": REPO / "workloads/rnnt_lm_fusion.yaml", "hardware": REPO / "hwconfigs/rapid_7nm.yaml",
      "axes": {"precision": ["int5"]}}, "run_sweep: axes: precision\\[0\\]: unknown precision preset 'int5'"),
    ({"axes": AXES}, "give a recipe file, or workload="),
])
def test_run_sweep_from_dicts_refuses_bad_parts(tmp_path, kwargs, message):
    with pytest.raises(AccelsimError, match=message):
        accelsim.run_sweep(out=tmp_path / "o", workers=1, **kwargs)


def test_run_sweep_takes_a_recipe_or_its_parts_not_both(tmp_path):
    with pytest.raises(AccelsimError, match="not both"):
        accelsim.run_sweep(_recipe(tmp_path), axes=AXES)
