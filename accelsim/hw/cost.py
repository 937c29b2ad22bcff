"""One cost record per job: what every job the engine holds costs on one machine.

A job is an op (a matmul, element-wise work, a launch, a transfer, a host step of the search) or an op's weight
fetch. Its cost is a :class:`JobCost`: which unit does it, how long it holds that unit, the fixed part it spends
before (in a slot of the unit's DMA queue), its roofline bound and the bytes it moves from each memory level. The
engine takes these records as they are: it does no arithmetic about hardware and calls nothing else in ``hw``.

Ops are costed by kind (one function per kind, registered): the device's own kinds by its hardware family
(:mod:`accelsim.hw.family`), the host's search steps by :mod:`accelsim.hw.host`, transfers by
:mod:`accelsim.hw.link`. Each record has a roofline bound (the job on ideal hardware of the same peak rates);
tests check that the detailed cost never beats it.
"""

from __future__ import annotations

from typing import Callable

from accelsim.graph.ir import Op, work_key
from accelsim.hw import host, link
from accelsim.hw.family import Family, family_of
from accelsim.hw.job import JobCost
from accelsim.spec.hardware import HardwareSpec


CostFn = Callable[[Op, "CostTable", int], JobCost]
COSTS: dict[str, CostFn] = {}


def register_cost(*kinds: str):
    def add(fn: CostFn) -> CostFn:
        for kind in kinds:
            COSTS[kind] = fn
        return fn

    return add


class CostTable:
    """The costs of jobs on one machine: its device (a hardware family), host and link. Memoized by what an op does
    (:func:`accelsim.graph.ir.work_key`, derived from the Op dataclass itself) and how many cores it gets, and by
    the bytes of a fetch: the encoder repeats a few shapes thousands of times."""

    def __init__(self, hw: HardwareSpec):
        self.hw = hw
        self.device: Family = family_of(hw)
        self._ops: dict[tuple, JobCost] = {}
        self._fetches: dict[float, JobCost] = {}

    def op(self, op: Op, cores: int = 1) -> JobCost:
        """What ``op`` costs when given ``cores`` of the device's cores (ignored off the device)."""
        key = (work_key(op), cores)
        found = self._ops.get(key)
        if found is None:
            found = self._ops[key] = COSTS[op.kind](op, self, cores)
        return found

    def queue_slots(self, unit: str) -> int:
        """Jobs the DMA queue of ``unit`` keeps in flight (only queued jobs, on the link, use one)."""
        return self.hw.link.queue_depth

    def fetch(self, n_bytes: float) -> JobCost:
        """Bringing ``n_bytes`` of weights that are not resident on chip to where the device computes."""
        found = self._fetches.get(n_bytes)
        if found is None:
            found = self._fetches[n_bytes] = self.device.fetch(n_bytes)
        return found


def op_cost(op: Op, hw: HardwareSpec, cores: int = 1) -> JobCost:
    """What ``op`` costs on ``hw`` when given ``cores`` device cores (a fresh table: for tests and one-off questions)."""
    return CostTable(hw).op(op, cores)


@register_cost("matmul", "dwconv")
def _matmul(op: Op, costs: CostTable, cores: int) -> JobCost:
    """A matmul, or a depthwise convolution mapped as one (see ``accelsim.graph.lower.lower_conformer_conv``)."""
    seconds, roofline = costs.device.matmul(op, cores)
    return JobCost("core", seconds, roofline)


@register_cost("sfu", "quantize", "gather")
def _elementwise(op: Op, costs: CostTable, cores: int) -> JobCost:
    seconds, roofline = costs.device.elementwise(op.elements * op.passes + op.epilogue, cores)
    return JobCost("core", seconds, roofline)


@register_cost("launch")
def _launch(op: Op, costs: CostTable, cores: int) -> JobCost:
    return JobCost("core", costs.device.launch_seconds(), 0.0)


@register_cost("transfer")
def _transfer(op: Op, costs: CostTable, cores: int) -> JobCost:
    return link.transfer(costs.hw.link, op.unit, op.bytes)


@register_cost("fuse")
def _fuse(op: Op, costs: CostTable, cores: int) -> JobCost:
    h = costs.hw.host
    return JobCost("host", host.fuse_seconds(h, op.elements), op.elements * h.fuse_per_element)


@register_cost("topk")
def _topk(op: Op, costs: CostTable, cores: int) -> JobCost:
    h = costs.hw.host
    return JobCost("host", host.topk_seconds(h, op.elements, op.k), op.elements * h.sort_per_element)


@register_cost("merge")
def _merge(op: Op, costs: CostTable, cores: int) -> JobCost:
    h = costs.hw.host
    return JobCost("host", host.merge_seconds(h, op.elements), op.elements * h.merge_per_element)


@register_cost("copy")
def _copy(op: Op, costs: CostTable, cores: int) -> JobCost:
    seconds = host.copy_seconds(costs.hw.host, op.bytes)
    return JobCost("host", seconds, seconds, level_bytes=(("host", op.bytes),))


@register_cost("prefetch")
def _prefetch(op: Op, costs: CostTable, cores: int) -> JobCost:
    """A marker: its weight fetch (the next iteration's first weights) is the work; the op itself takes no time."""
    return JobCost(op.unit, 0.0, 0.0)
