"""Which arithmetic format a matmul runs in, on any device that lists its MAC rates by format."""

from __future__ import annotations

from accelsim.errors import AccelsimError
from accelsim.spec.hardware import FORMAT_BITS, CoprocessorSpec, CpuSpec, GpuSpec

#: Preference among formats of equal width: integer units before FP8 (quantized operands are integers).
_ORDER = ("int2", "int4", "int8", "hfp8", "fp8", "fp16", "bf16", "tf32", "fp32")

Unit = CoprocessorSpec | CpuSpec | GpuSpec


def select_format(unit: Unit, weight_bits: int, act_bits: int) -> str:
    """The arithmetic format a matmul with these operands runs in: the narrowest the chip has that holds both.

    The rule, explicitly:

    - a format at least as wide as both operands is used, the narrowest such (integer before hybrid FP8 at
      equal width): int4 operands on an int8-only chip run on its int8 units, at the int8 rate;
    - the one promotion: 32-bit (FP32) operands on a chip without FP32 MACs run, and are shipped, as FP16
      (the paper's FP16 baseline: its FP32 network on a RaPiD-class chip, which has no FP32 units);
    - any other operand wider than every format the chip has is an :class:`AccelsimError` naming the missing
      unit (FP16 weights on an int4-only chip never silently run at 4 bits);
    - on a GPU, operands narrower than 32 bits run on its tensor cores: a GPU without a tensor-core format wide
      enough is an error too, not a silent fall back to its CUDA cores (16 times slower on an A100).
    """
    needed = max(weight_bits, act_bits)
    offered = [f for f in _ORDER if f in unit.macs_per_cycle and not (_cuda_cores(unit, f) and needed < 32)]
    for fmt in offered:
        if FORMAT_BITS[fmt] >= needed:
            return fmt
    if needed == 32 and "fp16" in unit.macs_per_cycle:
        return "fp16"
    return _missing_unit(unit, weight_bits, act_bits)


def _cuda_cores(unit: Unit, fmt: str) -> bool:
    """Whether ``fmt`` is a GPU's FP32 on its CUDA cores rather than a tensor-core format."""
    return isinstance(unit, GpuSpec) and fmt == "fp32"


def _missing_unit(unit: Unit, weight_bits: int, act_bits: int) -> str:
    needed = max(weight_bits, act_bits)
    key = {CpuSpec: "cpu.macs_per_cycle", GpuSpec: "gpu.tensor_macs_per_cycle"}.get(type(unit), "coprocessor.macs_per_cycle")
    want = {32: "fp32 (or fp16: FP32 networks run as FP16)", 16: "fp16"}.get(needed, f"a format of at least {needed} bits")
    raise AccelsimError(
        f"the chip has no MAC units for {weight_bits}-bit weights x {act_bits}-bit activations: {key} "
        f"offers {sorted(unit.macs_per_cycle, key=_ORDER.index)}, none at least {needed} bits wide; add {want} to "
        f"hw.{key} or choose a narrower --precision")
