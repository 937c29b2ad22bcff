"""Issue 11, Conformer encoders: parameter counts of Gulati et al.'s sizes, the lowering into batched ops and T x T
attention, hand-calculated costs of an attention block and a depthwise convolution, and the seed-002 size figures."""

from __future__ import annotations

import math

import pytest
import yaml

from accelsim.graph.lower import LAYER_NORM_OPS, SOFTMAX_OPS, lower_encoder
from accelsim.hw.cost import op_cost
from accelsim.spec.layers import ConformerConv, ConformerMHSA
from accelsim.spec.precision import LayerPrecision
from accelsim.spec.workload import WorkloadSpec
from accelsim.workload.model import ModelLayer, Network, build_model, model_size

#: Gulati et al. 2020, Table 1: (blocks, dim, heads, decoder LSTM cells) -> published parameter count (M).
SIZES = {"S": ((16, 144, 4, 320), 10.3), "M": ((16, 256, 4, 640), 30.7), "L": ((17, 512, 8, 640), 118.8)}


def conformer_spec(repo, blocks: int, dim: int, heads: int, cells: int) -> WorkloadSpec:
    data = yaml.safe_load((repo / "workloads" / "conformer_transducer.yaml").read_text(encoding="utf-8"))
    enc = data["model"]["encoder"]["layers"]
    enc[0].update(channels=dim, output=dim)
    enc[1].update(dim=dim, heads=heads, count=blocks)
    enc[2].update(input=dim)
    pred = data["model"]["prediction"]["layers"]
    pred[1].update(hidden=cells)
    pred[2].update(input=cells)
    return WorkloadSpec.model_validate(data)


@pytest.mark.parametrize("size", sorted(SIZES))
def test_conformer_sizes_match_gulati_within_2_percent(repo, size):
    shape, published_M = SIZES[size]
    model = build_model(conformer_spec(repo, *shape))
    assert model.params / 1e6 == pytest.approx(published_M, rel=0.02)


def test_conformer_block_parameters_by_hand():
    d, k = 144, 32
    ffn = 2 * (4 * d * d) + 4 * d + d + 2 * d
    mhsa = 5 * d * d + 4 * d + 2 * d + 2 * d
    conv = 2 * d * d + d * k + d * d + 2 * d + d + d + 2 * d + 2 * d
    from accelsim.spec.layers import Conformer
    assert Conformer(dim=d, heads=4, kernel=k).params() == 2 * ffn + mhsa + conv + 2 * d  # + the final layer norm


def _lowered(layer_spec, frames: int, precision=LayerPrecision(8, 8)):
    net = Network("encoder", (ModelLayer("encoder", layer_spec, precision),))
    return {op.name.rsplit(".", 1)[-1]: op for op in lower_encoder(net, frames, "outer", None, "fused").ops}


def test_attention_lowering_and_cost_by_hand(hw_spec):
    """T = 16 frames, dim 64, 4 heads (head width 16): the scores are T x T per head, batched over heads as rows."""
    ops = _lowered(ConformerMHSA(name="mhsa", dim=64, heads=4), 16)
    assert (ops["qkv"].m, ops["qkv"].k, ops["qkv"].n) == (16, 64, 192)
    assert ops["pos"].m == 31  # 2T - 1 relative distances
    for name in ("scores", "pos_scores"):
        assert (ops[name].m, ops[name].k, ops[name].n, ops[name].weights) == (64, 16, 16, ())
    assert (ops["context"].m, ops["context"].k, ops["context"].n) == (64, 16, 16)
    assert ops["softmax"].elements == 4 * 16 * 16 * SOFTMAX_OPS
    assert ops["norm"].elements == 16 * 64 * LAYER_NORM_OPS
    # RaPiD core: 2 corelets of 8x8 PEs, int8 2048 MACs/cycle -> 16 lanes per PE; one core gets all 16 columns.
    cop = hw_spec.coprocessor
    # output stationary with overlapping folds: one fill and drain of the 8 x 8 array, 8 + 8 - 2 (SCALE-Sim v2's OS)
    cycles = math.ceil(64 / 8) * math.ceil(16 / 16) * math.ceil(16 / 16) + 8 + 8 - 2
    assert op_cost(ops["scores"], hw_spec, 1).seconds == pytest.approx(cop.dispatch_overhead + cycles / 1.6e9)
    # The whole block's MACs by hand: Q/K/V 3Td^2, positions (2T-1)d^2, content and position scores 2 T^2 d, context
    # T^2 d, output Td^2 (T = 16, d = 64).
    T, d = 16, 64
    assert sum(op.macs for op in ops.values()) == 3 * T * d * d + (2 * T - 1) * d * d + 2 * T * T * d + T * T * d + T * d * d
    # Attention grows as T^2, the projections as T.
    long = _lowered(ConformerMHSA(name="mhsa", dim=64, heads=4), 64)
    assert long["scores"].macs == 16 * ops["scores"].macs and long["qkv"].macs == 4 * ops["qkv"].macs


def test_depthwise_conv_cost_by_hand(hw_spec):
    ops = _lowered(ConformerConv(name="conv", dim=64, kernel=32), 40)
    dw = ops["dw"]
    assert (dw.kind, dw.m, dw.k, dw.n, dw.weight_params) == ("dwconv", 40, 32, 64, 64 * 32)
    assert dw.macs == 40 * 64 * 32  # T x channels x taps
    cop = hw_spec.coprocessor
    # Two cores split 64 channels: 32 each over 16 PE columns -> 2 column tiles; 40 rows / 8 -> 5; 32 taps / 16 lanes -> 2.
    cycles = 5 * 2 * 2 + 8 + 8 - 2  # one fill and drain of the 8 x 8 array (SCALE-Sim v2's OS R + C - 2)
    assert op_cost(dw, hw_spec, 2).seconds == pytest.approx(cop.dispatch_overhead + cycles / 1.6e9)
    assert op_cost(dw, hw_spec, 2).roofline_s <= op_cost(dw, hw_spec, 2).seconds
    assert (ops["pw1"].m, ops["pw1"].k, ops["pw1"].n) == (40, 64, 128)


def test_conformer_layers_belong_to_the_encoder(run_cli):
    proc = run_cli("size", "workloads/conformer_transducer.yaml", "--set",
                   "workload.model.prediction.layers=[{kind: conformer_ffn, dim: 320}]")
    assert proc.returncode == 2 and "model.prediction.layers.0" in proc.stderr and "encoder only" in proc.stderr


def test_seed_002_size_relations(repo):
    """The 4-bit scheme compresses more than the mixed one, both less than 8x (the 8/8 ends and FP32 norms stay)."""
    spec = WorkloadSpec.model_validate(yaml.safe_load((repo / "workloads" / "conformer_transducer.yaml").read_text()))
    four = model_size(build_model(spec))["compression"]
    mixed = model_size(build_model(spec.model_copy(update={"precision": spec.precision.model_copy(
        update={"default": "w4a8_mixed"})})))["compression"]
    assert 4.0 < mixed < four < 8.0
