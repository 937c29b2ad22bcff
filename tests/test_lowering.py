"""Tests of the lowering (accelsim/graph/lower.py): quantizer-call counts, encoder and decode-step structure.

The quantizer counts are those of Sec. 3.4 of the paper: with T frames and L direction-layers (a stack of
N bidirectional LSTM layers has L = 2N), quantizing at the LSTM cell inputs ("inner") makes 2*T*L
activation-quantizer calls, quantizing each cell output once ("outer") makes T + T*L, i.e. (L+1)/(2L) of
the inner count: 45% fewer for the paper's 6-layer BLSTM encoder.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

import accelsim
from accelsim.graph.ir import COMPONENTS, UNITS, GraphBuilder, Op
from accelsim.graph.lower import lower, lower_decode_step
from accelsim.workload.model import Model, build_model
from accelsim.workload.search import DecodeTrace, StepRecord

REPO = Path(__file__).resolve().parents[1]
WORKLOAD = REPO / "workloads" / "rnnt_lm_fusion.yaml"

# The shipped encoder: 6 BLSTM layers of 640 cells per direction, input 340, then a linear layer.
BLSTM_LAYERS = 6
HIDDEN = 640
FEATURES = 340


#: The structure tested here is the batched input projection's, without the next-iteration prefetch; the shipped
#: per-step cells and the prefetch are tested in tests/test_fidelity.py.
CLASSIC = ("workload.runtime.lstm_input_projection=batched", "workload.runtime.prefetch_next_iteration=false")


def _model(frames: int = 8, *overrides: str) -> Model:
    spec = accelsim.load_workload(WORKLOAD, [f"workload.utterance.frames={frames}", *CLASSIC, *overrides])
    return build_model(spec)


def _no_decode(frames: int) -> DecodeTrace:
    return DecodeTrace(frames=frames, beam=1, steps=(), reference=(), best=())


def _encoder_ops(frames: int, *overrides: str) -> list[Op]:
    return lower(_model(frames, *overrides), frames, _no_decode(frames))


def _ancestors(ops: list[Op]) -> list[int]:
    """Per op, the set of its transitive dependencies as a bit mask (ops are topologically ordered)."""
    anc: list[int] = []
    for op in ops:
        mask = 0
        for d in op.deps:
            mask |= (1 << d) | anc[d]
        anc.append(mask)
    return anc


def _depends(anc: list[int], later: int, earlier: int) -> bool:
    return bool(anc[later] >> earlier & 1)


def _lstm_quantizer_calls(ops: list[Op]) -> int:
    """Activation-quantizer calls of the encoder's LSTM layers (the final linear layer's excluded)."""
    return sum(op.calls for op in ops if op.kind == "quantize" and op.name.startswith("encoder.blstm"))


def _step(iteration: int = 3, active: int = 4, miss_prediction: int = 2, miss_lm: int = 3, vocab: int = 46,
          merged: int = 1, kept: int = 4) -> StepRecord:
    return StepRecord(iteration=iteration, active=active, miss_prediction=miss_prediction, miss_lm=miss_lm,
                      candidates=active * vocab, merged=merged, kept=kept)


# ---------------------------------------------------------------------------------------------
# Graph well-formedness
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("quant", ["outer", "inner"])
def test_ids_are_positions_and_every_dependency_comes_first(quant: str) -> None:
    steps = (_step(0, 1, 1, 1, kept=2), _step(1, 2, 1, 1), _step(2, 2, 0, 0), _step(3, 4, 2, 3))
    frames = 5
    ops = lower(_model(frames, f"workload.precision.lstm_quant={quant}"), frames,
                DecodeTrace(frames=frames, beam=4, steps=steps, reference=(1,), best=(1,)))
    assert [op.id for op in ops] == list(range(len(ops)))
    for op in ops:
        assert all(0 <= d < op.id for d in op.deps), op
        assert len(set(op.deps)) == len(op.deps), op
        assert op.unit in UNITS and op.component in COMPONENTS, op
    # Records name their op, so names must identify ops.
    assert len({op.name for op in ops}) == len(ops)


# ---------------------------------------------------------------------------------------------
# Quantizer calls (Sec. 3.4)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("precision", ["int4", "int8"])
@pytest.mark.parametrize("frames", [1, 3, 8])
def test_encoder_quantizer_calls_inner_vs_outer(frames: int, precision: str) -> None:
    L = 2 * BLSTM_LAYERS
    outer = _lstm_quantizer_calls(_encoder_ops(frames, f"workload.precision.default={precision}",
                                               "workload.precision.lstm_quant=outer"))
    inner = _lstm_quantizer_calls(_encoder_ops(frames, f"workload.precision.default={precision}",
                                               "workload.precision.lstm_quant=inner"))
    assert inner == 2 * frames * L
    assert outer == frames + frames * L
    assert Fraction(outer, inner) == Fraction(L + 1, 2 * L)


def test_outer_quantization_saves_45_percent_of_calls_on_the_paper_encoder() -> None:
    frames = 8
    outer = _lstm_quantizer_calls(_encoder_ops(frames, "workload.precision.lstm_quant=outer"))
    inner = _lstm_quantizer_calls(_encoder_ops(frames, "workload.precision.lstm_quant=inner"))
    assert outer / inner == pytest.approx(13 / 24, rel=1e-12)
    assert 1 - outer / inner == pytest.approx(0.458, abs=1e-3)  # "45% fewer"


@pytest.mark.parametrize("count", [1, 2, 6])
def test_quantizer_calls_follow_the_number_of_layers(count: int) -> None:
    """The formulas hold for any stack depth, not just the paper's 6 layers."""
    frames, L = 4, 2 * count
    stack = f"workload.model.encoder.layers.0.count={count}"
    outer = _lstm_quantizer_calls(_encoder_ops(frames, stack, "workload.precision.lstm_quant=outer"))
    inner = _lstm_quantizer_calls(_encoder_ops(frames, stack, "workload.precision.lstm_quant=inner"))
    assert (outer, inner) == (frames + frames * L, 2 * frames * L)


@pytest.mark.parametrize("quant", ["outer", "inner"])
def test_quantizer_calls_per_layer(quant: str) -> None:
    """Outer: the network input once (T) plus each direction's T cell outputs; inner: 2T per direction."""
    frames = 6
    ops = _encoder_ops(frames, f"workload.precision.lstm_quant={quant}")
    for layer in range(1, BLSTM_LAYERS + 1):
        calls = sum(op.calls for op in ops if op.kind == "quantize" and op.region == f"encoder.blstm{layer}")
        if quant == "inner":
            expected = 2 * 2 * frames
        else:
            expected = 2 * frames + (frames if layer == 1 else 0)
        assert calls == expected, layer


@pytest.mark.parametrize("precision", ["fp16", "fp32"])
@pytest.mark.parametrize("quant", ["outer", "inner"])
def test_float_precision_has_no_quantize_ops(precision: str, quant: str) -> None:
    frames = 4
    model = _model(frames, f"workload.precision.default={precision}", f"workload.precision.lstm_quant={quant}")
    trace = DecodeTrace(frames=frames, beam=4, steps=(_step(0, 1, 1, 1), _step(1, 4, 2, 3)), reference=(1,), best=(1,))
    ops = lower(model, frames, trace)
    assert [op.name for op in ops if op.kind == "quantize"] == []
    assert sum(op.calls for op in ops) == 0
    # The quantized preset of the same graph does have them (the check above can fail).
    quantized = lower(_model(frames, f"workload.precision.lstm_quant={quant}"), frames, trace)
    assert any(op.kind == "quantize" for op in quantized)


# ---------------------------------------------------------------------------------------------
# Encoder structure
# ---------------------------------------------------------------------------------------------


def _layer_lane(ops: list[Op], layer: int, lane: int) -> list[Op]:
    return [op for op in ops if op.region == f"encoder.blstm{layer}" and op.lanes == 2 and op.lane == lane]


@pytest.mark.parametrize("quant", ["outer", "inner"])
@pytest.mark.parametrize("frames", [1, 2, 8])
def test_encoder_matmuls_per_layer_and_direction(frames: int, quant: str) -> None:
    ops = _encoder_ops(frames, f"workload.precision.lstm_quant={quant}")
    for layer in range(1, BLSTM_LAYERS + 1):
        width = FEATURES if layer == 1 else 2 * HIDDEN
        for lane in (0, 1):
            chain = _layer_lane(ops, layer, lane)
            matmuls = [op for op in chain if op.kind == "matmul"]
            projections = [op for op in matmuls if op.k == width]
            recurrent = [op for op in matmuls if op.k == HIDDEN]
            assert len(projections) == 1, (layer, lane)
            assert (projections[0].m, projections[0].n) == (frames, 4 * HIDDEN)
            assert len(recurrent) == frames - 1, (layer, lane)
            assert all((op.m, op.n) == (1, 4 * HIDDEN) for op in recurrent)
            assert len(matmuls) == frames  # nothing else
            assert projections[0].id < min((op.id for op in recurrent), default=len(ops))
    # All coprocessor work: the batched projections carry T rows, the recurrent steps one.
    macs = sum(op.macs for op in ops if op.kind == "matmul" and op.region.startswith("encoder.blstm"))
    per_dir = sum(frames * 4 * HIDDEN * (FEATURES if l == 1 else 2 * HIDDEN) + (frames - 1) * HIDDEN * 4 * HIDDEN
                  for l in range(1, BLSTM_LAYERS + 1))
    assert macs == 2 * per_dir


@pytest.mark.parametrize("quant", ["outer", "inner"])
def test_recurrent_steps_form_one_chain_per_direction(quant: str) -> None:
    frames = 6
    ops = _encoder_ops(frames, f"workload.precision.lstm_quant={quant}")
    anc = _ancestors(ops)
    for layer in range(1, BLSTM_LAYERS + 1):
        for lane in (0, 1):
            chain = _layer_lane(ops, layer, lane)
            proj = next(op for op in chain if op.kind == "matmul" and op.m == frames)
            rec = [op for op in chain if op.kind == "matmul" and op.m == 1]
            ordered = [proj, *rec]
            for a, b in zip(ordered, ordered[1:]):
                assert _depends(anc, b.id, a.id), (a.name, b.name)
            # Everything of the direction after its projection hangs off it.
            assert all(_depends(anc, op.id, proj.id) for op in chain if op.id > proj.id)


@pytest.mark.parametrize("quant", ["outer", "inner"])
def test_forward_and_backward_are_independent(quant: str) -> None:
    frames = 5
    ops = _encoder_ops(frames, f"workload.precision.lstm_quant={quant}")
    anc = _ancestors(ops)
    for layer in range(1, BLSTM_LAYERS + 1):
        fwd, bwd = _layer_lane(ops, layer, 0), _layer_lane(ops, layer, 1)
        assert fwd and bwd
        assert {op.name.split(".")[2] for op in fwd} == {"fwd"}
        assert {op.name.split(".")[2] for op in bwd} == {"bwd"}
        for a in fwd:
            for b in bwd:
                assert not _depends(anc, a.id, b.id), (a.name, b.name)
                assert not _depends(anc, b.id, a.id), (b.name, a.name)


@pytest.mark.parametrize("quant", ["outer", "inner"])
def test_next_layer_waits_for_both_directions(quant: str) -> None:
    frames = 4
    ops = _encoder_ops(frames, f"workload.precision.lstm_quant={quant}")
    anc = _ancestors(ops)
    features = next(op for op in ops if op.kind == "transfer" and op.component == "encoder")
    assert features.unit == "h2d" and features.bytes > 0
    for layer in range(1, BLSTM_LAYERS + 1):
        lasts = [max(_layer_lane(ops, layer, lane), key=lambda op: op.id) for lane in (0, 1)]
        if layer < BLSTM_LAYERS:
            consumers = [op for lane in (0, 1) for op in _layer_lane(ops, layer + 1, lane)
                         if op.kind == "matmul" and op.m == frames]
        else:
            consumers = [op for op in ops if op.region == "encoder.linear" and op.kind == "matmul"]
        assert len(consumers) == (2 if layer < BLSTM_LAYERS else 1)
        for consumer in consumers:
            for last in lasts:
                assert _depends(anc, consumer.id, last.id), (consumer.name, last.name)
        # And the first layer consumes the features.
        if layer == 1:
            assert all(_depends(anc, op.id, features.id) for lane in (0, 1) for op in _layer_lane(ops, 1, lane))


def test_encoder_output_layer() -> None:
    frames = 7
    ops = _encoder_ops(frames)
    linear = [op for op in ops if op.region == "encoder.linear" and op.kind == "matmul"]
    assert len(linear) == 1
    assert (linear[0].m, linear[0].k, linear[0].n) == (frames, 2 * HIDDEN, 256)
    assert linear[0].id == max(op.id for op in ops)  # nothing follows it without decode steps


# ---------------------------------------------------------------------------------------------
# One decode iteration
# ---------------------------------------------------------------------------------------------


def _decode_ops(model: Model, step: StepRecord, beam: int = 4) -> tuple[list[Op], list[int]]:
    b = GraphBuilder()
    before = b.add("before", "sfu", "core", "encoder", "encoder", elements=1)
    ends = lower_decode_step(b, model, step, [before], beam)
    return b.ops, ends


def test_decode_step_rows_follow_the_trace() -> None:
    model = _model(8)
    step = _step(active=5, miss_prediction=2, miss_lm=3)
    ops, _ = _decode_ops(model, step)
    by = {c: [op for op in ops if op.component == c and op.kind == "matmul"] for c in COMPONENTS}
    assert by["prediction"] and by["joint"] and by["lm_ext"] and by["lm_src"]
    assert {op.m for op in by["prediction"]} == {2}
    assert {op.m for op in by["lm_ext"]} == {3}
    assert {op.m for op in by["lm_src"]} == {3}
    assert {op.m for op in by["joint"]} == {5}
    assert by["encoder"] == [] and by["search"] == []
    # The joint's output layer maps 256 latent features to the 46 symbols.
    assert any((op.k, op.n) == (256, 46) for op in by["joint"])


@pytest.mark.parametrize("misses", [(0, 0), (0, 2), (2, 0)])
def test_decode_step_without_cache_misses_has_no_network_ops(misses: tuple[int, int]) -> None:
    miss_prediction, miss_lm = misses
    ops, _ = _decode_ops(_model(8), _step(active=3, miss_prediction=miss_prediction, miss_lm=miss_lm))
    components = {op.component for op in ops}
    assert ("prediction" in components) == (miss_prediction > 0)
    assert ("lm_ext" in components) == (miss_lm > 0)
    assert ("lm_src" in components) == (miss_lm > 0)
    assert {op.m for op in ops if op.component == "joint" and op.kind == "matmul"} == {3}


def test_decode_step_without_lm_fusion_has_no_lm_ops() -> None:
    model = _model(8, "workload.decoding.lm_fusion=false")
    assert "lm_ext" not in model.networks
    ops, _ = _decode_ops(model, _step(active=4, miss_prediction=2, miss_lm=2))
    assert not {op.component for op in ops} & {"lm_ext", "lm_src"}
    scores = next(op for op in ops if op.unit == "d2h")
    assert scores.bytes == 4 * 46 * 4  # active x vocab FP32 log-probabilities, no LM scores


def test_decode_step_host_and_link_ops() -> None:
    beam = 4
    step = _step(active=4, miss_prediction=2, miss_lm=3, merged=2, kept=4)
    ops, ends = _decode_ops(_model(8), step, beam)
    anc = _ancestors(ops)
    host = [op for op in ops if op.kind in ("fuse", "topk", "merge")]
    assert sorted(op.kind for op in host) == ["fuse", "merge", "topk"]
    assert all(op.unit == "host" and op.component == "search" for op in host)
    assert {op.kind for op in ops if op.unit == "host"} == {"fuse", "topk", "merge", "copy"}
    transfers = [op for op in ops if op.kind == "transfer"]
    assert sorted(op.unit for op in transfers) == ["d2h", "h2d"]
    assert all(op.kind == "transfer" for op in ops if op.unit in ("d2h", "h2d"))
    scores = next(op for op in transfers if op.unit == "d2h")
    select = next(op for op in transfers if op.unit == "h2d")
    # Scores go down the link after every network, the host works on them in order, selections go back.
    fuse, topk, merge = (next(op for op in host if op.kind == k) for k in ("fuse", "topk", "merge"))
    copy = next(op for op in ops if op.kind == "copy")
    chain = [scores, fuse, topk, merge, copy, select]
    for a, b in zip(chain, chain[1:]):
        assert _depends(anc, b.id, a.id), (a.name, b.name)
    for op in ops:
        if op.unit == "core" and op.name != "before":
            assert _depends(anc, scores.id, op.id), op.name
            assert _depends(anc, op.id, 0), op.name  # and after what the step was told to wait for
    assert ends == [select.id]
    assert fuse.elements == step.candidates and topk.elements == step.candidates and topk.k == beam
    assert scores.bytes == (4 * 46 + 2 * 3 * 46) * 4
    assert select.bytes == step.kept * 8


def test_joint_waits_for_the_prediction_network() -> None:
    ops, _ = _decode_ops(_model(8), _step(active=4, miss_prediction=2, miss_lm=1))
    anc = _ancestors(ops)
    pred_last = max((op for op in ops if op.component == "prediction"), key=lambda op: op.id)
    joint_first = min((op for op in ops if op.component == "joint"), key=lambda op: op.id)
    assert _depends(anc, joint_first.id, pred_last.id)


def test_whole_utterance_chains_decode_iterations_after_the_encoder() -> None:
    frames = 3
    steps = (_step(0, 1, 1, 1, kept=2), _step(1, 2, 1, 1), _step(2, 2, 0, 0), _step(3, 2, 1, 1))
    ops = lower(_model(frames), frames, DecodeTrace(frames=frames, beam=2, steps=steps, reference=(1,), best=(1,)))
    anc = _ancestors(ops)
    encoder_out = next(op for op in ops if op.region == "encoder.linear" and op.kind == "matmul")
    selects = [op for op in ops if op.kind == "transfer" and op.unit == "h2d" and op.component == "search"]
    assert len(selects) == len(steps)
    assert len([op for op in ops if op.kind == "topk"]) == len(steps)
    for op in ops:
        if op.component != "encoder":
            assert _depends(anc, op.id, encoder_out.id), op.name
    # Iteration i+1 starts only once the selections of iteration i are back on the coprocessor.
    for i, select in enumerate(selects[:-1]):
        nxt = [op for op in ops if op.name.startswith(f"it{i + 1}.")]
        assert nxt and all(_depends(anc, op.id, select.id) for op in nxt)
    # Iteration 2 had no cache misses: of the networks, only the joint runs.
    it2 = {op.component for op in ops if op.name.startswith("it2.") and op.unit == "core"}
    assert "joint" in it2 and not it2 & {"prediction", "lm_ext", "lm_src"}
