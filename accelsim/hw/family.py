"""Hardware families: a machine's compute device behind one small interface, registered by name.

A machine is a device of some family (``hardware.family``: today the systolic coprocessor) plus a host CPU, the
link between them and where weights live. The family answers, for its own device: what a matmul, element-wise work
and a program launch cost on its cores, what a weight fetch costs from where weights live, how many bytes a weight
of some bits takes on the device, how much on-chip memory keeps weights, and which arithmetic format a layer runs in.
Everything else (the host's search steps, transfers) is costed apart (:mod:`accelsim.hw.cost`). A new family is one
class and one ``@register_family`` line.
"""

from __future__ import annotations

from typing import ClassVar

from accelsim.graph.ir import Op
from accelsim.hw.job import JobCost
from accelsim.spec.hardware import HardwareSpec
from accelsim.spec.precision import LayerPrecision


class Family:
    """The interface of a hardware family (see the module docstring). Times are seconds; ``(seconds, roofline)``
    pairs give the detailed cost and its lower bound on ideal hardware of the same peak rates."""

    name: ClassVar[str] = ""

    def __init__(self, hw: HardwareSpec):
        self.hw = hw

    @property
    def cores(self) -> int:
        """Identical cores the engine places device ops on."""
        raise NotImplementedError

    def matmul(self, op: Op, cores: int) -> tuple[float, float]:
        """A matmul (or a depthwise convolution mapped as one) on ``cores`` cores, its fused epilogue included."""
        raise NotImplementedError

    def elementwise(self, ops: int, cores: int) -> tuple[float, float]:
        """``ops`` element-wise operations on ``cores`` cores."""
        raise NotImplementedError

    def launch_seconds(self) -> float:
        """The host starting one program on the device."""
        raise NotImplementedError

    def fetch(self, n_bytes: float) -> JobCost:
        """Bringing ``n_bytes`` of weights from where they live to where the device computes."""
        raise NotImplementedError

    def bytes_per_weight(self, weight_bits: int) -> float:
        """Bytes one weight of ``weight_bits`` takes as held and moved on the device."""
        raise NotImplementedError

    def weight_room(self, cores: int) -> float:
        """Bytes of on-chip memory ``cores`` cores can keep weights resident in."""
        raise NotImplementedError

    def layer_format(self, precision: LayerPrecision) -> str:
        """The arithmetic format (and path, for codebook weights) a layer's matmuls run in, as reports print it."""
        raise NotImplementedError


FAMILIES: dict[str, type[Family]] = {}


def register_family(cls: type[Family]) -> type[Family]:
    FAMILIES[cls.name] = cls
    return cls


def family_of(hw: HardwareSpec) -> Family:
    """The device of ``hw``, as its family's class (the families register on import of :mod:`accelsim.hw`)."""
    return FAMILIES[hw.family](hw)
