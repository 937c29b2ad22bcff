"""The pipeline's stages and its exact speed-ups: the steady-state encoder, segment reuse, typed variations."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import accelsim
from accelsim.graph.ir import CONTENT_FIELDS, PLACE_FIELDS, WORK_FIELDS, Op, work_key
from accelsim.pipeline import prepare, resolve
from accelsim.sim.encoder import encoder_totals, whole_encoder_totals
from accelsim.sim.engine import simulate_ops
from accelsim.sim.execute import execute
from accelsim.sim.target import target_for
from accelsim.sim.totals import run_totals
from accelsim.spec.loader import Variation
from accelsim.spec.targets import Setting

REPO = Path(__file__).resolve().parents[1]
WORKLOAD = REPO / "workloads" / "rnnt_lm_fusion.yaml"
HW = REPO / "hwconfigs" / "rapid_7nm.yaml"


def _close(a, b, rel=1e-9):
    assert a.ops == b.ops and a.fetches == b.fetches
    assert a.time_s == pytest.approx(b.time_s, rel=rel)
    assert a.fetched_bytes == pytest.approx(b.fetched_bytes, rel=rel)
    for x, y in ((a.component_s, b.component_s), (a.resource_s, b.resource_s), (a.busy, b.busy)):
        assert set(x) == set(y)
        for key in x:  # rounding is relative to the makespan, not to a tiny share of it
            assert x[key] == pytest.approx(y[key], rel=rel, abs=rel * max(a.time_s, b.time_s) + 1e-15), key


MACHINES = st.fixed_dictionaries({
    "hw.coprocessor.cores": st.sampled_from([1, 2, 4]),
    "hw.link.bandwidth": st.sampled_from(["4 Gbps", "32 Gbps", "256 Gbps"]),
    "hw.link.latency": st.sampled_from(["0.2 us", "1 us", "20 us"]),
    "hw.coprocessor.dispatch_overhead": st.sampled_from(["0.05 us", "0.46 us", "5 us"]),
    "hw.memory.residency": st.sampled_from(["per_op", "pinned"]),
    "hw.memory.prefetch": st.sampled_from(["one_deep", "on_demand"]),
    "precision": st.sampled_from(["fp16", "int8", "int4", "w2a4"]),
    "workload.precision.lstm_quant": st.sampled_from(["outer", "inner"]),
    "hw.link.queue_depth": st.sampled_from([1, 2, 4]),
    "workload.runtime.lstm_input_projection": st.sampled_from(["batched", "per_step"]),
    "hw.coprocessor.dataflow": st.sampled_from(["output_stationary", "weight_stationary", "input_stationary"]),
    "workload.runtime.prefetch_next_iteration": st.booleans(),
})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(machine=MACHINES, frames=st.integers(min_value=11, max_value=70))
def test_steady_state_encoder_equals_the_full_simulation(machine, frames):
    """The encoder measured from a few steps (when periodic) gives the totals of simulating every step."""
    flags = [f"{k}={v}" for k, v in machine.items() if k != "precision"] + [f"workload.utterance.frames={frames}"]
    point = resolve(WORKLOAD, HW, Variation.from_flags(flags) + accelsim.Variation.of(
        {"workload.precision.default": machine["precision"]}))
    encoder = prepare(point.workload).program.encoder
    target = target_for(point.hardware)
    _close(encoder_totals(encoder, target), whole_encoder_totals(encoder, target))


def test_device_weights_steady_state_is_exact():
    point = resolve(WORKLOAD, HW, ["hw.memory.weights_home=device", "hw.memory.device_bandwidth=50 GB/s",
                                   "workload.utterance.frames=40"])
    encoder = prepare(point.workload).program.encoder
    target = target_for(point.hardware)
    _close(encoder_totals(encoder, target), whole_encoder_totals(encoder, target))


@pytest.mark.parametrize("flags", [[], ["hw.memory.residency=pinned"], ["workload.decoding.lm_fusion=false"],
                                   ["workload.runtime.prefetch_next_iteration=true", "hw.link.queue_depth=1"],
                                   ["workload.runtime.prefetch_next_iteration=true", "hw.memory.residency=pinned",
                                    "workload.runtime.lstm_input_projection=batched"]])
def test_summary_equals_one_global_run(flags):
    """Metrics-only execution (steady encoder, each distinct iteration once) equals one SimPy run of it all."""
    point = resolve(WORKLOAD, HW, ["workload.utterance.frames=24", "workload.decoding.beam=4", *flags])
    prepared = prepare(point.workload)
    summary = execute(prepared.program, target_for(point.hardware)).totals
    whole = run_totals(simulate_ops(prepared.program.ops, target_for(point.hardware)))
    _close(summary, whole, rel=1e-9)


def test_work_key_is_derived_from_the_op_dataclass():
    names = {f.name for f in dataclasses.fields(Op)}
    assert set(WORK_FIELDS) | PLACE_FIELDS == names and not set(WORK_FIELDS) & PLACE_FIELDS
    assert set(CONTENT_FIELDS) == names - {"id", "name", "deps"}
    base = Op(0, "a", "matmul", "core", "encoder", "r", m=1, k=2, n=3)
    for name in WORK_FIELDS:
        value = getattr(base, name)
        other = dataclasses.replace(base, **{name: (value + 1) if isinstance(value, (int, float)) else f"{value}x"})
        assert work_key(other) != work_key(base), name
    assert work_key(dataclasses.replace(base, id=5, name="b", deps=(0,), lane=1)) == work_key(base)


def test_a_setting_is_a_typed_variation():
    """Settings set SI values; the result equals the one of the same setting written as --set flags."""
    setting = Setting(precision="int8", lm_fusion=False, link_Gbps=64, beam=4)
    typed = resolve(WORKLOAD, HW, setting.variation())
    flags = resolve(WORKLOAD, HW, ["workload.precision.default=int8", "workload.precision.networks={}",
                                   "workload.decoding.lm_fusion=false", "workload.decoding.beam=4",
                                   "hw.link.bandwidth=64 Gbps"])
    assert typed == flags
    assert typed.hardware.link.bandwidth == 8e9


def test_typed_numbers_are_si_but_flags_need_units():
    assert resolve(WORKLOAD, HW, Variation.of({"hw.link.latency": 2e-6})).hardware.link.latency == 2e-6
    with pytest.raises(accelsim.SpecError, match="with a unit"):
        resolve(WORKLOAD, HW, ["hw.link.latency=2"])


def test_test_set_is_the_aggregate_of_its_utterances():
    """A test set run by the runner equals its utterances simulated one by one (1 and 2 workers alike)."""
    flags = ["workload.test_set={lengths: [12, 30, 12, 45]}", "workload.decoding.beam=4"]
    one = accelsim.simulate(WORKLOAD, HW, overrides=flags, workers=1)
    two = accelsim.simulate(WORKLOAD, HW, overrides=flags, workers=2)
    assert one.to_dict() == two.to_dict()
    singles = [accelsim.simulate(WORKLOAD, HW, keep_records=False, overrides=[
        f"workload.utterance.frames={n}", f"workload.decoding.emission.seed={i}", "workload.decoding.emission.noise_seed=0",
        "workload.decoding.beam=4"])
        for i, n in enumerate([12, 30, 12, 45])]
    assert one.utterance_rtfs == tuple(r.rtf for r in singles)
    assert one.time_s == pytest.approx(sum(r.time_s for r in singles), rel=1e-12)


def test_a_drifting_encoder_is_not_extrapolated_early():
    """Found by a random search: one core, pinned weights, fetch on demand. The per-step totals agree for nine
    steps while the backward direction still waits for its pinned weights; then the rhythm changes. The
    state check sees the fetch still in flight and measures further instead of extrapolating."""
    flags = ["hw.coprocessor.cores=1", "hw.link.latency=10 us", "hw.memory.residency=pinned",
             "hw.memory.prefetch=on_demand", "workload.precision.lstm_quant=inner", "workload.precision.default=int4",
             "workload.utterance.frames=57"]
    point = resolve(WORKLOAD, HW, flags)
    encoder = prepare(point.workload).program.encoder
    target = target_for(point.hardware)
    _close(encoder_totals(encoder, target), whole_encoder_totals(encoder, target))


@pytest.mark.parametrize("frames", [3, 7, 30])
def test_a_run_never_changes_the_memoized_totals(frames):
    """Short encoders are simulated whole; running the same point again gives the same figures."""
    flags = [f"workload.utterance.frames={frames}", "workload.decoding.beam=2"]
    first = accelsim.simulate(WORKLOAD, HW, overrides=flags, keep_records=False)
    again = accelsim.simulate(WORKLOAD, HW, overrides=flags, keep_records=False)
    assert again.to_dict() == first.to_dict()
    assert first.rtf == pytest.approx(accelsim.simulate(WORKLOAD, HW, overrides=flags, segmented=False).rtf, rel=1e-9)


def test_fused_and_separate_quantizers_never_share_a_memo():
    """Found in review: the encoder's segment key left out quantize, so the second variant run in a process
    got the first one's schedule. Each variant run after the other equals itself run alone."""
    base = ["workload.utterance.frames=20", "workload.decoding.beam=2", "workload.precision.lstm_quant=inner",
            "workload.precision.default=int4"]
    from accelsim.memo import clear_caches

    alone = {}
    for mode in ("separate", "fused"):
        clear_caches()
        alone[mode] = accelsim.simulate(WORKLOAD, HW, overrides=[*base, f"workload.precision.quantize={mode}"],
                                        keep_records=False)
    clear_caches()
    for mode in ("fused", "separate", "fused"):
        again = accelsim.simulate(WORKLOAD, HW, overrides=[*base, f"workload.precision.quantize={mode}"], keep_records=False)
        assert again.to_dict() == alone[mode].to_dict(), mode
    assert alone["fused"].ops != alone["separate"].ops


def test_spec_errors_travel_between_processes():
    import pickle

    error = accelsim.SpecError("f.yaml", "link.bandwidth", "expected a bandwidth")
    back = pickle.loads(pickle.dumps(error))
    assert str(back) == str(error) and (back.source, back.key, back.detail) == (error.source, error.key, error.detail)


def test_a_worker_that_dies_fails_its_points_and_the_runner_returns(monkeypatch):
    """Found in review: a worker process that exits (killed, out of memory) broke the pool, and the next
    submit raised out of the runner. Now every point that could not run is returned as failed."""
    import os

    from accelsim.sweep import runner

    real = runner.run_point

    def dies_on_odd_frames(point):
        if point.workload.utterance.frames % 2:
            os._exit(1)
        return real(point)

    monkeypatch.setattr(runner, "run_point", dies_on_odd_frames)
    points = [resolve(WORKLOAD, HW, [f"workload.utterance.frames={n}", "workload.decoding.beam=1"]) for n in range(8, 20)]
    outcomes = runner.run_points(points, workers=2, chunk=1)
    assert len(outcomes) == len(points)
    assert any(isinstance(o, BaseException) for o in outcomes)


def test_a_test_set_honours_segmented_false(monkeypatch):
    """segmented=False (one SimPy run per utterance, the reference) is not dropped for a test set."""
    from accelsim.sim import execute as execution

    flags = ["workload.test_set={count: 3, mean_frames: 12, std_frames: 4, min_frames: 6}", "workload.decoding.beam=2"]
    fast = accelsim.simulate(WORKLOAD, HW, overrides=flags)
    global_runs, seen = [], []
    monkeypatch.setattr(execution, "simulate_ops", lambda *a, **k: global_runs.append(1) or simulate_ops(*a, **k))
    whole = accelsim.simulate(WORKLOAD, HW, overrides=flags, segmented=False, progress=lambda *a: seen.append(a))
    assert len(global_runs) == 3 and seen[-1] == (3, 0, 3)
    assert whole.rtf == pytest.approx(fast.rtf, rel=1e-9)
    assert whole.percentile(99) == pytest.approx(fast.percentile(99), rel=1e-9)


def test_the_public_resolve_is_the_pipelines_first_stage():
    point = accelsim.api.resolve(WORKLOAD, HW, ["hw.coprocessor.cores=2"])
    assert isinstance(point, accelsim.api.Point)
    workload, hardware = point
    assert (workload, hardware) == (point.workload, point.hardware) and hardware.coprocessor.cores == 2


@pytest.mark.parametrize("flags", [
    [],
    ["workload.decoding.beam=4", "workload.utterance.frames=40"],
    ["workload.decoding.lm_fusion=false", "workload.utterance.frames=30", "hw.coprocessor.scratchpad=64 KiB"],
    ["workload.precision.default=int4", "workload.utterance.frames=30", "hw.coprocessor.cores=1"],
])
def test_per_segment_fetch_plans_equal_the_whole_programs(flags):
    """With the next-iteration prefetch a segment's fetches depend on its neighbours; planning each distinct
    (prefetch before, segment, segment after) once gives exactly the plan of the whole program."""
    point = resolve(WORKLOAD, HW, flags)
    program = prepare(point.workload).program
    assert any(seg.prefetches for seg in program.segments)
    target = target_for(point.hardware)
    fast = target.plan_fetches(program.segments)[1]
    whole = target.policies.residency.plan([seg.ops for seg in program.segments], target.device)[1]
    assert fast == whole
