"""Issue 11, precision: any bit width 1..8 (and 16/32) per layer, and codebook (LUT / GQ) weights: their size, their
two execution paths (decoded to a native format, or on look-up-table MACs) and what reports say about them."""

from __future__ import annotations

import math

import pytest

import accelsim
from accelsim.graph.ir import Op
from accelsim.hw import coprocessor
from accelsim.hw.cost import op_cost
from accelsim.spec.loader import Variation
from accelsim.workload.model import build_model


def _matmul(weight_bits: int, act_bits: int = 8, codebook_bits: int = 0, m: int = 8, k: int = 640, n: int = 2560) -> Op:
    return Op(0, "mm", "matmul", "core", "encoder", "r", m=m, k=k, n=n, weight_bits=weight_bits, act_bits=act_bits,
              codebook_bits=codebook_bits, weights=(("W", k * n),))


@pytest.mark.parametrize(("bits", "fmt"), [(1, "int2"), (2, "int2"), (3, "int4"), (4, "int4"), (5, "int8"), (7, "int8"),
                                           (8, "int8")])
def test_every_integer_width_runs_on_the_narrowest_format_that_holds_it(hw_spec, bits, fmt):
    assert coprocessor.select_format(hw_spec.coprocessor, bits, 1) == fmt


def test_fewer_bits_never_slower_where_the_chip_has_the_units(hw_spec):
    seconds = [op_cost(_matmul(bits, bits), hw_spec, 1).seconds for bits in (8, 7, 6, 5, 4, 3, 2, 1)]
    assert all(a >= b for a, b in zip(seconds, seconds[1:])), seconds
    assert seconds[0] > seconds[4] > seconds[-1]  # int8 > int4 > int2 rates


def test_three_bit_and_codebook_layer_overrides_load(workload_path):
    spec = accelsim.load_workload(workload_path, overrides=Variation.from_flags([
        "workload.precision.layers=[{network: encoder, layer: blstm2, weight_bits: 3, act_bits: 3},"
        " {network: encoder, layer: blstm3, weight_bits: 1, weight_quantizer: GQ}]"]))
    model = build_model(spec)
    enc = model.networks["encoder"]
    assert enc.layer("blstm2").precision.weight_bits == 3
    gq = enc.layer("blstm3")
    assert gq.precision.codebook and gq.precision.weight_bits == 1
    # 1-bit indices, FP32 biases, and the codebook: 2 centroids of 8 bits and one FP32 scale.
    assert gq.stored_bytes == pytest.approx(gq.weight_params / 8 + gq.bias_params * 4 + (2 * 8 + 32) / 8)


def test_codebook_size_by_hand(workload_path):
    spec = accelsim.load_workload(workload_path, overrides=Variation.from_flags([
        "workload.precision.layers=[{network: prediction, layer: linear, weight_bits: 4, weight_quantizer: LUT,"
        " codebook_bits: 16}]"]))
    layer = build_model(spec).networks["prediction"].layer("linear")
    assert layer.stored_bytes == 768 * 256 * 4 / 8 + 256 * 4 + (16 * 16 + 32) / 8


def test_codebook_decoded_on_the_sfu_by_hand(hw_spec):
    """4-bit GQ indices, 8-bit centroids, 8-bit activations on one core of the RaPiD chip (no LUT MACs): the matmul runs
    on the int8 units and each of the k x n weights costs one SFU op first."""
    cop = hw_spec.coprocessor
    m, k, n = 8, 640, 2560
    pes = 2 * 8 * 8
    array = math.ceil(m / 8) * math.ceil(n / 16) * math.ceil(k / (2048 // pes)) + 8 + 8 - 2  # SCALE-Sim v2 OS fill/drain
    decode = math.ceil(k * n / 64)
    cost = op_cost(_matmul(4, 8, codebook_bits=8, m=m, k=k, n=n), hw_spec, 1)
    assert cost.seconds == pytest.approx(cop.dispatch_overhead + (array + decode) / 1.6e9, rel=1e-12)
    assert coprocessor.describe_path(cop, 4, 8, 8) == "int8 (codebook decoded on the SFU)"
    # Uniform 4-bit weights run on int4 units at 4x the int8 rate, with no decode: the codebook costs time here.
    assert op_cost(_matmul(4, 4), hw_spec, 1).seconds < cost.seconds


def test_codebook_decoded_in_the_load_path_costs_no_compute(hw_spec):
    hw = hw_spec.model_copy(update={"coprocessor": hw_spec.coprocessor.model_copy(update={"codebook_decode": "load_path"})})
    assert op_cost(_matmul(4, 8, 8), hw, 1).seconds == pytest.approx(op_cost(_matmul(8, 8), hw, 1).seconds)
    assert coprocessor.describe_path(hw.coprocessor, 4, 8, 8).endswith("(codebook decoded in the load path)")


def test_codebook_on_lut_macs_by_hand(hw_spec):
    cop = hw_spec.coprocessor.model_copy(update={"lut_macs_per_cycle": 4096, "lut_index_bits": 4})
    hw = hw_spec.model_copy(update={"coprocessor": cop})
    m, k, n = 8, 640, 2560
    cycles = math.ceil(m / 8) * math.ceil(n / 16) * math.ceil(k / (4096 // 128)) + 14  # OS fill and drain R + C - 2
    assert op_cost(_matmul(4, 8, 8, m, k, n), hw, 1).seconds == pytest.approx(cop.dispatch_overhead + cycles / 1.6e9)
    assert coprocessor.weight_path(cop, 4, 8, 8) == ("lut", "lut")
    assert coprocessor.weight_path(cop, 5, 8, 8)[0] == "decode_sfu"  # wider indices than the LUT MACs take
    for bits in (4, 3, 2, 1):  # the roofline holds on the LUT path too
        cost = op_cost(_matmul(bits, 8, 8), hw, 1)
        assert cost.roofline_s <= cost.seconds


def test_codebook_is_not_an_activation_quantizer(run_cli):
    proc = run_cli("size", "--set", "workload.precision.layers=[{network: encoder, layer: blstm1, act_quantizer: GQ}]")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "act_quantizer" in proc.stderr and "weight codebook" in proc.stderr


def test_run_by_layer_prints_the_codebook_path(run_cli):
    proc = run_cli("run", "--precision", "int4", "--no-lm", "--by", "layer", "--set",
                   "workload.precision.layers=[{network: encoder, layer: blstm3, weight_bits: 4, weight_quantizer: GQ}]")
    assert proc.returncode == 0, proc.stderr
    line = next(l for l in proc.stdout.splitlines() if "blstm3" in l)
    assert "codebook decoded on the SFU" in line


def test_size_by_layer_says_which_tensors_stay_wide(run_cli):
    proc = run_cli("size", "workloads/ondevice_rnnt.yaml", "--by", "layer", "--json")
    assert proc.returncode == 0, proc.stderr
    import json

    data = json.loads(proc.stdout)
    rows = {(r["network"], r["layer"]): r for r in data["layers"]}
    assert rows[("encoder", "lstm1")]["weight_bits"] == 8 and rows[("encoder", "lstm1")]["codebook_bytes"] == 0
    assert rows[("prediction", "lstm1")]["weight_quantizer"] == "GQ" and rows[("prediction", "lstm1")]["weight_bits"] == 1
    assert rows[("encoder", "lstm2")]["codebook_bytes"] == (16 * 8 + 32) / 8
    assert sum(r["size_MB"] for r in data["layers"]) == pytest.approx(data["total_MB"])
