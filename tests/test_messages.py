"""Errors and help say what the user needs in one place: the file and key of a bad recipe value, one line for a bad
flag, whole descriptions in `accelsim list`, every preset in --precision's help, every file a command writes."""

from __future__ import annotations

import re

import pytest
import yaml

from accelsim.spec.precision import PRESETS


def _recipe(tmp_path, repo, **axes):
    path = tmp_path / "bad_recipe.yaml"
    path.write_text(yaml.safe_dump({"name": "bad", "workload": str(repo / "workloads/rnnt_lm_fusion.yaml"),
                                    "hardware": str(repo / "hwconfigs/rapid_7nm.yaml"), **axes}))
    return path


@pytest.mark.parametrize("command", ["validate", "sweep"])
def test_a_bad_preset_in_a_recipe_names_the_recipe_and_its_key(run_cli, tmp_path, repo, command):
    """It used to be reported as an error of --precision, a flag the user never typed, without the file."""
    path = _recipe(tmp_path, repo, axes={"precision": ["int4", "int5"]})
    proc = run_cli(command, path)
    assert proc.returncode == 2, proc.stderr
    line = proc.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert str(path) in line and "axes" in line and "'int5'" in line and "--precision" not in line
    assert not (tmp_path / "out").exists()  # refused before anything runs


def test_a_bad_preset_in_a_zipped_group_names_the_group(run_cli, tmp_path, repo):
    path = _recipe(tmp_path, repo, zip=[{"precision": ["int4", "int3"], "workload.decoding.beam": [1, 2]}])
    proc = run_cli("validate", path)
    assert proc.returncode == 2 and str(path) in proc.stderr and "zip" in proc.stderr and "'int3'" in proc.stderr


@pytest.mark.parametrize(("args", "says"), [
    (["run", "--beam", "-4"], "--beam: expected a positive whole number, got '-4'"),
    (["run", "--precision"], "--precision: expected one argument"),
    (["sweep"], "the following arguments are required: recipe"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_a_bad_flag_is_one_line(run_cli, args, says):
    """No usage block before the error: one line, the command's name, and where the help is."""
    proc = run_cli(*args)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert says in proc.stderr and "--help" in proc.stderr and "usage:" not in proc.stderr


def test_list_gives_whole_descriptions(run_cli):
    """`accelsim list` used to print each docstring's first line, cut mid-sentence."""
    import json

    from accelsim.spec.layers import LAYER_KINDS

    found = json.loads(run_cli("list", "--json").stdout)

    def paragraph(obj) -> str:
        return " ".join(obj.__doc__.strip().split("\n\n")[0].split())

    for kind, cls in LAYER_KINDS.items():
        assert found["layer kinds"][kind].split(" Fields: ")[0] == paragraph(cls), kind
    for name, fn in PRESETS.items():
        if fn.__doc__:
            assert found["precision presets"][name] == paragraph(fn), name
    assert found["precision presets"]["w4a8_mixed"].endswith(".")


def test_precision_help_names_every_preset(run_cli):
    for command in ("run", "size", "serve", "explain"):
        text = " ".join(run_cli(command, "--help").stdout.split())
        for preset in PRESETS:
            assert re.search(rf"\b{preset}\b", text), f"{command} --help omits {preset}"


def test_reproduce_help_names_every_file_it_writes(run_cli):
    from accelsim.calibrate.reproduce import REPRODUCE_FILES

    text = " ".join(run_cli("reproduce", "--help").stdout.split())
    for name in REPRODUCE_FILES:
        assert name in text, name
    assert "energy.png" in REPRODUCE_FILES


def test_sweep_says_every_file_it_wrote(run_cli, tmp_path, repo):
    pytest.importorskip("pyarrow")
    path = _recipe(tmp_path, repo, axes={"precision": ["int4"]}, set=["workload.utterance.frames=8", "workload.decoding.beam=1"],
                   plots=[{"kind": "bars", "file": "b.png", "x": "precision"}])
    proc = run_cli("sweep", path, "--workers", 1)
    assert proc.returncode == 0, proc.stderr
    wrote = next(line for line in proc.stdout.splitlines() if line.startswith("wrote "))
    for name in ("results.csv", "results.parquet", "b.png"):
        assert name in wrote and (tmp_path / "out" / "bad" / name).is_file()


def test_ran_in_names_each_format_once(run_cli):
    """A Conformer encoder with GQ codebooks and an 8-bit front end printed 'encoder=int8+int8 (codebook ...)'."""
    proc = run_cli("run", "workloads/ondevice_conformer.yaml", "hwconfigs/phone_npu.yaml", "--precision", "gq", "--json",
                   "--set", "workload.utterance.frames=16", "--set", "workload.streaming=null")
    import json

    formats = json.loads(proc.stdout)["formats"]
    for network, text in formats.items():
        names = re.findall(r"(?:^|\+)(\w+)", text)
        assert len(names) == len(set(names)), f"{network}: {text}"
    assert re.fullmatch(r"int8 \(codebook decoded in the load path for \d+ of \d+ layers\)", formats["encoder"])
