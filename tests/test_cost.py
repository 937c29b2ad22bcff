"""Cost models (accelsim/hw/): pure functions from (op, hardware) to seconds, against hand calculations.

The hand calculations use the shipped chip's geometry (sourced from the ISSCC 2021 RaPiD paper) with the
assumed parameters (dispatch overhead, link lanes/efficiency/latency, host costs) pinned by --set overrides,
so that recalibrating the shipped YAML does not silently change what these tests check.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import accelsim
from accelsim.errors import AccelsimError
from accelsim.graph.ir import Op
from accelsim.hw import coprocessor, host, link
from accelsim.hw.cost import COSTS, op_cost
from accelsim.hw.family import family_of
from accelsim.spec.hardware import FORMAT_BITS, HardwareSpec

GHZ = 1.6e9
US = 1e-6
NS = 1e-9

PINNED = [
    "hw.coprocessor.cores=4",
    "hw.coprocessor.clock=1.6 GHz",
    "hw.coprocessor.corelets_per_core=2",
    "hw.coprocessor.pe_rows=8",
    "hw.coprocessor.pe_cols=8",
    "hw.coprocessor.macs_per_cycle={fp16: 1024, hfp8: 2048, int8: 2048, int4: 8192, int2: 16384}",
    "hw.coprocessor.sfu_ops_per_cycle=64",
    "hw.coprocessor.dispatch_overhead=1 us",
    "hw.coprocessor.dataflow=output_stationary",
    "hw.coprocessor.fold_overlap=true",
    "hw.link.bandwidth=32 Gbps",
    "hw.link.lanes=8",
    "hw.link.efficiency=0.985",
    "hw.link.latency=1 us",
    "hw.host.op_overhead=2 us",
    "hw.host.fuse_per_element=2 ns",
    "hw.host.sort_per_element=1 ns",
    "hw.host.merge_per_element=20 ns",
    "hw.host.memory_bandwidth=10 GB/s",
    "hw.memory.weights_home=host",
]


@pytest.fixture(scope="module")
def hw(hw_path) -> HardwareSpec:
    return accelsim.load_hardware(hw_path, overrides=PINNED)


def matmul(m: int, k: int, n: int, wb: int = 16, ab: int = 16) -> Op:
    return Op(0, "mm", "matmul", "core", "encoder", "r", m=m, k=k, n=n, weight_bits=wb, act_bits=ab)


def test_shipped_chip_geometry_is_the_sourced_one(hw_spec):
    """The pins above restate the shipped chip's sourced values: 4 cores, 1.6 GHz, 2 corelets of 8x8 PEs."""
    cop = hw_spec.coprocessor
    assert (cop.cores, cop.clock, cop.corelets_per_core, cop.pe_rows, cop.pe_cols) == (4, GHZ, 2, 8, 8)
    assert {f: cop.macs_per_cycle[f] for f in ("fp16", "int8", "int4")} == {"fp16": 1024, "int8": 2048, "int4": 8192}
    assert "fp32" not in cop.macs_per_cycle  # FP32 networks run at FP16 (the paper's FP16 baseline)
    assert hw_spec.link.bandwidth == 4e9  # 32 Gbps per lane


# ---------------------------------------------------------------- coprocessor matmuls


def test_batch1_fp16_matvec_on_two_cores(hw):
    """640 x 2560 weights (an LSTM's 4 gates of 640 cells), one input row, FP16, 2 cores.

    128 PEs per core and 1024 FP16 MACs/cycle -> 8 SIMD lanes per PE. Each core takes 2560 / 2 = 1280 output
    columns over 2 corelets x 8 PE columns = 16: 80 tiles; the batch row uses ceil(1 / 8) = 1 row tile;
    the reduction is 640 / 8 = 80 cycles per tile (output stationary, folds overlapping); plus one fill and
    drain of the 8 x 8 array, 8 + 8 - 2 = 14 (SCALE-Sim v2's output-stationary R + C - 2).
    """
    cycles = math.ceil(1 / 8) * math.ceil(1280 / 16) * math.ceil(640 / 8) + 8 + 8 - 2
    assert cycles == 6414
    assert coprocessor.matmul_cycles(hw.coprocessor, "fp16", 1, 640, 2560, 2) == cycles
    cost = op_cost(matmul(1, 640, 2560), hw, cores=2)
    assert cost.seconds == pytest.approx(1 * US + cycles / GHZ, rel=1e-12)  # 5.01 us
    assert cost.seconds == pytest.approx(5.00875e-6, rel=1e-12)
    # roofline: 1 x 640 x 2560 MACs over 2 cores x 1024 MACs/cycle at 1.6 GHz
    assert cost.roofline_s == pytest.approx(640 * 2560 / (2 * 1024 * GHZ), rel=1e-12)  # 0.5 us


def test_batched_int4_projection_on_one_core(hw):
    """Encoder input projection batched over 152 frames: 152 x 1280 @ 1280 x 2560 at 4/4 on one core.

    int4: 8192 MACs/cycle / 128 PEs = 64 lanes; ceil(152 / 8) = 19 row tiles x ceil(2560 / 16) = 160 column
    tiles x ceil(1280 / 64) = 20 cycles + 14.
    """
    cycles = 19 * 160 * 20 + 14
    cost = op_cost(matmul(152, 1280, 2560, 4, 4), hw, cores=1)
    assert cost.seconds == pytest.approx(1 * US + cycles / GHZ, rel=1e-12)  # 39.01 us
    assert cost.roofline_s == pytest.approx(152 * 1280 * 2560 / (8192 * GHZ), rel=1e-12)


def test_partial_tiles_cost_whole_tiles(hw):
    """Folding: 17 output columns on one core need 2 column tiles; 9 reduction elements at fp16 need 2 cycles (plus
    one output-stationary fill and drain of the 8 x 8 array, R + C - 2 = 14)."""
    cop = hw.coprocessor
    assert coprocessor.matmul_cycles(cop, "fp16", 1, 8, 16, 1) == 1 * 1 * 1 + 14
    assert coprocessor.matmul_cycles(cop, "fp16", 1, 8, 17, 1) == 1 * 2 * 1 + 14
    assert coprocessor.matmul_cycles(cop, "fp16", 1, 9, 16, 1) == 1 * 1 * 2 + 14
    assert coprocessor.matmul_cycles(cop, "fp16", 9, 8, 16, 1) == 2 * 1 * 1 + 14


def test_batch1_is_slower_per_mac_than_batch8_and_more(hw):
    """A batch-1 matvec fills one PE row in eight: the same cycles as batch 8, so 8x the cycles per MAC."""
    cop = hw.coprocessor
    k, n = 1280, 2560

    def per_mac(m: int) -> float:
        return op_cost(matmul(m, k, n, 4, 4), hw, cores=1).seconds / (m * k * n)

    assert coprocessor.matmul_cycles(cop, "int4", 1, k, n, 1) == coprocessor.matmul_cycles(cop, "int4", 8, k, n, 1)
    assert per_mac(1) == pytest.approx(8 * per_mac(8), rel=1e-12)
    for m in (8, 16, 32, 64, 152, 1024):
        assert per_mac(m) < per_mac(1) / 7.9, m
    # Above batch 8 the cost per MAC stays at the batch-8 level, within the fill/drain and dispatch overheads.
    assert per_mac(1024) == pytest.approx(per_mac(8), rel=0.05)


def test_more_cores_split_output_columns(hw):
    cop = hw.coprocessor
    one = coprocessor.matmul_cycles(cop, "fp16", 8, 640, 2560, 1)
    four = coprocessor.matmul_cycles(cop, "fp16", 8, 640, 2560, 4)
    assert one == 160 * 80 + 14
    assert four == 40 * 80 + 14


# ---------------------------------------------------------------- formats


@pytest.mark.parametrize(
    ("weight_bits", "act_bits", "fmt"),
    [
        (32, 32, "fp16"),  # no fp32 MACs on this chip: FP32 networks run at FP16
        (16, 16, "fp16"),
        (8, 8, "int8"),  # integer units before hybrid FP8 of the same width
        (8, 4, "int8"),
        (4, 8, "int8"),
        (4, 4, "int4"),
        (2, 4, "int4"),
        (2, 2, "int2"),
        (1, 1, "int2"),
        (16, 4, "fp16"),
    ],
)
def test_format_selection(hw, weight_bits, act_bits, fmt):
    assert coprocessor.select_format(hw.coprocessor, weight_bits, act_bits) == fmt


def test_fp32_network_costs_the_same_as_fp16(hw):
    assert op_cost(matmul(1, 640, 2560, 32, 32), hw, 2) == op_cost(matmul(1, 640, 2560, 16, 16), hw, 2)


def test_fp32_runs_at_fp32_when_the_chip_has_it(hw_path):
    hw32 = accelsim.load_hardware(hw_path, overrides=PINNED + ["hw.coprocessor.macs_per_cycle.fp32=512"])
    assert coprocessor.select_format(hw32.coprocessor, 32, 32) == "fp32"
    assert coprocessor.select_format(hw32.coprocessor, 16, 16) == "fp16"
    # 512 MACs / 128 PEs = 4 lanes: twice the fp16 reduction cycles
    assert coprocessor.matmul_cycles(hw32.coprocessor, "fp32", 1, 640, 2560, 2) == 80 * 160 + 14


def test_narrow_op_on_a_chip_without_narrow_formats(hw_path):
    fp16_only = accelsim.load_hardware(hw_path, overrides=PINNED + ["hw.coprocessor.macs_per_cycle={fp16: 1024}"])
    assert coprocessor.select_format(fp16_only.coprocessor, 4, 4) == "fp16"
    assert op_cost(matmul(1, 640, 2560, 4, 4), fp16_only, 2).seconds == pytest.approx(1 * US + 6414 / GHZ, rel=1e-12)


def test_lower_precision_is_faster(hw):
    times = {bits: op_cost(matmul(16, 1280, 2560, bits, bits), hw, 1).seconds for bits in (16, 8, 4, 2)}
    assert times[16] > times[8] > times[4] > times[2]
    # batch 16 = 2 row tiles x 160 column tiles; reduction 1280 / lanes: fp16 8 -> 160, int8 16 -> 80, int4 64 -> 20
    assert times[16] == pytest.approx(1 * US + (2 * 160 * 160 + 14) / GHZ, rel=1e-12)
    assert times[8] == pytest.approx(1 * US + (2 * 160 * 80 + 14) / GHZ, rel=1e-12)
    assert times[4] == pytest.approx(1 * US + (2 * 160 * 20 + 14) / GHZ, rel=1e-12)


# ---------------------------------------------------------------- element-wise work


def test_sfu_cost(hw):
    """LSTM cell update of 16 hypotheses x 640 cells x 10 element-wise ops on one core: 102400 / 64 = 1600 cycles."""
    op = Op(0, "cell", "sfu", "core", "lm_ext", "r", elements=16 * 640 * 10)
    cost = op_cost(op, hw, cores=1)
    assert cost.seconds == pytest.approx(1 * US + 1600 / GHZ, rel=1e-12)  # 2 us
    assert cost.roofline_s == pytest.approx(1600 / GHZ, rel=1e-12)


def test_quantizer_passes_multiply_the_work(hw):
    """A MAX quantizer makes 3 passes (statistics, scale, quantize): 2560 x 3 = 7680 ops on 2 cores = 60 cycles."""
    fix = Op(0, "q", "quantize", "core", "encoder", "r", elements=2560, passes=1, quantizer="FIX")
    mx = Op(0, "q", "quantize", "core", "encoder", "r", elements=2560, passes=3, quantizer="MAX")
    assert op_cost(fix, hw, 2).seconds == pytest.approx(1 * US + 20 / GHZ, rel=1e-12)
    assert op_cost(mx, hw, 2).seconds == pytest.approx(1 * US + 60 / GHZ, rel=1e-12)


def test_partial_sfu_cycle_costs_a_whole_cycle(hw):
    op = Op(0, "g", "gather", "core", "prediction", "r", elements=65)
    assert op_cost(op, hw, 1).seconds == pytest.approx(1 * US + 2 / GHZ, rel=1e-12)


# ---------------------------------------------------------------- link


def test_link_bandwidth(hw):
    # 32 Gbps per lane = 4 GB/s; x 8 lanes x 0.985 (128b/130b) = 31.52 GB/s per direction
    assert link.link_bytes_per_s(hw.link) == pytest.approx(4e9 * 8 * 0.985, rel=1e-12)
    assert link.link_bytes_per_s(hw.link) == pytest.approx(31.52e9, rel=1e-12)


@pytest.mark.parametrize("n_bytes", [0, 1, 46 * 16 * 2, 1_048_576, 25_632_040])
def test_transfer_is_latency_plus_bytes_over_bandwidth(hw, n_bytes):
    op = Op(0, "t", "transfer", "h2d", "search", "r", bytes=float(n_bytes))
    cost = op_cost(op, hw)
    assert cost.seconds == pytest.approx(1 * US + n_bytes / (8 * 4e9 * 0.985), rel=1e-12)
    assert cost.roofline_s == pytest.approx(n_bytes / 31.52e9, rel=1e-12, abs=0.0)
    assert link.transfer(hw.link, "h2d", n_bytes) == cost


def test_one_mib_transfer(hw):
    assert link.transfer(hw.link, "h2d", 2**20).seconds == pytest.approx(1e-6 + 1_048_576 / 31.52e9, rel=1e-12)  # 34.27 us


def test_faster_link_halves_the_streaming_time(hw_path, hw):
    hw64 = accelsim.load_hardware(hw_path, overrides=PINNED + ["hw.link.bandwidth=64 Gbps"])
    n = 25_632_040  # the 4-bit LM_EXT
    def seconds(spec):
        return link.transfer(spec.link, "h2d", n).seconds

    assert seconds(hw64) - 1 * US == pytest.approx((seconds(hw) - 1 * US) / 2, rel=1e-12)


def test_weight_fetch_channel(hw_path, hw):
    fetch = family_of(hw).memory.fetch("host", 2**20)
    assert fetch.unit == "h2d" and fetch == link.transfer(hw.link, "h2d", 2**20)
    dev = accelsim.load_hardware(
        hw_path, overrides=PINNED + ["hw.memory.weights_home=device", "hw.memory.device_bandwidth=100 GB/s"])
    fetch = family_of(dev).memory.fetch("device", 2**20)
    assert fetch.unit == "dram" and fetch.level_bytes == (("device", 2**20),)
    assert fetch.seconds == pytest.approx(1_048_576 / 100e9, rel=1e-12)


# ---------------------------------------------------------------- host


def test_host_fuse(hw):
    """Eq. 1 for 16 hypotheses x 46 symbols = 736 candidates: 2 us + 736 x 2 ns."""
    op = Op(0, "fuse", "fuse", "host", "search", "r", elements=736)
    assert op_cost(op, hw).seconds == pytest.approx(2 * US + 736 * 2 * NS, rel=1e-12)  # 3.472 us
    assert host.fuse_seconds(hw.host, 736) == pytest.approx(3.472e-6, rel=1e-12)


def test_host_topk(hw):
    """Best 16 of 736 candidates through a heap of 16: 736 x log2(16) = 2944 comparisons at 1 ns."""
    op = Op(0, "topk", "topk", "host", "search", "r", elements=736, k=16)
    assert op_cost(op, hw).seconds == pytest.approx(2 * US + 736 * 4 * 1 * NS, rel=1e-12)  # 4.944 us
    # beam 1: log2 is floored at log2(2) = 1
    assert host.topk_seconds(hw.host, 46, 1) == pytest.approx(2 * US + 46 * 1 * NS, rel=1e-12)


def test_host_merge(hw):
    op = Op(0, "merge", "merge", "host", "search", "r", elements=16)
    assert op_cost(op, hw).seconds == pytest.approx(2 * US + 16 * 20 * NS, rel=1e-12)  # 2.32 us


def test_host_costs_ignore_cores(hw):
    op = Op(0, "fuse", "fuse", "host", "search", "r", elements=736)
    assert op_cost(op, hw, 1) == op_cost(op, hw, 4)


# ---------------------------------------------------------------- detailed cost >= roofline


IR_KINDS = ("matmul", "sfu", "quantize", "gather", "transfer", "fuse", "topk", "merge", "copy")


def test_every_ir_kind_has_a_cost():
    assert set(IR_KINDS) <= set(COSTS)


@st.composite
def machines(draw, base: HardwareSpec) -> HardwareSpec:
    """Random coprocessor geometry, formats, clock and overheads on top of the pinned machine."""
    data = base.model_dump(mode="json")
    cop = data["coprocessor"]
    cop["cores"] = draw(st.integers(1, 8))
    cop["corelets_per_core"] = draw(st.integers(1, 4))
    cop["pe_rows"] = draw(st.integers(1, 16))
    cop["pe_cols"] = draw(st.integers(1, 16))
    pes = cop["corelets_per_core"] * cop["pe_rows"] * cop["pe_cols"]
    formats = draw(st.sets(st.sampled_from(sorted(FORMAT_BITS)), min_size=1))
    cop["macs_per_cycle"] = {f: pes * draw(st.integers(1, 128)) for f in formats}
    cop["sfu_ops_per_cycle"] = draw(st.integers(1, 256))
    cop["clock"] = f"{draw(st.floats(0.1, 5.0))!r} GHz"
    cop["dispatch_overhead"] = f"{draw(st.floats(0.0, 10.0))!r} us"
    data["link"]["lanes"] = draw(st.integers(1, 16))
    data["link"]["efficiency"] = draw(st.floats(0.5, 1.0))
    data["link"]["latency"] = f"{draw(st.floats(0.0, 5.0))!r} us"
    data["host"]["op_overhead"] = f"{draw(st.floats(0.0, 5.0))!r} us"
    return HardwareSpec.model_validate(data)


@st.composite
def ops(draw) -> Op:
    kind = draw(st.sampled_from(IR_KINDS))
    bits = st.sampled_from([32, 16, 8, 4, 2, 1])
    return Op(
        0, "op", kind, "core", "encoder", "r",
        m=draw(st.integers(0, 2048)),
        k=draw(st.integers(0, 4096)),
        n=draw(st.integers(0, 8192)),
        weight_bits=draw(bits),
        act_bits=draw(bits),
        elements=draw(st.integers(0, 10**6)),
        passes=draw(st.integers(1, 3)),
        bytes=float(draw(st.integers(0, 10**8))),
    )


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_detailed_cost_never_beats_the_roofline(hw, data):
    machine = data.draw(st.one_of(st.just(hw), machines(hw)), label="machine")
    op = data.draw(ops(), label="op")
    cores = data.draw(st.integers(1, machine.coprocessor.cores), label="cores")
    try:
        cost = op_cost(op, machine, cores)
    except AccelsimError:  # operands wider than every MAC format of the chip (and not FP32 promoted to FP16)
        widest = max(FORMAT_BITS[f] for f in machine.coprocessor.macs_per_cycle)
        assert op.kind == "matmul" and max(op.weight_bits, op.act_bits) > widest
        return
    assert cost.roofline_s >= 0
    assert math.isfinite(cost.seconds)
    # 1e-12 relative slack: with zero overheads the two are equal up to floating-point rounding.
    assert cost.seconds >= cost.roofline_s * (1 - 1e-12), (op, cost)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    m=st.integers(1, 512), k=st.integers(1, 4096), n=st.integers(1, 8192),
    bits=st.sampled_from([16, 8, 4, 2]), cores=st.integers(1, 3),
)
def test_matmul_cost_is_monotonic(hw, m, k, n, bits, cores):
    """More work never costs less; more cores never cost more."""
    t = lambda m_, k_, n_, c_: op_cost(matmul(m_, k_, n_, bits, bits), hw, c_).seconds  # noqa: E731
    base = t(m, k, n, cores)
    assert t(m + 1, k, n, cores) >= base
    assert t(m, k + 1, n, cores) >= base
    assert t(m, k, n + 1, cores) >= base
    assert t(m, k, n, cores + 1) <= base
