"""Property: whatever the input, loading gives a valid spec or one clean AccelsimError -- never another
exception, never a message of more than one line or MAX_MESSAGE characters.

Inputs are the shipped workload and hardware files, mutated: values swapped for other types, extremes,
non-finite numbers, huge integers, text with NUL and lone surrogates, deep nesting and alias bombs; keys
removed and added; the YAML text itself cut and spliced; and ``--set`` flags built the same way.

The default profile (tests/conftest.py, "ci") runs a couple of hundred examples; for a long search:

    python -m pytest tests/test_fuzz_specs.py --hypothesis-profile=deep
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import event, given
from hypothesis import strategies as st

import accelsim
from accelsim.errors import AccelsimError
from accelsim.spec import limits
from accelsim.spec.hardware import HardwareSpec
from accelsim.spec.workload import WorkloadSpec

REPO = Path(__file__).resolve().parents[1]
SOURCES = {
    "workload": REPO / "workloads" / "rnnt_lm_fusion.yaml",
    "hw": REPO / "hwconfigs" / "rapid_7nm.yaml",
}
DOCS = {name: yaml.safe_load(path.read_text(encoding="utf-8")) for name, path in SOURCES.items()}
LOADERS = {"workload": (accelsim.load_workload, WorkloadSpec), "hw": (accelsim.load_hardware, HardwareSpec)}

# Placeholders replaced in the YAML text after dumping (yaml.safe_dump itself would recurse too deep).
DEEP = "__deep_{}__"
BOMB = "__bomb_{}__"

UNITS = ["Gbps", "GB/s", "Mbit/s", "MiB", "GB", "kbit", "GHz", "MHz", "Hz", "s", "ms", "us", "ns", "ps", "Tbps", "TiB", "x"]

weird_text = st.one_of(
    st.text(st.characters(), max_size=30),
    st.text(st.characters(categories=["Cs", "Cc", "Zl", "Zp"]), min_size=1, max_size=5),
    st.sampled_from(["\0", "\ud800", "a\udfffb", "\n", "blstm", "kind", "int4", "host", "device", "per_op", "", " ", "~"]),
    st.text(st.sampled_from("x9é"), min_size=1000, max_size=3000),
)
numbers = st.one_of(
    st.integers(),
    st.sampled_from([0, 1, 2, -1, 2**31, 2**63, 2**64, 2**80, 10**6, 10**8, 10**9, 10**300]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e-320, 5e-324, 1e308, 1e309, -0.0, 0.5, 0.01, 0.0099]),
)
quantities = st.builds(
    lambda number, unit, space: f"{number}{' ' if space else ''}{unit}",
    st.one_of(numbers, st.sampled_from(["1e309", "1e-320", "-0", ".5", "1.6e300", "nan", "inf"])),
    st.sampled_from(UNITS),
    st.booleans(),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, weird_text, quantities)
placeholders = st.one_of(
    st.integers(1, 1200).map(DEEP.format),
    st.integers(1, 12).map(BOMB.format),
)
values = st.recursive(
    st.one_of(scalars, placeholders),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.one_of(weird_text, scalars), inner, max_size=3)),
    max_leaves=8,
)


def _one_in(draw, n: int) -> bool:
    """True about once in ``n`` draws (hypothesis favours 0 and the ends of integer ranges)."""
    return draw(st.sampled_from(range(n))) == n // 2


def expand(text: str) -> str:
    """Turn placeholders into deep nesting or an alias bomb, written as YAML flow text."""
    import re

    def deep(match: re.Match) -> str:
        n = int(match[1])
        return "[" * n + "]" * n

    def bomb(match: re.Match) -> str:
        n = int(match[1])
        tag = f"b{abs(hash(match.start())) % 10_000}_"  # anchors must be unique in the document
        parts = [f"&{tag}0 [1, 1, 1, 1, 1, 1, 1, 1, 1]"]
        parts += [f"&{tag}{i} [" + ", ".join([f"*{tag}{i - 1}"] * 9) + "]" for i in range(1, n)]
        return "[" + ", ".join(parts) + "]"

    text = re.sub(r"'?__deep_(\d+)__'?", deep, text)
    return re.sub(r"'?__bomb_(\d+)__'?", bomb, text)


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path in a document (list items by index)."""
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += paths(v, prefix + (i,))
    return out


@st.composite
def mutated_document(draw, name: str) -> dict:
    import copy

    doc = copy.deepcopy(DOCS[name])
    every = paths(doc)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(every))
        parent: Any = doc
        try:
            for part in path[:-1]:
                parent = parent[part]
        except (KeyError, IndexError, TypeError):
            continue
        op = draw(st.sampled_from(["replace", "replace", "remove", "add", "swap"]))
        if not path:
            if op == "add":
                doc[draw(weird_text)] = draw(values)
            continue
        key = path[-1]
        try:
            current = parent[key]
        except (KeyError, IndexError, TypeError):
            continue
        if op == "replace":
            parent[key] = draw(values)
        elif op == "remove":
            del parent[key]
        elif op == "add" and isinstance(current, dict):
            current[draw(st.one_of(weird_text, st.sampled_from(["kind", "count", "name", "trace", "vocab"])))] = draw(values)
        elif op == "swap":  # same value, another type
            parent[key] = draw(st.sampled_from([[current], {"x": current}, str(current), True, None]))
        every = paths(doc)
    return doc


@st.composite
def yaml_text(draw, name: str) -> bytes:
    doc = draw(mutated_document(name))
    text = expand(yaml.safe_dump(doc, sort_keys=False, allow_unicode=draw(st.booleans()), width=10**6))
    if _one_in(draw, 10):  # cut and splice the text itself
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.one_of(weird_text, st.sampled_from(["&a", "*a", ": :", "- [", "{", "\t", "---\n"]))) + text[cut:]
    data = text.encode("utf-8", "surrogatepass")
    if _one_in(draw, 20):
        data = data[: draw(st.integers(0, len(data)))] + draw(st.binary(max_size=8))
    return data


KNOWN_PATHS = {name: [".".join(map(str, p)) for p in paths(doc) if p] for name, doc in DOCS.items()}


@st.composite
def set_flag(draw, name: str) -> str:
    path = draw(st.sampled_from(KNOWN_PATHS[name])) if not _one_in(draw, 10) else draw(
        st.one_of(weird_text, st.sampled_from(["", "a." * 200 + "a", "decoding.zzz", "coprocessor.macs_per_cycle.int3"])))
    value = draw(st.one_of(
        values.map(lambda v: expand(json.dumps(v, ensure_ascii=False, allow_nan=True)) if _jsonable(v) else "x"),
        weird_text,
        quantities,
        st.sampled_from([".inf", ".nan", "-.inf", "true", "~", "1e309", "[x]", '"\\0"', '"\\ud800"', "*a", "&a [*a]"]),
        placeholders.map(expand),
    ))
    prefix = draw(st.sampled_from([name] * 8 + ["workload" if name == "hw" else "hw", "other", ""]))
    sep = draw(st.sampled_from(["="] * 10 + ["", "=="]))
    return f"{prefix}.{path}{sep}{value}" if prefix else f"{path}{sep}{value}"


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=True)
        return True
    except (TypeError, ValueError):
        return False


def check(load, model, path, flags: list[str]) -> None:
    try:
        spec = load(path, overrides=flags)
    except AccelsimError as exc:
        text = str(exc)
        event("refused: " + text.split(": ")[-1][:30])
        assert "\n" not in text and "\r" not in text, text
        assert text.isprintable(), text
        assert len(text) <= limits.MAX_MESSAGE, (len(text), text)
        return
    event("valid spec")
    # A valid spec can be written out and read back, and holds only finite numbers.
    dumped = spec.model_dump_json()
    assert model.model_validate_json(dumped) == spec
    for number in _numbers(json.loads(dumped)):
        assert math.isfinite(number)


def _numbers(node: Any):
    if isinstance(node, dict):
        for v in node.values():
            yield from _numbers(v)
    elif isinstance(node, list):
        for v in node:
            yield from _numbers(v)
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        yield node


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.mark.parametrize("name", ["workload", "hw"])
@given(data=st.data())
def test_mutated_files_load_or_fail_cleanly(folder, name, data):
    path = folder / f"{name}.yaml"
    path.write_bytes(data.draw(yaml_text(name)))
    load, model = LOADERS[name]
    flags = data.draw(st.lists(set_flag(name), max_size=2)) if _one_in(data.draw, 4) else []
    check(load, model, path, flags)


@pytest.mark.parametrize("name", ["workload", "hw"])
@given(data=st.data())
def test_set_flags_load_or_fail_cleanly(name, data):
    load, model = LOADERS[name]
    check(load, model, SOURCES[name], data.draw(st.lists(set_flag(name), min_size=1, max_size=3)))
