"""Cost of one op on a machine: a pure function from (op, hardware, cores) to a record.

One cost function per op kind, registered by kind. Each also has a roofline bound (the op on ideal
hardware of the same peak rates); tests check that the detailed cost never beats it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from accelsim.graph.ir import Op, work_key
from accelsim.hw import coprocessor, host, link
from accelsim.memo import Memo
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


class CostTable:
    """Durations of ops on one machine, memoized by what the op does (:func:`accelsim.graph.ir.work_key`, derived
    from the Op dataclass itself) and how many cores it gets: the encoder repeats a few shapes thousands of times."""

    def __init__(self, hw: HardwareSpec):
        self.hw = hw
        self._seconds: dict[tuple, float] = {}

    def seconds(self, op: Op, cores: int = 1) -> float:
        key = (work_key(op), cores)
        found = self._seconds.get(key)
        if found is None:
            found = self._seconds[key] = op_cost(op, self.hw, cores).seconds
        return found


_TABLES = Memo("op cost tables per machine", 64)


def cost_table(hw: HardwareSpec, machine: str | None = None) -> CostTable:
    """The (shared) cost table of ``hw``; ``machine`` is its JSON when the caller has it already."""
    return _TABLES.get(machine or hw.model_dump_json(), lambda: CostTable(hw))


@register_cost("matmul", "dwconv")
def _matmul(op: Op, hw: HardwareSpec, cores: int) -> OpCost:
    """A matmul, or a depthwise convolution mapped as one (see ``accelsim.graph.lower.lower_conformer_conv``)."""
    cop = hw.coprocessor
    args = (op.weight_bits, op.act_bits, op.m, op.k, op.n, cores)
    if op.codebook_bits:  # its weights are the k x n matrix (the cost key holds shapes, not tensor names)
        seconds, roofline = coprocessor.codebook_matmul_seconds(cop, op.weight_bits, op.act_bits, op.codebook_bits,
                                                                op.k * op.n, op.m, op.k, op.n, cores)
    else:
        seconds, roofline = coprocessor.matmul_seconds(cop, *args), coprocessor.matmul_roofline_seconds(cop, *args)
    if op.epilogue:  # fused quantizers: the SFU's cycles after the array's, no dispatch of their own
        seconds += coprocessor.sfu_cycles(cop, op.epilogue, cores) / cop.clock
        roofline += coprocessor.sfu_roofline_seconds(cop, op.epilogue, cores)
    return OpCost(seconds, roofline)


@register_cost("sfu", "quantize", "gather")
def _elementwise(op: Op, hw: HardwareSpec, cores: int) -> OpCost:
    ops = op.elements * op.passes + op.epilogue
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


@register_cost("copy")
def _copy(op: Op, hw: HardwareSpec, cores: int) -> OpCost:
    return OpCost(host.copy_seconds(hw.host, op.bytes), op.bytes / hw.host.memory_bandwidth)


@register_cost("prefetch")
def _prefetch(op: Op, hw: HardwareSpec, cores: int) -> OpCost:
    """A marker: its weight fetch (the next iteration's first weights) is the work; the op itself takes no time."""
    return OpCost(0.0, 0.0)
