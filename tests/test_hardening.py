"""Hostile or absurd input ends in one clear SpecError: no traceback, no hang, no silent wrong answer.

Each test is a regression test for one way an input used to crash the loader, hang it, or load as a
spec that gives infinite or meaningless results downstream. The limits are in accelsim/spec/limits.py
and in the fields' descriptions.
"""

from __future__ import annotations

import re
import typing
from pathlib import Path

import annotated_types
import pytest
import yaml

import accelsim
from accelsim.errors import SpecError
from accelsim.spec import limits
from accelsim.spec.hardware import HardwareSpec
from accelsim.spec.loader import parse_override, read_yaml
from accelsim.spec.workload import WorkloadSpec
from accelsim.sweep import load_recipe


def assert_clean(error: SpecError, *needles: str) -> str:
    """One printable line of bounded length, naming what the test expects."""
    text = str(error)
    assert "\n" not in text and "\r" not in text, text
    assert text.isprintable(), text
    assert len(text) <= limits.MAX_MESSAGE, (len(text), text)
    for needle in needles:
        assert needle in text, f"{needle!r} not in {text!r}"
    return text


def load_w(workload_path: Path, *flags: str):
    return accelsim.load_workload(workload_path, overrides=list(flags))


def load_h(hw_path: Path, *flags: str):
    return accelsim.load_hardware(hw_path, overrides=list(flags))


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# ---------------------------------------------------------------- 1. deep nesting


def test_deeply_nested_set_value_is_refused(workload_path):
    flag = f"workload.name={nested(600)}"
    with pytest.raises(SpecError) as info:
        load_w(workload_path, flag)
    assert_clean(info.value, "--set workload.name=[[[", f"nested more than {limits.MAX_DEPTH} levels deep")


def test_deeply_nested_file_is_refused(tmp_path, workload_path):
    bad = tmp_path / "w.yaml"
    bad.write_text(workload_path.read_text() + f"\nextra: {nested(1000)}\n")
    with pytest.raises(SpecError) as info:
        accelsim.load_workload(bad)
    assert_clean(info.value, str(bad), "line ", f"nested more than {limits.MAX_DEPTH} levels deep")


def test_deeply_nested_block_yaml_is_refused(tmp_path):
    bad = tmp_path / "hw.yaml"
    bad.write_text("".join(f"{'  ' * i}k{i}:\n" for i in range(1000)) + "  " * 1000 + "v: 1\n")
    with pytest.raises(SpecError) as info:
        accelsim.load_hardware(bad)
    assert_clean(info.value, str(bad), "nested more than")


def test_deeply_nested_recipe_is_refused(tmp_path, repo):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text((repo / "reports" / "paper.yaml").read_text() + f"\nset: {nested(1000)}\n")
    with pytest.raises(SpecError) as info:
        load_recipe(recipe)
    assert_clean(info.value, str(recipe), "nested more than")


def test_nesting_within_the_limit_is_read(workload_path):
    """Depth 99 is read as YAML; validation then says what is wrong with it."""
    with pytest.raises(SpecError) as info:
        load_w(workload_path, f"workload.name={nested(limits.MAX_DEPTH - 1)}")
    assert_clean(info.value, "name", "valid string")


def test_long_set_key_path_is_refused(workload_path):
    flag = "workload." + ".".join(["a"] * 5000) + "=1"
    with pytest.raises(SpecError) as info:
        load_w(workload_path, flag)
    assert_clean(info.value, "more than")


# ---------------------------------------------------------------- 2. alias bombs, big files, long values

BOMB = ("lol: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
        + "".join(f"l{i}: &a{i} [{', '.join(['*a' if i == 0 else f'*a{i - 1}'] * 9)}]\n" for i in range(9)))


def test_alias_bomb_file_is_refused(tmp_path):
    bad = tmp_path / "hw.yaml"
    bad.write_text(BOMB)
    with pytest.raises(SpecError) as info:
        accelsim.load_hardware(bad)
    assert_clean(info.value, str(bad), "values (after expanding aliases)")


def test_alias_bomb_set_value_is_refused(hw_path):
    value = "[" + ", ".join(f"&a{i} [" + ", ".join([f"*a{i - 1}" if i else "1"] * 9) + "]" for i in range(9)) + "]"
    with pytest.raises(SpecError) as info:
        load_h(hw_path, f"hw.name={value}")
    assert_clean(info.value, "--set hw.name=", "values (after expanding aliases)")


def test_many_aliases_are_refused(tmp_path):
    bad = tmp_path / "hw.yaml"
    bad.write_text("a: &x 1\nb: [" + ", ".join(["*x"] * (limits.MAX_ALIASES + 1)) + "]\n")
    with pytest.raises(SpecError) as info:
        read_yaml(bad)
    assert_clean(info.value, "aliases")


def test_recursive_alias_is_refused(tmp_path):
    bad = tmp_path / "hw.yaml"
    bad.write_text("a: &x [1, *x]\n")
    with pytest.raises(SpecError) as info:
        read_yaml(bad)
    assert_clean(info.value, "refers to a value that contains it")


def test_a_few_aliases_are_fine(tmp_path, hw_path):
    text = hw_path.read_text().replace('op_overhead: "2 us"', 'op_overhead: &two "2 us"').replace(
        'latency: "1 us"', "latency: *two")
    ok = tmp_path / "hw.yaml"
    ok.write_text(text)
    assert accelsim.load_hardware(ok).link.latency == pytest.approx(2e-6)


def test_large_file_is_refused(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("name: x\n" + "# padding\n" * (limits.MAX_FILE_BYTES // 10 + 1))
    with pytest.raises(SpecError) as info:
        read_yaml(big)
    assert_clean(info.value, str(big), "larger than 1 MiB")


def test_dev_zero_is_refused_without_reading_it_all():
    with pytest.raises(SpecError) as info:
        accelsim.load_workload("/dev/zero")
    assert_clean(info.value, "/dev/zero", "larger than 1 MiB")


def test_long_bad_value_is_shown_bounded(hw_path):
    value = "x" * 5000
    for flag in (f"hw.link.bandwidth={value} Gbps", f"hw.link.lanes={value}", f"hw.name=[{', '.join(['1'] * 5000)}]"):
        with pytest.raises(SpecError) as info:
            load_h(hw_path, flag)
        text = assert_clean(info.value)
        assert max(len(run) for run in re.findall(r"x+|(?:1, )+", text)) <= limits.MAX_SOURCE, text


def test_long_unknown_key_is_shown_bounded(tmp_path, hw_path):
    bad = tmp_path / "hw.yaml"
    bad.write_text(hw_path.read_text() + f"? {'k' * 10_000}\n: 1\n")  # an explicit key: a plain one stops at 1024
    with pytest.raises(SpecError) as info:
        accelsim.load_hardware(bad)
    assert_clean(info.value, "unknown key")


def test_newlines_and_control_characters_in_a_key_stay_on_one_line(tmp_path, hw_path):
    bad = tmp_path / "hw.yaml"
    bad.write_text(hw_path.read_text() + '"bad\\nkey\\r\\u2028\\0": 1\n')
    with pytest.raises(SpecError) as info:
        accelsim.load_hardware(bad)
    assert_clean(info.value, "unknown key", "\\n")


def test_odd_scalars_are_invalid_yaml_not_crashes(tmp_path):
    for text in ("when: 2020-13-45\n", f"big: 1{'0' * 5000}\n"):
        bad = tmp_path / "odd.yaml"
        bad.write_text(text)
        with pytest.raises(SpecError) as info:
            read_yaml(bad)
        assert_clean(info.value, "invalid YAML")


def test_invalid_utf8_file(tmp_path):
    bad = tmp_path / "w.yaml"
    bad.write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(SpecError) as info:
        read_yaml(bad)
    assert_clean(info.value, "not UTF-8")


# ---------------------------------------------------------------- 3. NUL bytes


def test_nul_in_trace_path_set(workload_path):
    with pytest.raises(SpecError) as info:
        load_w(workload_path, 'workload.decoding.trace="\\0"')
    assert_clean(info.value, "decoding.trace", "NUL")


def test_nul_in_trace_path_in_file(tmp_path, workload_path):
    bad = tmp_path / "w.yaml"
    bad.write_text(workload_path.read_text() + '  trace: "a\\0b.jsonl"\n')
    with pytest.raises(SpecError) as info:
        accelsim.load_workload(bad)
    assert_clean(info.value, "decoding.trace", "NUL")


def test_nul_in_file_name():
    with pytest.raises(SpecError) as info:
        accelsim.load_workload("work\0load.yaml")
    assert_clean(info.value, "NUL")


# ---------------------------------------------------------------- 4. lone surrogates


@pytest.mark.parametrize("flag", [
    'workload.name="\\ud800"',
    'workload.description="ok \\udfff"',
    'workload.model.encoder.layers.0.name="\\ud800"',
    'workload.decoding.trace="\\ud800.jsonl"',
    'workload.precision.networks={"\\ud800": int4}',
])
def test_lone_surrogate_is_refused(workload_path, flag):
    with pytest.raises(SpecError) as info:
        load_w(workload_path, flag)
    assert_clean(info.value)


def test_lone_surrogate_in_hardware_name(hw_path):
    with pytest.raises(SpecError) as info:
        load_h(hw_path, 'hw.name="\\ud800"')
    assert_clean(info.value, "name", "surrogate")


def test_non_ascii_text_is_fine(workload_path):
    assert load_w(workload_path, "workload.description=µ-law, 日本語").description == "µ-law, 日本語"


# ---------------------------------------------------------------- 5. non-finite and out-of-range quantities


@pytest.mark.parametrize(("flag", "needle"), [
    ("hw.link.bandwidth=1e309 Gbps", "link.bandwidth"),
    ("hw.link.bandwidth=1 bps", "at least 1 kbit/s"),
    ("hw.link.bandwidth=2000 Tbps", "at most 1 Pbit/s"),
    ("hw.memory.device_bandwidth=1e400 GB/s", "memory.device_bandwidth"),
    ("hw.coprocessor.clock=1.6e300 GHz", "coprocessor.clock"),
    ("hw.coprocessor.clock=200 GHz", "at most 100 GHz"),
    ("hw.coprocessor.clock=1 Hz", "at least 1 MHz"),
    ("hw.coprocessor.scratchpad=1e999 TiB", "coprocessor.scratchpad"),
    ("hw.link.latency=1e308 s", "at most 1 hour"),
    ("hw.host.op_overhead=3601 s", "host.op_overhead"),
    ("hw.link.efficiency=1e-320", "greater than or equal to 0.01"),
    ("hw.link.efficiency=.nan", "finite"),
    ("hw.coprocessor.weight_fraction=.inf", "finite"),
])
def test_hardware_quantity_out_of_range(hw_path, flag, needle):
    with pytest.raises(SpecError) as info:
        load_h(hw_path, flag)
    assert info.value.source == f"--set {flag}"
    assert_clean(info.value, needle)


@pytest.mark.parametrize(("flag", "needle"), [
    ("workload.utterance.frame_shift=1e309 s", "utterance.frame_shift"),
    ("workload.utterance.frame_shift=1e-320 s", "at least 1 us"),
    ("workload.utterance.frame_shift=11 s", "at most 10 s"),
    ("workload.decoding.fusion.mu=.inf", "finite"),
    ("workload.decoding.fusion.mu=.nan", "finite"),
    ("workload.decoding.fusion.lam=-.inf", "finite"),
    ("workload.decoding.fusion.rho=1e300", "less than or equal to 1000"),
    ("workload.decoding.emission.label_rate=.nan", "finite"),
    ("workload.test_set={count: 3, mean_frames: .inf}", "finite"),
])
def test_workload_quantity_out_of_range(workload_path, flag, needle):
    with pytest.raises(SpecError) as info:
        load_w(workload_path, flag)
    assert_clean(info.value, needle)


def test_exponent_without_a_dot_is_a_number(hw_path, workload_path):
    """YAML 1.1 would read 5e-1 as the string '5e-1'; the loader reads it as YAML 1.2 does."""
    assert load_h(hw_path, "hw.link.efficiency=5e-1").link.efficiency == 0.5
    assert load_w(workload_path, "workload.decoding.fusion.mu=1e-1").decoding.fusion.mu == pytest.approx(0.1)


# ---------------------------------------------------------------- 6. huge integers and absurd sizes


@pytest.mark.parametrize(("flag", "limit"), [
    (f"hw.coprocessor.cores={2 ** 64}", "65536"),
    ("hw.coprocessor.cores=1000000", "65536"),
    (f"hw.coprocessor.pe_rows={2 ** 70}", "65536"),
    (f"hw.coprocessor.macs_per_cycle.int4={2 ** 64}", "1000000000"),
    ("hw.link.lanes=100000", "1024"),
])
def test_hardware_count_above_its_limit(hw_path, flag, limit):
    with pytest.raises(SpecError) as info:
        load_h(hw_path, flag)
    assert_clean(info.value, f"less than or equal to {limit}")


@pytest.mark.parametrize(("flag", "limit"), [
    (f"workload.model.vocab={2 ** 63}", "65536"),
    ("workload.model.vocab=10000000", "65536"),
    (f"workload.utterance.frames={2 ** 64}", "100000"),
    ("workload.utterance.frames=1000000", "100000"),
    ("workload.decoding.beam=1000000", "1024"),
    ("workload.model.encoder.layers.0.count=1000000", "1000"),
    ("workload.model.encoder.layers.0.hidden=10000000", "1000000"),
    ("workload.test_set={count: 1000000000, mean_frames: 100}", "100000"),
    ("workload.decoding.emission.seed=18446744073709551616", "2147483647"),
    ("workload.decoding.u_max=10000000", "100000"),
])
def test_workload_count_above_its_limit(workload_path, flag, limit):
    with pytest.raises(SpecError) as info:
        load_w(workload_path, flag)
    assert_clean(info.value, f"less than or equal to {limit}")


def test_huge_test_set_lengths_list(tmp_path, workload_path):
    data = yaml.safe_load(workload_path.read_text())
    data["test_set"] = {"lengths": [100] * 100_001}
    bad = tmp_path / "w.yaml"
    bad.write_text(yaml.safe_dump(data, default_flow_style=True, width=10**9))
    with pytest.raises(SpecError) as info:
        accelsim.load_workload(bad)
    assert_clean(info.value, "test_set.lengths", "at most 100000 items")


def test_huge_test_set_length(workload_path):
    with pytest.raises(SpecError) as info:
        load_w(workload_path, "workload.test_set={lengths: [10, 100000000]}")
    assert_clean(info.value, "test_set.lengths.1")


def _bounded_fields(model, seen=None):
    """(model, field name, FieldInfo, upper bound) of every field with an upper limit, recursively."""
    from pydantic import BaseModel
    from pydantic.fields import FieldInfo

    seen = set() if seen is None else seen
    if model in seen:
        return
    seen.add(model)
    for name, field in model.model_fields.items():
        metadata = list(field.metadata)
        stack = [field.annotation]
        while stack:
            a = stack.pop()
            if typing.get_origin(a) is typing.Annotated:
                for m in a.__metadata__:
                    metadata += list(m.metadata) if isinstance(m, FieldInfo) else [m]
                stack.append(typing.get_args(a)[0])
            elif isinstance(a, type) and issubclass(a, BaseModel):
                yield from _bounded_fields(a, seen)
            else:
                stack.extend(typing.get_args(a))
        for m in metadata:
            if isinstance(m, (annotated_types.Le, annotated_types.Lt)):
                yield model, name, field, getattr(m, "le", getattr(m, "lt", None))


def test_every_count_limit_is_in_the_field_description():
    checked = 0
    for root in (WorkloadSpec, HardwareSpec):
        for model, name, field, bound in _bounded_fields(root):
            if bound == 1 or name in ("mu", "lam", "rho"):
                continue  # shares and weights: the range is in the description as words
            text = field.description or ""
            assert f"{bound:,}" in text, f"{model.__name__}.{name}: the limit {bound:,} is not in {text!r}"
            checked += 1
    assert checked >= 20


def test_shipped_inputs_are_within_the_limits(repo):
    for path in (repo / "workloads").rglob("*.yaml"):
        accelsim.load_workload(path)
    for path in (repo / "hwconfigs").glob("*.yaml"):
        accelsim.load_hardware(path)
    for path in (repo / "reports").glob("*.yaml"):
        load_recipe(path)


# ---------------------------------------------------------------- 7. vocab and booleans


@pytest.mark.parametrize(("flag", "needle"), [
    ("workload.model.vocab=1", "greater than or equal to 2"),
    ("workload.model.vocab=true", "valid integer"),
    ("workload.decoding.beam=true", "valid integer"),
    ("workload.utterance.frames=false", "valid integer"),
    ("workload.utterance.frames=12.5", "valid integer"),
    ("workload.utterance.frames='12'", "valid integer"),
    ("workload.model.encoder.layers.0.count=true", "valid integer"),
    ("workload.decoding.fusion.mu=true", "valid number"),
    ("workload.decoding.emission.seed=true", "valid integer"),
    ("workload.precision.layers=[{network: encoder, layer: blstm1, weight_bits: true}]", "weight_bits"),
])
def test_booleans_and_small_vocab_are_refused(workload_path, flag, needle):
    with pytest.raises(SpecError) as info:
        load_w(workload_path, flag)
    assert_clean(info.value, needle)


@pytest.mark.parametrize("flag", ["hw.coprocessor.cores=true", "hw.link.lanes=true", "hw.link.efficiency=true"])
def test_booleans_are_not_numbers_in_hardware(hw_path, flag):
    with pytest.raises(SpecError) as info:
        load_h(hw_path, flag)
    assert_clean(info.value, "valid")


def test_vocab_two_is_the_smallest(workload_path):
    spec = load_w(workload_path, "workload.model.vocab=2")
    assert spec.model.vocab == 2


# ---------------------------------------------------------------- 8. the error helper itself


def test_unhashable_kind_with_unknown_key_in_a_later_layer(workload_path):
    with pytest.raises(SpecError) as info:
        load_w(workload_path, "workload.model.joint.layers.0.kind=[x]", "workload.model.joint.layers.1.zzz=1")
    text = assert_clean(info.value, "model.joint.layers.1.zzz", "unknown key")
    assert "'output'" in text  # the suggestion comes from the right layer's kind (linear), not the first


def test_unhashable_kind_alone(workload_path):
    with pytest.raises(SpecError) as info:
        load_w(workload_path, "workload.model.joint.layers.0.kind=[x]")
    assert_clean(info.value, "model.joint.layers.0", "'multiplicative_joint'")


def test_unknown_key_under_a_list_where_a_section_belongs(workload_path):
    with pytest.raises(SpecError) as info:
        load_w(workload_path, "workload.model.encoder=[{layers: 1}]", "workload.decoding.zzz=1")
    assert_clean(info.value)


@pytest.mark.parametrize("flag", ["workload.model.encoder.layers.²=1", f"workload.model.encoder.layers.{'9' * 5000}=1"])
def test_odd_list_indices(workload_path, flag):
    with pytest.raises(SpecError) as info:
        load_w(workload_path, flag)
    assert_clean(info.value, "expected a list index below 2")


def test_parse_override_keeps_its_contract():
    assert parse_override("hw.link.bandwidth=64 Gbps") == ("hw", "link.bandwidth", "64 Gbps")
    assert parse_override("workload.name=a: b: c") == ("workload", "name", "a: b: c")  # not YAML: kept as text


# ---------------------------------------------------------------- 7. inputs that would eat memory (issue 20 item 3)


@pytest.mark.parametrize("target", ["/dev/zero", "fifo", "folder", "big"])
def test_a_trace_that_is_not_a_small_regular_file_is_refused_unread(tmp_path, workload_path, target):
    """`decoding.trace=/dev/zero` was read whole to hash it (7 GB after 25 s); a FIFO would block the open."""
    import os

    from accelsim.pipeline import resolve, simulate_point

    if target == "fifo":
        path = tmp_path / "trace.fifo"
        os.mkfifo(path)
    elif target == "folder":
        path = tmp_path
    elif target == "big":
        path = tmp_path / "big.jsonl"
        with open(path, "wb") as handle:
            handle.truncate(limits.MAX_TRACE_BYTES + 1)  # sparse: no disk used
    else:
        path = Path(target)
    point = resolve(workload_path, workload_path.parents[1] / "hwconfigs" / "rapid_7nm.yaml",
                    [f"workload.decoding.trace={path}"])
    with pytest.raises(accelsim.AccelsimError) as info:
        simulate_point(point)
    needle = {"/dev/zero": "not a regular file", "fifo": "not a regular file", "folder": "is a directory",
              "big": "a trace may have"}[target]
    assert_clean(info.value, str(path)[-40:], "cannot read the trace", needle)


def test_a_long_trace_path_is_echoed_bounded(run_cli):
    """A 5,000-character trace path was echoed whole in the error line."""
    path = "/tmp/" + "x" * 5000 + "/trace.jsonl"
    proc = run_cli("run", "--set", f"workload.decoding.trace={path}")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    (line,) = proc.stderr.splitlines()
    assert len(line) <= limits.MAX_MESSAGE and "trace.jsonl" in line, line


def test_the_frames_maximum_runs_in_bounded_memory(repo):
    """The schema's own maximum of utterance.frames, run on the shipped workload and machine (`accelsim run`), in a
    process whose peak memory stays under 2 GB (1,000,000 frames, the earlier maximum, took more than 4 GB)."""
    import subprocess
    import sys

    code = ("import resource, sys; from accelsim.cli import main; code = main(sys.argv[1:]); "
            "print('peak', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(code)")
    proc = subprocess.run([sys.executable, "-c", code, "run", "--set", f"workload.utterance.frames={limits.MAX_FRAMES}",
                           "--json"], cwd=repo, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    peak_kib = int(proc.stderr.split("peak")[-1])  # Linux: kilobytes
    assert peak_kib < 2 * 2**20, f"peak memory {peak_kib / 2**20:.2f} GiB"
    with pytest.raises(SpecError):
        load_w(repo / "workloads" / "rnnt_lm_fusion.yaml", f"workload.utterance.frames={limits.MAX_FRAMES + 1}")


@pytest.mark.parametrize("args", [("run", "--by", "layer"), ("run", "--trace", "t.json"), ("explain",)])
def test_records_of_a_long_utterance_are_refused_before_running(run_cli, args):
    """Per-op records grow with the utterance (about 1 GB at 10,000 frames): what asks for them on a longer one ends
    in one clear line, at once, instead of eating the machine; a run without them goes through (test above)."""
    from accelsim.api import MAX_RECORDED_FRAMES

    proc = run_cli(*args, "--set", f"workload.utterance.frames={MAX_RECORDED_FRAMES + 1}", timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "per-op records are kept for utterances of at most 10,000 frames" in proc.stderr
