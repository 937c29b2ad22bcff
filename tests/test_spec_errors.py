"""Bad input gets ONE clear line on stderr naming the file (or --set flag), the key path and what was expected;
exit code 2; never a traceback. Plus the override API (--set) on the happy path.
"""

from __future__ import annotations

import functools
import json
import subprocess
from pathlib import Path

import pytest
import yaml

import accelsim
from accelsim.spec.loader import flag_variation
from accelsim.cli import main as cli_entry
from accelsim.errors import AccelsimError, SpecError

# Each `python -m accelsim.cli` costs about half a second of imports, so a representative set of cases runs as
# a real subprocess (run_cli: exit code, stderr, no traceback from the interpreter) and the rest calls the
# same entry point in-process (cli), where an uncaught exception would fail the test just the same.


@pytest.fixture
def run_cli(run_cli):
    """Here run_cli is a real ``python -m accelsim.cli`` (conftest's runs in-process unless asked)."""
    return functools.partial(run_cli, subprocess=True)


@pytest.fixture
def cli(capsys, monkeypatch, repo):
    """In-process twin of run_cli: ``accelsim.cli.main(args)`` with the repo root as cwd."""

    def run(*args: object) -> subprocess.CompletedProcess[str]:
        monkeypatch.chdir(repo)
        argv = [str(a) for a in args]
        capsys.readouterr()
        try:
            code = cli_entry(argv)
        except SystemExit as exc:  # argparse usage errors
            code = exc.code
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(argv, code, out, err)

    return run


def assert_one_line_error(proc, *needles: str) -> str:
    """The CLI failed the way a user error must fail; return the error line."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    assert line.startswith("accelsim: error: "), line
    for needle in needles:
        assert needle in line, f"{needle!r} not in {line!r}"
    return line


def edited(src: Path, dst: Path, old: str, new: str) -> Path:
    """Copy ``src`` to ``dst`` with one textual edit (comments kept); the edit must apply exactly once."""
    text = src.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {src}"
    dst.write_text(text.replace(old, new), encoding="utf-8")
    return dst


def dumped(data: dict, dst: Path) -> Path:
    dst.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return dst


# ---------------------------------------------------------------- malformed YAML, missing files


MALFORMED = "name: x\n  oops: [1, 2\n"  # a mapping value where none is allowed, and an unclosed list


def test_malformed_workload_yaml_run(run_cli, tmp_path, hw_path):
    bad = tmp_path / "bad_workload.yaml"
    bad.write_text(MALFORMED)
    line = assert_one_line_error(run_cli("run", bad, hw_path), str(bad), "invalid YAML", "line 2")
    assert "column" in line


def test_malformed_workload_yaml_size(run_cli, tmp_path):
    bad = tmp_path / "bad_workload.yaml"
    bad.write_text(MALFORMED)
    assert_one_line_error(run_cli("size", bad), str(bad), "invalid YAML", "line 2")


def test_malformed_hardware_yaml_run(cli, tmp_path, workload_path):
    bad = tmp_path / "bad_hw.yaml"
    bad.write_text("coprocessor:\n  cores: 4\n clock: '1.6 GHz'\n")  # dedent mismatch
    assert_one_line_error(cli("run", workload_path, bad), str(bad), "invalid YAML")


def test_top_level_not_a_mapping(cli, tmp_path):
    bad = tmp_path / "list.yaml"
    bad.write_text("- 1\n- 2\n")
    assert_one_line_error(cli("size", bad), str(bad), "expected a mapping", "list")


@pytest.mark.parametrize(("which", "runner"), [("workload", "run_cli"), ("hardware", "cli")])
def test_missing_file_run(request, tmp_path, workload_path, hw_path, which, runner):
    missing = tmp_path / "does_not_exist.yaml"
    args = (missing, hw_path) if which == "workload" else (workload_path, missing)
    assert_one_line_error(request.getfixturevalue(runner)("run", *args), str(missing), "no such file")


def test_missing_file_size(cli, tmp_path):
    missing = tmp_path / "nope.yaml"
    assert_one_line_error(cli("size", missing), str(missing), "no such file")


def test_missing_file_api(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(SpecError) as info:
        accelsim.load_hardware(missing)
    assert info.value.source == str(missing)
    assert info.value.key is None
    assert "no such file" in str(info.value)


# ---------------------------------------------------------------- unknown keys


def test_misspelt_optional_key_suggests_the_right_one(run_cli, tmp_path, workload_path):
    bad = edited(workload_path, tmp_path / "w.yaml", "  beam: 16", "  beem: 16")
    line = assert_one_line_error(run_cli("size", bad), str(bad), "decoding.beem", "unknown key", "did you mean 'beam'?")
    assert "expected one of" in line and "'lm_fusion'" in line


def test_misspelt_key_inside_a_layer_suggests_the_right_one(cli, tmp_path, workload_path, hw_path):
    bad = edited(workload_path, tmp_path / "w.yaml", "input: 340, hidden: 640, count: 6",
                 "input: 340, hidden: 640, cuont: 6")
    assert_one_line_error(cli("run", bad, hw_path), str(bad), "model.encoder.layers.0.cuont", "unknown key",
                          "did you mean 'count'?")


def test_misspelt_override_key_suggests_the_right_one(cli):
    flag = "hw.link.bandwdith=64 Gbps"
    assert_one_line_error(cli("run", "--set", flag), f"--set {flag}", "link.bandwdith", "unknown key",
                          "did you mean 'bandwidth'?")


def test_misspelt_required_key_suggests_the_right_one(cli, tmp_path, workload_path, hw_path):
    bad = edited(hw_path, tmp_path / "hw.yaml", 'bandwidth: "32 Gbps"', 'bandwdith: "32 Gbps"')
    assert_one_line_error(cli("run", workload_path, bad), str(bad), "link.bandwdith", "unknown key",
                          "did you mean 'bandwidth'?")


def test_misspelt_required_key_is_still_one_clean_line(cli, tmp_path, workload_path, hw_path):
    """Whatever the wording, the error is one line naming the file and the section, exit 2."""
    bad = edited(hw_path, tmp_path / "hw.yaml", 'bandwidth: "32 Gbps"', 'bandwdith: "32 Gbps"')
    assert_one_line_error(cli("run", workload_path, bad), str(bad), "link.")


# ---------------------------------------------------------------- wrong units and values


def test_wrong_bandwidth_unit(run_cli, tmp_path, workload_path, hw_path):
    bad = edited(hw_path, tmp_path / "hw.yaml", 'bandwidth: "32 Gbps"', 'bandwidth: "32 Gbs"')
    line = assert_one_line_error(run_cli("run", workload_path, bad), str(bad), "link.bandwidth", "'32 Gbs'")
    assert "Gbps" in line and "GB/s" in line  # what would have been accepted


def test_bare_number_bandwidth(cli, tmp_path, workload_path, hw_path):
    bad = edited(hw_path, tmp_path / "hw.yaml", 'bandwidth: "32 Gbps"', "bandwidth: 32")
    assert_one_line_error(cli("run", workload_path, bad), str(bad), "link.bandwidth", "with a unit", "'32 Gbps'")


def test_zero_scratchpad(run_cli, tmp_path, workload_path, hw_path):
    bad = edited(hw_path, tmp_path / "hw.yaml", 'scratchpad: "2 MiB"', 'scratchpad: "0 MiB"')
    assert_one_line_error(run_cli("run", workload_path, bad), str(bad), "coprocessor.scratchpad",
                          "greater than zero", "'0 MiB'")


def test_negative_cores(cli, tmp_path, workload_path, hw_path):
    bad = edited(hw_path, tmp_path / "hw.yaml", "cores: 4 ", "cores: -2 ")
    assert_one_line_error(cli("run", workload_path, bad), str(bad), "coprocessor.cores", "greater than 0", "-2")


@pytest.mark.parametrize(
    ("flag", "key", "expected"),
    [
        ("hw.coprocessor.scratchpad=-2 MiB", "coprocessor.scratchpad", "greater than zero"),
        ("hw.coprocessor.cores=0", "coprocessor.cores", "greater than 0"),
        ("hw.link.latency=-1 us", "link.latency", "must not be negative"),
        ("hw.link.efficiency=1.5", "link.efficiency", "less than or equal to 1"),
        ("hw.coprocessor.clock=1.6 GHZ", "coprocessor.clock", "'GHz'"),
        ("hw.coprocessor.macs_per_cycle.int4=100", "coprocessor", "not a multiple of the 128 PEs"),
        ("hw.memory.weights_home=device", "memory", "device_bandwidth"),
    ],
)
def test_bad_override_values_api(hw_path, flag, key, expected):
    """An error in an overridden value names the --set flag, not the file."""
    with pytest.raises(SpecError) as info:
        accelsim.load_hardware(hw_path, overrides=[flag])
    error = info.value
    assert error.source == f"--set {flag}"
    assert error.key == key
    assert expected in error.detail
    assert "\n" not in str(error)


def test_bad_override_value_cli(cli):
    flag = "hw.link.bandwidth=64"
    assert_one_line_error(cli("run", "--set", flag), f"--set {flag}", "link.bandwidth", "with a unit")


# ---------------------------------------------------------------- --set paths


@pytest.mark.parametrize(("command", "runner"), [("run", "run_cli"), ("size", "cli")])
def test_set_path_without_prefix(request, command, runner):
    flag = "decoding.beam=4"
    assert_one_line_error(request.getfixturevalue(runner)(command, "--set", flag), f"--set {flag}", "'workload.'", "'hw.'", "'decoding.beam'")


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        ("hw.link.bandwidth", "expected PATH=VALUE"),
        ("=4", "expected PATH=VALUE"),
        ("hw=1", "must start with one of"),
        ("link.bandwidth=64 Gbps", "must start with one of"),
        ("workload.model.encoder.layers.5.hidden=512", "expected a list index below 2"),
        ("workload.model.encoder.layers.x.hidden=512", "expected a list index below 2"),
        ("workload.name.x=1", None),
    ],
)
def test_bad_set_paths_api(workload_path, flag, expected):
    with pytest.raises(SpecError) as info:
        accelsim.load_workload(workload_path, overrides=[flag])  # every flag is parsed, whatever its prefix
    assert str(info.value).startswith(f"--set {flag}")
    if expected:
        assert expected in str(info.value)


# ---------------------------------------------------------------- --precision


@pytest.mark.parametrize(
    ("runner", "command", "precision", "expected"),
    [
        ("run_cli", "size", "int3", "unknown precision preset 'int3'"),
        ("cli", "run", "int3", "unknown precision preset 'int3'"),
        ("cli", "size", "rnnt=int4,foo=int8", "unknown network 'foo'"),
        ("cli", "run", "rnnt=int4,lm_ext=int9", "unknown precision preset 'int9'"),
    ],
)
def test_bad_precision_flag(request, runner, command, precision, expected):
    run = request.getfixturevalue(runner)
    line = assert_one_line_error(run(command, "--precision", precision), "--precision", expected)
    assert "expected one of" in line


def test_bad_precision_api():
    with pytest.raises(AccelsimError, match=r"^--precision: unknown precision preset 'int5' in 'rnnt=int5'"):
        flag_variation(precision="rnnt=int5")


# ---------------------------------------------------------------- layers


@pytest.mark.parametrize(("command", "runner"), [("run", "run_cli"), ("size", "cli")])
def test_unknown_layer_kind(request, tmp_path, workload_path, hw_path, command, runner):
    bad = edited(workload_path, tmp_path / "w.yaml", "kind: multiplicative_joint", "kind: multiplicative_jiont")
    args = (bad,) if command == "size" else (bad, hw_path)
    line = assert_one_line_error(request.getfixturevalue(runner)(command, *args), str(bad), "model.joint.layers.0", "'multiplicative_jiont'")
    assert "'multiplicative_joint'" in line  # the valid kinds are listed


def test_precision_override_naming_a_missing_layer(cli, tmp_path, workload_path):
    data = yaml.safe_load(workload_path.read_text())
    data["precision"]["layers"] = [{"network": "encoder", "layer": "blstm7", "weight_bits": 8}]
    bad = dumped(data, tmp_path / "w.yaml")
    line = assert_one_line_error(cli("size", bad), str(bad), "precision.layers.0", "'blstm7'", "'encoder'")
    assert "'blstm6'" in line  # the layers that do exist are listed


def test_precision_override_naming_a_missing_layer_via_set(workload_path):
    flag = "workload.precision.layers=[{network: lm_ext, layer: lstm3, weight_bits: 8}]"
    with pytest.raises(SpecError) as info:
        accelsim.load_workload(workload_path, overrides=[flag])
    assert info.value.source == f"--set {flag}"
    assert "no layer 'lstm3' in network 'lm_ext'" in str(info.value)
    assert "'lstm2'" in str(info.value)


def test_file_error_is_not_blamed_on_an_unrelated_set_flag(tmp_path, workload_path):
    data = yaml.safe_load(workload_path.read_text())
    data["precision"]["layers"] = [{"network": "encoder", "layer": "blstm7", "weight_bits": 8}]
    bad = dumped(data, tmp_path / "w.yaml")
    with pytest.raises(SpecError) as info:
        accelsim.load_workload(bad, overrides=["workload.decoding.beam=4"])
    assert info.value.source == str(bad)


def test_lm_fusion_without_lms(tmp_path, workload_path):
    data = yaml.safe_load(workload_path.read_text())
    del data["model"]["lm_src"]
    bad = dumped(data, tmp_path / "w.yaml")
    with pytest.raises(SpecError) as info:
        accelsim.load_workload(bad)
    assert info.value.source == str(bad)
    assert "lm_fusion" in str(info.value) and "lm_src" in str(info.value)


# ---------------------------------------------------------------- the override API, happy path


def test_load_hardware_bandwidth_override(hw_path, hw_spec):
    hw = accelsim.load_hardware(hw_path, overrides=["hw.link.bandwidth=64 Gbps"])
    assert hw.link.bandwidth == pytest.approx(8e9, rel=1e-12)  # bytes per second per lane
    assert hw_spec.link.bandwidth == pytest.approx(4e9, rel=1e-12)  # the shipped file still says 32 Gbps
    assert hw.link.lanes == hw_spec.link.lanes  # nothing else changed
    assert hw.coprocessor == hw_spec.coprocessor


def test_load_hardware_ignores_workload_overrides(hw_path, hw_spec):
    assert accelsim.load_hardware(hw_path, overrides=["workload.decoding.beam=4"]) == hw_spec


def test_load_workload_beam_override(workload_path, workload_spec):
    spec = accelsim.load_workload(workload_path, overrides=["workload.decoding.beam=4"])
    assert spec.decoding.beam == 4
    assert workload_spec.decoding.beam == 16


def test_override_list_item_by_index(workload_path, workload_spec):
    spec = accelsim.load_workload(
        workload_path, overrides=["workload.model.encoder.layers.0.hidden=512", "workload.model.encoder.layers.1.input=1024"]
    )
    first = spec.model.encoder.layers[0]
    assert first.kind == "blstm" and first.hidden == 512
    assert first.input == 340 and first.count == 6  # siblings kept
    assert spec.model.encoder.layers[1].output == workload_spec.model.encoder.layers[1].output


def test_later_override_wins(workload_path):
    spec = accelsim.load_workload(workload_path, overrides=["workload.decoding.beam=4", "workload.decoding.beam=8"])
    assert spec.decoding.beam == 8


def test_override_values_are_yaml(workload_path):
    spec = accelsim.load_workload(
        workload_path, overrides=["workload.decoding.lm_fusion=false", "workload.decoding.fusion={mu: 0.5, lam: 0.25}"]
    )
    assert spec.decoding.lm_fusion is False
    assert (spec.decoding.fusion.mu, spec.decoding.fusion.lam, spec.decoding.fusion.rho) == (0.5, 0.25, 0.2)


def test_cli_set_beam_works(run_cli):
    proc = run_cli("run", "--json", "--set", "workload.decoding.beam=4")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["beam"] == 4
    assert result["rtf"] > 0


def test_cli_set_list_item_works(cli):
    proc = cli("size", "--json", "--set", "workload.model.encoder.layers.0.hidden=512",
               "--set", "workload.model.encoder.layers.1.input=1024")
    assert proc.returncode == 0, proc.stderr
    encoder = json.loads(proc.stdout)["networks"]["encoder"]
    # 6 BLSTM layers of 512 cells per direction (first input 340, then 1024); the linear layer keeps the
    # input the second override gives it (1024 -> 256).
    blstm1 = 2 * (4 * 512 * 340 + 4 * 512 * 512 + 2 * 4 * 512)
    blstm_k = 2 * (4 * 512 * 1024 + 4 * 512 * 512 + 2 * 4 * 512)
    linear = 1024 * 256 + 256
    assert encoder["params_M"] == pytest.approx((blstm1 + 5 * blstm_k + linear) / 1e6, rel=1e-9)


def test_layer_shapes_must_chain(cli):
    proc = cli("size", "--set", "workload.model.encoder.layers.0.hidden=512")
    assert proc.returncode == 2
    assert "model.encoder.layers.1: takes 1280 inputs but the layer before gives 1024" in proc.stderr


@pytest.mark.parametrize("args, needle", [
    (["run", "--set", "workload.utterance.frames=12", "--beam", "2", "--trace", "/"], "cannot write"),
    (["run", "--set", "workload.decoding.trace=/nonexistent/trace.jsonl"], "cannot read the trace"),
    (["explain", "--set", "workload.test_set={lengths: [12, 14]}"], "test set"),
    (["sweep", "reports/paper.yaml", "--dask", "not a scheduler://x", "--out", "/tmp/accelsim-dask-test"], "--dask"),
])
def test_more_user_errors_are_one_line(run_cli, args, needle):
    proc = run_cli(*args, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_two_layers_of_one_name_are_refused(cli, tmp_path, workload_path, hw_path):
    # A name identifies a layer in precision overrides, per-layer reports and pinned weights: two layers of one
    # name would silently share all three (with pinned weights the second one's fetch was skipped).
    bad = edited(workload_path, tmp_path / "w.yaml", "name: bottleneck, input: 768", "name: output, input: 768")
    assert_one_line_error(cli("run", bad, hw_path), str(bad), "model.lm_src.layers.3", "'output'", "layers.2",
                          "set `name:`")


def test_a_key_written_twice_is_refused_with_both_lines(run_cli, cli, tmp_path, workload_path, hw_path):
    """YAML keeps the last of two equal keys without a word (issue 20: `validate` said ok and the RTF moved 4x);
    accelsim refuses the file, naming the key path and both lines."""
    bad = edited(workload_path, tmp_path / "twice.yaml", "  beam: 16 ", "  beam: 4\n  beam: 16 ")
    first = _line_of(bad, "  beam: 4")
    line = assert_one_line_error(run_cli("validate", bad), str(bad), "decoding.beam", "duplicate key",
                                 f"line {first}", f"line {first + 1}")
    hw = edited(hw_path, tmp_path / "twice_hw.yaml", '  bandwidth: "32 Gbps"', '  bandwidth: "32 Gbps"\n  bandwidth: "8 Gbps"')
    first_hw = _line_of(hw, '  bandwidth: "32 Gbps"')
    assert_one_line_error(cli("run", workload_path, hw), str(hw), "link.bandwidth", "duplicate key",
                          f"line {first_hw}", f"line {first_hw + 1}")
    assert_one_line_error(cli("run", "--set", "workload.decoding={beam: 1, beam: 2}"), "decoding.beam", "duplicate key")
    nested = tmp_path / "nested.yaml"
    nested.write_text("a:\n  - {b: 1}\n  - {b: 1, c: 2, b: 3}\n")
    assert_one_line_error(cli("validate", nested), "a.1.b", "line 3")
    assert f"line {first}" in line


def _line_of(path, text: str) -> int:
    """The 1-based number of the first line of ``path`` that starts with ``text``."""
    return next(i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if line.startswith(text))


def test_merge_keys_and_aliases_are_not_duplicates():
    """An explicit key beside a YAML merge (``<<``) overrides it, as YAML intends; an alias repeats no key."""
    from accelsim.spec.loader import _load

    text = "base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  x: 3\nagain: *b\n"
    assert _load(text) == {"base": {"x": 1, "y": 2}, "other": {"x": 3, "y": 2}, "again": {"x": 1, "y": 2}}
    assert _load("1: a\n'1': b\n") == {1: "a", "1": "b"}  # an int key and a string key differ
