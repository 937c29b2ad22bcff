"""The engine's policies: where an op runs, which weights stay on chip, when a fetch may start, and which
channel fetches use. Each is a small object registered by name; the hardware spec names the residency, the
prefetch and the channel (placement has one policy so far, and the engine assumes it depends on the lane only).

- placement (``lanes``): the cores are split evenly among the independent chains (lanes) of an op's region:
  the encoder's forward and backward directions each get half the chip; decode ops, one chain, get all
  cores and split their output columns over them.
- residency (``memory.residency``): ``per_op`` fetches every op's weights at every use; ``pinned`` keeps
  weights used more than once in the scratchpads while they fit (static, decided before the run, so it is
  deterministic and cheap: within each region and lane, most uses first, greedily).
- prefetch (``memory.prefetch``): ``one_deep`` lets an op's weight fetch start once all its dependencies have
  started (double buffering); ``on_demand`` only once they have all ended. A ``prefetch`` op (the decode
  loop's, with ``runtime.prefetch_next_iteration``) fetches the first weights of the ops after it, as much as the
  free scratchpad holds, and those ops then fetch only the rest.
- fetch channel (``memory.weights_home``): ``host`` streams weights over the host->device link, ``device``
  reads them from memory attached to the coprocessor. The link is a DMA queue (``link.queue_depth``): deeper
  than 1, a transfer's fixed latency is spent in a queue slot, overlapping the transfer before it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Sequence

from accelsim.graph.ir import Op
from accelsim.hw.coprocessor import device_weight_bits, weight_room
from accelsim.hw.link import fetch_phases, fetch_seconds
from accelsim.spec.hardware import HardwareSpec
from accelsim.workload.model import BIAS_BITS

# ---------------------------------------------------------------- placement


class LanePlacement:
    """Cores of an op: its lane's equal share of the chip."""

    name = "lanes"

    @staticmethod
    def cores_per_lane(cores: int, lanes: int) -> int:
        return max(1, cores // max(1, lanes))

    def cores(self, op: Op, cores: int) -> tuple[int, ...]:
        per = self.cores_per_lane(cores, op.lanes)
        start = (op.lane * per) % cores
        return tuple(range(start, start + per))


PLACEMENTS = {LanePlacement.name: LanePlacement()}


def cores_per_lane(cores: int, lanes: int) -> int:
    return LanePlacement.cores_per_lane(cores, lanes)


# ---------------------------------------------------------------- residency


@dataclass(frozen=True, slots=True)
class ResidencyPlan:
    pinned: frozenset[tuple[str, str]]  # (region, tensor)
    fetch_bytes: tuple[float, ...]  # per op id: weight bytes to bring in before the op can run

    @property
    def total_fetch_bytes(self) -> float:
        return sum(self.fetch_bytes)


class Residency:
    """Decides, before the run, how many weight bytes each op must fetch; over a sequence of op runs (the
    segments of a program, in order), so that a pinned weight is fetched only at its first use."""

    name = ""

    def pinned(self, runs: Sequence[Sequence[Op]], hw: HardwareSpec) -> frozenset[tuple[str, str]]:
        return frozenset()

    def plan(self, runs: Sequence[Sequence[Op]], hw: HardwareSpec) -> tuple[frozenset[tuple[str, str]], list[tuple[float, ...]]]:
        """The pinned tensors, and per run the bytes each of its ops fetches."""
        pinned = self.pinned(runs, hw)
        bits = _bytes_per_param(hw)
        fetched: set[tuple[str, str]] = set()
        flat: list[Op] = []
        carry: dict[tuple[str, str], float] = {}  # bytes of a tensor already brought in by a prefetch op
        out = []
        rooms: dict[tuple[str, int], float] = {}
        position = 0  # of the op in the runs one after the other (equal segments share their Op objects)
        for ops in runs:
            fetch = []
            for op in ops:
                position += 1
                if op.kind == "prefetch":
                    if not flat:  # built only when a program prefetches
                        flat = [o for run in runs for o in run]
                    place = (op.region, op.lanes)
                    if place not in rooms:
                        rooms[place] = _prefetch_room(hw, op, pinned, flat, bits)
                    carry = _lookahead(flat, position, rooms[place], pinned, fetched, bits)
                    fetch.append(sum(carry.values()))
                    continue
                total = 0.0
                for tensor, size in _tensor_bytes(op, bits):
                    key = (op.region, tensor)
                    if key not in pinned or key not in fetched:
                        total += size - carry.pop(key, 0.0)
                        fetched.add(key)
                fetch.append(total)
            out.append(tuple(fetch))
        return pinned, out


class PerOpResidency(Residency):
    name = "per_op"

    @staticmethod
    def segment_plan(ops: Sequence[Op], hw: HardwareSpec, carried_by: Op | None,
                     following: Sequence[Op] | None) -> tuple[float, ...]:
        """What :meth:`plan` gives the ops of one segment, from that segment and the next alone: per-op residency
        pins nothing, so a segment's fetches depend only on what the prefetch op ending the previous segment
        (``carried_by``) brought in of them, and on what its own prefetch op (its last op) brings in of the
        next segment's ops (``following``). Valid when every segment after the first prefetching one prefetches,
        as its last op (the caller checks)."""
        bits = _bytes_per_param(hw)
        carry = {} if carried_by is None else \
            _lookahead(ops, 0, _prefetch_room(hw, carried_by, frozenset(), (), bits), frozenset(), set(), bits)
        fetch = []
        for op in ops:
            if op.kind == "prefetch":
                room = _prefetch_room(hw, op, frozenset(), (), bits)
                ahead = _lookahead(following, 0, room, frozenset(), set(), bits) if following else {}
                fetch.append(sum(ahead.values()))
                continue
            total = 0.0
            for tensor, size in _tensor_bytes(op, bits):
                total += size - carry.pop((op.region, tensor), 0.0)
            fetch.append(total)
        return tuple(fetch)


class PinnedResidency(Residency):
    name = "pinned"

    def pinned(self, runs: Sequence[Sequence[Op]], hw: HardwareSpec) -> frozenset[tuple[str, str]]:
        cop = hw.coprocessor
        bits = _bytes_per_param(hw)
        uses: dict[tuple[str, int, int], dict[str, list[float]]] = defaultdict(dict)
        for ops in runs:
            for op in ops:
                group = uses[(op.region, op.lane, op.lanes)]
                for tensor, size in _tensor_bytes(op, bits):
                    entry = group.setdefault(tensor, [0, size])
                    entry[0] += 1
        pinned: set[tuple[str, str]] = set()
        for (region, _lane, lanes), tensors in uses.items():
            room = weight_room(cop, cores_per_lane(cop.cores, lanes))
            for tensor, (count, size) in sorted(tensors.items(), key=lambda kv: (-kv[1][0], kv[1][1], kv[0])):
                if count > 1 and size <= room:
                    pinned.add((region, tensor))
                    room -= size
        return frozenset(pinned)


def _lookahead(flat: Sequence[Op], start: int, room: float, pinned: frozenset, fetched: set,
               bits: Callable[[int], float]) -> dict[tuple[str, str], float]:
    """What a prefetch op brings in: the first ``room`` bytes of the weights the ops after it (up to the next
    prefetch op: the next decode iteration) will fetch, in their order; a tensor may come in part."""
    carry: dict[tuple[str, str], float] = {}
    used = 0.0
    for op in flat[start:]:
        if op.kind == "prefetch":
            break
        for tensor, size in _tensor_bytes(op, bits):
            key = (op.region, tensor)
            if key in carry or (key in pinned and key in fetched):
                continue
            take = min(size, room - used)
            if take <= 0:
                return carry
            carry[key] = take
            used += take
    return carry


def _prefetch_room(hw: HardwareSpec, op: Op, pinned: frozenset, flat: Sequence[Op], bits: Callable[[int], float]) -> float:
    """Scratchpad free for prefetched weights while the coprocessor is idle: the weight share of the op's cores,
    less what pinned weights of its region hold."""
    held: dict[str, float] = {}
    for o in flat:
        if o.region == op.region:
            for tensor, size in _tensor_bytes(o, bits):
                if (o.region, tensor) in pinned:
                    held[tensor] = size
    room = weight_room(hw.coprocessor, cores_per_lane(hw.coprocessor.cores, op.lanes))
    return max(0.0, room - sum(held.values()))


def _tensor_bytes(op: Op, bits: Callable[[int], float]):
    """(tensor, bytes) of everything an op reads from memory: its weights at their bits, its biases in FP32."""
    for tensor, params in op.weights:
        yield tensor, params * bits(op.weight_bits)
    for tensor, params in op.biases:
        yield tensor, params * BIAS_BITS / 8


def _bytes_per_param(hw: HardwareSpec) -> Callable[[int], float]:
    cop = hw.coprocessor
    return lambda weight_bits: device_weight_bits(cop, weight_bits) / 8


RESIDENCIES: dict[str, Residency] = {p.name: p for p in (PerOpResidency(), PinnedResidency())}


def plan_residency(ops: Sequence[Op], hw: HardwareSpec) -> ResidencyPlan:
    """The residency plan of one op list run as a whole."""
    pinned, (fetch,) = RESIDENCIES[hw.memory.residency].plan([ops], hw)
    return ResidencyPlan(pinned, fetch)


# ---------------------------------------------------------------- prefetch


class Prefetch:
    """When an op's weight fetch may request the fetch channel: on the start or on the end of its dependencies."""

    name = ""
    on_start = True


class OneDeepPrefetch(Prefetch):
    name = "one_deep"
    on_start = True


class OnDemandPrefetch(Prefetch):
    name = "on_demand"
    on_start = False


PREFETCHES: dict[str, Prefetch] = {p.name: p for p in (OneDeepPrefetch(), OnDemandPrefetch())}


# ---------------------------------------------------------------- fetch channel


class FetchChannel:
    """The resource weight fetches hold, and how long a fetch of n bytes holds it."""

    def __init__(self, name: str, resource: str):
        self.name = name
        self.resource = resource

    def seconds(self, hw: HardwareSpec, n_bytes: float) -> float:
        return fetch_seconds(hw, n_bytes)

    def phases(self, hw: HardwareSpec, n_bytes: float) -> tuple[float, float]:
        """(setup, data): a fetch waits ``setup`` in a slot of the channel's DMA queue, then holds it for ``data``."""
        return fetch_phases(hw, n_bytes)


CHANNELS: dict[str, FetchChannel] = {"host": FetchChannel("host", "h2d"), "device": FetchChannel("device", "dram")}


@dataclass(frozen=True)
class Policies:
    placement: LanePlacement
    residency: Residency
    prefetch: Prefetch
    channel: FetchChannel


def policies_for(hw: HardwareSpec) -> Policies:
    """The policy objects the hardware spec names."""
    return Policies(PLACEMENTS["lanes"], RESIDENCIES[hw.memory.residency], PREFETCHES[hw.memory.prefetch],
                    CHANNELS[hw.memory.weights_home])
