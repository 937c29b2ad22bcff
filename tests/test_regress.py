"""`accelsim regress`: unchanged results pass, a slower machine is caught, bad input is exit 2."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]


def _recipe(tmp_path: Path, extra: list[str] = (), name: str = "r") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "name": "reg", "workload": str(REPO / "workloads/rnnt_lm_fusion.yaml"),
        "hardware": str(REPO / "hwconfigs/rapid_7nm.yaml"),
        "set": ["workload.utterance.frames=16", *extra],
        "axes": {"precision": ["fp16", "int4"], "workload.decoding.beam": [1, 4]}}))
    return path


def test_update_then_check_passes(run_cli, tmp_path):
    recipe, baseline, summary = _recipe(tmp_path), tmp_path / "base.csv", tmp_path / "summary.md"
    proc = run_cli("regress", recipe, "--baseline", baseline, "--update", "--out", tmp_path / "o")
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(baseline)
    assert len(table) == 4 and {"precision", "workload.decoding.beam", "rtf", "component_lm_ext_rtf"} <= set(table.columns)
    proc = run_cli("regress", recipe, "--baseline", baseline, "--summary", summary, "--out", tmp_path / "o")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "passed" in proc.stdout
    assert "passed" in summary.read_text()


def test_a_slower_machine_is_caught(run_cli, tmp_path):
    baseline = tmp_path / "base.csv"
    assert run_cli("regress", _recipe(tmp_path), "--baseline", baseline, "--update", "--out", tmp_path / "a").returncode == 0
    slower = _recipe(tmp_path, ["hw.link.efficiency=0.5"], name="slow")
    summary = tmp_path / "summary.md"
    proc = run_cli("regress", slower, "--baseline", baseline, "--summary", summary, "--out", tmp_path / "b")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "worse" in proc.stdout and "FAILED" in proc.stdout and "rtf" in proc.stdout
    text = summary.read_text()
    assert "failed" in text and "| worse |" in text
    # a generous tolerance lets the same change through
    proc = run_cli("regress", slower, "--baseline", baseline, "--tolerance", "80%", "--out", tmp_path / "b")
    assert proc.returncode == 0, proc.stdout


def test_a_faster_machine_passes_and_says_better(run_cli, tmp_path):
    baseline = tmp_path / "base.csv"
    run_cli("regress", _recipe(tmp_path), "--baseline", baseline, "--update", "--out", tmp_path / "a")
    proc = run_cli("regress", _recipe(tmp_path, ["hw.link.bandwidth=64 Gbps"], name="fast"), "--baseline", baseline,
                   "--out", tmp_path / "b")
    assert proc.returncode == 0 and "better" in proc.stdout


def test_a_point_that_no_longer_runs_is_a_regression(run_cli, tmp_path):
    baseline = tmp_path / "base.csv"
    run_cli("regress", _recipe(tmp_path), "--baseline", baseline, "--update", "--out", tmp_path / "a")
    table = pd.read_csv(baseline)
    extra = table.iloc[[0]].copy()
    extra["workload.decoding.beam"] = 99
    pd.concat([table, extra]).to_csv(baseline, index=False)
    proc = run_cli("regress", _recipe(tmp_path), "--baseline", baseline, "--out", tmp_path / "a")
    assert proc.returncode == 1 and "MISSING" in proc.stdout


def test_bad_input_is_exit_2(run_cli, tmp_path):
    recipe = _recipe(tmp_path)
    proc = run_cli("regress", recipe, "--baseline", tmp_path / "none.csv")
    assert proc.returncode == 2 and "no such baseline" in proc.stderr
    proc = run_cli("regress", recipe, "--baseline", tmp_path / "none.csv", "--tolerance", "two")
    assert proc.returncode == 2 and "--tolerance" in proc.stderr
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("a,b\n1,2\n")
    proc = run_cli("regress", recipe, "--baseline", wrong, "--out", tmp_path / "o")
    assert proc.returncode == 2 and "axes" in proc.stderr


def test_committed_paper_baseline_matches(run_cli, tmp_path):
    """The check CI runs after the tests: the shipped config against reports/baselines/paper.csv."""
    proc = run_cli("regress", "reports/paper.yaml", "--baseline", "reports/baselines/paper.csv",
                   "--out", tmp_path / "paper", timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_axis_values_survive_the_csv_round_trip(run_cli, tmp_path):
    """null and float-looking axis values read back from the baseline still match their points."""
    recipe = tmp_path / "u.yaml"
    recipe.write_text(yaml.safe_dump({
        "name": "u", "workload": str(REPO / "workloads/rnnt_lm_fusion.yaml"),
        "hardware": str(REPO / "hwconfigs/rapid_7nm.yaml"), "set": ["workload.utterance.frames=12"],
        "axes": {"workload.decoding.u_max": [None, 30], "workload.decoding.beam": [2]}}))
    baseline = tmp_path / "b.csv"
    assert run_cli("regress", recipe, "--baseline", baseline, "--update", "--out", tmp_path / "o").returncode == 0
    proc = run_cli("regress", recipe, "--baseline", baseline, "--out", tmp_path / "o")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "MISSING" not in proc.stdout
