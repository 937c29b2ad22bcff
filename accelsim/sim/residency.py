"""Weight residency: which weights stay in the scratchpads and which are fetched at every use.

Policy (static, decided before the run, so it is deterministic and cheap): within each residency
region (one encoder layer, the decode loop) and each placement lane, weights used more than once are
pinned greedily, most uses first, while they fit in the lane's share of scratchpad kept for weights.
A pinned weight is fetched once, before its first use; every other weight is fetched at every use.
With ``memory.residency: per_op`` nothing is pinned.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from accelsim.graph.ir import Op
from accelsim.hw.coprocessor import device_weight_bits, weight_room
from accelsim.sim.placement import cores_per_lane
from accelsim.spec.hardware import HardwareSpec


@dataclass(frozen=True, slots=True)
class ResidencyPlan:
    pinned: frozenset[tuple[str, str]]  # (region, tensor)
    fetch_bytes: tuple[float, ...]  # per op id: weight bytes to bring in before the op can run

    @property
    def total_fetch_bytes(self) -> float:
        return sum(self.fetch_bytes)


def plan_residency(ops: list[Op], hw: HardwareSpec) -> ResidencyPlan:
    cop = hw.coprocessor
    uses: dict[tuple[str, int, int], dict[str, list[float]]] = defaultdict(dict)
    sizes = [device_weight_bits(cop, op.weight_bits) / 8 for op in ops]  # bytes per parameter
    for op in ops:
        group = uses[(op.region, op.lane, op.lanes)]
        for tensor, params in op.weights:
            entry = group.setdefault(tensor, [0, params * sizes[op.id]])
            entry[0] += 1
    pinned: set[tuple[str, str]] = set()
    for (region, _lane, lanes), tensors in (uses.items() if hw.memory.residency == "pinned" else ()):
        room = weight_room(cop, cores_per_lane(cop.cores, lanes))
        for tensor, (count, size) in sorted(tensors.items(), key=lambda kv: (-kv[1][0], kv[1][1], kv[0])):
            if count > 1 and size <= room:
                pinned.add((region, tensor))
                room -= size
    fetched: set[tuple[str, str]] = set()
    fetch = []
    for op in ops:
        total = 0.0
        for tensor, params in op.weights:
            key = (op.region, tensor)
            if key not in pinned or key not in fetched:
                total += params * sizes[op.id]
                fetched.add(key)
        fetch.append(total)
    return ResidencyPlan(frozenset(pinned), tuple(fetch))
