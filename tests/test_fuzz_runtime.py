"""Property: whatever ``--set`` values, precision flags or recipe a user gives, the in-process API returns a
result whose every number is finite, or raises one clean AccelsimError (one line, at most MAX_MESSAGE
characters) -- never another exception.

Specs are the shipped ones on a tiny utterance (work-scaling fields are drawn small, so that each example
takes well under a second), mutated through --set flags; recipes are tiny sweeps with mutated names, axes,
zipped groups and base flags. The "ci" profile (tests/conftest.py) runs a few dozen examples; for a long search:

    python -m pytest tests/test_fuzz_runtime.py --hypothesis-profile=deep
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import yaml
from hypothesis import event, given
from hypothesis import strategies as st

import accelsim
from accelsim.errors import AccelsimError

REPO = Path(__file__).resolve().parents[1]
WORKLOAD = REPO / "workloads" / "rnnt_lm_fusion.yaml"
HW = REPO / "hwconfigs" / "rapid_7nm.yaml"
TINY = ["workload.utterance.frames=6", "workload.decoding.beam=2"]
MAX_MESSAGE = 2000

odd = st.one_of(
    st.sampled_from(["nan", "inf", "-inf", "-1", "0", "1e400", "1e-320", "~", "[]", "{}", "true", "'ü'", "\"\\0\"",
                     "banana", "0x10", "1_000", "[1, 2]", "{a: 1}"]),
    st.integers(-10, 10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(st.characters(blacklist_categories=["Cs"]), max_size=12).map(json.dumps),
)
quantity = st.builds(lambda n, u: f"'{n} {u}'", st.sampled_from(["0", "1", "0.5", "64", "1e-9", "1e12", "-2", "nan"]),
                     st.sampled_from(["Gbps", "GB/s", "GHz", "MHz", "us", "ns", "ms", "MiB", "KiB", "B"]))
# Fields of either spec, with values that keep the work small when they are valid.
FIELDS = {
    "hw.coprocessor.cores": st.integers(-1, 16).map(str),
    "hw.coprocessor.clock": quantity,
    "hw.coprocessor.pe_rows": st.integers(0, 32).map(str),
    "hw.coprocessor.macs_per_cycle": st.sampled_from(["{int4: 8192}", "{int8: 2048}", "{fp16: 1024}", "{fp32: 512}",
                                                      "{int2: 16384, fp16: 1024}", "{}", "{int3: 8}", "{fp16: 1000}"]),
    "hw.coprocessor.sfu_ops_per_cycle": st.integers(-1, 10**9).map(str),
    "hw.coprocessor.scratchpad": quantity,
    "hw.coprocessor.weight_fraction": st.sampled_from(["0", "0.01", "0.5", "1", "1.5"]),
    "hw.coprocessor.dispatch_overhead": quantity,
    "hw.coprocessor.launch_overhead": quantity,
    "hw.host.op_overhead": quantity,
    "hw.host.sort_per_element": quantity,
    "hw.link.bandwidth": quantity,
    "hw.link.lanes": st.integers(0, 2048).map(str),
    "hw.link.efficiency": st.sampled_from(["0", "0.01", "0.5", "1", "2"]),
    "hw.link.latency": quantity,
    "hw.memory.weights_home": st.sampled_from(["host", "device", "disk"]),
    "hw.memory.device_bandwidth": quantity,
    "hw.memory.residency": st.sampled_from(["pinned", "per_op", "none"]),
    "hw.memory.prefetch": st.sampled_from(["one_deep", "on_demand", "never"]),
    "workload.utterance.frames": st.integers(-1, 12).map(str),
    "workload.utterance.frame_shift": quantity,
    "workload.decoding.beam": st.integers(-1, 4).map(str),
    "workload.decoding.lm_fusion": st.sampled_from(["true", "false", "maybe"]),
    "workload.decoding.u_max": st.sampled_from(["0", "1", "3", "-1", "null"]),
    "workload.decoding.early_stop": st.sampled_from(["true", "false"]),
    "workload.decoding.emission.confidence": st.sampled_from(["0", "0.5", "0.99", "1", "1.5", "nan"]),
    "workload.decoding.emission.label_rate": st.sampled_from(["0", "0.25", "1", "2", "-1"]),
    "workload.decoding.emission.seed": st.integers(-1, 2**40).map(str),
    "workload.precision.default": st.sampled_from(["fp32", "fp16", "int8", "int4", "w2a4", "int3"]),
    "workload.precision.lstm_quant": st.sampled_from(["inner", "outer", "both"]),
    "workload.precision.quantize": st.sampled_from(["fused", "separate", "never"]),
    "workload.test_set": st.sampled_from(["null", "{lengths: [3, 5]}", "{count: 2, mean_frames: 5, std_frames: 2}",
                                          "{lengths: []}", "{count: 0}"]),
    "workload.model.vocab": st.integers(-1, 100).map(str),
    "workload.name": odd,
    "hw.name": odd,
}
flags = st.lists(st.one_of(
    *[st.builds(lambda v, k=k: f"{k}={v}", st.one_of(FIELDS[k], odd)) for k in sorted(FIELDS)],
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(["hw.coprocessor", "workload.model.encoder", "hw.nope", "workload",
                                                         "hw.link.bandwidth.x", "", "=", "hw..link"]), odd),
), max_size=4)
precision = st.one_of(st.none(), st.sampled_from(["int4", "fp16", "rnnt=int8,lms=int4", "rnnt=int4,lm_ext=fp32",
                                                   "encoder=w2a4", "bogus", "rnnt=", ",", "lms=int4,lms=fp16"]))


def _clean(exc: AccelsimError) -> None:
    message = str(exc)
    assert message and "\n" not in message and len(message) <= MAX_MESSAGE, message[:300]


def _finite(result: accelsim.SimResult) -> None:
    data = result.to_dict()
    numbers = [v for v in data.values() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    numbers += [v for d in data.values() if isinstance(d, dict) for v in d.values() if isinstance(v, float)]
    assert all(math.isfinite(v) for v in numbers), data
    json.dumps(data, allow_nan=False)


@given(extra=flags, precision=precision, beam=st.one_of(st.none(), st.integers(1, 3)), lm=st.one_of(st.none(), st.booleans()))
def test_simulate_gives_a_finite_result_or_one_clean_error(extra, precision, beam, lm):
    try:
        result = accelsim.simulate(WORKLOAD, HW, overrides=TINY + extra, precision=precision, beam=beam, lm_fusion=lm,
                                   keep_records=False)
    except AccelsimError as exc:
        event("error")
        _clean(exc)
        return
    event("result")
    _finite(result)


axis_values = st.lists(st.one_of(st.sampled_from(["32 Gbps", "64 Gbps", "0 Gbps", "nan Gbps", 1, 2, "int4", "fp16", None,
                                                  [1], {"a": 1}, "ü"]), odd), min_size=1, max_size=3)
axis_names = st.sampled_from(["precision", "hw.link.bandwidth", "workload.decoding.beam", "hw.coprocessor.cores",
                              "workload.precision.quantize", "hw.nope", "workload", "bogus"])
names = st.one_of(st.sampled_from(["t", "../../x", "/abs", "..", "a/b", "Zürich ü", "", " ", "x" * 300]),
                  st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=10))


@given(name=names, axes=st.dictionaries(axis_names, axis_values, max_size=2), extra=flags)
def test_run_sweep_gives_finite_rows_or_one_clean_error(tmp_path_factory, name, axes, extra):
    folder = tmp_path_factory.mktemp("recipe")
    data = {"name": name, "workload": str(WORKLOAD), "hardware": str(HW), "set": TINY + extra, "axes": axes}
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    try:
        table = accelsim.run_sweep(path, folder / "out", workers=1)
    except AccelsimError as exc:
        event("error")
        _clean(exc)
        return
    event("table")
    assert isinstance(table, pd.DataFrame) and set(table["status"]) <= {"ok", "invalid", "failed"}
    for _, row in table[table["status"] != "ok"].iterrows():
        assert row["error"] and "\n" not in row["error"] and len(row["error"]) <= MAX_MESSAGE
        assert not row["error"].startswith(("TypeError", "ValueError", "KeyError", "AttributeError", "ZeroDivision"))
    metrics = table[table["status"] == "ok"].select_dtypes("number")
    assert metrics.map(math.isfinite).all().all()
