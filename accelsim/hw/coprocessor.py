"""Coprocessor cost: systolic PE arrays for matmuls, special-function units for element-wise work."""

from __future__ import annotations

import math

from accelsim.spec.hardware import FORMAT_BITS, CoprocessorSpec

#: Preference among formats of equal width: integer units before hybrid FP8 (quantized operands are integers).
_ORDER = ("int2", "int4", "int8", "hfp8", "fp16", "fp32")


def select_format(cop: CoprocessorSpec, weight_bits: int, act_bits: int) -> str:
    """The narrowest arithmetic format that holds both operands.

    An operand wider than every format runs in the widest one the chip has: on a chip without FP32
    MACs an FP32 network executes at FP16, as in the paper's FP16 baseline.
    """
    needed = max(weight_bits, act_bits)
    offered = [f for f in _ORDER if f in cop.macs_per_cycle]
    for fmt in offered:
        if FORMAT_BITS[fmt] >= needed:
            return fmt
    return offered[-1]


def device_weight_bits(cop: CoprocessorSpec, weight_bits: int) -> int:
    """Bits per weight as held and moved on the device: the model's bits, unless no format is that
    wide (an FP32 network on a chip without FP32 runs, and is shipped, as FP16)."""
    widest = max(FORMAT_BITS[f] for f in cop.macs_per_cycle)
    return min(weight_bits, widest)


def weight_room(cop: CoprocessorSpec, cores: int) -> float:
    """Bytes of scratchpad that ``cores`` cores can keep weights resident in."""
    return cores * cop.scratchpad * cop.weight_fraction


def matmul_cycles(cop: CoprocessorSpec, fmt: str, m: int, k: int, n: int, cores: int) -> int:
    """Cycles of an (m x k) @ (k x n) matmul split over ``cores`` cores by output columns.

    Mapping: output features over the corelets' PE columns, batch rows over PE rows, the reduction over
    each PE's SIMD lanes (macs_per_cycle / PEs). Partial tiles cost a whole tile (folding), and each
    call pays the array's fill and drain (pe_rows + pe_cols cycles). A batch-1 matvec therefore uses one
    PE row in pe_rows: it is slower per MAC than a batched matmul.
    """
    pes = cop.corelets_per_core * cop.pe_rows * cop.pe_cols
    simd = cop.macs_per_cycle[fmt] // pes
    n_per_core = math.ceil(n / cores)
    tiles = math.ceil(m / cop.pe_rows) * math.ceil(n_per_core / (cop.corelets_per_core * cop.pe_cols))
    return tiles * math.ceil(k / simd) + cop.pe_rows + cop.pe_cols


def matmul_seconds(cop: CoprocessorSpec, weight_bits: int, act_bits: int, m: int, k: int, n: int, cores: int) -> float:
    fmt = select_format(cop, weight_bits, act_bits)
    return cop.dispatch_overhead + matmul_cycles(cop, fmt, m, k, n, cores) / cop.clock


def matmul_roofline_seconds(cop: CoprocessorSpec, weight_bits: int, act_bits: int, m: int, k: int, n: int, cores: int) -> float:
    """Lower bound: every MAC unit of the cores busy, no overhead."""
    fmt = select_format(cop, weight_bits, act_bits)
    return m * k * n / (cores * cop.macs_per_cycle[fmt] * cop.clock)


def sfu_seconds(cop: CoprocessorSpec, ops: int, cores: int) -> float:
    """Element-wise work on the special-function units of ``cores`` cores."""
    return cop.dispatch_overhead + math.ceil(ops / (cores * cop.sfu_ops_per_cycle)) / cop.clock


def sfu_roofline_seconds(cop: CoprocessorSpec, ops: int, cores: int) -> float:
    return ops / (cores * cop.sfu_ops_per_cycle * cop.clock)
