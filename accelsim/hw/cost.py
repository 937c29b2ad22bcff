"""Cost of one op on a machine: a pure function from (op, hardware, cores) to a record.

One cost function per op kind, registered by kind. Each also has a roofline bound (the op on ideal
hardware of the same peak rates); tests check that the detailed cost never beats it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from accelsim.graph.ir import Op
from accelsim.hw import coprocessor, host, link
from accelsim.spec.hardware import HardwareSpec


@dataclass(frozen=True, slots=True)
class OpCost:
    seconds: float
    roofline_seconds: float


CostFn = Callable[[Op, HardwareSpec, int], OpCost]
COSTS: dict[str, CostFn] = {}


def register_cost(*kinds: str):
    def add(fn: CostFn) -> CostFn:
        for kind in kinds:
            COSTS[kind] = fn
        return fn

    return add


def op_cost(op: Op, hw: HardwareSpec, cores: int = 1) -> OpCost:
    """What ``op`` costs on ``hw`` when given ``cores`` coprocessor cores (ignored off the coprocessor)."""
    return COSTS[op.kind](op, hw, cores)


@register_cost("matmul")
def _matmul(op: Op, hw: HardwareSpec, cores: int) -> OpCost:
    cop = hw.coprocessor
    args = (op.weight_bits, op.act_bits, op.m, op.k, op.n, cores)
    return OpCost(coprocessor.matmul_seconds(cop, *args), coprocessor.matmul_roofline_seconds(cop, *args))


@register_cost("sfu", "quantize", "gather")
def _elementwise(op: Op, hw: HardwareSpec, cores: int) -> OpCost:
    ops = op.elements * op.passes
    cop = hw.coprocessor
    return OpCost(coprocessor.sfu_seconds(cop, ops, cores), coprocessor.sfu_roofline_seconds(cop, ops, cores))


@register_cost("launch")
def _launch(op: Op, hw: HardwareSpec, cores: int) -> OpCost:
    return OpCost(hw.coprocessor.launch_overhead, 0.0)


@register_cost("transfer")
def _transfer(op: Op, hw: HardwareSpec, cores: int) -> OpCost:
    return OpCost(link.transfer_seconds(hw.link, op.bytes), op.bytes / link.link_bytes_per_s(hw.link))


@register_cost("fuse")
def _fuse(op: Op, hw: HardwareSpec, cores: int) -> OpCost:
    return OpCost(host.fuse_seconds(hw.host, op.elements), op.elements * hw.host.fuse_per_element)


@register_cost("topk")
def _topk(op: Op, hw: HardwareSpec, cores: int) -> OpCost:
    return OpCost(host.topk_seconds(hw.host, op.elements, op.k), op.elements * hw.host.sort_per_element)


@register_cost("merge")
def _merge(op: Op, hw: HardwareSpec, cores: int) -> OpCost:
    return OpCost(host.merge_seconds(hw.host, op.elements), op.elements * hw.host.merge_per_element)
