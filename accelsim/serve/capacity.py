"""Capacity: the largest load whose serving run meets every objective, by bisection over the load.

The load is the number of always-active streams (arrivals 'closed', a whole number) or the utterance rate
(arrivals 'poisson', to a relative tolerance). Every run of the search uses the traffic's own seed, so the
search is reproducible; the confidence statement reruns the capacity and the next load above it with other
seeds and says in how many of them the objectives held.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from accelsim.serve.result import Objective, ServeResult
from accelsim.spec.serving import ServingSpec

#: Most loads the search tries before giving up on doubling, and the largest load it tries (the schema's limits).
MAX_DOUBLINGS = 16
LIMITS = {"streams": 100_000, "rate": 1_000_000.0}


@dataclass(frozen=True)
class Trial:
    load: float
    seed: int
    result: ServeResult
    met: bool


@dataclass
class Capacity:
    """The search's outcome: the largest load meeting the objectives (0 when even the smallest fails)."""

    variable: str  # "streams" or "rate"
    objectives: list[Objective]
    capacity: float
    trials: list[Trial] = field(default_factory=list)  # the search, in order
    checks: list[Trial] = field(default_factory=list)  # the confidence reruns
    above: float | None = None  # the smallest load found to fail

    def statement(self) -> str:
        """How sure the capacity is: the objectives' outcome over the confidence reruns at and above it."""
        if not self.checks:
            return "no confidence reruns (--replications 0)"
        parts = []
        for load in (self.capacity, self.above):
            runs = [t for t in self.checks if t.load == load]
            if load is None or not runs:
                continue
            p99 = [t.result.latency_p99_s * 1e3 for t in runs]
            parts.append(f"at {_show(self.variable, load)} the objectives held in {sum(t.met for t in runs)} of {len(runs)} "
                         f"seeds (p99 latency {min(p99):.1f}..{max(p99):.1f} ms)")
        return "; ".join(parts)

    def to_dict(self) -> dict:
        return {"variable": self.variable, "capacity": self.capacity, "above": self.above,
                "slo": [o.text for o in self.objectives], "confidence": self.statement(),
                "trials": [{"load": t.load, "seed": t.seed, "met": t.met} | t.result.row() for t in self.trials],
                "checks": [{"load": t.load, "seed": t.seed, "met": t.met} | t.result.row() for t in self.checks]}


def _show(variable: str, load: float) -> str:
    return f"{int(load)} streams" if variable == "streams" else f"{load:.3g} utterances/s"


def find_capacity(spec: ServingSpec, run: Callable[[ServingSpec], ServeResult], objectives: list[Objective],
                  replications: int = 2, tolerance: float = 0.05, start: float | None = None) -> Capacity:
    """Bisection over the load of ``spec`` (``run`` serves one setting); ``replications`` seeds rerun for confidence."""
    variable = "streams" if spec.arrivals == "closed" else "rate"
    trials: list[Trial] = []
    seen: dict[float, Trial] = {}

    def trial(load: float, seed: int = spec.seed) -> Trial:
        if seed == spec.seed and load in seen:
            return seen[load]
        setting = spec.model_copy(update={variable: int(load) if variable == "streams" else float(load), "seed": seed})
        result = run(setting)
        found = Trial(load, seed, result, all(o.met(result) for o in objectives))
        if seed == spec.seed:
            seen[load] = found
            trials.append(found)
        return found

    streams = variable == "streams"
    low = float(start if start is not None else (1 if streams else spec.rate or 1.0))
    high: float | None = None
    if not trial(low).met:  # halve until a load meets the objectives
        while True:
            high, low = low, (low // 2 if streams else low / 2)
            if low < (1 if streams else 1e-3):
                return Capacity(variable, objectives, 0.0, trials, above=high)
            if trial(low).met:
                break
    else:  # double until one does not
        for _ in range(MAX_DOUBLINGS):
            if low * 2 > LIMITS[variable]:
                break
            if not trial(low * 2).met:
                high = low * 2
                break
            low *= 2
        if high is None:
            return Capacity(variable, objectives, low, trials)
    while (high - low > 1) if variable == "streams" else (high - low > tolerance * low):
        middle = (low + high) // 2 if variable == "streams" else (low + high) / 2
        if trial(middle).met:
            low = middle
        else:
            high = middle
    found = Capacity(variable, objectives, low, trials, above=high)
    for r in range(1, replications + 1):
        for load in (low, high):
            found.checks.append(trial(load, spec.seed + r))
    return found
