"""Which arithmetic format a matmul runs in, on any device that lists its MAC rates by format."""

from __future__ import annotations

from accelsim.errors import AccelsimError
from accelsim.spec.hardware import FORMAT_BITS, CoprocessorSpec, CpuSpec

#: Preference among formats of equal width: integer units before hybrid FP8 (quantized operands are integers).
_ORDER = ("int2", "int4", "int8", "hfp8", "fp16", "bf16", "fp32")


def select_format(unit: CoprocessorSpec | CpuSpec, weight_bits: int, act_bits: int) -> str:
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
    offered = [f for f in _ORDER if f in unit.macs_per_cycle]
    for fmt in offered:
        if FORMAT_BITS[fmt] >= needed:
            return fmt
    if needed == 32 and "fp16" in unit.macs_per_cycle:
        return "fp16"
    return _missing_unit(unit, weight_bits, act_bits)


def _missing_unit(unit: CoprocessorSpec | CpuSpec, weight_bits: int, act_bits: int) -> str:
    needed = max(weight_bits, act_bits)
    section = "cpu" if isinstance(unit, CpuSpec) else "coprocessor"
    want = {32: "fp32 (or fp16: FP32 networks run as FP16)", 16: "fp16"}.get(needed, f"a format of at least {needed} bits")
    raise AccelsimError(
        f"the chip has no MAC units for {weight_bits}-bit weights x {act_bits}-bit activations: {section}.macs_per_cycle "
        f"offers {sorted(unit.macs_per_cycle, key=_ORDER.index)}, none at least {needed} bits wide; add {want} to "
        f"hw.{section}.macs_per_cycle or choose a narrower --precision")
