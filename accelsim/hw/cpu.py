"""The CPU family: a CPU's cores run the model's ops themselves, streaming weights through its caches.

A matmul runs on the narrowest format the CPU lists (``cpu.macs_per_cycle``: what a matmul sustains per core and
cycle, FMA, AVX-512, VNNI or AMX) that holds both operands, split over its cores, after the matmul library has packed
its second operand (a GEMM of more than one row, at ``cpu.pack_bandwidth`` where given; a single row runs as a
matrix-vector product and packs nothing); a depthwise convolution, which has no weight reuse for a matmul kernel to
exploit, runs on the vector units (a multiply and an add per MAC).

Element-wise work runs at ``cpu.vector_ops_per_cycle`` per core; at ``cpu.special_ops_per_cycle``, where listed, its
special functions (sigmoid, tanh, exp, gathers) and an eager runtime's slower loops: an operand broadcast along the
rows (a bias, a norm's statistics, a depthwise tap's weights) or a reduction along them (a mean, a softmax's max).

Every kernel the runtime calls pays ``call_overhead`` (an eager runtime calls several per op, ``runtime.kernels``; a
matmul's own call ``matmul_call_overhead`` where given), and every view of an array it takes between them
``view_overhead`` (an eager LSTM step's rows and gate slices). An op's weight reads are streamed from the level they
come from while it computes (:mod:`accelsim.hw.memory`, ``memory.overlap``). Codebook (LUT/GQ) weights are decoded to
their centroids' format, one vector op per weight. There is no scratchpad: the ``cache`` residency says which level
each op's weights come from.
"""

from __future__ import annotations

from accelsim.graph.ir import Op
from accelsim.hw.family import StreamingFamily, register_family, vector_cycles
from accelsim.spec.hardware import CpuSpec


@register_family
class Cpu(StreamingFamily):
    """``hardware.family: cpu``, described by the ``cpu`` section."""

    name = "cpu"
    section = "cpu"
    per_op_overhead = "call_overhead"

    @property
    def cpu(self) -> CpuSpec:
        return self.unit

    def _vector_seconds(self, ops: int, special: tuple[tuple[str, int], ...], cores: int) -> float:
        """``ops`` element-wise operations of which ``special`` are special-function evaluations, on ``cores`` cores."""
        cpu = self.cpu
        return vector_cycles(ops, special, cpu.vector_ops_per_cycle, cpu.special_ops_per_cycle) / (cores * cpu.clock)

    def matmul(self, op: Op, cores: int, reads=()) -> tuple[float, float]:
        cpu = self.cpu
        if op.kind == "dwconv":  # no reuse for a matmul kernel: a multiply and an add per MAC on the vector units
            compute, epilogue_loops = self._vector_seconds(2 * op.macs, _loops(op), cores), ()  # broadcast products
        else:
            fmt = self.format_of(op.codebook_bits or op.weight_bits, op.act_bits)
            compute = op.m * op.k * op.n / (cores * cpu.macs_per_cycle[fmt] * cpu.clock) + self._pack_seconds(op)
            epilogue_loops = _loops(op)  # an eager bias added in a pass of its own: among the epilogue
        extra = op.epilogue + (op.k * op.n if op.codebook_bits else 0) + sum(n for _, n in op.special)
        vector = self._vector_seconds(extra, op.special + epilogue_loops, cores)
        return self.with_reads(self._calls_seconds(op), compute + vector, compute + vector, reads, cores)

    def _calls_seconds(self, op: Op) -> float:
        """The runtime's fixed cost of ``op``: its kernel calls (a matmul's own at ``matmul_call_overhead`` where
        given) and the array views it takes between them."""
        cpu = self.cpu
        seconds = op.kernels * cpu.call_overhead + op.views * cpu.view_overhead
        if op.kind == "matmul" and cpu.matmul_call_overhead is not None:
            seconds += cpu.matmul_call_overhead - cpu.call_overhead
        return seconds

    def _pack_seconds(self, op: Op) -> float:
        """A GEMM of more than one row first copies its k x n second operand into the library's packed layout, once
        per call and on one core (``cpu.pack_bandwidth``; unset: not charged); one row is a matrix-vector product.
        Shortcut: the attention's per-head products (rows = heads x queries) are charged one head's operand."""
        rate = self.cpu.pack_bandwidth
        if rate is None or op.m <= 1:
            return 0.0
        bits = (op.codebook_bits or op.weight_bits) if op.weights else op.act_bits  # codebooks packed decoded
        return op.k * op.n * bits / 8 / rate

    def elementwise(self, op: Op, cores: int, reads=()) -> tuple[float, float]:
        seconds = self._vector_seconds(op.elements * op.passes + op.epilogue, op.special + _loops(op), cores)
        return self.with_reads(self._calls_seconds(op), seconds, seconds, reads, cores)

    def launch_seconds(self) -> float:
        return self.cpu.launch_overhead


def _loops(op: Op) -> tuple[tuple[str, int], ...]:
    """The op's element-wise operations an eager runtime loops over with an operand broadcast along the rows, or
    reducing along them, as evaluations at ``special_ops_per_cycle``'s ``broadcast`` and ``reduce`` (where listed)."""
    return tuple((name, n) for name, n in (("broadcast", op.broadcast), ("reduce", op.reduce)) if n)
