"""accelsim probe and accelsim measure: the machinery, never the timings.

- the reference runtime computes the right outputs (per-step and batched LSTMs agree, a cell by hand, attention and the
  convolutions against naive loops, the decode iteration's top-k, the onnxruntime graph against numpy);
- the harness pins and limits BLAS threads, and says what it could not control;
- probe writes a hardware YAML that validates, every value commented with its source, and JSON with its keys;
- measure runs and reports each part beside a prediction; bad input is one line and exit 2.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import replace

import numpy as np
import pytest
import yaml

import accelsim
from accelsim.hw.memory import levels_of
from accelsim.measure import reference as ref
from accelsim.measure.harness import MIN_REPEATS, controlled, time_call
from accelsim.measure.hwyaml import hardware_yaml, hit_curve
from accelsim.measure.machine import Cache, CpuInfo
from accelsim.measure.probe import PACK_ROWS, STREAM_MIN, Figure, ProbeResult, fastest, working_sets
from accelsim.workload.model import build_model

rng = np.random.default_rng(0)

TINY = """
name: tiny
utterance: {{frames: 12, frame_shift: "20 ms"}}
model:
  vocab: 8
  encoder:
    layers:
{encoder}
  prediction:
    layers:
      - {{kind: embedding, name: embedding, vocab: 8, dim: 4}}
      - {{kind: lstm, name: lstm, input: 4, hidden: 6}}
      - {{kind: linear, name: linear, input: 6, output: {width}}}
  joint:
    layers:
      - {{kind: multiplicative_joint, name: combine, dim: {width}}}
      - {{kind: linear, name: linear, input: {width}, output: 8}}
      - {{kind: log_softmax, name: log_softmax, dim: 8}}
decoding: {{beam: 3, lm_fusion: false}}
"""
LSTM = "      - {kind: lstm, name: lstm, input: 10, hidden: 16, count: 2}"
CONFORMER = ("      - {kind: conv_subsampling, name: sub, input: 20, channels: 4, output: 16}\n"
             "      - {kind: conformer, name: conformer, dim: 16, heads: 2, kernel: 5, count: 1}")


def _tiny(tmp_path, encoder: str = LSTM, width: int = 16, name: str = "tiny.yaml"):
    path = tmp_path / name
    path.write_text(TINY.format(encoder=encoder, width=width))
    return path


def _layer(spec, network: str = "encoder", index: int = 0):
    return build_model(spec).networks[network].layers[index]


# ---------------------------------------------------------------- the reference runtime computes the right outputs


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def test_one_lstm_cell_by_hand():
    """Hidden 1, input 1: gates i, f, g, o = W x + U h + b, c' = f c + i g, h' = o tanh(c'), written out."""
    x, h, c = 0.5, -0.3, 0.2
    w, u, b = [0.1, -0.2, 0.3, 0.4], [0.5, 0.6, -0.7, 0.8], [0.01, 0.02, 0.03, 0.04]
    pre = [w[k] * x + u[k] * h + b[k] for k in range(4)]
    i, f, g, o = _sigmoid(pre[0]), _sigmoid(pre[1]), math.tanh(pre[2]), _sigmoid(pre[3])
    c_new = f * c + i * g
    h_new = o * math.tanh(c_new)
    gates = np.array(pre, np.float32)
    cell = np.array([c], np.float32)
    out = np.empty(1, np.float32)
    ref.lstm_cell(gates, cell, out)
    assert cell[0] == pytest.approx(c_new, rel=1e-6)
    assert out[0] == pytest.approx(h_new, rel=1e-6)


def test_per_step_and_batched_lstm_give_the_same_h_sequence():
    frames, width, hid = 9, 5, 7
    x = rng.standard_normal((frames, width), dtype=np.float32)
    w_ih = rng.standard_normal((4 * hid, width), dtype=np.float32) * 0.5
    w_hh = rng.standard_normal((4 * hid, hid), dtype=np.float32) * 0.5
    bias = rng.standard_normal(4 * hid, dtype=np.float32) * 0.1
    fused = np.ascontiguousarray(np.concatenate([w_ih, w_hh], axis=1).T)
    per_step = ref.lstm_sequence(x, fused, np.ascontiguousarray(w_hh.T), bias, "per_step")
    batched = ref.lstm_sequence(x, np.ascontiguousarray(w_ih.T), np.ascontiguousarray(w_hh.T), bias, "batched")
    np.testing.assert_allclose(per_step, batched, rtol=1e-5, atol=1e-6)
    # and both are the textbook recurrence, step by step in float64
    h, c = np.zeros(hid), np.zeros(hid)
    for t in range(frames):
        z = w_ih.astype(float) @ x[t] + w_hh.astype(float) @ h + bias
        i, f, g, o = (z[k * hid:(k + 1) * hid] for k in range(4))
        c = 1 / (1 + np.exp(-f)) * c + 1 / (1 + np.exp(-i)) * np.tanh(g)
        h = 1 / (1 + np.exp(-o)) * np.tanh(c)
        np.testing.assert_allclose(per_step[t], h, rtol=1e-4, atol=1e-5)


def test_the_backward_direction_of_a_blstm_runs_over_the_reversed_frames(tmp_path):
    spec = accelsim.load_workload(_tiny(tmp_path, "      - {kind: blstm, name: b, input: 10, hidden: 8}"))
    layer = _layer(spec)
    runner = ref._Runner(layer, ref.init_params(layer, np.random.default_rng(1)))
    x = rng.standard_normal((6, 10), dtype=np.float32)
    out = ref._run_recurrent(runner, x, "per_step")
    assert out.shape == (6, 16)
    backward = ref.lstm_sequence(x[::-1], runner.t["bwd.fused"], runner.t["bwd.W_hh"], runner.p["bwd.bias"], "per_step")
    np.testing.assert_allclose(out[:, 8:], backward[::-1], rtol=1e-6)


def test_parameters_have_the_models_shapes_and_bias_counts(tmp_path):
    spec = accelsim.load_workload(_tiny(tmp_path, CONFORMER))
    for layer in build_model(spec).networks["encoder"].layers:
        params = ref.init_params(layer, np.random.default_rng(0))
        for name, shape in layer.spec.weights().items():
            assert params[name].shape == shape and params[name].dtype == np.float32
        assert sum(p.size for n, p in params.items() if n not in layer.spec.weights()) == layer.bias_params, layer.name


def _naive_attention(x, p, heads):
    """Relative-position self-attention with explicit loops over heads, queries and keys (float64)."""
    frames, d = x.shape
    dh = d // heads
    y = ref.layer_norm(x, p["ln_g"], p["ln_b"]).astype(float)
    q, k, v = (y @ p[w].T.astype(float) + p[b] for w, b in (("Wq", "bq"), ("Wk", "bk"), ("Wv", "bv")))
    context = np.zeros((frames, d))
    for head in range(heads):
        cols = slice(head * dh, (head + 1) * dh)
        for i in range(frames):
            scores = np.empty(frames)
            for j in range(frames):
                angle = (i - j) * np.exp(-math.log(10000.0) * np.arange(0, d, 2) / d)
                encoding = np.empty(d)
                encoding[0::2], encoding[1::2] = np.sin(angle), np.cos(angle)
                position = p["Wpos"].astype(float) @ encoding
                scores[j] = ((q[i, cols] + p["u"][cols]) @ k[j, cols]
                             + (q[i, cols] + p["v"][cols]) @ position[cols]) / math.sqrt(dh)
            weights = np.exp(scores - scores.max())
            context[i, cols] = (weights / weights.sum()) @ v[:, cols]
    return x + context @ p["Wo"].T + p["bo"]


def test_attention_matches_a_naive_loop(tmp_path):
    spec = accelsim.load_workload(_tiny(tmp_path, CONFORMER))
    layer = next(l for l in build_model(spec).networks["encoder"].layers if l.kind == "conformer_mhsa")
    runner = ref._Runner(layer, ref.init_params(layer, np.random.default_rng(2)))
    x = rng.standard_normal((7, 16), dtype=np.float32)
    np.testing.assert_allclose(ref._run_mhsa(runner, x, ""), _naive_attention(x, runner.p, 2), rtol=1e-4, atol=1e-5)


def test_convolutions_match_naive_loops(tmp_path):
    spec = accelsim.load_workload(_tiny(tmp_path, CONFORMER))
    layers = {l.kind: l for l in build_model(spec).networks["encoder"].layers}
    sub = ref._Runner(layers["conv_subsampling"], ref.init_params(layers["conv_subsampling"], np.random.default_rng(3)))
    x = rng.standard_normal((4 * 5 + 3, 20), dtype=np.float32)
    out = ref._run_conv_subsampling(sub, x, "")
    assert out.shape == (5, 16)
    p = sub.p
    w1, w2 = p["conv1"].reshape(4, 3, 3), p["conv2"].reshape(4, 4, 3, 3)
    y1 = np.array([[[max(0.0, (x[2 * t:2 * t + 3, 2 * f:2 * f + 3] * w1[c]).sum() + p["conv1_b"][c]) for c in range(4)]
                    for f in range(9)] for t in range(11)])  # (T1, F1, C)
    y2 = np.array([[[max(0.0, (y1[2 * t:2 * t + 3, 2 * f:2 * f + 3, :].transpose(2, 0, 1) * w2[c]).sum() + p["conv2_b"][c])
                     for c in range(4)] for f in range(4)] for t in range(5)])  # (T2, F2, C)
    flat = y2.transpose(0, 2, 1).reshape(5, 16)
    np.testing.assert_allclose(out, flat @ p["out"].T + p["out_b"], rtol=1e-4, atol=1e-5)
    conv = ref._Runner(layers["conformer_conv"], ref.init_params(layers["conformer_conv"], np.random.default_rng(4)))
    x = rng.standard_normal((6, 16), dtype=np.float32)
    q = conv.p
    y = ref.layer_norm(x, q["ln_g"], q["ln_b"]) @ q["pw1"].T + q["pw1_b"]
    y = y[:, :16] / (1 + np.exp(-y[:, 16:]))
    z = np.array([[sum(y[t + tap - 2, ch] * q["dw"][ch, tap] for tap in range(5) if 0 <= t + tap - 2 < 6) + q["dw_b"][ch]
                   for ch in range(16)] for t in range(6)])
    z = z * q["bn_g"] + q["bn_b"]
    z = z / (1 + np.exp(-z))
    np.testing.assert_allclose(ref._run_conv_module(conv, x, ""), x + z @ q["pw2"].T + q["pw2_b"], rtol=1e-4, atol=1e-5)


def test_the_decode_iteration_keeps_the_best_candidates_and_copies_their_states(tmp_path):
    spec = accelsim.load_workload(_tiny(tmp_path))
    model = build_model(spec)
    decoder = ref.Decoder(model, beam=3)
    work = ref.IterationWork(active=3, miss_prediction=2, miss_lm=0, kept=3)
    s = decoder.inputs(work)
    parents, labels, copies = decoder.iteration(work, s)
    # the same scores, step by step: the prediction network for the two new prefixes, the joint for all three
    pred = s["predicted"][:3].copy()
    pred[:2] = decoder.prediction(s["labels"][:2], [(h[:2], c[:2]) for h, c in s["states"][0]])
    logits = (s["encoded"][:3] * pred) @ decoder.joint[0].p["W"].T + decoder.joint[0].p["b"]
    total = logits - np.log(np.exp(logits).sum(1, keepdims=True)) + s["scores"][:3, None]
    best = np.argsort(-total.ravel())[:3]
    assert list(zip(parents, labels)) == [divmod(int(b), model.vocab) for b in best]
    (h, c), = s["states"][0]
    np.testing.assert_array_equal(copies[0][0][0], h[parents])
    again = decoder.iteration(work, s)  # pure: the same inputs give the same survivors
    np.testing.assert_array_equal(again[0], parents)


def test_onnxruntime_computes_what_numpy_computes(tmp_path):
    pytest.importorskip("onnxruntime")
    from accelsim.measure.onnx_graph import onnx_encoder

    for encoder, sets in ((LSTM, ["workload.runtime.lstm_input_projection=per_step"]),
                          ("      - {kind: blstm, name: b, input: 10, hidden: 8}", []), (CONFORMER, [])):
        spec = accelsim.load_workload(_tiny(tmp_path, encoder), sets)
        numpy_encoder = ref.Encoder(build_model(spec))
        x = rng.standard_normal(numpy_encoder.input_shape(9), dtype=np.float32)
        np.testing.assert_allclose(onnx_encoder(numpy_encoder, 1, 9)(x), numpy_encoder(x), rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- the harness


def test_controlled_pins_one_cpu_limits_blas_and_restores():
    from threadpoolctl import threadpool_info

    before = os.sched_getaffinity(0)
    with controlled(1) as controls:
        assert len(os.sched_getaffinity(0)) == 1 and len(controls.cpus) == 1
        assert {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"} == {1}
        assert controls.blas_threads == 1 and not controls.notes
    assert os.sched_getaffinity(0) == before


def test_controlled_says_what_it_could_not_do():
    with controlled(len(os.sched_getaffinity(0)) + 5) as controls:
        assert any("asked for" in n for n in controls.notes)


def test_time_call_repeats_at_least_five_times():
    calls = []
    timing = time_call(lambda: calls.append(1), repeats=2, warmup=1)
    assert timing.repeats == MIN_REPEATS and len(calls) == MIN_REPEATS + 1
    assert 0 <= timing.cpu_min <= timing.cpu_median and 0 <= timing.wall_min <= timing.wall_median


# ---------------------------------------------------------------- probe


def test_working_sets_sit_inside_each_level():
    caches = (Cache(1, "Data", 48 << 10, 1, True), Cache(2, "Unified", 2 << 20, 1, True),
              Cache(3, "Unified", 32 << 20, 8, False))
    sets = working_sets(caches, available=64 << 30)
    assert sets["L1"] <= 24 << 10
    assert 48 << 10 < sets["L2"] < 2 << 20 and 2 << 20 < sets["L3"] < 32 << 20 and sets["DRAM"] >= 64 << 20


def _fake_probe(flags=(), caches=(Cache(2, "Unified", 1 << 20, 1, True),)) -> ProbeResult:
    figures = {name: Figure(value, "x", f"how {name}") for name, value in (
        ("clock", 2.5e9), ("fp32_macs_per_cycle", 15.6), ("elementwise_ops_per_cycle", 3.3),
        ("elementwise_ops_per_s", 8e9), ("call_overhead", 4e-7), ("topk_per_element", 4e-10),
        ("merge_per_element", 8e-8), ("copy_L2", 3e10), ("read_DRAM", 2e10), ("read_L2", 1e11),
        ("read_all_DRAM", 3e10), ("sigmoid_ops_per_cycle", 0.08), ("gather_ops_per_cycle", 0.25),
        ("matmul_call_overhead", 9e-7), ("view_overhead", 1e-7), ("broadcast_ops_per_cycle", 1.2),
        ("reduce_ops_per_cycle", 0.8))}
    cpu = CpuInfo("Test CPU", "x", "x86_64", 4, (0, 1), 1, 2000.0, True, tuple(flags), tuple(caches))
    return ProbeResult("2026-01-02", cpu, figures, {"L2": 1 << 19, "DRAM": 1 << 26}, {}, True)


@pytest.mark.parametrize(("flags", "caches", "formats"), [
    ((), (), {"fp32"}),
    (("avx2", "fma", "avx512_vnni"), (Cache(2, "Unified", 1 << 20, 1, True),), {"fp32", "int8"}),
    (("avx512_fp16", "avx_vnni", "amx_int8"), (Cache(2, "Unified", 1 << 20, 1, True),), {"fp32", "int8", "fp16"}),
])
def test_the_yaml_maps_every_figure_and_cites_each_value(tmp_path, flags, caches, formats):
    text = hardware_yaml(_fake_probe(flags, caches))
    path = tmp_path / "probe.yaml"
    path.write_text(text)
    hw = accelsim.load_hardware(path)
    assert hw.family == "cpu" and set(hw.cpu.macs_per_cycle) == formats
    assert hw.cpu.macs_per_cycle["fp32"] == 15.6 and hw.cpu.clock == 2.5e9
    assert hw.cpu.call_overhead == pytest.approx(4e-7) and hw.cpu.special_ops_per_cycle == {
        "sigmoid": 0.08, "gather": 0.25, "broadcast": 1.2, "reduce": 0.8}
    assert hw.cpu.matmul_call_overhead == pytest.approx(9e-7) and hw.cpu.view_overhead == pytest.approx(1e-7)
    levels = {level.name: level for level in hw.memory.levels}
    assert levels["DRAM"].read_bandwidth == 2e10 and levels["DRAM"].shared_bandwidth == 3e10
    assert [level.name for level in hw.memory.levels] == [c.name for c in caches] + ["DRAM"]
    if caches:
        assert levels["L2"].capacity == 1 << 20 and levels["L2"].read_bandwidth == 1e11 and levels["L2"].scope == "core"
    values = [line for line in text.splitlines() if re.match(r"\s+\w+: \S", line)]  # every value of a section
    assert values and all("  # " in line for line in values), [l for l in values if "  # " not in l]
    for line in values:
        comment = line.split("  # ", 1)[1]
        assert "measured by accelsim probe on 2026-01-02" in comment or "Assumption:" in comment or \
            line.split(":")[0].strip().lstrip("- ") in (
                "lanes", "efficiency", "weights_home", "family", "residency", "name", "kind"), line


MIB = 2**20


def test_a_hit_curve_from_a_ladder_by_hand():
    """Near 80 GB/s, far 20 GB/s: reading at 40 GB/s is h/80 + (1 - h)/20 = 1/40, h = 2/3; at 30 GB/s h = 4/9; a
    rate above the near one is 1 at most; a later rise (45 GB/s: 0.74) does not raise the curve; the last point is 0."""
    ladder = [(4 * MIB, 80e9), (8 * MIB, 85e9), (16 * MIB, 40e9), (24 * MIB, 45e9), (32 * MIB, 30e9), (64 * MIB, 20e9)]
    curve = hit_curve(ladder)
    assert [size for size, _ in curve] == [size for size, _ in ladder]
    assert [h for _, h in curve] == pytest.approx([1.0, 1.0, 2 / 3, 2 / 3, 4 / 9, 0.0], abs=1e-3)
    assert hit_curve([(4 * MIB, 21e9), (64 * MIB, 20e9)]) == [] and hit_curve([(4 * MIB, 80e9)]) == []


def test_the_yaml_carries_the_measured_hit_curve(tmp_path):
    probe = replace(_fake_probe(caches=(Cache(3, "Unified", 32 * MIB, 2, False),)),
                    ladders={"L3": ((4 * MIB, 80e9), (16 * MIB, 40e9), (64 * MIB, 20e9))})
    probe.figures["read_L3"] = Figure(80e9, "B/s", "how read_L3")
    path = tmp_path / "probe.yaml"
    path.write_text(hardware_yaml(probe))
    level = {lv.name: lv for lv in levels_of(accelsim.load_hardware(path))}["L3"]
    assert [d for d, _ in level.hit_curve] == [4 * MIB, 16 * MIB, 64 * MIB]
    assert [h for _, h in level.hit_curve] == pytest.approx([1.0, 0.667, 0.0])
    assert level.served(8 * MIB, 1) == pytest.approx(1 - (1 - 0.667) / 2)


def test_the_matmul_rate_and_the_packing_come_apart_by_hand(monkeypatch):
    """Packing at 1 GB/s and MACs at 2 GMAC/s: a 64-row GEMM of a 64 x 64 operand takes 16 KiB / 1 GB/s + 64^3 / R, a
    4-row one 16 KiB / 1 GB/s + 4 x 64^2 / R, a 4-row one of a 128 x 128 operand 64 KiB / 1 GB/s + 4 x 128^2 / R: the
    probe recovers both rates from the three times."""
    from accelsim.measure import probe as probe_module
    from accelsim.measure.harness import Timing

    n, rate, pack = 64, 2e9, 1e9

    def fake(times):
        it = iter(times)
        monkeypatch.setattr(probe_module, "time_call", lambda work, repeats=5: Timing(*(next(it),) * 4, repeats))

    fake([n * n * 4 / pack + n ** 3 / rate, n * n * 4 / pack + PACK_ROWS * n ** 2 / rate,
          4 * n * n * 4 / pack + PACK_ROWS * 4 * n ** 2 / rate])
    figures = probe_module._matmul_and_packing(n, clock=1e9)
    assert figures["matmul_macs_per_s"].value == pytest.approx(rate)
    assert figures["pack_bandwidth"].value == pytest.approx(pack) and figures["fp32_macs_per_cycle"].value == pytest.approx(2)
    fake([n ** 3 / rate, PACK_ROWS * n ** 2 / rate, PACK_ROWS * 4 * n ** 2 / rate])  # a library that does not pack
    assert "pack_bandwidth" not in probe_module._matmul_and_packing(n, clock=1e9)


def test_a_ladder_runs_out_to_the_next_level_only_where_that_is_well_beyond(monkeypatch):
    """A ladder from L3's working set (2 MiB) out to DRAM's (8 MiB): increasing sizes, one point per matrix, rates from
    the (faked) timings less the call's overhead; none where DRAM's test is under 1.5 x L3's (a memory cap)."""
    from accelsim.measure import probe as probe_module

    monkeypatch.setattr(probe_module, "_gemv_seconds", lambda w, calls: w[0].nbytes / 1e10 + 1e-6)
    figures, ladders = probe_module._streaming({"L1": 16 << 10, "L3": 2 * MIB, "DRAM": 8 * MIB}, quick=True)
    sizes = [size for size, _ in ladders["L3"]]
    assert sizes == sorted(set(sizes)) and len(sizes) == 3 and all(r == pytest.approx(1e10, rel=1e-3) for _, r in ladders["L3"])
    assert set(figures) == {"read_L3", "read_DRAM"}
    assert probe_module._streaming({"L1": 16 << 10, "L3": 4 * MIB, "DRAM": 5 * MIB}, quick=True)[1] == {}


def test_probes_merge_into_the_fastest_figure_each_saw():
    """Clocks 2 and 2.5 GHz, 16 and 12 MACs per cycle (32 and 30 GMAC/s): the merged clock is 2.5 GHz and the merged
    MACs per cycle 32 GMAC/s / 2.5 GHz = 12.8; the least call overhead; a shared level's streaming rate and each
    ladder point the median of the probes (of two: their mean; of three: the middle one)."""
    a, b, c = _fake_probe(), _fake_probe(), _fake_probe()
    a.figures.update(clock=Figure(2e9, "Hz", "c"), fp32_macs_per_cycle=Figure(16, "MAC/cycle", "m"),
                     call_overhead=Figure(5e-7, "s", "o"), read_L2=Figure(1e11, "B/s", "r"),
                     read_L3=Figure(8e10, "B/s", "x", typical=True))
    b.figures.update(clock=Figure(2.5e9, "Hz", "c"), fp32_macs_per_cycle=Figure(12, "MAC/cycle", "m"),
                     call_overhead=Figure(4e-7, "s", "o"), read_L2=Figure(9e10, "B/s", "r"),
                     read_L3=Figure(6e10, "B/s", "x", typical=True))
    c.figures.update(read_L3=Figure(5e10, "B/s", "x", typical=True))
    a, b = replace(a, ladders={"L3": ((4, 10.0), (8, 5.0))}), replace(b, ladders={"L3": ((4, 9.0), (8, 6.0))})
    c = replace(c, ladders={"L3": ((4, 4.0), (8, 1.0))})
    merged = fastest([a, b])
    assert merged.value("clock") == 2.5e9 and merged.value("fp32_macs_per_cycle") == pytest.approx(12.8)
    assert merged.value("call_overhead") == 4e-7 and merged.value("read_L2") == 1e11
    assert merged.value("read_L3") == 7e10 and "the median of 2 probes" in merged.figures["read_L3"].method
    assert merged.figures["read_L3"].typical
    assert merged.ladders == {"L3": ((4, 9.5), (8, 5.5))} and "the fastest of 2 probes" in merged.figures["clock"].method
    three = fastest([a, b, c])
    assert three.value("read_L3") == 6e10 and three.ladders == {"L3": ((4, 9.0), (8, 5.0))}
    assert fastest([a]) is a
    b.figures["pack_bandwidth"] = Figure(1e10, "B/s", "p")  # taken by one probe only: kept, whatever the order
    assert fastest([a, b]).value("pack_bandwidth") == 1e10 and fastest([b, a]).value("pack_bandwidth") == 1e10


@pytest.fixture(scope="module")
def probed(tmp_path_factory, run_cli):
    """One quick probe through the CLI: its JSON and the YAML it wrote."""
    out = tmp_path_factory.mktemp("probe") / "probe.yaml"
    proc = run_cli("probe", "--quick", "--json", "--out", out)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), out


def test_probe_writes_a_valid_config_and_json_with_its_keys(probed, run_cli):
    data, path = probed
    assert {"date", "cpu", "figures", "working_sets_bytes", "controls", "notes", "ladders"} <= set(data)
    for name in ("clock", "matmul_macs_per_s", "fp32_macs_per_cycle", "read_DRAM", "call_overhead",
                 "matmul_call_overhead", "view_overhead", "matmul_all_macs_per_s", "read_all_DRAM"):
        figure = data["figures"][name]
        assert figure["value"] > 0 and figure["unit"] and figure["method"], name
    assert data["controls"]["single"]["blas_threads"] == 1
    assert {c["name"] for c in data["cpu"]["caches"]} <= set(data["working_sets_bytes"])
    streamed = [level for level, size in data["working_sets_bytes"].items() if size >= STREAM_MIN and level != "DRAM"]
    assert sorted(data["ladders"]) == sorted(streamed)
    for level, ladder in data["ladders"].items():  # read out from the level's working set to the next level's
        sizes = [size for size, _ in ladder]
        assert sizes == sorted(set(sizes)) and len(sizes) >= 2 and all(rate > 0 for _, rate in ladder), level
        assert sizes[0] <= data["working_sets_bytes"][level] < sizes[1]
    proc = run_cli("validate", path)
    assert proc.returncode == 0, proc.stderr
    assert "measured by accelsim probe on " + data["date"] in path.read_text()


def test_probe_refuses_an_unwritable_out_before_measuring(run_cli, tmp_path):
    proc = run_cli("probe", "--quick", "--out", tmp_path / "missing" / "p.yaml")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------- measure


def test_measure_prints_each_part_beside_its_prediction(probed, run_cli, tmp_path):
    _, hw = probed
    proc = run_cli("measure", _tiny(tmp_path), hw, "--json", "--repeats", "5")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["workload"] == "tiny" and data["hardware"] == "probed_cpu"
    assert [p["name"] for p in data["parts"]] == ["encoder", "decode_iteration"]
    for part in data["parts"]:
        assert part["repeats"] == 5 and 0 < part["cpu_min_s"] <= part["cpu_median_s"] and part["predicted_s"] > 0
        assert part["error_pct"] == pytest.approx(100 * (part["predicted_s"] - part["cpu_min_s"]) / part["cpu_min_s"])
    assert data["controls"]["blas_threads"] == 1 and len(data["controls"]["cpus"]) == 1
    text = run_cli("measure", _tiny(tmp_path, CONFORMER), hw, "--set", "workload.decoding.beam=2")
    assert text.returncode == 0, text.stderr
    assert "encoder" in text.stdout and "decode_iteration" in text.stdout and "error" in text.stdout


def test_measure_by_layer_times_each_encoder_layer_beside_its_prediction(probed, run_cli, tmp_path):
    _, hw = probed
    proc = run_cli("measure", _tiny(tmp_path, CONFORMER), hw, "--by", "layer", "--json")
    assert proc.returncode == 0, proc.stderr
    parts = {p["name"]: p for p in json.loads(proc.stdout)["parts"]}
    layers = [name for name in parts if name.startswith("encoder.")]
    assert layers == ["encoder.sub", "encoder.conformer.ffn1", "encoder.conformer.mhsa", "encoder.conformer.conv",
                      "encoder.conformer.ffn2"]  # a conformer of count 1 is named as written
    assert all(parts[name]["predicted_s"] > 0 and parts[name]["cpu_min_s"] > 0 for name in layers)
    # the layers' ops are the encoder's but for the program's launch and the features' copy in
    assert sum(parts[name]["predicted_s"] for name in layers) < parts["encoder"]["predicted_s"]
    text = run_cli("measure", _tiny(tmp_path, CONFORMER), hw, "--by", "layer")
    assert text.returncode == 0 and "encoder.conformer.mhsa" in text.stdout and "timed alone" in text.stdout


def test_measure_through_onnxruntime(probed, run_cli, tmp_path):
    pytest.importorskip("onnxruntime")
    _, hw = probed
    proc = run_cli("measure", _tiny(tmp_path, CONFORMER), hw, "--onnxruntime", "--json")
    assert proc.returncode == 0, proc.stderr
    assert [p["name"] for p in json.loads(proc.stdout)["parts"]][-1] == "encoder (onnxruntime)"


@pytest.mark.parametrize(("change", "needle"), [
    ("encoder", "layer 'log_softmax' is a log_softmax layer, which the reference runtime cannot run"),
    ("precision", "computes in float32 (--precision fp32)"),
    ("streaming", "streaming: the reference runtime runs the encoder over the whole utterance"),
    ("missing", "no such file"),
    ("repeats", "expected at least 5 repeats"),
])
def test_measure_bad_input_is_one_line_and_exit_2(probed, tmp_path, capsys, change, needle):
    from accelsim.cli import main

    _, hw = probed
    args = [str(_tiny(tmp_path)), str(hw)]
    if change == "encoder":
        args[0] = str(_tiny(tmp_path, LSTM + "\n      - {kind: log_softmax, name: log_softmax, dim: 16}"))
    elif change == "precision":
        args += ["--precision", "int8"]
    elif change == "streaming":
        args += ["--set", "workload.streaming={chunk_frames: 4}"]
    elif change == "missing":
        args[0] = str(tmp_path / "nowhere.yaml")
    else:
        args += ["--repeats", "3"]
    try:
        code = main(["measure", *args])
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    captured = capsys.readouterr()
    assert code == 2, captured.out
    lines = captured.err.strip().splitlines()
    assert needle in lines[-1], captured.err
    if change != "repeats":  # argparse prints its usage line first
        assert len(lines) == 1 and args[0] in lines[0] and not captured.out


def test_measure_without_hw_refuses_bad_input_before_probing(tmp_path, capsys, monkeypatch):
    """The default HW is a fresh full probe: a workload the runtime cannot run fails before it."""
    from accelsim.cli import main
    from accelsim.measure import probe

    def never(*args, **kwargs):
        raise AssertionError("probed before checking the workload")

    monkeypatch.setattr(probe, "run_probe", never)
    assert main(["measure", str(_tiny(tmp_path)), "--set", "workload.streaming={chunk_frames: 4}"]) == 2
    assert "streaming" in capsys.readouterr().err


def test_measure_without_onnxruntime_says_how_to_install_it(probed, tmp_path, capsys, monkeypatch):
    import sys

    from accelsim.cli import main

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # an import of it now fails, as when it is not installed
    assert main(["measure", str(_tiny(tmp_path)), str(probed[1]), "--onnxruntime"]) == 2
    assert "pip install 'accelsim[measure]'" in capsys.readouterr().err


def test_the_decode_iteration_runs_the_lms_when_fused(tmp_path):
    """With LM fusion the iteration also runs LM_EXT and LM_SRC for the LM rows; their scores change the survivors'
    ranking by mu * ext - lam * src + rho."""
    lm = ("    layers:\n      - {kind: embedding, name: embedding, vocab: 8, dim: 4}\n"
          "      - {kind: lstm, name: lstm, input: 4, hidden: 5}\n"
          "      - {kind: linear, name: out, input: 5, output: 8}\n      - {kind: log_softmax, name: ls, dim: 8}\n")
    text = _tiny(tmp_path).read_text().replace("decoding: {beam: 3, lm_fusion: false}", "decoding: {beam: 3}")
    text = text.replace("  joint:", "  lm_ext:\n" + lm + "  lm_src:\n" + lm + "  joint:")
    path = tmp_path / "lms.yaml"
    path.write_text(text)
    model = build_model(accelsim.load_workload(path))
    decoder = ref.Decoder(model, beam=3, fusion=(0.7, 0.5, 0.2))
    assert len(decoder.lms) == 2
    work = ref.IterationWork(active=3, miss_prediction=1, miss_lm=2, kept=3)
    s = decoder.inputs(work)
    lm_terms = decoder._lm_scores(work, s)
    assert lm_terms.shape == (3, 8) and not np.allclose(lm_terms[:2], lm_terms[2])  # fresh rows differ from cached
    parents, labels, copies = decoder.iteration(work, s)
    assert len(parents) == 3 and len(copies) == 3  # prediction, LM_EXT and LM_SRC states copied


def test_without_threadpoolctl_blas_threads_are_said_uncontrolled(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "threadpoolctl", None)
    with controlled(1) as controls:
        assert controls.blas_threads is None
    assert any("BLAS threads not controlled" in n for n in controls.notes)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to restrict the set to one")
def test_probe_on_a_restricted_cpu_set_says_so_and_still_writes_its_config(tmp_path, repo):
    import subprocess
    import sys

    one = min(os.sched_getaffinity(0))
    out = tmp_path / "one.yaml"
    proc = subprocess.run([sys.executable, "-m", "accelsim.cli", "probe", "--quick", "--json", "--out", str(out)],
                          cwd=repo, capture_output=True, text=True, timeout=300,
                          preexec_fn=lambda: os.sched_setaffinity(0, {one}))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert any("restricted CPU set" in n for n in data["notes"]) and data["controls"]["all"]["cpus"] == [one]
    accelsim.load_hardware(out)
