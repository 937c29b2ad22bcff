"""Capacity: the largest load a fleet sustains within its objectives, or the smallest fleet that sustains a load.

The load is the number of always-active streams (arrivals 'closed', a whole number) or the utterance rate (arrivals
'poisson', to a relative tolerance); with ``variable`` "chips" the load is fixed and the fleet size is searched.
Every point of the search (a *probe*) is served at the traffic's seed and at ``replications`` more seeds, and a load
meets the objectives only if it meets them at every seed: the answer is the largest load (smallest fleet) that met
them at every seed tried, so the search can never contradict itself. A load met at some seeds but not all makes the
capacity uncertain up to that load, and the answer says so.

The search doubles (or halves) from the starting point until the verdict changes, then bisects. Its probes run
through ``run_many`` (the sweep runner, from the API: worker processes or Dask), all seeds of a probe at once; which
probes run depends only on their verdicts, so the answer is the same for any number of workers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from accelsim.serve.result import Objective, ServeResult, tail_warnings
from accelsim.spec.serving import MAX_CHIPS, ServingSpec

#: Most probes the doubling (or halving) makes before it gives up, and the largest load it tries (the schema's limits).
MAX_DOUBLINGS = 16
LIMITS = {"streams": 100_000, "rate": 1_000_000.0, "chips": MAX_CHIPS}
#: The smallest load the halving tries.
FLOORS = {"streams": 1, "rate": 1e-3, "chips": 1}

RunMany = Callable[[Sequence[ServingSpec]], Sequence[ServeResult]]


@dataclass(frozen=True)
class Probe:
    """One load served at every seed: the results in seed order and whether each met the objectives."""

    load: float
    seeds: tuple[int, ...]
    results: tuple[ServeResult, ...]
    met_each: tuple[bool, ...]

    @property
    def met(self) -> bool:
        return all(self.met_each)

    @property
    def result(self) -> ServeResult:
        """The run at the traffic's own seed."""
        return self.results[0]


@dataclass
class Capacity:
    """The search's outcome. For streams or rate: ``capacity`` is the largest load met at every seed (0 when even the
    smallest fails) and ``above`` the smallest load found failing; for chips: ``capacity`` is the smallest fleet met at
    every seed (0 when none up to the limit is) and ``above`` the largest fleet found failing."""

    variable: str  # "streams", "rate" or "chips"
    objectives: list[Objective]
    capacity: float
    probes: list[Probe] = field(default_factory=list)  # in the order run
    above: float | None = None

    @property
    def seeds(self) -> tuple[int, ...]:
        return self.probes[0].seeds if self.probes else ()

    @property
    def uncertain_to(self) -> float | None:
        """The load beyond the capacity that some seeds met and others did not (streams, rate: the largest such;
        chips: the smallest such), when there is one: the capacity is uncertain up to it."""
        mixed = [p.load for p in self.probes if any(p.met_each) and not p.met]
        if self.variable == "chips":
            below = [load for load in mixed if not self.capacity or load < self.capacity]
            return min(below) if below else None
        beyond = [load for load in mixed if load > self.capacity]
        return max(beyond) if beyond else None

    def statement(self) -> str:
        """The answer in words: certain, uncertain between two loads, or none found."""
        seeds = f"{len(self.seeds)} seed{'s' if len(self.seeds) != 1 else ''} ({', '.join(map(str, self.seeds))})"
        if self.variable == "chips":
            if not self.capacity:
                return f"no fleet of up to {_show('chips', self.above or 0)} met the objectives at every one of {seeds}"
            text = f"{_show('chips', self.capacity)} met the objectives at every one of {seeds}"
        else:
            if not self.capacity:
                return f"not even {_show(self.variable, self.above or 0)} met the objectives at every one of {seeds}"
            text = f"{_show(self.variable, self.capacity)} met the objectives at every one of {seeds}"
        if self.above is not None:
            text += f"; {_show(self.variable, self.above)} did not"
        if self.uncertain_to is not None:
            low, high = sorted((self.capacity, self.uncertain_to))
            what = "the fleet needed" if self.variable == "chips" else "the capacity"
            text += (f"; {what} is uncertain between {_show(self.variable, low)} and {_show(self.variable, high)}: "
                     f"{_show(self.variable, self.uncertain_to)} met them at some seeds only")
        return text

    def warnings(self) -> tuple[str, ...]:
        """A probe whose measured utterances are too few for an objective's percentile (see tail_warnings)."""
        needed = {o.metric.partition("_")[0] for o in self.objectives if o.metric[0] == "p" and o.metric[1:3].isdigit()}
        out = []
        for probe in self.probes:
            few = min(r.utterances for r in probe.results)
            for text in tail_warnings(few):
                if text.split()[1] in needed:
                    out.append(f"at {_show(self.variable, probe.load)}: {text}")
        return tuple(out)

    def to_dict(self) -> dict:
        return {"variable": self.variable, "capacity": self.capacity, "above": self.above,
                "uncertain_to": self.uncertain_to, "slo": [o.text for o in self.objectives], "seeds": list(self.seeds),
                "statement": self.statement(), "warnings": list(self.warnings()),
                "probes": [{"load": p.load, "met": p.met, "runs": [{"seed": s, "met": m} | r.row()
                                                                   for s, m, r in zip(p.seeds, p.met_each, p.results)]}
                           for p in self.probes]}


def _show(variable: str, load: float) -> str:
    if variable == "chips":
        return f"{int(load)} chip{'s' if int(load) != 1 else ''}"
    return f"{int(load)} streams" if variable == "streams" else f"{load:.3g} utterances/s"


def variable_of(spec: ServingSpec, find: str) -> str:
    """What the search varies: the fleet size (``find`` "chips"), else the traffic's own load."""
    if find == "chips":
        return "chips"
    return "streams" if spec.arrivals == "closed" else "rate"


def find_capacity(spec: ServingSpec, run_many: RunMany, objectives: list[Objective], replications: int = 2,
                  tolerance: float = 0.05, find: str = "load", start: float | None = None) -> Capacity:
    """Search the load of ``spec`` (``find`` "load") or its fleet size (``find`` "chips") from ``start`` (default: the
    spec's own); every probe served at the spec's seed and ``replications`` more."""
    variable = variable_of(spec, find)
    seeds = tuple(spec.seed + r for r in range(replications + 1))
    probes: dict[float, Probe] = {}
    order: list[Probe] = []

    def probe(load: float) -> Probe:
        if load not in probes:
            value = float(load) if variable == "rate" else int(load)
            settings = [spec.model_copy(update={variable: value, "seed": s}) for s in seeds]
            results = tuple(run_many(settings))
            probes[load] = Probe(load, seeds, results, tuple(all(o.met(r) for o in objectives) for r in results))
            order.append(probes[load])
        return probes[load]

    if start is None:
        start = {"streams": spec.streams, "rate": spec.rate or 1.0, "chips": spec.fleet_size}[variable]
    if variable == "chips":
        good, bad = _search(probe, float(start), variable, tolerance, lambda p: not p.met)
        return Capacity(variable, objectives, good or 0.0, order, above=bad)
    good, bad = _search(probe, float(start), variable, tolerance, lambda p: p.met)
    return Capacity(variable, objectives, good or 0.0, order, above=bad)


def _search(probe: Callable[[float], Probe], start: float, variable: str, tolerance: float,
            low_side: Callable[[Probe], bool]) -> tuple[float | None, float | None]:
    """Double or halve from ``start`` until ``low_side`` changes, then bisect. Returns (the largest load on the low
    side, the smallest on the high side) for streams and rate, or (the smallest fleet met, the largest failing) for
    chips, where the low side is the failing one."""
    whole = variable != "rate"
    low: float | None = None
    high: float | None = None
    if low_side(probe(start)):
        low = start
        for _ in range(MAX_DOUBLINGS):
            if low * 2 > LIMITS[variable]:
                break
            if not low_side(probe(low * 2)):
                high = low * 2
                break
            low *= 2
    else:
        high = start
        while True:
            down = high // 2 if whole else high / 2
            if down < FLOORS[variable]:
                break
            if low_side(probe(down)):
                low = down
                break
            high = down
    if low is not None and high is not None:
        while (high - low > 1) if whole else (high - low > tolerance * low):
            middle = (low + high) // 2 if whole else (low + high) / 2
            if low_side(probe(middle)):
                low = middle
            else:
                high = middle
    if variable == "chips":  # the low side fails: the answer is the high side
        return high, low
    return low, high
