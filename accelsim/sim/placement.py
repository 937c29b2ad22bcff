"""Placement: which coprocessor cores run an op.

The cores are split evenly among the independent chains (lanes) of the op's region: the encoder's
forward and backward directions each get half of the chip; decode ops, one chain, get all cores and
split their output columns over them.
"""

from __future__ import annotations

from accelsim.graph.ir import Op


def cores_per_lane(cores: int, lanes: int) -> int:
    return max(1, cores // max(1, lanes))


def cores_of(op: Op, cores: int) -> tuple[int, ...]:
    per = cores_per_lane(cores, op.lanes)
    start = (op.lane * per) % cores
    return tuple(range(start, start + per))
