"""The input files explain themselves: JSON Schemas and a field reference generated from the models (and kept
in sync here), `validate`, `run --show-config`, `list`, and consistent flags across commands."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

import accelsim
from accelsim.cli import build_parser
from accelsim.spec.precision import PRESETS, QUANTIZERS
from accelsim.spec.layers import LAYER_KINDS
from accelsim.sweep.plots import PLOT_KINDS
from accelsim.sweep.recipe import PlotSpec
from accelsim.sweep.reference import KINDS, field_reference, missing_descriptions, schema

REFERENCE = Path(__file__).resolve().parents[1] / "reports" / "reference"
REGENERATE = "regenerate with: accelsim schema fields --out reports/reference/fields.md (and schema KIND --out ...)"


def test_every_field_has_a_description():
    assert missing_descriptions() == []


def test_committed_field_reference_is_up_to_date():
    assert (REFERENCE / "fields.md").read_text(encoding="utf-8") == field_reference(), REGENERATE


@pytest.mark.parametrize("kind", list(KINDS))
def test_committed_schemas_are_up_to_date(kind):
    committed = json.loads((REFERENCE / f"{kind}.schema.json").read_text(encoding="utf-8"))
    assert committed == schema(kind), REGENERATE


def test_reference_lists_every_field_with_units():
    text = field_reference()
    for path in ("link.bandwidth", "coprocessor.scratchpad", "utterance.frame_shift", "decoding.beam", "plots[].kind"):
        assert f"| `{path}` |" in text
    assert "| `link.bandwidth` | bandwidth (e.g. '32 Gbps') | B/s" in text
    for kind in LAYER_KINDS:
        assert f"### `{kind}`" in text


@pytest.mark.parametrize("kind,paths", [("workload", ["workloads/rnnt_lm_fusion.yaml"]),
                                        ("hardware", ["hwconfigs/rapid_7nm.yaml"]),
                                        ("recipe", ["reports/paper.yaml", "reports/link_whatif.yaml"])])
def test_shipped_files_satisfy_their_schema(kind, paths, repo):
    validator = jsonschema.Draft202012Validator(schema(kind))
    for path in paths:
        errors = [e.message for e in validator.iter_errors(yaml.safe_load((repo / path).read_text()))]
        assert errors == [], path


def test_schema_refuses_what_the_loader_refuses():
    validator = jsonschema.Draft202012Validator(schema("hardware"))
    hw = yaml.safe_load((Path(__file__).resolve().parents[1] / "hwconfigs" / "rapid_7nm.yaml").read_text())
    hw["link"]["bandwidth"] = 32  # a number without a unit
    hw["link"]["speed"] = "fast"  # an unknown key
    messages = " ".join(e.message for e in validator.iter_errors(hw))
    assert "not of type 'string'" in messages and "speed" in messages


def test_schema_command_writes_stdout_or_file(run_cli, tmp_path):
    proc = run_cli("schema", "hardware")
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["properties"]["link"]
    out = tmp_path / "w.json"
    proc = run_cli("schema", "workload", "--out", out)
    assert proc.returncode == 0 and proc.stdout.strip() == f"wrote {out}"
    assert json.loads(out.read_text())["title"] == "accelsim workload"


def test_validate_detects_kinds_and_says_ok(run_cli):
    proc = run_cli("validate", "workloads/rnnt_lm_fusion.yaml", "hwconfigs/rapid_7nm.yaml", "reports/paper.yaml")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["ok workloads/rnnt_lm_fusion.yaml (workload)", "ok hwconfigs/rapid_7nm.yaml (hardware)",
                                        "ok reports/paper.yaml (recipe)"]


def test_validate_stops_at_the_first_bad_file_with_one_line(run_cli, tmp_path, repo):
    bad = tmp_path / "bad_hw.yaml"
    bad.write_text((repo / "hwconfigs" / "rapid_7nm.yaml").read_text().replace("latency: ", "latency: 7 parsecs #", 1))
    proc = run_cli("validate", "workloads/rnnt_lm_fusion.yaml", bad, "reports/paper.yaml")
    assert proc.returncode == 2
    assert proc.stdout.splitlines() == ["ok workloads/rnnt_lm_fusion.yaml (workload)"]
    assert len(proc.stderr.strip().splitlines()) == 1 and str(bad) in proc.stderr and "latency" in proc.stderr


def test_validate_kind_by_flag_and_unknown_content(run_cli, tmp_path):
    odd = tmp_path / "odd.yaml"
    odd.write_text("colour: blue\n")
    proc = run_cli("validate", odd)
    assert proc.returncode == 2 and "--kind" in proc.stderr
    proc = run_cli("validate", "--kind", "hardware", odd)
    assert proc.returncode == 2 and "colour" in proc.stderr
    proc = run_cli("validate", "--kind", "workload", "hwconfigs/rapid_7nm.yaml")
    assert proc.returncode == 2


def test_validate_checks_every_point_of_a_recipe(run_cli, tmp_path, repo):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"name: r\nworkload: {repo}/workloads/rnnt_lm_fusion.yaml\nhardware: {repo}/hwconfigs/rapid_7nm.yaml\n"
                      "axes:\n  hw.link.bandwidth: ['32 Gbps', 'fast']\n")
    proc = run_cli("validate", recipe)
    assert proc.returncode == 2 and "fast" in proc.stderr


def test_show_config_prints_both_resolved_specs_and_they_load_again(run_cli, tmp_path, workload_path, hw_path):
    proc = run_cli("run", "--show-config", "--precision", "INT4", "--beam", "4", "--set", "hw.link.bandwidth=64 Gbps")
    assert proc.returncode == 0, proc.stderr
    data = yaml.safe_load(proc.stdout)
    assert set(data) == {"workload", "hardware"}
    (tmp_path / "w.yaml").write_text(yaml.safe_dump(data["workload"]))
    (tmp_path / "h.yaml").write_text(yaml.safe_dump(data["hardware"]))
    expected = accelsim.api.resolve(workload_path, hw_path, ["hw.link.bandwidth=64 Gbps", "workload.decoding.beam=4",
                                                             "workload.precision.default=int4"])
    assert accelsim.load_workload(tmp_path / "w.yaml") == expected[0]
    assert accelsim.load_hardware(tmp_path / "h.yaml") == expected[1]
    assert data["hardware"]["link"]["bandwidth"] == "64 Gbps"


def test_list_names_every_registry(run_cli):
    proc = run_cli("list", "--json")
    assert proc.returncode == 0
    found = json.loads(proc.stdout)
    assert list(found["layer kinds"]) == list(LAYER_KINDS)
    assert list(found["precision presets"]) == list(PRESETS)
    assert list(found["quantizer kinds"]) == list(QUANTIZERS)
    assert list(found["plot kinds"]) == list(PLOT_KINDS)
    assert "int4" in run_cli("list").stdout


def test_plot_kinds_registry_matches_the_recipe_schema():
    assert set(PLOT_KINDS) == set(PlotSpec.model_fields["kind"].annotation.__args__)


# ---------------------------------------------------------------- flags


def _subcommands():
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return action.choices


def test_every_workers_flag_has_the_same_default_and_help():
    flags = {name: next((a for a in sub._actions if a.dest == "workers"), None) for name, sub in _subcommands().items()}
    flags = {n: a for n, a in flags.items() if a is not None}
    # calibrate's default is 1 on purpose: an evaluation is a handful of short simulations, which a new process
    # pool per evaluation makes slower (measured on main, 72b2c01); its help says so.
    assert flags.pop("calibrate").default == 1
    assert {"run", "explain", "reproduce", "sweep", "regress"} <= set(flags)
    assert {a.default for a in flags.values()} == {None}  # None: accelsim.sweep.runner.default_workers
    assert all(a.help.endswith("1 runs in this process") for a in flags.values())


def test_size_help_offers_only_workload_overrides_and_refuses_hw(run_cli):
    sub = _subcommands()["size"]
    help_text = sub.format_help()
    assert "hw.link" not in help_text and "workload." in help_text
    proc = run_cli("size", "--set", "hw.link.bandwidth=64 Gbps")
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("accelsim: error: --set hw.link.bandwidth=64 Gbps: size reads only a workload; "
                                   "--set takes workload.* paths here")


def test_precision_flag_is_case_insensitive(workload_path):
    from accelsim.spec.loader import flag_variation, load_workload

    upper = load_workload(workload_path, flag_variation("INT4"))
    lower = load_workload(workload_path, flag_variation("int4"))
    assert upper == lower
    mixed = load_workload(workload_path, flag_variation("RNNT=Int4,LM_EXT=INT8"))
    assert mixed.precision.networks == {"rnnt": "int4", "lm_ext": "int8"}


@pytest.mark.parametrize(("folder", "kind"), [("workloads", "workload"), ("hwconfigs", "hardware"), ("reports", "recipe")])
def test_shipped_files_name_their_schema_for_editors(repo, folder, kind):
    """The README recommends the YAML language server's schema line; the shipped files carry it, with a path that
    resolves from the file's own folder."""
    for path in sorted((repo / folder).glob("*.yaml")):
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first == f"# yaml-language-server: $schema=../reports/reference/{kind}.schema.json", path
        assert (path.parent / first.split("=", 1)[1]).resolve().is_file()
