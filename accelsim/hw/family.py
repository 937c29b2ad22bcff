"""Hardware families: a machine's compute device behind one small interface, registered by name.

A machine is a device of some family (``hardware.family``: the systolic coprocessor, a CPU) plus a host CPU, the link
between them and a memory hierarchy (:mod:`accelsim.hw.memory`). The family answers, for its own device: what a
matmul, element-wise work and a program launch cost on its cores (with the weights an op streams from the hierarchy
while it computes, when the machine streams), how many bytes a weight of some bits takes on the device, how much
on-chip memory keeps weights, and which arithmetic format a layer runs in. Everything else (the host's search steps,
transfers, weight fetches) is costed apart (:mod:`accelsim.hw.cost`, :mod:`accelsim.hw.memory`). A new family is
one class and one ``@register_family`` line.
"""

from __future__ import annotations

from typing import ClassVar

from accelsim.graph.ir import Op
from accelsim.hw.formats import select_format
from accelsim.hw.memory import Hierarchy
from accelsim.spec.hardware import HardwareSpec
from accelsim.spec.precision import LayerPrecision

#: An op's weight reads: (memory level, bytes) pairs (empty when it reads none, or fetched them beforehand).
Reads = tuple[tuple[str, float], ...]


class Family:
    """The interface of a hardware family (see the module docstring). Times are seconds; ``(seconds, roofline)``
    pairs give the detailed cost and its lower bound on ideal hardware of the same peak rates."""

    name: ClassVar[str] = ""
    section: ClassVar[str] = ""  # the hardware file's section that describes the device
    per_op_overhead: ClassVar[str] = ""  # the section's field of the fixed cost of one op ("": none in the section)

    def __init__(self, hw: HardwareSpec):
        self.hw = hw
        self.memory = Hierarchy(hw)

    @property
    def unit(self):
        """The device's section of the hardware spec (the spec's family check guarantees it is there)."""
        found = getattr(self.hw, self.section)
        assert found is not None
        return found

    @property
    def cores(self) -> int:
        """Identical cores the engine places device ops on."""
        return self.unit.cores

    def matmul(self, op: Op, cores: int, reads: Reads = ()) -> tuple[float, float]:
        """A matmul (or a depthwise convolution mapped as one) on ``cores`` cores, its fused epilogue included, while
        it streams ``reads``. A step of a persistent kernel (``op.resident``) is the family's to cost: a GPU's pays a
        barrier instead of a kernel; elsewhere it is an op like any other (its cell fused in)."""
        raise NotImplementedError

    def elementwise(self, op: Op, cores: int, reads: Reads = ()) -> tuple[float, float]:
        """An element-wise op (an SFU op, a quantizer, a gather) on ``cores`` cores (a gather streams the table it
        reads)."""
        raise NotImplementedError

    def launch_seconds(self) -> float:
        """The host starting one program on the device."""
        raise NotImplementedError

    def query_seconds(self) -> float:
        """The serving harness's host time per query on this machine (0 where its runtime gives none)."""
        return 0.0

    def bytes_per_weight(self, weight_bits: int) -> float:
        """Bytes one weight of ``weight_bits`` takes as held and moved on the device."""
        raise NotImplementedError

    def weight_room(self, cores: int) -> float:
        """Bytes of scratchpad ``cores`` cores can keep weights resident in (its weight share; 0 without one)."""
        pad = self.memory.scratchpad
        return pad.capacity_for(cores) * pad.weight_fraction if pad is not None else 0.0

    def format_of(self, weight_bits: int, act_bits: int) -> str:
        """The arithmetic format a matmul with these operands runs in: the narrowest of the device's MAC rates that
        holds both."""
        return select_format(self.unit, weight_bits, act_bits)

    def layer_format(self, precision: LayerPrecision) -> str:
        """The arithmetic format (and path, for codebook weights) a layer's matmuls run in, as reports print it."""
        raise NotImplementedError

    def with_reads(self, fixed_s: float, compute_s: float, roofline_s: float, reads: Reads, cores: int) -> tuple[float, float]:
        """(seconds, roofline) of work that computes for ``compute_s`` after a fixed ``fixed_s``, streaming ``reads``."""
        if not reads:
            return fixed_s + compute_s, roofline_s
        seconds, bound = self.memory.stream(compute_s, reads, cores)
        return fixed_s + seconds, max(roofline_s, bound)


def vector_cycles(ops: int, special: tuple[tuple[str, int], ...], lane_rate: float,
                  special_rates: dict[str, float]) -> float:
    """Cycles of one core for ``ops`` element-wise operations of which ``special`` are special-function evaluations
    (by function): each function listed in ``special_rates`` at its rate, the rest at ``lane_rate`` per cycle."""
    listed = [(n, special_rates[name]) for name, n in special if name in special_rates]
    plain = max(0, ops - sum(n for n, _ in listed))
    return plain / lane_rate + sum(n / rate for n, rate in listed)


class StreamingFamily(Family):
    """A device whose own cores run every op, streaming weights through its caches (a CPU, a GPU): weights held and
    moved at their bits, a matmul's format the narrowest of the device's MAC rates that holds both operands, codebook
    weights decoded to their centroids by its cores (``decoder`` names them)."""

    decoder: ClassVar[str] = "the cores"

    def bytes_per_weight(self, weight_bits: int) -> float:
        return weight_bits / 8

    def layer_format(self, precision: LayerPrecision) -> str:
        if precision.codebook:
            return f"{self.format_of(precision.codebook_bits, precision.act_bits)} (codebook decoded by {self.decoder})"
        return self.format_of(precision.weight_bits, precision.act_bits)


FAMILIES: dict[str, type[Family]] = {}


def register_family(cls: type[Family]) -> type[Family]:
    FAMILIES[cls.name] = cls
    return cls


def family_of(hw: HardwareSpec) -> Family:
    """The device of ``hw``, as its family's class (the families register on import of :mod:`accelsim.hw`)."""
    return FAMILIES[hw.family](hw)
