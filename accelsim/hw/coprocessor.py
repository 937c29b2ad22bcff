"""The systolic coprocessor family: systolic PE arrays for matmuls, special-function units for element-wise work,
a scratchpad per core that weights are fetched into (over the host link, or from device memory)."""

from __future__ import annotations

import math

from accelsim.graph.ir import Op
from accelsim.hw import systolic
from accelsim.hw.family import Family, register_family
from accelsim.hw.formats import select_format
from accelsim.spec.hardware import CoprocessorSpec
from accelsim.spec.precision import LayerPrecision

def device_weight_bits(cop: CoprocessorSpec, weight_bits: int) -> int:
    """Bits per weight as held and moved on the device: the model's bits, except for the FP32 promotion of
    :func:`select_format` (an FP32 network on a chip without FP32 MACs runs, and is shipped, as FP16)."""
    if weight_bits == 32 and "fp32" not in cop.macs_per_cycle and "fp16" in cop.macs_per_cycle:
        return 16
    return weight_bits


def matmul_cycles(cop: CoprocessorSpec, fmt: str, m: int, k: int, n: int, cores: int, macs: int | None = None) -> int:
    """Cycles of an (m x k) @ (k x n) matmul split over ``cores`` cores by output columns.

    Each core's corelets are systolic arrays of pe_rows x pe_cols PEs running ``coprocessor.dataflow``
    (:mod:`accelsim.hw.systolic`, SCALE-Sim's analytical model); the reduction goes over each PE's SIMD lanes
    (macs_per_cycle / PEs), so k counts in SIMD steps. Partial folds cost a whole fold, and fill and drain are
    paid per fold, or once per call when ``coprocessor.fold_overlap``. A batch-1 matvec on the output
    stationary array therefore uses one PE row in pe_rows: it is slower per MAC than a batched matmul. ``macs``
    replaces the format's rate (the look-up-table MACs of :func:`codebook_matmul_seconds`).
    """
    pes = cop.corelets_per_core * cop.pe_rows * cop.pe_cols
    simd = (macs or cop.macs_per_cycle[fmt]) // pes
    n_per_core = math.ceil(n / cores)
    return systolic.matmul_cycles(cop.dataflow, cop.pe_rows, cop.pe_cols, m, math.ceil(k / simd), n_per_core,
                                  cop.corelets_per_core, cop.fold_overlap)


def matmul_seconds(cop: CoprocessorSpec, weight_bits: int, act_bits: int, m: int, k: int, n: int, cores: int) -> float:
    """The arrays' seconds (no dispatch)."""
    fmt = select_format(cop, weight_bits, act_bits)
    return matmul_cycles(cop, fmt, m, k, n, cores) / cop.clock


def matmul_roofline_seconds(cop: CoprocessorSpec, weight_bits: int, act_bits: int, m: int, k: int, n: int, cores: int) -> float:
    """Lower bound: every MAC unit of the cores busy, no overhead."""
    fmt = select_format(cop, weight_bits, act_bits)
    return m * k * n / (cores * cop.macs_per_cycle[fmt] * cop.clock)


def sfu_cycles(cop: CoprocessorSpec, ops: int, cores: int) -> int:
    return math.ceil(ops / (cores * cop.sfu_ops_per_cycle))


def sfu_roofline_seconds(cop: CoprocessorSpec, ops: int, cores: int) -> float:
    return ops / (cores * cop.sfu_ops_per_cycle * cop.clock)


# ---------------------------------------------------------------- codebook (LUT / GQ) weights


def weight_path(cop: CoprocessorSpec, weight_bits: int, act_bits: int, codebook_bits: int = 0) -> tuple[str, str]:
    """How a matmul's weights are executed: (path, arithmetic format).

    - uniform weights (``codebook_bits`` 0): ``("native", select_format(...))``;
    - k-bit codebook indices on a chip that declares look-up-table MACs wide enough (``lut_index_bits`` >= k,
      ``lut_act_bits`` >= the activations): ``("lut", "lut")``, at ``lut_macs_per_cycle``;
    - otherwise the indices are decoded to their centroids and the matmul runs in the chip's nearest native format
      that holds a centroid and the activations: ``("decode_sfu" | "decode_load_path", format)``.
    """
    if not codebook_bits:
        return "native", select_format(cop, weight_bits, act_bits)
    if cop.lut_macs_per_cycle and weight_bits <= cop.lut_index_bits and act_bits <= cop.lut_act_bits:
        return "lut", "lut"
    return f"decode_{cop.codebook_decode}", select_format(cop, codebook_bits, act_bits)


def describe_path(cop: CoprocessorSpec, weight_bits: int, act_bits: int, codebook_bits: int = 0) -> str:
    """The path as reports print it: 'int4', 'lut (4-bit indices)', 'int8 (codebook decoded on the SFU)'."""
    path, fmt = weight_path(cop, weight_bits, act_bits, codebook_bits)
    return {"native": fmt, "lut": f"lut ({weight_bits}-bit indices)",
            "decode_sfu": f"{fmt} (codebook decoded on the SFU)",
            "decode_load_path": f"{fmt} (codebook decoded in the load path)"}[path]


def layer_format(cop: CoprocessorSpec, p: LayerPrecision) -> str:
    """The format a layer's matmuls run in, with the path of codebook weights (decoded, or on LUT MACs)."""
    return describe_path(cop, p.weight_bits, p.act_bits, p.codebook_bits if p.codebook else 0)


def codebook_matmul_seconds(cop: CoprocessorSpec, weight_bits: int, act_bits: int, codebook_bits: int, weights: int,
                            m: int, k: int, n: int, cores: int) -> tuple[float, float]:
    """(seconds, roofline seconds) of a matmul whose ``weights`` parameters are k-bit codebook indices (no dispatch).

    On look-up-table MACs the array runs at ``lut_macs_per_cycle`` (same mapping, folding and fill/drain as
    :func:`matmul_cycles`). Decoded on the SFU, every weight costs one SFU op (a table read) before the array
    multiplies in the decoded format; decoded in the load path, the decode costs no compute time.
    """
    path, fmt = weight_path(cop, weight_bits, act_bits, codebook_bits)
    if path == "lut":
        rate = cop.lut_macs_per_cycle
        assert rate is not None
        cycles = matmul_cycles(cop, fmt, m, k, n, cores, macs=rate)
        return cycles / cop.clock, m * k * n / (cores * rate * cop.clock)
    seconds = matmul_cycles(cop, fmt, m, k, n, cores) / cop.clock
    roofline = m * k * n / (cores * cop.macs_per_cycle[fmt] * cop.clock)
    if path == "decode_sfu":
        seconds += sfu_cycles(cop, weights, cores) / cop.clock
        roofline += sfu_roofline_seconds(cop, weights, cores)
    return seconds, roofline


# ---------------------------------------------------------------- the family


@register_family
class SystolicCoprocessor(Family):
    """A RaPiD-class chip: ``coprocessor`` cores of systolic arrays with scratchpads (``hardware.family: systolic``)."""

    name = "systolic"
    section = "coprocessor"
    per_op_overhead = "dispatch_overhead"

    @property
    def cop(self) -> CoprocessorSpec:
        return self.unit

    def matmul(self, op: Op, cores: int, reads=()) -> tuple[float, float]:
        """A dispatch per kernel (eager runtimes call several), then the arrays, overlapped with any streamed reads."""
        seconds, roofline = self._matmul(op, cores)
        return self.with_reads(op.kernels * self.cop.dispatch_overhead, seconds, roofline, reads, cores)

    def _matmul(self, op: Op, cores: int) -> tuple[float, float]:
        cop = self.cop
        if op.codebook_bits:  # its weights are the k x n matrix (the cost key holds shapes, not tensor names)
            seconds, roofline = codebook_matmul_seconds(cop, op.weight_bits, op.act_bits, op.codebook_bits, op.k * op.n,
                                                        op.m, op.k, op.n, cores)
        else:
            args = (op.weight_bits, op.act_bits, op.m, op.k, op.n, cores)
            seconds, roofline = matmul_seconds(cop, *args), matmul_roofline_seconds(cop, *args)
        if op.epilogue:  # fused quantizers: the SFU's cycles after the array's, no dispatch of their own
            seconds += sfu_cycles(cop, op.epilogue, cores) / cop.clock
            roofline += sfu_roofline_seconds(cop, op.epilogue, cores)
        return seconds, roofline

    def elementwise(self, op: Op, cores: int, reads=()) -> tuple[float, float]:
        """On the SFUs, special functions at the rate of any other element-wise op."""
        cop = self.cop
        ops = op.elements * op.passes + op.epilogue
        return self.with_reads(op.kernels * cop.dispatch_overhead, sfu_cycles(cop, ops, cores) / cop.clock,
                               sfu_roofline_seconds(cop, ops, cores), reads, cores)

    def launch_seconds(self) -> float:
        return self.cop.launch_overhead

    def bytes_per_weight(self, weight_bits: int) -> float:
        return device_weight_bits(self.cop, weight_bits) / 8

    def layer_format(self, precision: LayerPrecision) -> str:
        return layer_format(self.cop, precision)
