"""Energy: a sum of its parts, each scaling with the work and the bits as the per-MAC and per-bit energies say."""

from __future__ import annotations

import pytest

import accelsim
from accelsim.hw.coprocessor import select_format
from accelsim.hw.energy import ENERGY_COMPONENTS

WORKLOAD, HARDWARE = "workloads/rnnt_lm_fusion.yaml", "hwconfigs/rapid_7nm.yaml"
SMALL = ["workload.utterance.frames=24", "workload.decoding.beam=4"]


def _run(*sets: str, **kw):
    return accelsim.simulate(WORKLOAD, HARDWARE, overrides=SMALL + list(sets), **kw)


def test_energy_is_the_sum_of_its_parts_counted_from_the_records():
    r = _run(keep_records=True)
    hw = accelsim.load_hardware(HARDWARE)
    e = hw.energy
    assert list(r.energy_J) == list(ENERGY_COMPONENTS)
    compute = sum(rec.macs * e.mac_pJ[select_format(hw.coprocessor, rec.weight_bits, rec.act_bits)] * 1e-12
                  for rec in r.records if rec.kind == "matmul")
    link_bits = 8 * sum(rec.bytes for rec in r.records if rec.kind in ("transfer", "fetch"))
    assert r.energy_J["compute"] == pytest.approx(compute, rel=1e-9)
    assert r.energy_J["link"] == pytest.approx(link_bits * e.link_pJ_per_bit * 1e-12, rel=1e-9)
    assert r.energy_J["scratchpad"] == pytest.approx(8 * r.fetched_weight_bytes * e.scratchpad_pJ_per_bit * 1e-12, rel=1e-9)
    host_busy = r.occupancy["host"] * r.time_s
    assert r.energy_J["host"] == pytest.approx(host_busy * e.host_busy_W + (r.time_s - host_busy) * e.host_idle_W, rel=1e-9)
    assert r.energy_J["static"] == pytest.approx(r.time_s * e.coprocessor_static_W, rel=1e-12)
    row = r.energy_row()
    assert row["energy_J_per_utterance"] == pytest.approx(sum(r.energy_J.values()))
    assert row["energy_J_per_audio_h"] == pytest.approx(sum(row[f"energy_{k}_J_per_audio_h"] for k in ENERGY_COMPONENTS))
    # The metrics-only path (steady-state encoder, distinct segments counted) gives the same energy.
    assert _run(keep_records=False).energy_J == pytest.approx(r.energy_J, rel=1e-9)


def test_energy_scales_with_the_bits():
    base = _run()
    doubled = _run("hw.energy.mac_pJ={int2: 0.118, int4: 0.236, int8: 1.118, hfp8: 1.118, fp16: 2.234}",
                   "hw.energy.link_pJ_per_bit=10.0")
    assert doubled.energy_J["compute"] == pytest.approx(2 * base.energy_J["compute"], rel=1e-9)
    assert doubled.energy_J["link"] == pytest.approx(2 * base.energy_J["link"], rel=1e-9)
    assert doubled.energy_J["sfu"] == base.energy_J["sfu"] and doubled.energy_J["host"] == base.energy_J["host"]
    # FP16 weights are 4x the INT4 bytes: the fetches' scratchpad energy follows the bytes fetched.
    fp16 = _run("workload.precision.default=fp16")
    assert fp16.energy_J["scratchpad"] / base.energy_J["scratchpad"] == pytest.approx(
        fp16.fetched_weight_bytes / base.fetched_weight_bytes, rel=1e-9)
    assert fp16.fetched_weight_bytes > 3 * base.fetched_weight_bytes
    assert fp16.energy_J["compute"] > 4 * base.energy_J["compute"]


def test_no_energy_model_no_energy():
    r = _run("hw.energy=null")
    assert r.energy_J == {} and "energy_J_per_audio_h" not in r.row()


def test_serving_one_stream_spends_the_work_energy_of_its_runs():
    run = _run()
    served = accelsim.api.serve(WORKLOAD, HARDWARE, overrides=SMALL + ["workload.serving.duration=3 s"], exact_reuse=False)
    for part in ("compute", "sfu", "scratchpad", "link"):
        assert served.energy[part] == pytest.approx(served.served * run.energy_J[part], rel=1e-9)
    assert served.energy["static"] == pytest.approx(served.end_s * 2.0, rel=1e-9)
