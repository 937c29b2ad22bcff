"""Run-time hardening: finite results and strict JSON, explicit MAC formats, exit codes of sweeps and regress,
resume after a crash (corrupt cache files, same results.csv bytes), recipe names that stay in their folder,
and output under an ASCII-only terminal.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import accelsim
from accelsim import cli
from accelsim.errors import AccelsimError, SpecError
from accelsim.pipeline import prepare, resolve
from accelsim.report.metrics import measure
from accelsim.sim.execute import Execution
from accelsim.sim.totals import Totals
from accelsim.report.result import SimResult
from accelsim.sweep import load_recipe, run_sweep
from accelsim.sweep.runner import Cache

REPO = Path(__file__).resolve().parents[1]
WORKLOAD = REPO / "workloads" / "rnnt_lm_fusion.yaml"
HW = REPO / "hwconfigs" / "rapid_7nm.yaml"
SMALL = ["workload.utterance.frames=16", "workload.decoding.beam=4"]


def _strict(text: str):
    """JSON as RFC 8259 has it: Infinity and NaN are refused."""
    def refuse(name):
        raise AssertionError(f"non-standard JSON constant {name}")
    return json.loads(text, parse_constant=refuse)


def _recipe(tmp_path: Path, name: str = "t", **fields) -> Path:
    data = {"name": name, "workload": str(WORKLOAD), "hardware": str(HW), "set": SMALL,
            "axes": {"precision": ["fp16", "int4"], "hw.link.bandwidth": ["32 Gbps", "64 Gbps"]}}
    data.update(fields)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


# ---------------------------------------------------------------- 1. finite results, strict JSON


def test_non_finite_result_is_a_clear_error(workload_spec, hw_spec):
    point = resolve(workload_spec, hw_spec, SMALL)
    prepared = prepare(point.workload)
    for bad in (math.inf, math.nan):
        totals = Totals(time_s=bad, component_pairs=(("encoder", bad),), resource_pairs=(("coprocessor", bad),),
                        busy_pairs=(("host", 0.0), ("h2d", 0.0), ("d2h", 0.0)))
        with pytest.raises(AccelsimError, match="not a finite number") as info:
            measure(point.workload, point.hardware, prepared.model, prepared.trace, Execution(totals))
        assert "\n" not in str(info.value)


def test_json_output_refuses_non_finite_numbers():
    with pytest.raises(AccelsimError, match="run: a figure is not a finite number"):
        cli._dumps({"rtf": math.inf}, "run")
    assert _strict(cli._dumps({"rtf": 0.5, "x": [1, 2]}, "run")) == {"rtf": 0.5, "x": [1, 2]}


@pytest.mark.parametrize("command", [["run", "--set", SMALL[0], "--beam", "4"], ["size"]])
def test_json_commands_print_strict_json(run_cli, command):
    proc = run_cli(*command, "--json")
    assert proc.returncode == 0, proc.stderr
    data = _strict(proc.stdout)
    numbers = [v for v in json.dumps(data).split() if v]
    assert "Infinity" not in proc.stdout and "NaN" not in proc.stdout and numbers


# ---------------------------------------------------------------- 2. explicit MAC formats


def test_fp16_on_an_int4_only_chip_is_an_error_naming_the_unit():
    with pytest.raises(AccelsimError, match=r"no MAC units for 16-bit weights.*add fp16") as info:
        accelsim.simulate(WORKLOAD, HW, precision="fp16", overrides=SMALL + ["hw.coprocessor.macs_per_cycle={int4: 8192}"])
    assert "\n" not in str(info.value)


def test_narrow_operands_run_on_wider_units_and_say_so():
    result = accelsim.simulate(WORKLOAD, HW, precision="int4", overrides=SMALL + ["hw.coprocessor.macs_per_cycle={int8: 2048}"])
    assert set(result.formats.values()) == {"int8"}
    native = accelsim.simulate(WORKLOAD, HW, precision="int4", overrides=SMALL)
    assert native.formats["encoder"] == "int8+int4" and native.formats["lm_ext"] == "int4"
    assert result.rtf > native.rtf  # int4 work at the int8 rate


def test_fp32_network_is_promoted_to_fp16_on_a_chip_without_fp32():
    """The paper's baseline: kept, and said."""
    fp32 = accelsim.simulate(WORKLOAD, HW, precision="fp32", overrides=SMALL)
    fp16 = accelsim.simulate(WORKLOAD, HW, precision="fp16", overrides=SMALL)
    assert set(fp32.formats.values()) == {"fp16"} and fp32.rtf == fp16.rtf
    with pytest.raises(AccelsimError, match="32-bit weights"):
        accelsim.simulate(WORKLOAD, HW, precision="fp32", overrides=SMALL + ["hw.coprocessor.macs_per_cycle={int8: 2048}"])


def test_run_prints_the_format_of_each_network(run_cli):
    text = run_cli("run", "--precision", "int4", "--set", SMALL[0], "--beam", "4")
    assert text.returncode == 0, text.stderr
    assert "ran in: encoder=int8+int4, prediction=int4+int8, joint=int8, lm_ext=int4, lm_src=int4" in text.stdout
    data = _strict(run_cli("run", "--precision", "fp32", "--set", SMALL[0], "--beam", "4", "--json").stdout)
    assert data["formats"] == {"encoder": "fp16", "prediction": "fp16", "joint": "fp16", "lm_ext": "fp16", "lm_src": "fp16"}


# ---------------------------------------------------------------- 4. regress --tolerance


@pytest.mark.parametrize("tolerance", ["nan", "nan%", "inf%", "inf", "-1%", "1e400"])
def test_regress_refuses_a_non_finite_or_negative_tolerance(run_cli, tolerance):
    proc = run_cli("regress", "reports/paper.yaml", "--baseline", "reports/baselines/paper.csv", f"--tolerance={tolerance}")
    assert proc.returncode == 2, proc.stderr
    assert "--tolerance" in proc.stderr and "finite, non-negative" in proc.stderr and "Traceback" not in proc.stderr


# ---------------------------------------------------------------- 5. exit codes of a sweep with failures


def test_sweep_with_an_invalid_point_exits_1_unless_allowed(tmp_path, run_cli):
    recipe = _recipe(tmp_path, axes={"hw.link.bandwidth": ["32 Gbps", "banana"]})
    proc = run_cli("sweep", recipe, "--workers", "1", "--out", tmp_path / "a")
    assert proc.returncode == 1, proc.stderr
    assert "1 of 2 points did not finish" in proc.stderr
    proc = run_cli("sweep", recipe, "--workers", "1", "--out", tmp_path / "b", "--allow-failures")
    assert proc.returncode == 0, proc.stderr
    assert "allowed by --allow-failures" in proc.stderr


def test_sweep_with_no_valid_point_exits_2(tmp_path, run_cli):
    recipe = _recipe(tmp_path, axes={"hw.link.bandwidth": ["banana", "apple"]})
    proc = run_cli("sweep", recipe, "--workers", "1", "--out", tmp_path / "a", "--allow-failures")
    assert proc.returncode == 2 and "no point of the recipe is valid" in proc.stderr


# ---------------------------------------------------------------- 6. corrupt cache files on --resume


CORRUPT = ["", "{", '{"rtf": 0.1', "[]", "null", "3", '"text"', "[" * 100_000 + "]" * 100_000, b"\xff\xfe".decode("latin-1"),
           "NaN"]


@pytest.mark.parametrize("text", CORRUPT, ids=range(len(CORRUPT)))
def test_cache_treats_a_corrupt_file_as_not_done(tmp_path, text):
    (tmp_path / "k.json").write_text(text, encoding="latin-1")
    assert Cache(tmp_path).load("k") is None


def test_cache_checks_every_field(tmp_path):
    result = accelsim.simulate(WORKLOAD, HW, overrides=SMALL, keep_records=False)
    good = result.to_json()
    assert SimResult.from_json(json.loads(json.dumps(good, sort_keys=True))) == result
    edits = [("rtf", "0.1"), ("rtf", None), ("rtf", True), ("beam", 4.5), ("ops", -1), ("precision", ["int4"]),
             ("precision", {"encoder": 4}), ("breakdown_by_component", {"encoder": "x"}), ("occupancy", []),
             ("workload", 3), ("utterance_rtfs", [0.1, "x"]), ("utterance_rtfs", {}), ("formats", {"x": 1})]
    for key, value in edits:
        (tmp_path / "k.json").write_text(json.dumps({**good, key: value}))
        assert Cache(tmp_path).load("k") is None, (key, value)
    for key in ("rtf", "time_s", "occupancy"):
        (tmp_path / "k.json").write_text(json.dumps({k: v for k, v in good.items() if k != key}))
        assert Cache(tmp_path).load("k") is None, key
    (tmp_path / "k.json").write_text(json.dumps(good).replace(f'"rtf": {good["rtf"]!r}', '"rtf": NaN'))
    assert Cache(tmp_path).load("k") is None


def test_resume_over_corrupt_point_files(tmp_path):
    recipe = _recipe(tmp_path)
    whole = tmp_path / "whole"
    run_sweep(recipe, whole, workers=1)
    out = tmp_path / "out"
    run_sweep(recipe, out, workers=1)
    files = sorted((out / "points").glob("*.json"))
    for path, text in zip(files, ["{", "[1, 2]", "null"]):
        path.write_text(text)
    table = run_sweep(recipe, out, workers=1, resume=True)
    assert (table["status"] == "ok").all()
    assert (out / "results.csv").read_bytes() == (whole / "results.csv").read_bytes()


# ---------------------------------------------------------------- 7. recipe names stay inside out/


@pytest.mark.parametrize("name", ["../../..", "..", ".", "/tmp/escape", "a/../../b", "a\\..\\b", "", " ", "x\ny"])
def test_recipe_name_cannot_leave_the_output_folder(tmp_path, name):
    with pytest.raises(SpecError, match="plain folder name") as info:
        load_recipe(_recipe(tmp_path, name=name))
    assert "\n" not in str(info.value)


def test_cli_refuses_an_escaping_recipe_name_and_writes_nothing(tmp_path, run_cli):
    folder = tmp_path / "deep" / "er"
    folder.mkdir(parents=True)
    recipe = _recipe(folder, name="../../..")
    proc = run_cli("sweep", recipe, "--workers", "1")
    assert proc.returncode == 2 and "name" in proc.stderr and "plain folder name" in proc.stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["deep", "er", "recipe.yaml"]


def test_plain_names_go_to_out_beside_the_recipe(tmp_path):
    recipe = load_recipe(_recipe(tmp_path, name="Zürich ü.v2"))
    from accelsim.sweep.run import default_out

    assert default_out(recipe) == tmp_path / "out" / "Zürich ü.v2"


# ---------------------------------------------------------------- 8. results.csv after resume or Ctrl-C


def test_results_csv_after_ctrl_c_and_resume_is_byte_identical(tmp_path):
    recipe = _recipe(tmp_path)
    whole = tmp_path / "whole"
    run_sweep(recipe, whole, workers=1)
    expected = (whole / "results.csv").read_bytes()

    out = tmp_path / "out"
    seen = []

    def interrupt(done, failed, total):
        seen.append(done)
        if done >= 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(recipe, out, workers=1, progress=interrupt)
    partial = (out / "results.csv").read_text()
    assert "not run" in partial
    assert partial.splitlines()[0] == expected.decode().splitlines()[0]  # same columns, same order, already
    run_sweep(recipe, out, workers=1, resume=True)
    assert (out / "results.csv").read_bytes() == expected
    # a second resume, every point from the cache: still the same bytes
    run_sweep(recipe, out, workers=1, resume=True)
    assert (out / "results.csv").read_bytes() == expected


# ---------------------------------------------------------------- 9. non-ASCII names on an ASCII terminal


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_non_ascii_names_under_an_ascii_terminal(tmp_path, json_flag):
    text = WORKLOAD.read_text(encoding="utf-8").replace("name: rnnt_lm_fusion", 'name: "Zürich ü"', 1)
    workload = tmp_path / "zürich.yaml"
    workload.write_text(text, encoding="utf-8")
    env = {**os.environ, "PYTHONIOENCODING": "ascii", "LC_ALL": "C"}
    proc = subprocess.run([sys.executable, "-m", "accelsim.cli", "run", workload, HW, "--set", SMALL[0], "--beam", "4",
                           *json_flag], cwd=REPO, capture_output=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode("ascii", "replace")
    out = proc.stdout.decode("ascii")  # only ASCII bytes reach the terminal
    assert ("Z\\u00fcrich" if json_flag else "Z\\xfcrich \\xfc") in out
    # and an error message naming the non-ASCII file stays one clean line too
    bad = subprocess.run([sys.executable, "-m", "accelsim.cli", "run", workload, HW, "--set", "hw.link.bandwidth=ü"],
                         cwd=REPO, capture_output=True, env=env, timeout=120)
    assert bad.returncode == 2 and b"Traceback" not in bad.stderr
    assert len(bad.stderr.decode("ascii").strip().splitlines()) == 1


# ---------------------------------------------------------------- memoized totals never added to


@pytest.mark.parametrize("frames", [4, 6, 8])
def test_short_utterances_give_the_same_rtf_every_time(frames):
    """A short encoder's memoized totals were returned as they were and added to in place: every later run of
    the same point in the process came out slower (0.071, 0.126, 0.181 ...)."""
    flags = [f"workload.utterance.frames={frames}"]
    rtfs = [accelsim.simulate(WORKLOAD, HW, overrides=flags, keep_records=False).rtf for _ in range(3)]
    whole = accelsim.simulate(WORKLOAD, HW, overrides=flags, segmented=False).rtf
    assert rtfs == [rtfs[0]] * 3 and rtfs[0] == pytest.approx(whole, rel=1e-12)


# ---------------------------------------------------------------- 3. quantizers fused or separate


def test_shipped_workload_keeps_separate_quantizers_and_fused_is_the_default(workload_spec):
    assert workload_spec.precision.quantize == "separate"
    from accelsim.spec.workload import PrecisionSpec

    assert PrecisionSpec().quantize == "fused"
    separate = accelsim.simulate(WORKLOAD, HW, precision="int8", overrides=SMALL, keep_records=False)
    fused = accelsim.simulate(WORKLOAD, HW, precision="int8", overrides=SMALL + ["workload.precision.quantize=fused"],
                              keep_records=False)
    assert fused.ops < separate.ops and fused.rtf < separate.rtf
    fp16 = [accelsim.simulate(WORKLOAD, HW, precision="fp16", overrides=SMALL + [f"workload.precision.quantize={q}"],
                              keep_records=False).rtf for q in ("fused", "separate")]
    assert fp16[0] == fp16[1]  # nothing to quantize at FP16


# ---------------------------------------------------------------- 10. SIGKILL, then --resume


@pytest.mark.skipif(not hasattr(__import__("signal"), "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_at_any_moment_then_resume_gives_the_same_results_csv(tmp_path):
    import time

    recipe = _recipe(tmp_path, axes={"precision": ["fp16", "int8", "int4"], "workload.decoding.beam": [1, 2, 4]})
    command = [sys.executable, "-m", "accelsim.cli", "sweep", str(recipe), "--workers", "1"]
    whole = subprocess.run(command + ["--out", str(tmp_path / "whole")], cwd=REPO, capture_output=True, timeout=120)
    assert whole.returncode == 0, whole.stderr
    out = str(tmp_path / "killed")
    kills = 0
    for delay in (0.5, 1.0, 2.0):
        proc = subprocess.Popen(command + ["--out", out, "--resume"], cwd=REPO, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(delay)
        if proc.poll() is None:
            proc.kill()  # SIGKILL: no finally, no atexit
            kills += 1
        proc.wait(timeout=60)
    assert kills  # at least one run was really killed mid-way
    done = subprocess.run(command + ["--out", out, "--resume"], cwd=REPO, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (Path(out) / "results.csv").read_bytes() == (tmp_path / "whole" / "results.csv").read_bytes()
