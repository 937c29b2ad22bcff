"""One cost record per job: what every job the engine holds costs on one machine.

A job is an op (a matmul, element-wise work, a launch, a transfer, a host step of the search) or an op's weight
fetch. On a machine that streams (``memory.overlap``), an op's weight reads are part of the op's own cost; else they
are fetched into the scratchpad beforehand, a job of their own (:mod:`accelsim.hw.memory`). Its cost is a :class:`JobCost`: which unit does it, how long it holds that unit, the fixed part it spends
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
from accelsim.hw.family import Family, Reads, family_of
from accelsim.hw.job import JobCost
from accelsim.hw.memory import Hierarchy
from accelsim.spec.hardware import HardwareSpec


CostFn = Callable[[Op, "CostTable", int, Reads], JobCost]
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
        self.memory: Hierarchy = self.device.memory
        self._ops: dict[tuple, JobCost] = {}
        self._fetches: dict[Reads, JobCost] = {}

    @property
    def streams(self) -> bool:
        """Whether ops stream their weight reads while they compute (else each is fetched by a job of its own)."""
        return self.memory.streams

    def op(self, op: Op, cores: int = 1, reads: Reads = ()) -> JobCost:
        """What ``op`` costs when given ``cores`` of the device's cores (ignored off the device), streaming ``reads``."""
        key = (work_key(op), cores, reads)
        found = self._ops.get(key)
        if found is None:
            found = self._ops[key] = COSTS[op.kind](op, self, cores, reads)
        return found

    def queue_slots(self, unit: str) -> int:
        """Jobs the DMA queue of ``unit`` keeps in flight (only queued jobs, on the link, use one)."""
        return self.hw.link.queue_depth

    def fetch(self, reads: Reads) -> JobCost:
        """Bringing an op's weights that are not resident on chip into the scratchpad before it runs (one level)."""
        found = self._fetches.get(reads)
        if found is None:
            ((level, n_bytes),) = reads
            found = self._fetches[reads] = self.memory.fetch(level, n_bytes)
        return found


def op_cost(op: Op, hw: HardwareSpec, cores: int = 1) -> JobCost:
    """What ``op`` costs on ``hw`` when given ``cores`` device cores (a fresh table: for tests and one-off questions)."""
    return CostTable(hw).op(op, cores)


@register_cost("matmul", "dwconv")
def _matmul(op: Op, costs: CostTable, cores: int, reads: Reads) -> JobCost:
    """A matmul, or a depthwise convolution mapped as one (see ``accelsim.graph.lower.lower_conformer_conv``)."""
    seconds, roofline = costs.device.matmul(op, cores, reads)
    return JobCost("core", seconds, roofline, level_bytes=reads)


@register_cost("sfu", "quantize", "gather")
def _elementwise(op: Op, costs: CostTable, cores: int, reads: Reads) -> JobCost:
    seconds, roofline = costs.device.elementwise(op, cores, reads)
    return JobCost("core", seconds, roofline, level_bytes=reads)


@register_cost("launch")
def _launch(op: Op, costs: CostTable, cores: int, reads: Reads) -> JobCost:
    return JobCost("core", costs.device.launch_seconds(), 0.0)


@register_cost("transfer")
def _transfer(op: Op, costs: CostTable, cores: int, reads: Reads) -> JobCost:
    return link.transfer(costs.hw.link, op.unit, op.bytes)


@register_cost("fuse")
def _fuse(op: Op, costs: CostTable, cores: int, reads: Reads) -> JobCost:
    h = costs.hw.host
    return JobCost("host", host.fuse_seconds(h, op.elements), op.elements * h.fuse_per_element)


@register_cost("topk")
def _topk(op: Op, costs: CostTable, cores: int, reads: Reads) -> JobCost:
    h = costs.hw.host
    return JobCost("host", host.topk_seconds(h, op.elements, op.k), op.elements * h.sort_per_element)


@register_cost("merge")
def _merge(op: Op, costs: CostTable, cores: int, reads: Reads) -> JobCost:
    h = costs.hw.host
    return JobCost("host", host.merge_seconds(h, op.elements), op.elements * h.merge_per_element)


@register_cost("copy")
def _copy(op: Op, costs: CostTable, cores: int, reads: Reads) -> JobCost:
    seconds = host.copy_seconds(costs.hw.host, op.bytes)
    return JobCost("host", seconds, seconds, level_bytes=(("host", op.bytes),))


@register_cost("prefetch")
def _prefetch(op: Op, costs: CostTable, cores: int, reads: Reads) -> JobCost:
    """A marker: its weight fetch (the next iteration's first weights) is the work; the op itself takes no time."""
    return JobCost(op.unit, 0.0, 0.0)
