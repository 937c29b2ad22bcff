"""The GPU family (issue 22): GEMM tiles spread over SMs in waves, their operand feed, CUDA graphs, persistent LSTM
kernels, the shared runtime file; hand calculations on a small made-up GPU."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

import accelsim
from accelsim.errors import AccelsimError, SpecError
from accelsim.graph.ir import Op
from accelsim.graph.lower import GraphBuilder, Segment
from accelsim.hw.cost import CostTable
from accelsim.hw.gpu import gemm, tile_rate
from accelsim.sim.policies import RESIDENCIES
from accelsim.sim.segments import run_segment
from accelsim.sim.target import target_for

US = 1e-6

#: A made-up GPU: 4 SMs at 1 GHz, 256 FP16 tensor MACs per cycle per SM, 32 FP32 lanes; 256 KiB of registers and
#: shared memory per SM (half for weights), 4 MiB L2 at 64 B per cycle per SM, DRAM at 100 GB/s.
RUNTIME = {"tensor_efficiency": 0.5, "tiles": [[64, 64], [16, 32]], "max_split_k": 4, "kernel_overhead": "2 us",
           "launch_overhead": "5 us", "cuda_graphs": True, "graph_launch": "10 us", "grid_sync": "1 us"}
TINY = {
    "name": "tiny_gpu", "family": "gpu",
    "gpu": {"sms": 4, "clock": "1 GHz", "tensor_macs_per_cycle": {"fp16": 256, "int8": 512}, "fp32_macs_per_cycle": 32,
            "runtime": "runtime.yaml"},
    "host": {"op_overhead": "1 us", "fuse_per_element": "1 ns", "sort_per_element": "1 ns", "merge_per_element": "1 ns"},
    "link": {"bandwidth": "16 Gbps", "lanes": 16, "latency": "5 us"},
    "memory": {"weights_home": "DRAM", "residency": "cache", "overlap": 1.0, "levels": [
        {"name": "SM", "kind": "scratchpad", "scope": "core", "capacity": "256 KiB", "weight_fraction": 0.5},
        {"name": "L2", "kind": "cache", "scope": "shared", "capacity": "4 MiB", "read_bandwidth": "64 GB/s",
         "shared_bandwidth": "256 GB/s"},
        {"name": "DRAM", "kind": "memory", "read_bandwidth": "64 GB/s", "shared_bandwidth": "100 GB/s",
         "latency": "500 ns"}]},
}


def tiny(tmp_path: Path, runtime: dict | None = None, **gpu) -> accelsim.api.HardwareSpec:
    """The made-up GPU, its runtime file beside it in ``tmp_path`` (changed by ``runtime``, its gpu section by ``gpu``)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "runtime.yaml").write_text(yaml.safe_dump({**RUNTIME, **(runtime or {})}), encoding="utf-8")
    data = yaml.safe_load(yaml.safe_dump(TINY))
    data["gpu"].update(gpu)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return accelsim.load_hardware(path)


def matmul(m: int, k: int, n: int, **fields) -> Op:
    return Op(0, "mm", "matmul", "core", "encoder", "r", m=m, k=k, n=n, weight_bits=16, act_bits=16, **fields)


# ---------------------------------------------------------------- GEMM tiles and waves


def test_gemm_tiles_waves_and_feed_by_hand(tmp_path):
    """100 x 256 x 128 in FP16 on 4 SMs; tensor rate 256 x 0.5 = 128 MACs per cycle per SM, feed 64 B per cycle.
    64x64 tiles: the feed allows 64 x 64 x 64 / (128 x 2) = 1024 >= 128 MACs per cycle; 2 x 2 = 4 tiles, one wave of
    64 x 64 x 256 / 128 = 8192 cycles. 16x32 tiles: the feed allows 64 x 512 / (48 x 2) = 341 >= 128; 7 x 4 = 28
    tiles, 7 waves of 16 x 32 x 256 / 128 = 1024 cycles: 7168, the faster."""
    hw = tiny(tmp_path)
    shape = gemm(100, 256, 128, 4, 256, hw.gpu.runtime, 64, 2, 32)
    assert (shape.tile, shape.split, shape.waves, shape.cycles) == ((16, 32), 1, 7, 7168)
    cost = CostTable(hw).op(matmul(100, 256, 128), 4)
    assert cost.busy_s == pytest.approx(7168e-9 + 2 * US)  # the cycles at 1 GHz, plus the kernel overhead
    assert cost.roofline_s == pytest.approx(100 * 256 * 128 / (4 * 256 * 1e9))


def test_wave_quantisation_and_split_k_by_hand(tmp_path):
    """64 x 2048 x 64 in one 64x64 tile would leave 3 of the 4 SMs idle: 64 x 64 x 2048 / 128 = 65536 cycles. In 2
    slices: 32768 cycles plus adding the partial sums of 64 x 64 outputs on 4 x 32 lanes (64 x 64 / 128 = 32); in 4:
    16384 + 3 x 32 = 16480, the fastest. Five 16x64 tiles on four SMs take two waves."""
    hw = tiny(tmp_path, runtime={"tiles": [[64, 64]]})
    shape = gemm(64, 2048, 64, 4, 256, hw.gpu.runtime, 64, 2, 32)
    assert (shape.tile, shape.split, shape.waves, shape.cycles) == ((64, 64), 4, 1, 16384 + 96)
    one = gemm(64, 2048, 64, 4, 256, hw.gpu.runtime.model_copy(update={"max_split_k": 1}), 64, 2, 32)
    assert one.cycles == 65536
    five = gemm(80, 256, 64, 4, 256, hw.gpu.runtime.model_copy(update={"max_split_k": 1, "tiles": [[16, 64]]}),
                64, 2, 32)
    assert (five.waves, five.cycles) == (2, 2 * 16 * 64 * 256 / 128)


def test_small_tiles_are_bound_by_their_operand_feed():
    """A 16x32 tile brings 16 + 32 operands of 2 bytes per 512 MACs: at 8 B per cycle it sustains
    8 x 512 / 96 = 42.7 MACs per cycle, not the tensor cores' 256 x 0.5 = 128; a 64x64 tile at 8 B per cycle
    8 x 4096 / 256 = 128, as its tensor cores."""
    assert tile_rate(256, 0.5, 8, (16, 32), 2) == pytest.approx(8 * 512 / 96)
    assert tile_rate(256, 0.5, 8, (64, 64), 2) == 128


def test_a_matvec_runs_on_the_cuda_cores_when_that_is_faster(tmp_path):
    """16 x 96 x 32 (49,152 MACs): 16x32 tiles are feed-bound at 8 B per cycle (2 tiles, one wave, 1,152 cycles);
    the CUDA cores' kernel does 4 SMs x min(32 lanes, 8 B x 16 rows / 2 B) = 128 MACs per cycle: 384 cycles."""
    hw = tiny(tmp_path, runtime={"tiles": [[16, 32]], "max_split_k": 1})
    shape = gemm(16, 96, 32, 4, 256, hw.gpu.runtime, 8, 2, 32)
    assert (shape.tile, shape.cycles) == ((0, 0), 384)
    assert gemm(16, 96, 32, 4, 256, hw.gpu.runtime, 64, 2, 32).cycles == 16 * 32 * 96 / 128  # a fed tile wins


def test_weights_stream_from_dram_while_the_tiles_compute(tmp_path):
    """A 1 x 4096 x 1024 FP16 matvec reading its 8 MiB of weights from DRAM: 4 SMs draw 4 x 64 = 256 GB/s, capped
    at DRAM's 100 GB/s: 83.9 us, longer than its compute; plus DRAM's 500 ns and the kernel overhead."""
    hw = tiny(tmp_path)
    size = 4096 * 1024 * 2
    cost = CostTable(hw).op(matmul(1, 4096, 1024), 4, (("DRAM", size),))
    assert cost.busy_s == pytest.approx(size / 100e9 + 0.5 * US + 2 * US)
    assert cost.level_bytes == (("DRAM", size),)


# ---------------------------------------------------------------- kernels, launches and CUDA graphs


def _elementwise_program(kernels: int) -> Segment:
    b = GraphBuilder()
    prev = [b.add("launch", "launch", "core", "search", "decode")]
    for i in range(kernels):
        prev = [b.add(f"k{i}", "sfu", "core", "search", "decode", prev, elements=128_000)]  # 1 us on 4 x 32 lanes at 1 GHz
    return Segment(tuple(b.ops), tuple(prev))


@pytest.mark.parametrize("kernels", [1, 10])
def test_cuda_graph_amortises_the_launch(tmp_path, kernels):
    """With graphs: one graph launch (10 us), then each kernel its work (128,000 ops on 128 lanes = 1 us) and the kernel
    overhead (2 us). Without: the first launch (5 us), then each kernel at least the host's launch interval (5 us)."""
    program = _elementwise_program(kernels)
    alone = ((),) * len(program.ops)
    graphs = run_segment(program, alone, target_for(tiny(tmp_path / "graphs")))
    streams = run_segment(program, alone, target_for(tiny(tmp_path / "streams", runtime={"cuda_graphs": False})))
    assert graphs.time_s == pytest.approx(10 * US + kernels * (1 + 2) * US)
    assert streams.time_s == pytest.approx(5 * US + kernels * 5 * US)


# ---------------------------------------------------------------- persistent LSTM kernels


def _steps(hidden: int, steps: int) -> list[Op]:
    w_hh = ("enc.lstm.W_hh", 4 * hidden * hidden)
    return [Op(t, f"t{t}", "matmul", "core", "encoder", "encoder.lstm", deps=(t - 1,) if t else (), m=1, k=hidden,
               n=4 * hidden, weight_bits=16, act_bits=16, weights=(w_hh,), step=t, resident=True,
               epilogue=hidden * 13) for t in range(steps)]


def test_persistent_steps_read_their_weights_once_while_they_fit(tmp_path):
    """4 SMs x 256 KiB x 0.5 = 512 KiB of weight room: W_hh of 128 cells (4 x 128 x 128 x 2 B = 128 KiB) is read at
    the first step only, and of 256 cells (512 KiB, exactly the room); of 384 cells (1.125 MiB) at every step, from
    L2 after the first."""
    hw = tiny(tmp_path)
    device = CostTable(hw).device
    for hidden, expected in ((128, [("DRAM",)] + [()] * 3), (256, [("DRAM",)] + [()] * 3),
                             (384, [("DRAM",)] + [("L2",)] * 3)):
        _, (reads,) = RESIDENCIES["cache"].plan([_steps(hidden, 4)], device)
        assert [tuple(level for level, _ in r) for r in reads] == expected, hidden


def test_a_persistent_step_pays_a_barrier_not_a_kernel(tmp_path):
    """A resident step: its compute and the grid-wide barrier (1 us), no kernel overhead (2 us), its weights
    already in the SMs (no L2 feed bound)."""
    hw = tiny(tmp_path)
    op = _steps(128, 2)[1]
    cost = CostTable(hw).op(op, 4)
    cycles = gemm(1, 128, 512, 4, 256, hw.gpu.runtime, math.inf, 2, 32).cycles
    assert cost.busy_s == pytest.approx(1 * US + cycles * 1e-9 + 128 * 13 / (4 * 32 * 1e9))


def test_elsewhere_a_persistent_step_is_an_ordinary_op():
    """On a CPU a resident step is one call of the runtime with its cell fused in (the CPU's caches hold the
    weights as they would any op's)."""
    cpu = accelsim.load_hardware(Path(__file__).resolve().parents[1] / "hwconfigs" / "cpu_only.yaml")
    step = _steps(128, 1)[0]
    plain = Op(0, "t0", "matmul", "core", "encoder", "encoder.lstm", m=1, k=128, n=512, weight_bits=16, act_bits=16,
               epilogue=128 * 13)
    assert CostTable(cpu).op(step, 4).busy_s == CostTable(cpu).op(plain, 4).busy_s


# ---------------------------------------------------------------- formats and the runtime file


def test_formats_tensor_cores_first_fp32_on_cuda_cores(tmp_path):
    device = CostTable(tiny(tmp_path)).device
    assert device.format_of(16, 16) == "fp16"
    assert device.format_of(8, 8) == "int8"
    assert device.format_of(4, 8) == "int8"  # int4 weights run on the int8 tensor cores
    assert device.format_of(32, 32) == "fp32"  # the CUDA cores


def test_a_missing_format_names_the_format_and_the_key(tmp_path):
    device = CostTable(tiny(tmp_path, tensor_macs_per_cycle={"int8": 512})).device
    with pytest.raises(AccelsimError, match=r"gpu\.tensor_macs_per_cycle offers \['int8', 'fp32'\], none at least 16"):
        device.format_of(16, 16)  # FP16 does not fall back to the CUDA cores' FP32
    assert device.format_of(32, 32) == "fp32"


def test_the_runtime_file_is_read_beside_the_config_and_named_in_errors(tmp_path):
    hw = tiny(tmp_path)
    assert hw.gpu.runtime.kernel_overhead == pytest.approx(2 * US)
    (tmp_path / "runtime.yaml").write_text(yaml.safe_dump({**RUNTIME, "tensor_efficiency": 1.5}), encoding="utf-8")
    with pytest.raises(SpecError) as info:
        accelsim.load_hardware(tmp_path / "tiny.yaml")
    assert str(tmp_path / "runtime.yaml") in str(info.value) and "tensor_efficiency" in str(info.value)


def test_fp32_is_the_cuda_cores_not_a_tensor_format(tmp_path):
    with pytest.raises(SpecError, match="fp32 runs on the CUDA cores"):
        tiny(tmp_path, tensor_macs_per_cycle={"fp16": 256, "fp32": 64})


def test_a_gpu_needs_a_cache_residency(tmp_path):
    data = yaml.safe_load(yaml.safe_dump(TINY))
    data["memory"]["residency"] = "pinned"
    (tmp_path / "runtime.yaml").write_text(yaml.safe_dump(RUNTIME), encoding="utf-8")
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(SpecError, match="residency 'cache'"):
        accelsim.load_hardware(tmp_path / "bad.yaml")
