"""Energy of a run, by component: pure functions of ops, bytes moved and busy time on a machine with an energy model.

    compute     MACs x energy per MAC of the format the matmul runs in (the family's format_of)
    sfu         element-wise operations (activation functions, products, quantizers, fused epilogues) x energy per op
    scratchpad  weight bits written into the scratchpads by fetches x energy per bit
    link        bits crossing the link (weight fetches, features, scores, selections) x energy per bit
    host        host busy seconds x busy power + the rest of the run x idle power
    static      the run's length x coprocessor static power (of every device of a box)

Each is a sum of its parts (tests check it), and each part scales with the bits as the per-MAC and per-bit
energies say. Modelling shortcut: on-chip activation traffic is not counted apart (it is in the per-MAC energies,
derived from whole-chip TOPS/W).
"""

from __future__ import annotations

from typing import Iterable

from accelsim.errors import AccelsimError
from accelsim.graph.ir import Op
from accelsim.hw.family import family_of
from accelsim.spec.hardware import HardwareSpec

ENERGY_COMPONENTS = ("compute", "sfu", "scratchpad", "link", "host", "static")
PJ = 1e-12
SFU_OPS, TRANSFER_BYTES = "sfu_ops", "transfer_bytes"


def macs_key(weight_bits: int, act_bits: int) -> str:
    return f"macs_w{weight_bits}a{act_bits}"


def work_counters(ops: Iterable[Op]) -> dict[str, float]:
    """What energy depends on, with no machine: MACs per (weight, activation) bits, element-wise ops, bytes
    transferred. Counters add up over segments (and extrapolate over recurrent steps) like times do."""
    out: dict[str, float] = {}
    for op in ops:
        if op.kind == "matmul":
            key = macs_key(op.weight_bits, op.act_bits)
            out[key] = out.get(key, 0.0) + op.macs
            sfu = op.epilogue
        elif op.kind in ("sfu", "quantize", "gather"):
            sfu = op.elements * op.passes + op.epilogue
        else:
            sfu = 0
            if op.kind == "transfer":
                out[TRANSFER_BYTES] = out.get(TRANSFER_BYTES, 0.0) + op.bytes
        if sfu:
            out[SFU_OPS] = out.get(SFU_OPS, 0.0) + sfu
    return out


def energy(work: dict[str, float], fetched_bytes: float, time_s: float, host_busy_s: float,
           hw: HardwareSpec) -> dict[str, float]:
    """Joules by component (see the module docstring) of a run's work counters, fetched weight bytes and times."""
    e = hw.energy
    assert e is not None
    device = family_of(hw)
    compute = 0.0
    for key, macs in work.items():
        if key.startswith("macs_w"):
            weight_bits, act_bits = (int(x) for x in key.removeprefix("macs_w").split("a"))
            fmt = device.format_of(weight_bits, act_bits)
            if fmt not in e.mac_pJ:
                raise AccelsimError(f"hardware {hw.name!r}: energy.mac_pJ has no energy for {fmt}, which this run's "
                                    f"matmuls use; add energy.mac_pJ.{fmt}")
            compute += macs * e.mac_pJ[fmt] * PJ
    link_bits = (work.get(TRANSFER_BYTES, 0.0) + fetched_bytes) * 8
    return {
        "compute": compute,
        "sfu": work.get(SFU_OPS, 0.0) * e.sfu_op_pJ * PJ,
        "scratchpad": fetched_bytes * 8 * e.scratchpad_pJ_per_bit * PJ,
        "link": link_bits * e.link_pJ_per_bit * PJ,
        "host": host_busy_s * e.host_busy_W + max(0.0, time_s - host_busy_s) * e.host_idle_W,
        "static": time_s * e.coprocessor_static_W * (hw.box.devices if hw.box is not None else 1),
    }
