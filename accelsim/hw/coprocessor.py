"""Coprocessor cost: systolic PE arrays for matmuls, special-function units for element-wise work."""

from __future__ import annotations

import math

from accelsim.errors import AccelsimError
from accelsim.hw import systolic
from accelsim.spec.hardware import FORMAT_BITS, CoprocessorSpec
from accelsim.spec.precision import LayerPrecision

#: Preference among formats of equal width: integer units before hybrid FP8 (quantized operands are integers).
_ORDER = ("int2", "int4", "int8", "hfp8", "fp16", "fp32")


def select_format(cop: CoprocessorSpec, weight_bits: int, act_bits: int) -> str:
    """The arithmetic format a matmul with these operands runs in: the narrowest the chip has that holds both.

    The rule, explicitly:

    - a format at least as wide as both operands is used, the narrowest such (integer before hybrid FP8 at
      equal width): int4 operands on an int8-only chip run on its int8 units, at the int8 rate;
    - the one promotion: 32-bit (FP32) operands on a chip without FP32 MACs run, and are shipped, as FP16
      (the paper's FP16 baseline: its FP32 network on a RaPiD-class chip, which has no FP32 units);
    - any other operand wider than every format the chip has is an :class:`AccelsimError` naming the missing
      unit (FP16 weights on an int4-only chip never silently run at 4 bits).
    """
    needed = max(weight_bits, act_bits)
    offered = [f for f in _ORDER if f in cop.macs_per_cycle]
    for fmt in offered:
        if FORMAT_BITS[fmt] >= needed:
            return fmt
    if needed == 32 and "fp16" in cop.macs_per_cycle:
        return "fp16"
    return _missing_unit(cop, weight_bits, act_bits)


def _missing_unit(cop: CoprocessorSpec, weight_bits: int, act_bits: int) -> str:
    needed = max(weight_bits, act_bits)
    unit = {32: "fp32 (or fp16: FP32 networks run as FP16)", 16: "fp16"}.get(needed, f"a format of at least {needed} bits")
    raise AccelsimError(
        f"the chip has no MAC units for {weight_bits}-bit weights x {act_bits}-bit activations: coprocessor.macs_per_cycle "
        f"offers {sorted(cop.macs_per_cycle, key=_ORDER.index)}, none at least {needed} bits wide; add {unit} to "
        f"hw.coprocessor.macs_per_cycle or choose a narrower --precision")


def device_weight_bits(cop: CoprocessorSpec, weight_bits: int) -> int:
    """Bits per weight as held and moved on the device: the model's bits, except for the FP32 promotion of
    :func:`select_format` (an FP32 network on a chip without FP32 MACs runs, and is shipped, as FP16)."""
    if weight_bits == 32 and "fp32" not in cop.macs_per_cycle and "fp16" in cop.macs_per_cycle:
        return 16
    return weight_bits


def weight_room(cop: CoprocessorSpec, cores: int) -> float:
    """Bytes of scratchpad that ``cores`` cores can keep weights resident in."""
    return cores * cop.scratchpad * cop.weight_fraction


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
    fmt = select_format(cop, weight_bits, act_bits)
    return cop.dispatch_overhead + matmul_cycles(cop, fmt, m, k, n, cores) / cop.clock


def matmul_roofline_seconds(cop: CoprocessorSpec, weight_bits: int, act_bits: int, m: int, k: int, n: int, cores: int) -> float:
    """Lower bound: every MAC unit of the cores busy, no overhead."""
    fmt = select_format(cop, weight_bits, act_bits)
    return m * k * n / (cores * cop.macs_per_cycle[fmt] * cop.clock)


def sfu_seconds(cop: CoprocessorSpec, ops: int, cores: int) -> float:
    """Element-wise work on the special-function units of ``cores`` cores."""
    return cop.dispatch_overhead + sfu_cycles(cop, ops, cores) / cop.clock


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


#: How reports name the decode of codebook weights.
_DECODES = {"decode_sfu": "codebook decoded on the SFU", "decode_load_path": "codebook decoded in the load path"}


def _unit_and_path(cop: CoprocessorSpec, weight_bits: int, act_bits: int, codebook_bits: int) -> tuple[str, str]:
    """('int8', 'decode_sfu'), ('lut (4-bit indices)', 'lut'), ('int4', 'native'): the MAC units and the path to them."""
    path, fmt = weight_path(cop, weight_bits, act_bits, codebook_bits)
    return (f"lut ({weight_bits}-bit indices)" if path == "lut" else fmt), path


def describe_path(cop: CoprocessorSpec, weight_bits: int, act_bits: int, codebook_bits: int = 0) -> str:
    """The path as reports print it: 'int4', 'lut (4-bit indices)', 'int8 (codebook decoded on the SFU)'."""
    units, path = _unit_and_path(cop, weight_bits, act_bits, codebook_bits)
    return f"{units} ({_DECODES[path]})" if path in _DECODES else units


def layer_format(cop: CoprocessorSpec, p: LayerPrecision) -> str:
    """The format a layer's matmuls run in, with the path of codebook weights (decoded, or on LUT MACs)."""
    return describe_path(cop, p.weight_bits, p.act_bits, p.codebook_bits if p.codebook else 0)


def network_formats(cop: CoprocessorSpec, precisions: list[LayerPrecision]) -> str:
    """The MAC formats of a network's matmul layers, each once, in layer order: 'int8+int4', or
    'int8 (codebook decoded in the load path for 17 of 18 layers)' when only some of its layers decode codebooks."""
    found: dict[str, list[str]] = {}
    for p in precisions:
        units, path = _unit_and_path(cop, p.weight_bits, p.act_bits, p.codebook_bits if p.codebook else 0)
        found.setdefault(units, []).append(path)
    parts = []
    for units, paths in found.items():
        notes = [_DECODES[path] + (f" for {paths.count(path)} of {len(paths)} layers" if paths.count(path) < len(paths) else "")
                 for path in dict.fromkeys(paths) if path in _DECODES]
        parts.append(units + (f" ({'; '.join(notes)})" if notes else ""))
    return "+".join(parts)


def codebook_matmul_seconds(cop: CoprocessorSpec, weight_bits: int, act_bits: int, codebook_bits: int, weights: int,
                            m: int, k: int, n: int, cores: int) -> tuple[float, float]:
    """(seconds, roofline seconds) of a matmul whose ``weights`` parameters are k-bit codebook indices.

    On look-up-table MACs the array runs at ``lut_macs_per_cycle`` (same mapping, folding and fill/drain as
    :func:`matmul_cycles`). Decoded on the SFU, every weight costs one SFU op (a table read) before the array
    multiplies in the decoded format; decoded in the load path, the decode costs no compute time.
    """
    path, fmt = weight_path(cop, weight_bits, act_bits, codebook_bits)
    if path == "lut":
        rate = cop.lut_macs_per_cycle
        assert rate is not None
        cycles = matmul_cycles(cop, fmt, m, k, n, cores, macs=rate)
        return cop.dispatch_overhead + cycles / cop.clock, m * k * n / (cores * rate * cop.clock)
    seconds = cop.dispatch_overhead + matmul_cycles(cop, fmt, m, k, n, cores) / cop.clock
    roofline = m * k * n / (cores * cop.macs_per_cycle[fmt] * cop.clock)
    if path == "decode_sfu":
        seconds += sfu_cycles(cop, weights, cores) / cop.clock
        roofline += sfu_roofline_seconds(cop, weights, cores)
    return seconds, roofline
