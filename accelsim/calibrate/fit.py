"""Fit the few hardware parameters no source gives to reference figures, and write them back.

The procedure: the objective is the sum over the figures whose role is ``calibrate`` of the squared
log-ratio simulated/target (so a 10% miss counts the same on an RTF of 0.04 as on one of 0.2).
Parameters are searched in their declared, physically plausible ranges (log scale for those spanning
decades): the centre of the box and a scrambled Sobol sample of it first (residency and placement make the
objective piecewise, so a purely local search could stall on a plateau), then Nelder-Mead from the best point
until it converges (simplex within XATOL of the unit box and losses within FATOL), or the budget runs out.

Reproducible by construction: the start never depends on the values the hardware file holds, so refitting a
calibrated file gives its own values back (issue 20: a refit from the calibrated file's values moved
launch_overhead from 18.82 to 20 us), and both stages are seeded. The shipped rapid_7nm.yaml holds the converged
fit of `accelsim calibrate` with its defaults (tests/test_calibrate.py reruns it). Three parameters end at the top
of their ranges and the objective is flat along host.sort_per_element against host.memory_bandwidth (both are host
time): different budgets or seeds reach the same loss with those two within a fraction of a percent.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from accelsim.errors import AccelsimError
from accelsim.report.compare import Comparison, compare, settings_needed
from accelsim.spec import units
from accelsim.spec.hardware import HardwareSpec
from accelsim.spec.loader import Variation, load_hardware, load_workload, read_yaml
from accelsim.spec.schema import EDITOR_SCHEMA, editor_schema_line, field_at, unit_at
from accelsim.spec.targets import TargetsFile
from accelsim.pipeline import resolve
from accelsim.sweep.runner import run_points


@dataclass(frozen=True)
class Parameter:
    """A hardware field to fit: its dotted path under ``hw.``, its plausible range and unit."""

    path: str
    low: float
    high: float
    unit: str = ""  # written after the number in YAML, e.g. "us"; "" for plain numbers
    log: bool = False
    meaning: str = ""

    def to_yaml(self, value: float) -> str:
        return f'"{value:.4g} {self.unit}"' if self.unit else f"{value:.4g}"

    @property
    def scale(self) -> float:
        """SI value of one ``unit`` (1e-6 for "us" of a duration; 1 for plain numbers)."""
        field = unit_at(HardwareSpec, self.path)
        return units.unit_scale(self.unit, field.quantity) if field is not None and self.unit else 1.0

    def variation(self, value: float) -> Variation:
        """The hardware field set to ``value`` (in ``unit``), as a typed change in SI units."""
        return Variation.of({f"hw.{self.path}": value * self.scale}, source=f"--param {self.path}={value:.6g} {self.unit}".rstrip())


def _check_unit(text: str, path: str, unit: str) -> None:
    """The range's unit must measure what the field holds: 'link.latency=0.5..10 GHz' is refused, not read as seconds."""
    if field_at(HardwareSpec, path) is None:
        raise AccelsimError(f"--param {path}: not a single numeric field of the hardware spec")
    field = unit_at(HardwareSpec, path)
    if field is None:
        if unit:
            raise AccelsimError(f"--param {text!r}: {path} is a plain number; write the range without a unit")
        return
    if not unit:
        raise AccelsimError(f"--param {text!r}: {path} is a {field.quantity}; give the range a unit, e.g. "
                            f"{path}=1..10 {field.example.split()[-1]}")
    try:
        units.unit_scale(unit, field.quantity)
    except ValueError as exc:
        raise AccelsimError(f"--param {text!r}: {path} is a {field.quantity}: {exc}") from None


#: The declared set: no source gives these, each has a physical reading and a plausible range.
DEFAULT_PARAMETERS: tuple[Parameter, ...] = (
    Parameter("link.efficiency", 0.5, 0.9, meaning="share of the raw link rate that weight streaming achieves "
              "(128b/130b encoding, TLP headers, DMA descriptors, flow control; measured PCIe DMA reaches 50-90%)"),
    Parameter("coprocessor.launch_overhead", 1.0, 20.0, unit="us", log=True, meaning="host runtime cost of "
              "starting one program on the coprocessor (descriptor upload, doorbell, completion interrupt): a few us, "
              "as an accelerator kernel launch"),
    Parameter("coprocessor.dispatch_overhead", 0.05, 2.0, unit="us", log=True, meaning="cost of issuing one op "
              "inside a running program (descriptor fetch, barrier): 100 to 3,000 cycles at 1.6 GHz"),
    Parameter("host.sort_per_element", 0.5, 5.0, unit="ns", log=True, meaning="one compare-and-sift step of a "
              "compiled heap selection of the beam (per candidate per log2(beam))"),
    Parameter("host.memory_bandwidth", 5.0, 25.0, unit="GB/s", log=True, meaning="one server core's memcpy rate "
              "for the many small state buffers of the surviving hypotheses"),
)


def parse_parameter(text: str) -> Parameter:
    """``"link.latency=0.5..10 us"`` or ``"link.efficiency=0.4..1"`` -> Parameter (log scale if the unit is a time)."""
    match = re.fullmatch(r"\s*([\w.]+)\s*=\s*([0-9.eE+-]+)\s*\.\.\s*([0-9.eE+-]+)\s*(\S*)\s*", text)
    if not match:
        raise AccelsimError(f"--param {text!r}: expected PATH=LOW..HIGH [UNIT], e.g. link.latency=0.5..10 us")
    path, unit = match[1], match[4]
    try:
        low, high = float(match[2]), float(match[3])
    except ValueError:
        raise AccelsimError(f"--param {text!r}: expected PATH=LOW..HIGH [UNIT], e.g. link.latency=0.5..10 us") from None
    if not 0 <= low < high:
        raise AccelsimError(f"--param {text!r}: expected 0 <= LOW < HIGH")
    _check_unit(text, path, unit)
    return Parameter(path, low, high, unit, log=bool(unit) and low > 0)


@dataclass
class Fit:
    values: dict[str, float]
    loss: float
    evaluations: int
    comparisons: list[Comparison]


#: Nelder-Mead stops when the simplex spans at most XATOL of every parameter's (unit) range and its losses differ by at
#: most FATOL; the budget (``max_evals``, 400 from the command line) is far above the ~180 evaluations that takes.
XATOL = 1e-3
FATOL = 1e-5


def calibrate(targets: TargetsFile, workload: str | Path, hardware: str | Path,
              parameters: tuple[Parameter, ...] = DEFAULT_PARAMETERS, max_evals: int = 400, samples: int = 16,
              seed: int = 0, progress: Callable[[int, float], None] | None = None, workers: int = 1) -> Fit:
    """Fit ``parameters`` of ``hardware`` so that ``workload`` reproduces the ``calibrate`` figures.

    Each evaluation runs the settings the figures need as points of the runner (in ``workers`` processes)."""
    if len(parameters) > 6:
        raise AccelsimError(f"{len(parameters)} parameters declared; calibrate fits at most 6 (few knobs, not one per target)")
    figures = [f for f in [*targets.rtf, *targets.shares, *targets.speedups] if f.role == "calibrate"]
    if not figures:
        raise AccelsimError("the targets file has no figure with role 'calibrate'")
    spec = load_workload(workload)
    base = load_hardware(hardware)
    for p in parameters:
        if p.path == "link.bandwidth":
            raise AccelsimError("--param link.bandwidth: every figure sets the link rate itself (its link_Gbps); it cannot be fitted")
        node = base
        for part in p.path.split("."):
            node = getattr(node, part, None)
            if node is None or isinstance(node, dict):
                raise AccelsimError(f"--param {p.path}: not a single numeric field of the hardware spec")
        load_hardware(hardware, p.variation(p.low))  # a bad value or unit fails here, with the file named

    settings = settings_needed(targets, roles=("calibrate",))

    def comparisons(values: list[float]) -> list[Comparison]:
        fitted = Variation()
        for p, v in zip(parameters, values):
            fitted += p.variation(v)
        outcomes = run_points([resolve(spec, base, fitted + s.variation()) for s in settings], workers=workers)
        results = {}
        for setting, outcome in zip(settings, outcomes):
            if isinstance(outcome, BaseException):
                raise outcome
            results[setting.key()] = outcome
        return compare(targets, lambda setting: results[setting.key()], roles=("calibrate",))

    def loss(values: list[float]) -> float:
        found = comparisons(values)
        zero = [c.id for c in found if c.simulated <= 0]
        if zero:
            raise AccelsimError(f"figure(s) {zero} simulate to 0 (a part absent from its setting?); cannot fit a log error")
        return sum(math.log(c.simulated / c.target) ** 2 for c in found)

    best, value, evaluations = search_box(parameters, loss, max_evals, samples, seed, progress)
    return Fit(dict(zip((p.path for p in parameters), best)), value, evaluations, comparisons(best))


def search_box(parameters: tuple[Parameter, ...], loss: Callable[[list[float]], float], max_evals: int = 400,
               samples: int = 16, seed: int = 0,
               progress: Callable[[int, float], None] | None = None) -> tuple[list[float], float, int]:
    """The values of ``parameters`` (each in its range, log scale where declared) that minimise ``loss``: the centre of
    the box, a scrambled Sobol sample of it, then Nelder-Mead from the best of them, at most ``max_evals`` evaluations
    in all. Returns (the best values, their loss, evaluations)."""
    from scipy.optimize import minimize
    from scipy.stats import qmc

    def from_unit(p: Parameter, x: float) -> float:
        x = min(1.0, max(0.0, x))
        return math.exp(math.log(p.low) + x * (math.log(p.high) - math.log(p.low))) if p.log else p.low + x * (p.high - p.low)

    evaluations = 0
    best: tuple[float, list[float]] = (math.inf, [])

    def unit_loss(x: np.ndarray) -> float:
        nonlocal evaluations, best
        values = [from_unit(p, xi) for p, xi in zip(parameters, x)]
        value = loss(values)
        evaluations += 1
        if value < best[0]:
            best = (value, values)
        if progress:
            progress(evaluations, best[0])
        return value

    # The start never depends on the values the hardware file holds (a calibrated file refitted must give its own
    # values back): the centre of the box, then the seeded Sobol sample.
    points = [np.full(len(parameters), 0.5)]
    if samples:
        points += list(qmc.Sobol(len(parameters), scramble=True, seed=seed).random(samples))
    scored = sorted(((unit_loss(x), i) for i, x in enumerate(points)), key=lambda t: t)
    x0 = points[scored[0][1]]
    remaining = max(0, max_evals - len(points))
    if remaining:
        minimize(unit_loss, x0, method="Nelder-Mead", bounds=[(0.0, 1.0)] * len(parameters),
                 options={"maxfev": remaining, "xatol": XATOL, "fatol": FATOL, "initial_simplex": _simplex(x0)})
    return best[1], best[0], evaluations


def _simplex(x0: np.ndarray, step: float = 0.15) -> np.ndarray:
    """A starting simplex inside the unit box around x0."""
    rows = [x0]
    for i in range(len(x0)):
        x = x0.copy()
        x[i] = x[i] + step if x[i] + step <= 1.0 else x[i] - step
        rows.append(x)
    return np.array(rows)


def write_calibrated(hardware: str | Path, out: str | Path, fit: Fit, parameters: tuple[Parameter, ...],
                     procedure: str, check: Callable[[Path], object] = load_hardware) -> None:
    """Copy ``hardware`` to ``out`` with each fitted value replaced and marked ``calibrated:`` (``check`` loads the
    result: a hardware config by default).

    Comment lines are kept; the fitted key's own line gets the new value and a ``# calibrated: ...``
    comment (an older one is replaced). Written to a temporary file, then renamed.
    """
    from accelsim.files import atomic_write_text

    lines = Path(hardware).read_text(encoding="utf-8").splitlines()
    date = _dt.date.today().isoformat()
    for p in parameters:
        section, key = p.path.rsplit(".", 1) if "." in p.path else ("", p.path)
        index = _find_key(lines, section, key)
        if index is None:
            raise AccelsimError(f"{hardware}: {p.path}: key not found as a line of its own; cannot write the fitted value")
        indent = re.match(r"\s*", lines[index]).group(0)
        note = f"calibrated: {procedure}; range {p.low:g}..{p.high:g}{(' ' + p.unit) if p.unit else ''}; {date}"
        lines[index] = f"{indent}{key}: {p.to_yaml(fit.values[p.path])}  # {note}"
    if lines and lines[0].startswith(EDITOR_SCHEMA) and "://" not in lines[0]:  # keep it pointing at the schema
        lines[0] = editor_schema_line(Path(hardware).parent / lines[0].removeprefix(EDITOR_SCHEMA), out)
    text = "\n".join(lines) + "\n"
    atomic_write_text(out, text, parents=False)  # calibrate --out: the folder must exist
    try:
        check(Path(out))
    except AccelsimError as exc:  # never leave a config that does not load
        Path(out).unlink(missing_ok=True)
        raise AccelsimError(f"the calibrated config would not load: {exc}") from None
    read_yaml(out)


def _find_key(lines: list[str], section: str, key: str) -> int | None:
    in_section = not section
    section_indent = -1
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        if section and indent == 0:
            in_section = stripped.split(":")[0] == section.split(".")[-1]
            section_indent = 0
            continue
        if in_section and indent > section_indent and re.match(rf"{re.escape(key)}\s*:", stripped):
            return i
    return None
