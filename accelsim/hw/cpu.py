"""The CPU family: a CPU's cores run the model's ops themselves, streaming weights through its caches.

A matmul runs on the narrowest format the CPU lists (``cpu.macs_per_cycle``: what a matmul sustains per core and
cycle, FMA, AVX-512, VNNI or AMX) that holds both operands, split over its cores; element-wise work runs at
``cpu.vector_ops_per_cycle`` per core; every op pays the runtime's ``call_overhead`` (a kernel call), and its weight
reads are streamed from the level they come from while it computes (:mod:`accelsim.hw.memory`, ``memory.overlap``).
Codebook (LUT/GQ) weights are decoded to their centroids' format, one vector op per weight. There is no scratchpad:
the ``cache`` residency says which level each op's weights come from.
"""

from __future__ import annotations

from accelsim.graph.ir import Op
from accelsim.hw.family import Family, register_family
from accelsim.hw.formats import select_format
from accelsim.spec.hardware import CpuSpec
from accelsim.spec.precision import LayerPrecision


@register_family
class Cpu(Family):
    """``hardware.family: cpu``, described by the ``cpu`` section."""

    name = "cpu"

    @property
    def cpu(self) -> CpuSpec:
        cpu = self.hw.cpu
        assert cpu is not None  # the spec's family check
        return cpu

    @property
    def cores(self) -> int:
        return self.cpu.cores

    def _vector_seconds(self, ops: int, cores: int) -> float:
        return ops / (cores * self.cpu.vector_ops_per_cycle * self.cpu.clock)

    def matmul(self, op: Op, cores: int, reads=()) -> tuple[float, float]:
        cpu = self.cpu
        fmt = select_format(cpu, op.codebook_bits or op.weight_bits, op.act_bits)
        compute = op.m * op.k * op.n / (cores * cpu.macs_per_cycle[fmt] * cpu.clock)
        vector = self._vector_seconds(op.epilogue + (op.k * op.n if op.codebook_bits else 0), cores)
        return self.with_reads(cpu.call_overhead, compute + vector, compute + vector, reads, cores)

    def elementwise(self, ops: int, cores: int, reads=()) -> tuple[float, float]:
        seconds = self._vector_seconds(ops, cores)
        return self.with_reads(self.cpu.call_overhead, seconds, seconds, reads, cores)

    def launch_seconds(self) -> float:
        return self.cpu.launch_overhead

    def bytes_per_weight(self, weight_bits: int) -> float:
        return weight_bits / 8

    def format_of(self, weight_bits: int, act_bits: int) -> str:
        return select_format(self.cpu, weight_bits, act_bits)

    def layer_format(self, precision: LayerPrecision) -> str:
        if precision.codebook:
            return f"{self.format_of(precision.codebook_bits, precision.act_bits)} (codebook decoded by the cores)"
        return self.format_of(precision.weight_bits, precision.act_bits)
