"""The GPU family: a GEMM library's output tiles spread over the SMs in waves, kernels launched one by one or as a
CUDA graph, and an LSTM's steps either as kernels of their own or as the steps of one persistent kernel.

A matmul (m x k) @ (k x n) is cut into output tiles of one of the shapes the runtime lists (``gpu.runtime.tiles``),
its reduction optionally split into slices (split-K) so that the tiles fill the SMs; one SM computes one tile (or
slice) at a time, so the tiles run in ``ceil(tiles x slices / SMs)`` waves (wave quantisation), each as long as one
tile. A tile of tm x tn computes tm x tn x k MACs (a batch of 1 padded to the tile's rows) at the rate its SM sustains,
the lower of

- its tensor cores' peak times ``gpu.runtime.tensor_efficiency`` (``tensor_macs_per_cycle`` of the format, or the
  CUDA cores' FP32 rate), and
- what its operand feed allows: each step of the reduction brings (tm + tn) operands from L2 for tm x tn MACs, so an
  SM whose L2 share is F bytes per cycle sustains ``F x tm x tn / ((tm + tn) x operand bytes)`` MACs per cycle (small
  tiles are feed-bound: the efficiency by shape);

split-K's partial sums are added on the CUDA cores. A matrix-vector product may instead run on the CUDA cores (one FP32
FMA per lane and cycle, no padding, each weight brought from L2 once for the batch's rows). The library's choice is
the tiling (or kernel) that finishes first.
While it computes, the matmul streams its weights from the level they come from (:mod:`accelsim.hw.memory`: L2 when
they fit there, else DRAM). Element-wise work runs on the CUDA cores at one operation per FP32 lane and cycle, its
special functions (sigmoid, tanh, exp) on the special-function units at ``gpu.special_ops_per_cycle``.

Every op is a kernel (an eager runtime's op several, ``op.kernels``): each pays ``kernel_overhead`` on the device; without CUDA graphs the host issues one kernel per
``launch_overhead`` at best, so a kernel takes at least that long; with graphs a program's kernels go out in one
``graph_launch`` (the program's launch op). A step of a persistent kernel (an op marked ``resident``) is no kernel of
its own: it pays one grid-wide barrier (``grid_sync``), and reads its weights only at the first step (the residency
policy's answer, while they fit in the SMs' register files and shared memory).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from accelsim.graph.ir import Op
from accelsim.hw.family import StreamingFamily, register_family, vector_cycles
from accelsim.spec.hardware import FORMAT_BITS, GpuRuntimeSpec, GpuSpec


@dataclass(frozen=True, slots=True)
class Gemm:
    """How a GEMM ran: its cycles, the tile shape and split the library chose, and its waves ((0, 0), 1, 0: the
    CUDA cores' matrix-vector kernel)."""

    cycles: float
    tile: tuple[int, int]
    split: int
    waves: int


def tile_rate(rate: float, efficiency: float, feed: float, tile, operand_bytes: float) -> float:
    """MACs per cycle one SM sustains on a tile: its tensor cores' share, or what its L2 feed of ``feed`` bytes per
    cycle brings (tm + tn operands per tm x tn MACs), whichever is lower."""
    tm, tn = tile
    return min(rate * efficiency, feed * tm * tn / ((tm + tn) * operand_bytes))


def gemm(m: int, k: int, n: int, sms: int, rate: float, runtime: GpuRuntimeSpec, feed: float, operand_bytes: float,
         add_rate: float) -> Gemm:
    """The fastest way to run an (m x k) @ (k x n) GEMM on ``sms`` SMs (see the module docstring): per tile shape and
    split-K s (powers of two up to ``max_split_k``), ``waves x tm x tn x ceil(k / s) / tile_rate`` cycles, plus the
    addition of the s partial sums of the m x n outputs at ``add_rate`` per SM and cycle; or the CUDA cores'
    matrix-vector kernel, which pads nothing: ``m x k x n / (sms x min(add_rate, feed x m / operand_bytes))`` (each
    weight read from L2 serves the m rows)."""
    best = Gemm(m * k * n / (sms * min(add_rate, feed * m / operand_bytes)), (0, 0), 1, 0)
    for tile in runtime.tiles:
        tiles = math.ceil(m / tile[0]) * math.ceil(n / tile[1])
        per_cycle = tile_rate(rate, runtime.tensor_efficiency, feed, tile, operand_bytes)
        split = 1
        while split <= runtime.max_split_k:
            waves = math.ceil(tiles * split / sms)
            cycles = waves * tile[0] * tile[1] * math.ceil(k / split) / per_cycle
            if split > 1:
                cycles += m * n * (split - 1) / (sms * add_rate)
            if cycles < best.cycles:
                best = Gemm(cycles, (tile[0], tile[1]), split, waves)
            split *= 2
    return best


@register_family
class Gpu(StreamingFamily):
    """``hardware.family: gpu``, described by the ``gpu`` section (and its shared ``gpu.runtime``)."""

    name = "gpu"
    section = "gpu"
    decoder = "the CUDA cores"

    @property
    def gpu(self) -> GpuSpec:
        return self.unit

    @property
    def runtime(self) -> GpuRuntimeSpec:
        return self.gpu.runtime

    @property
    def cores(self) -> int:
        return self.gpu.sms

    def feed_bytes_per_cycle(self) -> float:
        """Bytes per cycle one SM draws from the first cache level (L2), the source of its tiles' operands."""
        l2 = self.memory.caches[0] if self.memory.caches else None
        if l2 is None or l2.read_bandwidth is None:
            return math.inf
        return l2.read_bandwidth / self.gpu.clock

    def _vector_seconds(self, ops: int, special: tuple[tuple[str, int], ...], cores: int) -> float:
        """``ops`` element-wise operations, of which ``special`` are special-function evaluations, on ``cores`` SMs."""
        gpu = self.gpu
        return vector_cycles(ops, special, gpu.fp32_macs_per_cycle, gpu.special_ops_per_cycle) / (cores * gpu.clock)

    def matmul(self, op: Op, cores: int, reads=()) -> tuple[float, float]:
        gpu = self.gpu
        fmt = self.format_of(op.codebook_bits or op.weight_bits, op.act_bits)
        rate = gpu.macs_per_cycle[fmt]
        feed = math.inf if op.resident else self.feed_bytes_per_cycle()  # a persistent kernel's weights are in the SMs
        shape = gemm(op.m, op.k, op.n, cores, rate, self.runtime, feed, FORMAT_BITS[fmt] / 8, gpu.fp32_macs_per_cycle)
        extra = op.epilogue + (op.k * op.n if op.codebook_bits else 0) + sum(n for _, n in op.special)
        vector = self._vector_seconds(extra, op.special, cores)
        roofline = op.m * op.k * op.n / (cores * rate * gpu.clock) + vector
        return self._kernel(op, shape.cycles / gpu.clock + vector, roofline, reads, cores)

    def elementwise(self, op: Op, cores: int, reads=()) -> tuple[float, float]:
        seconds = self._vector_seconds(op.elements * op.passes + op.epilogue, op.special, cores)
        return self._kernel(op, seconds, seconds, reads, cores)

    def _kernel(self, op: Op, compute: float, roofline: float, reads, cores: int) -> tuple[float, float]:
        """An op's (seconds, roofline): its work with its reads streamed, after its fixed cost (a persistent step's
        barrier, else the overhead of each of its kernels); without graphs no shorter than the host's launches."""
        rt = self.runtime
        if op.resident:
            return self.with_reads(rt.grid_sync, compute, roofline, reads, cores)
        seconds, bound = self.with_reads(op.kernels * rt.kernel_overhead, compute, roofline, reads, cores)
        return (seconds if rt.cuda_graphs else max(seconds, op.kernels * rt.launch_overhead)), bound

    def launch_seconds(self) -> float:
        rt = self.runtime
        return rt.graph_launch if rt.cuda_graphs else rt.launch_overhead

    def query_seconds(self) -> float:
        return self.runtime.query_overhead

