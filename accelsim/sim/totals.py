"""What a run adds up to, immutable: makespan, critical-path seconds by component and by resource class, busy
seconds per resource, ops, weight fetches and fetched bytes, and energy's work counters.

Totals are measured from a run's rows (:func:`run_totals`) and added up over the distinct segments of a program,
counted as often as each occurs; they never change once made, so a memoized one can be handed to anyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from accelsim.graph.ir import COMPONENTS
from accelsim.hw.energy import work_counters
from accelsim.sim.critical import chain
from accelsim.sim.engine import Run, resource_class

RESOURCE_CLASSES = ("coprocessor", "host", "link", "memory")

Pairs = tuple[tuple[str, float], ...]


def _pairs(mapping: Mapping[str, float]) -> Pairs:
    return tuple(mapping.items())


def _plus(a: Pairs, b: Pairs, count: float) -> Pairs:
    out = dict(a)
    for name, value in b:
        out[name] = out.get(name, 0.0) + count * value
    return tuple(out.items())


@dataclass(frozen=True, slots=True)
class Totals:
    """See the module docstring. The mappings are views made on each access; the totals themselves never change."""

    time_s: float = 0.0
    component_pairs: Pairs = ()
    resource_pairs: Pairs = ()
    busy_pairs: Pairs = ()
    ops: int = 0
    fetches: int = 0
    fetched_bytes: float = 0.0
    work_pairs: Pairs = ()  # energy's counters (accelsim.hw.energy.work_counters)
    traffic_pairs: Pairs = ()  # weight bytes read, by "component/level" (encoder/L3, lm_ext/host...)

    @property
    def component_s(self) -> dict[str, float]:
        return dict(self.component_pairs)

    @property
    def resource_s(self) -> dict[str, float]:
        return dict(self.resource_pairs)

    @property
    def busy(self) -> dict[str, float]:
        return dict(self.busy_pairs)

    @property
    def work(self) -> dict[str, float]:
        return dict(self.work_pairs)

    @property
    def traffic(self) -> dict[str, float]:
        return dict(self.traffic_pairs)

    def plus(self, other: "Totals", count: int = 1) -> "Totals":
        """These totals and ``count`` times ``other`` (a segment that occurs ``count`` times; -1 takes it away)."""
        return Totals(self.time_s + count * other.time_s,
                      _plus(self.component_pairs, other.component_pairs, count),
                      _plus(self.resource_pairs, other.resource_pairs, count),
                      _plus(self.busy_pairs, other.busy_pairs, count),
                      self.ops + count * other.ops, self.fetches + count * other.fetches,
                      self.fetched_bytes + count * other.fetched_bytes,
                      _plus(self.work_pairs, other.work_pairs, count),
                      _plus(self.traffic_pairs, other.traffic_pairs, count))

    def minus(self, other: "Totals") -> "Totals":
        """What this run adds up to beyond ``other`` (e.g. one more recurrent step)."""
        return self.plus(other, -1)


def sum_totals(parts: Iterable[tuple[Totals, int]]) -> Totals:
    """The totals of parts that each occur a number of times."""
    total = Totals()
    for part, count in parts:
        total = total.plus(part, count)
    return total


def critical_seconds(run: Run) -> tuple[dict[str, float], dict[str, float]]:
    """Seconds of the critical path by component and by resource class (each sums to the makespan)."""
    by_component: dict[str, float] = {c: 0.0 for c in COMPONENTS}
    by_resource: dict[str, float] = {c: 0.0 for c in RESOURCE_CLASSES}
    for index, seconds in chain([row.end for row in run.rows], [row.pred for row in run.rows]):
        by_component[run.component(index)] += seconds
        by_resource[resource_class(run.rows[index].resource)] += seconds
    return by_component, by_resource


def run_totals(run: Run) -> Totals:
    """The totals of one run from its rows."""
    component_s, resource_s = critical_seconds(run)
    fetched = [b for b in run.plan.fetch_bytes if b > 0]
    traffic: dict[str, float] = {}
    for op, reads in zip(run.ops, run.plan.reads):
        for level, n_bytes in reads:
            key = f"{op.component}/{level}"
            traffic[key] = traffic.get(key, 0.0) + n_bytes
    return Totals(run.time_s, _pairs(component_s), _pairs(resource_s), _pairs(run.busy), len(run.ops), len(fetched),
                  sum(fetched), _pairs(work_counters(run.ops)), _pairs(traffic))
