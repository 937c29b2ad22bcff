"""The engine's policies: where an op runs, which weights stay near the compute and where each op reads them from,
and when a fetch may start. Each is a small object registered by name; the hardware spec names the residency and
the prefetch (placement has one policy so far, and the engine assumes it depends on the lane only).

- placement (``lanes``): the cores are split evenly among the independent chains (lanes) of an op's region:
  the encoder's forward and backward directions each get half the chip; decode ops, one chain, get all
  cores and split their output columns over them.
- residency (``memory.residency``): ``per_op`` fetches every op's weights at every use; ``pinned`` keeps
  weights used more than once in the scratchpads while they fit (static, decided before the run, so it is
  deterministic and cheap: within each region and lane, most uses first, greedily); ``cache`` reads every op's
  weights from the nearest cache level that holds everything read since their last use (an LRU stack over the
  program's order, per tensor), else from where they live; a level with a measured hit curve serves the part of a
  tensor its curve gives at that reuse distance, and the levels beyond it the rest. A plan gives each op its
  *reads*: (level, bytes) pairs.
- prefetch (``memory.prefetch``): ``one_deep`` lets an op's weight fetch start once all its dependencies have
  started (double buffering); ``on_demand`` only once they have all ended. A ``prefetch`` op (the decode
  loop's, with ``runtime.prefetch_next_iteration``) fetches the first weights of the ops after it, as much as the
  free scratchpad holds, and those ops then fetch only the rest.

What reading from a level costs, and which unit a fetch holds, is the hardware's answer, not a policy
(:mod:`accelsim.hw.memory`).
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from dataclasses import dataclass
from typing import Callable, Sequence

from accelsim.graph.ir import Op
from accelsim.graph.lower import Segment
from accelsim.hw.family import Family, Reads, family_of
from accelsim.memo import Memo
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

Pinned = frozenset[tuple[str, str]]  # (region, tensor)


@dataclass(frozen=True, slots=True)
class ResidencyPlan:
    pinned: Pinned
    reads: tuple[Reads, ...]  # per op id: the weight bytes it reads, by the level they come from

    @property
    def fetch_bytes(self) -> tuple[float, ...]:
        """Per op: the weight bytes it reads from beyond the scratchpad (fetched, or streamed)."""
        return tuple(sum(n for _, n in reads) for reads in self.reads)

    @property
    def total_fetch_bytes(self) -> float:
        return sum(self.fetch_bytes)


class Residency:
    """Decides, before the run, how many weight bytes each op must fetch and from where; over a sequence of op runs
    (the segments of a program, in order), so that a pinned weight is fetched only at its first use. A scratchpad
    residency fetches from where weights live (``memory.weights_home``)."""

    name = ""

    def pinned(self, runs: Sequence[Sequence[Op]], device: Family) -> Pinned:
        return frozenset()

    def plan(self, runs: Sequence[Sequence[Op]], device: Family) -> tuple[Pinned, list[tuple[Reads, ...]]]:
        """The pinned tensors, and per run the reads of each of its ops."""
        pinned = self.pinned(runs, device)
        bits, home = device.bytes_per_weight, device.memory.home.name
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
                        rooms[place] = _prefetch_room(device, op, pinned, flat)
                    carry = _lookahead(flat, position, rooms[place], pinned, fetched, bits)
                    fetch.append(_from(home, sum(carry.values())))
                    continue
                total = 0.0
                for tensor, size in _tensor_bytes(op, bits):
                    key = (op.region, tensor)
                    if key not in pinned or key not in fetched:
                        total += size - carry.pop(key, 0.0)
                        fetched.add(key)
                fetch.append(_from(home, total))
            out.append(tuple(fetch))
        return pinned, out

    def program_plan(self, segments: Sequence[Segment], device: Family, plans: Memo) -> tuple[Pinned, list[tuple[Reads, ...]]]:
        """Per occurrence of a program's segments (in order), the reads of each op: the whole program's plan (a
        policy whose plan is local to a segment plans each distinct one once, in ``plans``)."""
        return self.plan([seg.ops for seg in segments], device)


def _from(level: str, n_bytes: float) -> Reads:
    return ((level, n_bytes),) if n_bytes > 0 else ()


class PerOpResidency(Residency):
    name = "per_op"

    def program_plan(self, segments: Sequence[Segment], device: Family, plans: Memo) -> tuple[Pinned, list[tuple[Reads, ...]]]:
        """Per-op residency pins nothing, so equal segments fetch alike: each distinct segment is planned once; with
        the next-iteration prefetch, each distinct (prefetch op before it, segment, segment after) once (a test set's
        utterances share most of theirs). Else the whole program's plan."""
        if not any(seg.prefetches for seg in segments):
            return frozenset(), [plans.get(seg, lambda seg=seg: self.plan([seg.ops], device)[1][0]) for seg in segments]
        if not _prefetch_at_ends(segments):
            return super().program_plan(segments, device, plans)

        def planned(i: int) -> tuple[Reads, ...]:
            seg = segments[i]
            carried_by = segments[i - 1].ops[-1] if i and segments[i - 1].prefetches else None
            following = segments[i + 1] if i + 1 < len(segments) and seg.prefetches else None
            return plans.get((seg, carried_by, following), lambda: self.segment_plan(
                seg.ops, device, carried_by, following.ops if following is not None else None))

        return frozenset(), [planned(i) for i in range(len(segments))]

    @staticmethod
    def segment_plan(ops: Sequence[Op], device: Family, carried_by: Op | None,
                     following: Sequence[Op] | None) -> tuple[Reads, ...]:
        """What :meth:`plan` gives the ops of one segment, from that segment and the next alone: per-op residency
        pins nothing, so a segment's fetches depend only on what the prefetch op ending the previous segment
        (``carried_by``) brought in of them, and on what its own prefetch op (its last op) brings in of the
        next segment's ops (``following``). Valid when every segment after the first prefetching one prefetches,
        as its last op (the caller checks)."""
        bits, home = device.bytes_per_weight, device.memory.home.name
        carry = {} if carried_by is None else \
            _lookahead(ops, 0, _prefetch_room(device, carried_by, frozenset(), ()), frozenset(), set(), bits)
        fetch = []
        for op in ops:
            if op.kind == "prefetch":
                room = _prefetch_room(device, op, frozenset(), ())
                ahead = _lookahead(following, 0, room, frozenset(), set(), bits) if following else {}
                fetch.append(_from(home, sum(ahead.values())))
                continue
            total = 0.0
            for tensor, size in _tensor_bytes(op, bits):
                total += size - carry.pop((op.region, tensor), 0.0)
            fetch.append(_from(home, total))
        return tuple(fetch)


class PinnedResidency(Residency):
    name = "pinned"

    def pinned(self, runs: Sequence[Sequence[Op]], device: Family) -> Pinned:
        bits = device.bytes_per_weight
        uses: dict[tuple[str, int, int], dict[str, list[float]]] = defaultdict(dict)
        for ops in runs:
            for op in ops:
                group = uses[(op.region, op.lane, op.lanes)]
                for tensor, size in _tensor_bytes(op, bits):
                    entry = group.setdefault(tensor, [0, size])
                    entry[0] += 1
        pinned: set[tuple[str, str]] = set()
        for (region, _lane, lanes), tensors in uses.items():
            room = device.weight_room(cores_per_lane(device.cores, lanes))
            for tensor, (count, size) in sorted(tensors.items(), key=lambda kv: (-kv[1][0], kv[1][1], kv[0])):
                if count > 1 and size <= room:
                    pinned.add((region, tensor))
                    room -= size
        return frozenset(pinned)


class CacheResidency(Residency):
    """Every op reads all its weights, each tensor from the nearest cache level whose capacity (its cores' share of a
    per-core level) holds every byte read since the tensor's last use, else from where weights live: a least-recently-
    used stack over the program's ops in order, at tensor granularity. A level with a hit curve (``hit_curve``, as
    ``accelsim probe`` measures it) serves the part of the tensor its curve gives at that reuse distance; the next
    levels serve the rest. Activations are not counted."""

    name = "cache"

    def plan(self, runs: Sequence[Sequence[Op]], device: Family) -> tuple[Pinned, list[tuple[Reads, ...]]]:
        bits, caches, home = device.bytes_per_weight, device.memory.caches, device.memory.home.name
        deepest = max((level.reach(device.cores) for level in caches), default=0.0)  # no cache: all from memory
        stack: OrderedDict[tuple[str, str], float] = OrderedDict()  # least recently used first
        held = _Held(device)
        out = []
        for ops in runs:
            plan = []
            for op in ops:
                cores = cores_per_lane(device.cores, op.lanes)
                reads: dict[str, float] = {}
                for tensor, size in _tensor_bytes(op, bits):
                    if op.resident and held.keeps(op, tensor, size):
                        continue
                    distance = _reuse_distance(stack, (op.region, tensor), size, deepest)
                    for level, fraction in _served(caches, distance, cores, home):
                        reads[level] = reads.get(level, 0.0) + fraction * size
                plan.append(tuple((name, n) for name, n in reads.items() if n > 0))
            out.append(tuple(plan))
        return frozenset(), out


class _Held:
    """The weights persistent kernels keep in their cores' scratchpads (register files, shared memory): a step of one
    (an op marked ``resident``) reads a tensor only the first time, if it fits in its lane's weight room beside what
    the kernel of its region and lane already holds; else it reads it at every step like any kernel."""

    def __init__(self, device: Family):
        self.device = device
        self.tensors: set[tuple[str, int, str]] = set()
        self.bytes: dict[tuple[str, int], float] = {}

    def keeps(self, op: Op, tensor: str, size: float) -> bool:
        """Whether the step finds ``tensor`` held already (else it reads it, and holds it from now on if it fits)."""
        key = (op.region, op.lane, tensor)
        if key in self.tensors:
            return True
        place = (op.region, op.lane)
        room = self.device.weight_room(cores_per_lane(self.device.cores, op.lanes))
        if self.bytes.get(place, 0.0) + size <= room:
            self.tensors.add(key)
            self.bytes[place] = self.bytes.get(place, 0.0) + size
        return False


def _reuse_distance(stack: "OrderedDict[tuple[str, str], float]", key: tuple[str, str], size: float, deepest: float) -> float:
    """Bytes read since ``key`` was last read, itself included (inf the first time); then ``key`` is the most recent.
    Entries beyond the deepest cache's capacity are dropped: they could only miss."""
    if key in stack:
        distance = size
        for other in reversed(stack):
            if other == key:
                break
            distance += stack[other]
        stack.move_to_end(key)
    else:
        distance = float("inf")
        stack[key] = size
    total = sum(stack.values())
    while total > deepest and len(stack) > 1:
        total -= stack.popitem(last=False)[1]
    return distance


def _served(caches, distance: float, cores: int, home: str) -> list[tuple[str, float]]:
    """Which part of a tensor read again after ``distance`` bytes each level serves, nearest first: a level serves what
    it or a nearer one holds (:meth:`Level.served`) less what the nearer ones served; the home level the rest. With
    least-recently-used levels this is all of it from the nearest level that holds ``distance`` bytes."""
    out, before = [], 0.0
    for level in caches:
        held = max(before, level.served(distance, cores))
        if held > before:
            out.append((level.name, held - before))
            before = held
        if before >= 1.0:
            return out
    out.append((home, 1.0 - before))
    return out


def _prefetch_at_ends(segments: Sequence[Segment]) -> bool:
    """Every segment after the first prefetching one prefetches too, with its prefetch op last (and only there):
    then no prefetched weights are left over for a later segment than the next."""
    seen = False
    for seg in segments:
        if seg.prefetches:
            seen = True
            if not seg.prefetches_last:
                return False
        elif seen:
            return False
    return True


def _lookahead(flat: Sequence[Op], start: int, room: float, pinned: Pinned, fetched: set,
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


def _prefetch_room(device: Family, op: Op, pinned: Pinned, flat: Sequence[Op]) -> float:
    """Scratchpad free for prefetched weights while the coprocessor is idle: the weight share of the op's cores,
    less what pinned weights of its region hold."""
    held: dict[str, float] = {}
    for o in flat:
        if o.region == op.region:
            for tensor, size in _tensor_bytes(o, device.bytes_per_weight):
                if (o.region, tensor) in pinned:
                    held[tensor] = size
    room = device.weight_room(cores_per_lane(device.cores, op.lanes))
    return max(0.0, room - sum(held.values()))


def _tensor_bytes(op: Op, bits: Callable[[int], float]):
    """(tensor, bytes) of everything an op reads from memory: its weights at their bits, its biases in FP32."""
    for tensor, params in op.weights:
        yield tensor, params * bits(op.weight_bits)
    for tensor, params in op.biases:
        yield tensor, params * BIAS_BITS / 8


RESIDENCIES: dict[str, Residency] = {p.name: p for p in (PerOpResidency(), PinnedResidency(), CacheResidency())}


def plan_residency(ops: Sequence[Op], hw: HardwareSpec) -> ResidencyPlan:
    """The residency plan of one op list run as a whole."""
    pinned, (fetch,) = RESIDENCIES[hw.memory.residency].plan([ops], family_of(hw))
    return ResidencyPlan(pinned, fetch)


# ---------------------------------------------------------------- prefetch


class Prefetch:
    """When an op's weight fetch may request its unit: on the start or on the end of its dependencies."""

    name = ""
    on_start = True


class OneDeepPrefetch(Prefetch):
    name = "one_deep"
    on_start = True


class OnDemandPrefetch(Prefetch):
    name = "on_demand"
    on_start = False


PREFETCHES: dict[str, Prefetch] = {p.name: p for p in (OneDeepPrefetch(), OnDemandPrefetch())}


@dataclass(frozen=True)
class Policies:
    placement: LanePlacement
    residency: Residency
    prefetch: Prefetch


def policies_for(hw: HardwareSpec) -> Policies:
    """The policy objects the hardware spec names."""
    return Policies(PLACEMENTS["lanes"], RESIDENCIES[hw.memory.residency], PREFETCHES[hw.memory.prefetch])
