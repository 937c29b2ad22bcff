"""The memory hierarchy: the one place where a level's bandwidth and latency become seconds.

A machine's levels come from ``memory.levels`` or, for configs written before it, from the older fields as two
levels: the coprocessor's scratchpad, then device memory (``memory.device_bandwidth``) or host memory across the link,
as ``memory.weights_home`` says. Every other module asks this one for a level and what reading from it costs:

- a *fetch* (``memory.overlap`` unset): the weights an op needs are brought into the scratchpad before it runs, a job
  of its own on the channel of the level they come from (the link for host memory, ``dram`` for device memory);
- a *stream* (``memory.overlap`` set): the op reads its weights while it computes; the op takes
  ``max(compute, streaming) + (1 - overlap) x min(compute, streaming)`` plus the level's latency.

Where an op's weights come from is the residency policy's answer (``accelsim/sim/policies.py``); a cache level answers
how much of a tensor read again after a given reuse distance it still serves (:meth:`Level.served`): all of it up to
its capacity and nothing beyond (least recently used), or what its measured ``hit_curve`` says -- a real cache shared
with other cores and tenants, with its own replacement policy, holds a falling share of a sweep somewhat smaller to
well beyond its nominal capacity.

Modelling shortcuts: only weight reads are charged to levels (activations of these workloads are small and stay
near the compute); concurrent streaming ops do not contend for a shared level's bandwidth (each gets what its
cores can draw); a level's write bandwidth is not modelled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from accelsim.hw import link
from accelsim.hw.job import JobCost
from accelsim.spec.hardware import HardwareSpec, LevelSpec

INF = float("inf")


@dataclass(frozen=True, slots=True)
class Level:
    """A level as the cost models see it (capacity and bandwidth per core when ``scope`` is core)."""

    name: str
    kind: str  # scratchpad | cache | memory
    capacity: float  # bytes; inf for a memory without one
    scope: str  # core | shared
    read_bandwidth: float | None  # bytes/s one core reads; None: not charged
    shared_bandwidth: float | None
    latency: float
    energy_pJ_per_bit: float | None
    weight_fraction: float
    via_link: bool
    hit_curve: tuple[tuple[float, float], ...] | None = None  # (reuse distance bytes, fraction), measured

    def capacity_for(self, cores: int) -> float:
        """Bytes an op on ``cores`` cores can keep here (its cores' own, for a per-core level)."""
        return self.capacity * cores if self.scope == "core" else self.capacity

    def reach(self, cores: int) -> float:
        """The longest reuse distance this level still serves a part of, for an op on ``cores`` cores."""
        scale = cores if self.scope == "core" else 1
        return self.hit_curve[-1][0] * scale if self.hit_curve else self.capacity_for(cores)

    def served(self, distance: float, cores: int) -> float:
        """The fraction of a tensor read again after ``distance`` bytes that this level or a nearer one serves: the
        measured hit curve (interpolated in log distance, flat before its first point, 0 after its last; its distances
        per core for a per-core level), else least recently used (all of it up to the capacity, nothing beyond)."""
        if self.hit_curve is None:
            return 1.0 if distance <= self.capacity_for(cores) else 0.0
        d = distance / (cores if self.scope == "core" else 1)
        curve = self.hit_curve
        if d <= curve[0][0]:
            return curve[0][1]
        for (d0, f0), (d1, f1) in zip(curve, curve[1:]):
            if d < d1:
                return min(f0, max(f1, f0 + (f1 - f0) * math.log(d / d0) / math.log(d1 / d0)))
            if d == d1:
                return f1
        return 0.0


def _level(spec: LevelSpec) -> Level:
    return Level(spec.name, spec.kind, spec.capacity if spec.capacity is not None else INF, spec.scope,
                 spec.read_bandwidth, spec.shared_bandwidth, spec.latency, spec.energy_pJ_per_bit,
                 spec.weight_fraction or 0.0, spec.via_link,
                 tuple((p.distance, p.fraction) for p in spec.hit_curve) if spec.hit_curve else None)


def levels_of(hw: HardwareSpec) -> tuple[Level, ...]:
    """The machine's levels, nearest the compute first (see the module docstring for configs without levels)."""
    memory = hw.memory
    if memory.levels is not None:
        return tuple(_level(spec) for spec in memory.levels)
    cop = hw.coprocessor
    assert cop is not None and cop.scratchpad is not None and cop.weight_fraction is not None  # the spec checks this
    scratchpad = Level("scratchpad", "scratchpad", cop.scratchpad, "core", None, None, 0.0, None, cop.weight_fraction,
                       False)
    if memory.weights_home == "device":
        return scratchpad, Level("device", "memory", INF, "shared", memory.device_bandwidth, None, 0.0, None, 0.0, False)
    return scratchpad, Level("host", "memory", INF, "shared", None, None, 0.0, None, 0.0, True)


class Hierarchy:
    """A machine's levels and what reading from them costs."""

    def __init__(self, hw: HardwareSpec):
        self.hw = hw
        self.levels = levels_of(hw)
        self.by_name = {level.name: level for level in self.levels}
        self.home = self.by_name[hw.memory.weights_home]  # without levels: "host" or "device", the two levels made
        self.overlap = hw.memory.overlap
        self.scratchpad = next((level for level in self.levels if level.kind == "scratchpad"), None)
        self.caches = tuple(level for level in self.levels if level.kind == "cache")

    @property
    def streams(self) -> bool:
        """Whether ops read their weights while they compute (else fetch them into the scratchpad first)."""
        return self.overlap is not None

    def fetch(self, level: str, n_bytes: float) -> JobCost:
        """Bringing ``n_bytes`` from ``level`` into the scratchpad, a job of its own on the level's channel."""
        source = self.by_name[level]
        if source.via_link:
            return link.transfer(self.hw.link, "h2d", n_bytes)
        seconds = source.latency + n_bytes / _bandwidth(source, 1)
        return JobCost("dram", seconds, n_bytes / _bandwidth(source, 1), level_bytes=((level, n_bytes),))

    def delivery_seconds(self, level: str, n_bytes: float) -> float | None:
        """The least time ``level`` needs to deliver ``n_bytes`` at its full bandwidth (every core, or the link's);
        None where its bandwidth is not charged."""
        source = self.by_name[level]
        if source.via_link:
            return n_bytes / link.link_bytes_per_s(self.hw.link)
        bandwidth = _bandwidth(source, self.hw.device_cores)
        return None if bandwidth == INF else n_bytes / bandwidth

    def stream(self, compute_s: float, reads: tuple[tuple[str, float], ...], cores: int) -> tuple[float, float]:
        """(seconds, roofline seconds) of an op that computes for ``compute_s`` while it reads ``reads`` ((level,
        bytes) pairs) on ``cores`` cores: the two overlapped by ``memory.overlap``, plus the farthest level's latency."""
        assert self.overlap is not None
        streaming = sum(n / _bandwidth(self.by_name[name], cores) for name, n in reads if n > 0)
        latency = max((self.by_name[name].latency for name, n in reads if n > 0), default=0.0)
        both = max(compute_s, streaming) + (1.0 - self.overlap) * min(compute_s, streaming)
        return both + latency, max(compute_s, streaming)


def _bandwidth(level: Level, cores: int) -> float:
    """Bytes per second ``cores`` cores read from ``level`` (inf where the level's bandwidth is not charged)."""
    if level.read_bandwidth is None:
        return INF
    total = level.read_bandwidth * cores
    return min(total, level.shared_bandwidth) if level.shared_bandwidth is not None else total
