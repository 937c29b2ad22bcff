"""One context per machine: what the engine needs to know of a machine, and what it has already computed on it.

A :class:`Target` holds the validated hardware spec, its content key, its cost table (the hardware family's and the
host's and link's cost records, :mod:`accelsim.hw.cost`), the policy objects the spec names, and the memos of work
done on this machine (simulated segments, fetch plans, encoder totals). Targets are found by content
(:func:`target_for`), so two equal specs share one, and ``accelsim.clear_caches()`` forgets them all.
"""

from __future__ import annotations

from typing import Sequence

from accelsim.graph.lower import Segment
from accelsim.hw.cost import CostTable
from accelsim.hw.family import Reads
from accelsim.memo import Memo
from accelsim.sim.policies import Pinned, Policies, policies_for
from accelsim.spec.hardware import HardwareSpec


class Target:
    """A machine as the engine runs on it (see the module docstring)."""

    def __init__(self, spec: HardwareSpec, key: str):
        self.spec = spec
        self.key = key  # the spec's JSON: equal keys, equal machines
        self.costs = CostTable(spec)
        self.device = self.costs.device
        self.policies: Policies = policies_for(spec)
        self._memos: dict[str, Memo] = {}

    def memo(self, name: str, maxsize: int) -> Memo:
        """This machine's memo called ``name`` (made on first use): what was computed on it, by content."""
        found = self._memos.get(name)
        if found is None:
            found = self._memos[name] = Memo(name, maxsize, register=False)
        return found

    def plan_fetches(self, segments: Sequence[Segment]) -> tuple[Pinned, list[tuple[Reads, ...]]]:
        """The residency policy's answer for a program's segments, in order: the pinned tensors, and per
        occurrence the reads of each op (the weight bytes it fetches or streams, by level)."""
        return self.policies.residency.program_plan(segments, self.device, self.memo("fetch plans", 8192))

    def plan_alone(self, segment: Segment) -> tuple[Reads, ...]:
        """The fetches of one segment planned on its own (a serving batch: nothing left on chip by the one before)."""
        return self.memo("fetch plans of lone segments", 4096).get(
            segment, lambda: self.policies.residency.plan([segment.ops], self.device)[1][0])


#: Targets of the machines simulated in this process (a sweep or calibration meets many; each keeps its memos).
_TARGETS = Memo("machines", 16)


def target_for(spec: HardwareSpec) -> Target:
    """The target of ``spec``: the same object for every equal spec of this process."""
    key = spec.model_dump_json()
    return _TARGETS.get(key, lambda: Target(spec, key))
