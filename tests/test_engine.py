"""Tests of the SimPy engine (accelsim/sim/), its metrics (accelsim/report/metrics.py) and the `run` CLI.

Invariants on a small but real workload (the shipped RNN-T with LM fusion, cut to a few frames), the
weight-residency plan, determinism, and monotonicity properties a user relies on for what-if questions.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import accelsim
from accelsim.hw.link import link_bytes_per_s
from accelsim.api import decode_trace, resolve
from accelsim.graph.ir import COMPONENTS, Op
from accelsim.graph.lower import lower
from accelsim.hw.coprocessor import device_weight_bits
from accelsim.hw.cost import op_cost
from accelsim.report.metrics import breakdowns, critical_path, occupancy
from accelsim.sim.engine import Record, Run, simulate_ops
from accelsim.sim.target import target_for
from accelsim.sim.policies import cores_per_lane
from accelsim.spec.hardware import HardwareSpec
from accelsim.workload.model import build_model

REPO = Path(__file__).resolve().parents[1]
WORKLOAD = REPO / "workloads" / "rnnt_lm_fusion.yaml"
HW = REPO / "hwconfigs" / "rapid_7nm.yaml"

TOL = 1e-15  # seconds: records share SimPy's clock, so orderings are exact up to rounding
FRAMES = 16
BEAM = 4
SMALL = [f"workload.utterance.frames={FRAMES}", f"workload.decoding.beam={BEAM}"]

#: Property tests: few examples, no deadline (a run takes ~0.1 s), no example database, reproducible.
PROPERTY = settings(max_examples=10, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _rtf(*overrides: str, **kwargs) -> float:
    return accelsim.simulate(WORKLOAD, HW, overrides=list(overrides), **kwargs).rtf


@dataclass(frozen=True)
class Lowered:
    ops: list[Op]
    hw: HardwareSpec
    run: Run
    audio_s: float


def _lower_and_run(overrides: list[str]) -> Lowered:
    spec, hw = resolve(WORKLOAD, HW, overrides)
    ops = lower(build_model(spec), spec.utterance.frames, decode_trace(spec))
    return Lowered(ops, hw, simulate_ops(ops, target_for(hw)), spec.utterance.frames * spec.utterance.frame_shift)


def _physical(resource: str) -> list[str]:
    """'core0-1' -> ['core0', 'core1']; any other label is one resource."""
    if resource.startswith("core") and "-" in resource:
        first, last = resource[4:].split("-")
        return [f"core{i}" for i in range(int(first), int(last) + 1)]
    return [resource]


def _op_records(run: Run) -> dict[str, Record]:
    return {r.op: r for r in run.records if r.kind != "fetch"}


VARIANTS = {
    # The shipped machine: encoder directions on two cores each, decode ops on all four.
    "rapid": [],
    # An odd core count: directions get one core each, one core idles in the encoder.
    "three_cores_inner": ["hw.coprocessor.cores=3", "workload.precision.lstm_quant=inner"],
    # One core: both directions contend for it.
    "one_core_fp16": ["hw.coprocessor.cores=1", "workload.precision.default=fp16"],
    # Weights from device memory: fetches use their own channel.
    "device_memory": ["hw.memory.weights_home=device", "hw.memory.device_bandwidth=50 GB/s"],
    # Almost no room for resident weights: lots of fetch traffic sharing the h2d link with transfers.
    "tiny_scratchpad": ["hw.coprocessor.weight_fraction=0.001", "workload.decoding.beam=2"],
}


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def lowered(request) -> Lowered:
    return _lower_and_run(SMALL + VARIANTS[request.param])


@pytest.fixture(scope="module")
def result() -> accelsim.SimResult:
    return accelsim.simulate(WORKLOAD, HW, overrides=SMALL)


# ---------------------------------------------------------------------------------------------
# Engine invariants
# ---------------------------------------------------------------------------------------------


def test_every_op_runs_exactly_once(lowered: Lowered) -> None:
    names = [r.op for r in lowered.run.records if r.kind != "fetch"]
    assert len(names) == len(lowered.ops)
    assert sorted(names) == sorted(op.name for op in lowered.ops)
    records = _op_records(lowered.run)
    for op in lowered.ops:
        rec = records[op.name]
        assert (rec.kind, rec.component, rec.macs) == (op.kind, op.component, op.macs)
        assert 0.0 <= rec.start <= rec.end
    assert [r.index for r in lowered.run.records] == list(range(len(lowered.run.records)))


def test_ops_start_after_their_dependencies_end(lowered: Lowered) -> None:
    records = _op_records(lowered.run)
    checked = 0
    for op in lowered.ops:
        start = records[op.name].start
        for d in op.deps:
            assert start >= records[lowered.ops[d].name].end - TOL, (op.name, lowered.ops[d].name)
            checked += 1
    assert checked > len(lowered.ops) / 2


def test_durations_come_from_the_cost_model(lowered: Lowered) -> None:
    records = _op_records(lowered.run)
    cores = lowered.hw.coprocessor.cores
    for op in lowered.ops:
        rec = records[op.name]
        n = len(_physical(rec.resource))
        if op.unit == "core":
            assert rec.resource_class == "coprocessor" and rec.resource.startswith("core")
            assert all(int(c[4:]) < cores for c in _physical(rec.resource))
        else:
            assert rec.resource == op.unit
        expected = op_cost(op, lowered.hw, n).seconds
        if op.kind == "transfer" and lowered.hw.link.queue_depth > 1 and rec.end - rec.start < expected - TOL:
            expected -= lowered.hw.link.latency  # its latency passed in a DMA queue slot while the link was busy
        assert rec.end - rec.start == pytest.approx(expected, rel=1e-12, abs=TOL)


def test_no_physical_resource_runs_two_things_at_once(lowered: Lowered) -> None:
    busy: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    queued = lowered.hw.link.queue_depth > 1
    for r in lowered.run.records:
        start = r.start
        if queued and r.resource in ("h2d", "d2h"):  # on a DMA queue only the data holds the link
            start = r.end - r.bytes / link_bytes_per_s(lowered.hw.link)
        for res in _physical(r.resource):
            busy[res].append((start, r.end, r.op))
    assert "h2d" in busy and "host" in busy and "core0" in busy
    for res, intervals in busy.items():
        intervals.sort()
        for (s1, e1, a), (s2, e2, b) in zip(intervals, intervals[1:]):
            assert s2 >= e1 - TOL, (res, a, b)
        # Busy time the run reports is the sum of what ran there.
        assert lowered.run.busy[res] == pytest.approx(sum(e - s for s, e, _ in intervals), rel=1e-9, abs=TOL)


def test_fetches_precede_their_op_and_match_the_plan(lowered: Lowered) -> None:
    run, ops = lowered.run, lowered.ops
    records = _op_records(run)
    fetches = [r for r in run.records if r.kind == "fetch"]
    assert fetches, "the variants all fetch weights"
    channel = "h2d" if lowered.hw.memory.weights_home == "host" else "dram"
    by_name = {op.name: op for op in ops}
    fetched_ops = set()
    for f in fetches:
        assert f.op.endswith(".fetch") and f.resource == channel
        op = by_name[f.op[: -len(".fetch")]]
        fetched_ops.add(op.name)
        assert f.end <= records[op.name].start + TOL, op.name
        assert f.bytes == run.plan.fetch_bytes[op.id] > 0
        # One-deep prefetch: the fetch starts no earlier than the op's dependencies do.
        for d in op.deps:
            assert f.start >= records[ops[d].name].start - TOL, (op.name, ops[d].name)
    assert len(fetched_ops) == len(fetches)  # one fetch per op at most
    assert fetched_ops == {op.name for op in ops if run.plan.fetch_bytes[op.id] > 0}
    assert sum(f.bytes for f in fetches) == pytest.approx(run.plan.total_fetch_bytes, rel=1e-12)


def test_critical_path_tiles_the_run(lowered: Lowered) -> None:
    run = lowered.run
    chain = critical_path(run.records)
    assert chain
    assert chain[0][0].pred == -1 and chain[0][0].start == 0.0
    assert chain[-1][0].end == run.time_s
    for (prev, _), (rec, _) in zip(chain, chain[1:]):
        assert rec.pred == prev.index
    begin = 0.0
    for rec, seconds in chain:
        assert seconds >= 0.0
        assert seconds == pytest.approx(rec.end - begin, abs=TOL)
        # The predecessor released this record: no idle gap on the critical path.
        assert rec.start == pytest.approx(begin, abs=TOL), rec.op
        begin = rec.end
    assert sum(s for _, s in chain) == pytest.approx(run.time_s, rel=1e-12)


def test_every_record_was_released_by_its_predecessor(lowered: Lowered) -> None:
    records = lowered.run.records
    for r in records:
        released = records[r.pred].end if r.pred >= 0 else 0.0
        assert r.start == pytest.approx(released, abs=TOL), r.op


def test_breakdowns_sum_to_the_rtf(lowered: Lowered) -> None:
    rtf = lowered.run.time_s / lowered.audio_s
    by_component, by_resource = breakdowns(lowered.run, lowered.audio_s)
    assert set(by_component) == set(COMPONENTS)
    assert sum(by_component.values()) == pytest.approx(rtf, rel=1e-9)
    assert sum(by_resource.values()) == pytest.approx(rtf, rel=1e-9)
    assert min(by_component.values()) >= 0.0 and min(by_resource.values()) >= 0.0
    assert by_component["encoder"] > 0.0


def test_occupancy_is_a_share(lowered: Lowered) -> None:
    occ = occupancy(lowered.run, lowered.hw.coprocessor.cores)
    assert {"coprocessor", "host", "link_h2d", "link_d2h"} <= set(occ)
    for key, value in occ.items():
        assert 0.0 <= value <= 1.0 + 1e-12, key
    assert occ["coprocessor"] > 0.0 and occ["host"] > 0.0


def test_simulate_result_is_consistent(result: accelsim.SimResult) -> None:
    r = result
    assert r.audio_s == pytest.approx(FRAMES * 0.020, rel=1e-12)
    assert r.time_s == max(rec.end for rec in r.records)
    assert r.rtf == pytest.approx(r.time_s / r.audio_s, rel=1e-12)
    assert sum(r.breakdown_by_component.values()) == pytest.approx(r.rtf, rel=1e-9)
    assert sum(r.breakdown_by_resource.values()) == pytest.approx(r.rtf, rel=1e-9)
    assert set(r.breakdown_by_resource) == {"coprocessor", "host", "link"}
    assert all(0.0 <= v <= 1.0 for v in r.occupancy.values())
    assert r.beam == BEAM and r.iterations >= FRAMES
    assert r.fetched_weight_bytes > 0


def _same_records(a, b) -> None:
    """Equal records; times may differ in the last bits (a segment's times are offsets added to its start)."""
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert (x.index, x.op, x.kind, x.component, x.resource, x.pred, x.macs, x.bytes) == \
               (y.index, y.op, y.kind, y.component, y.resource, y.pred, y.macs, y.bytes)
        assert x.start == pytest.approx(y.start, rel=1e-12, abs=1e-18)
        assert x.end == pytest.approx(y.end, rel=1e-12, abs=1e-18)


def test_direct_engine_run_matches_the_api(result: accelsim.SimResult) -> None:
    direct = _lower_and_run(SMALL)
    _same_records(direct.run.records, result.records)
    assert direct.run.time_s / direct.audio_s == pytest.approx(result.rtf, rel=1e-12)


@pytest.mark.parametrize("extra", [
    [],
    ["hw.memory.residency=pinned"],
    ["workload.precision.default=fp16", "workload.decoding.lm_fusion=false"],
    ["workload.decoding.beam=1", "hw.link.bandwidth=64 Gbps"],
    ["workload.precision.lstm_quant=inner", "hw.coprocessor.cores=3", "hw.memory.weights_home=device",
     "hw.memory.device_bandwidth=100 GB/s"],
])
def test_segmented_run_equals_one_global_run(extra) -> None:
    """Simulating each distinct decode iteration once and shifting it (the fast path) gives the same
    records, RTF and breakdowns as one SimPy run of the whole utterance."""
    overrides = ["workload.utterance.frames=40", "workload.decoding.beam=8", *extra]
    fast = accelsim.simulate(WORKLOAD, HW, overrides=overrides)
    slow = accelsim.simulate(WORKLOAD, HW, overrides=overrides, segmented=False)
    _same_records(fast.records, slow.records)
    assert fast.rtf == pytest.approx(slow.rtf, rel=1e-12)
    for key, value in slow.breakdown_by_component.items():
        assert fast.breakdown_by_component[key] == pytest.approx(value, rel=1e-9, abs=1e-15)
    for key, value in slow.breakdown_by_resource.items():
        assert fast.breakdown_by_resource[key] == pytest.approx(value, rel=1e-9, abs=1e-15)
    for key, value in slow.occupancy.items():
        assert fast.occupancy[key] == pytest.approx(value, rel=1e-9)


def test_reported_op_count_counts_ops(result: accelsim.SimResult) -> None:
    ops = sum(1 for r in result.records if r.kind != "fetch")
    assert any(r.kind == "fetch" for r in result.records)
    assert result.to_dict()["ops"] == ops


# ---------------------------------------------------------------------------------------------
# Weight residency
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def int4_run() -> Lowered:
    # The shipped config re-fetches weights per op (the paper's runtime); residency is tested pinned, with the
    # batched projection (W_hh alone per step) and without the next-iteration prefetch (tests/test_fidelity.py).
    return _lower_and_run(["workload.utterance.frames=12", "workload.decoding.beam=4", "hw.memory.residency=pinned",
                           *CLASSIC])


CLASSIC = ("workload.runtime.lstm_input_projection=batched", "workload.runtime.prefetch_next_iteration=false")


def _users(ops: list[Op], tensor: str) -> list[Op]:
    return [op for op in ops if any(t == tensor for t, _ in op.weights)]


def _bytes(op: Op, params: int, hw: HardwareSpec) -> float:
    """Bytes one weight tensor of ``op`` occupies on the device (and moves when fetched)."""
    return params * device_weight_bits(hw.coprocessor, op.weight_bits) / 8


def _reads(op, hw) -> list[tuple[str, float]]:
    """(tensor, bytes) an op reads: its weights at their bits, its biases in FP32."""
    return [(t, _bytes(op, n, hw)) for t, n in op.weights] + [(t, n * 4.0) for t, n in op.biases]


def _size(lowered: Lowered, tensor: str) -> float:
    return next(_bytes(op, n, lowered.hw) for op in lowered.ops for t, n in op.weights if t == tensor)


def test_resident_weight_is_fetched_once(int4_run: Lowered) -> None:
    ops, run = int4_run.ops, int4_run.run
    tensor = "encoder.blstm2.fwd.W_hh"  # 640 x 2560 at 4 bits = 0.82 MB, used T-1 = 11 times
    size = _size(int4_run, tensor)
    assert size == 640 * 2560 * 4 / 8
    users = _users(ops, tensor)
    assert len(users) == 11 and all(len(op.weights) == 1 for op in users)
    assert ("encoder.blstm2", tensor) in run.plan.pinned
    bias = 2560 * 4  # b_hh in FP32, pinned with its matrix
    assert [run.plan.fetch_bytes[op.id] for op in users] == [size + bias] + [0.0] * 10
    names = {u.name + ".fetch" for u in users}
    fetch_records = [r for r in run.records if r.kind == "fetch" and r.op in names]
    assert len(fetch_records) == 1 and fetch_records[0].bytes == size + bias


def test_weight_that_does_not_fit_is_fetched_at_every_use(int4_run: Lowered) -> None:
    ops, run = int4_run.ops, int4_run.run
    tensor = "lm_ext.lstm2.W_hh"  # 2048 x 8192 at 4 bits = 8.4 MB > 4 cores x 2 MiB x 0.5
    users = _users(ops, tensor)
    assert len(users) > 1
    assert ("decode", tensor) not in run.plan.pinned
    assert all(run.plan.fetch_bytes[op.id] >= _size(int4_run, tensor) for op in users)
    names = {u.name + ".fetch" for u in users}
    assert len([r for r in run.records if r.kind == "fetch" and r.op in names]) == len(users)


def test_fetch_bytes_follow_the_plan(int4_run: Lowered) -> None:
    """Each op fetches its unpinned weights at every use and its pinned ones at their first use only."""
    ops, run = int4_run.ops, int4_run.run
    seen: set[tuple[str, str]] = set()
    for op in ops:
        expected = 0.0
        for tensor, size in _reads(op, int4_run.hw):
            key = (op.region, tensor)
            if key not in run.plan.pinned or key not in seen:
                expected += size
            seen.add(key)
        assert run.plan.fetch_bytes[op.id] == pytest.approx(expected, rel=1e-12), op.name


def test_pinned_weights_fit_in_their_scratchpad_share(int4_run: Lowered) -> None:
    ops, run, cop = int4_run.ops, int4_run.run, int4_run.hw.coprocessor
    pinned_bytes: dict[tuple[str, int, int], float] = defaultdict(float)
    seen = set()
    for op in ops:
        for tensor, size in _reads(op, int4_run.hw):
            key = (op.region, tensor)
            if key in run.plan.pinned and key not in seen:
                seen.add(key)
                pinned_bytes[(op.region, op.lane, op.lanes)] += size
    assert seen == set(run.plan.pinned) and seen
    for (region, lane, lanes), total in pinned_bytes.items():
        assert total <= cores_per_lane(cop.cores, lanes) * cop.scratchpad * cop.weight_fraction, region


def test_per_op_residency_fetches_every_use() -> None:
    lowered = _lower_and_run(["workload.utterance.frames=12", "workload.decoding.beam=4", "hw.memory.residency=per_op",
                              *CLASSIC])
    assert not lowered.run.plan.pinned
    for op in lowered.ops:
        expected = sum(size for _, size in _reads(op, lowered.hw))
        assert lowered.run.plan.fetch_bytes[op.id] == pytest.approx(expected)


def test_less_room_for_weights_means_more_fetching() -> None:
    base = ["workload.utterance.frames=12", "workload.decoding.beam=4", "hw.memory.residency=pinned"]
    roomy = accelsim.simulate(WORKLOAD, HW, overrides=base)
    tight = accelsim.simulate(WORKLOAD, HW, overrides=[*base, "hw.coprocessor.weight_fraction=0.0001"])
    # The encoder's recurrent weights alone (12 directions x 10 extra uses of >= 0.8 MB) make a large difference.
    assert tight.fetched_weight_bytes > roomy.fetched_weight_bytes + 12 * 10 * 0.8e6
    assert tight.rtf > roomy.rtf


# ---------------------------------------------------------------------------------------------
# Determinism
# ---------------------------------------------------------------------------------------------


def test_two_runs_are_identical() -> None:
    """Two runs from scratch (every memo cleared in between) give identical results."""
    from accelsim.api import clear_caches

    overrides = ["workload.utterance.frames=14", "workload.decoding.beam=4"]
    clear_caches()
    a = accelsim.simulate(WORKLOAD, HW, overrides=overrides)
    clear_caches()
    b = accelsim.simulate(WORKLOAD, HW, overrides=overrides)
    assert json.dumps(a.to_dict(), sort_keys=True) == json.dumps(b.to_dict(), sort_keys=True)
    assert a.records == b.records


def test_identical_across_processes_and_hash_seeds(tmp_path) -> None:
    """Fresh interpreters with different string-hash seeds print byte-identical JSON."""
    import os
    import subprocess
    import sys

    outputs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        proc = subprocess.run([sys.executable, "-m", "accelsim.cli", "run", str(WORKLOAD), str(HW), "--json",
                               "--set", "workload.utterance.frames=14", "--beam", "4",
                               "--set", "hw.memory.residency=pinned"],
                              capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 0, proc.stderr
        outputs.append(proc.stdout)
    assert outputs[0] == outputs[1]


# ---------------------------------------------------------------------------------------------
# Monotonicity
# ---------------------------------------------------------------------------------------------

_frames = st.integers(min_value=3, max_value=12)
_beam = st.sampled_from([1, 2, 4])


@PROPERTY
@given(frames=_frames, beam=_beam, bandwidths=st.lists(st.sampled_from([2, 8, 16, 32, 64, 256]), min_size=2,
                                                     max_size=2, unique=True))
def test_more_link_bandwidth_is_never_slower(frames: int, beam: int, bandwidths: list[int]) -> None:
    slow, fast = sorted(bandwidths)
    base = [f"workload.utterance.frames={frames}", f"workload.decoding.beam={beam}"]
    assert _rtf(*base, f"hw.link.bandwidth={fast} Gbps") <= _rtf(*base, f"hw.link.bandwidth={slow} Gbps")


@PROPERTY
@given(frames=_frames, beam=_beam, clocks=st.lists(st.sampled_from([0.4, 1.0, 1.6, 2.5, 4.0]), min_size=2,
                                                 max_size=2, unique=True))
def test_faster_clock_is_never_slower(frames: int, beam: int, clocks: list[float]) -> None:
    slow, fast = sorted(clocks)
    base = [f"workload.utterance.frames={frames}", f"workload.decoding.beam={beam}"]
    assert _rtf(*base, f"hw.coprocessor.clock={fast} GHz") <= _rtf(*base, f"hw.coprocessor.clock={slow} GHz")


@pytest.mark.parametrize("extra", [[], ["hw.link.bandwidth=256 Gbps"], ["hw.memory.weights_home=device",
                                                                         "hw.memory.device_bandwidth=400 GB/s"]],
                         ids=["rapid", "fast_link", "device_memory"])
def test_fewer_bits_are_never_slower(extra: list[str]) -> None:
    base = ["workload.utterance.frames=10", "workload.decoding.beam=4", *extra]
    fp32, fp16, int8, int4 = (_rtf(*base, precision=p) for p in ("fp32", "fp16", "int8", "int4"))
    assert fp32 >= fp16 >= int8 >= int4


@pytest.mark.parametrize("frames", [6, 12, 20])
def test_beam_1_is_never_slower_than_beam_16(frames: int) -> None:
    base = [f"workload.utterance.frames={frames}"]
    assert _rtf(*base, beam=1) <= _rtf(*base, beam=16)


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------

CLI_ARGS = ("--set", "workload.utterance.frames=20", "--beam", "2")


def test_cli_run_json_prints_one_object(run_cli) -> None:
    proc = run_cli("run", "--json", *CLI_ARGS)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout.strip()
    obj, end = json.JSONDecoder().raw_decode(text)
    assert end == len(text), "stdout must hold one JSON object and nothing else"
    assert isinstance(obj, dict)
    assert {"rtf", "time_s", "audio_s", "breakdown_by_component", "breakdown_by_resource", "occupancy"} <= set(obj)
    assert obj["audio_s"] == pytest.approx(20 * 0.020, rel=1e-12)
    assert obj["rtf"] == pytest.approx(obj["time_s"] / obj["audio_s"], rel=1e-12)
    assert sum(obj["breakdown_by_component"].values()) == pytest.approx(obj["rtf"], rel=1e-9)
    assert sum(obj["breakdown_by_resource"].values()) == pytest.approx(obj["rtf"], rel=1e-9)
    assert all(0.0 <= v <= 1.0 for v in obj["occupancy"].values())
    assert obj["beam"] == 2
    # The same run through the API, in this process (run keeps no per-op records unless asked): bit-identical.
    api = accelsim.simulate(WORKLOAD, HW, overrides=["workload.utterance.frames=20"], beam=2, keep_records=False)
    assert obj["rtf"] == api.rtf


def test_cli_run_prints_a_table(run_cli) -> None:
    proc = run_cli("run", *CLI_ARGS)
    assert proc.returncode == 0, proc.stderr
    assert "RTF" in proc.stdout
    assert "beam 2" in proc.stdout
    with pytest.raises(json.JSONDecodeError):
        json.loads(proc.stdout)


@pytest.mark.parametrize("extra", [
    [],
    ["workload.precision.default=fp16", "workload.decoding.lm_fusion=false"],
    ["workload.decoding.beam=1", "hw.link.bandwidth=64 Gbps", "hw.coprocessor.cores=3"],
])
def test_summary_path_equals_the_full_run(extra) -> None:
    """Without records (sweeps, test sets) each distinct segment is simulated once and its summary
    counted per occurrence; the metrics equal those of the full run."""
    overrides = ["workload.utterance.frames=40", "workload.decoding.beam=8", *extra]
    light = accelsim.simulate(WORKLOAD, HW, overrides=overrides, keep_records=False).to_dict()
    full = accelsim.simulate(WORKLOAD, HW, overrides=overrides, segmented=False).to_dict()
    for key in ("rtf", "time_s", "audio_s", "model_size_MB", "iterations", "ops", "weight_fetches", "fetched_weight_bytes"):
        assert light[key] == pytest.approx(full[key], rel=1e-12), key
    for group in ("breakdown_by_component", "breakdown_by_resource", "occupancy"):
        assert light[group].keys() == full[group].keys()
        for key, value in full[group].items():
            assert light[group][key] == pytest.approx(value, rel=1e-9, abs=1e-15), (group, key)
