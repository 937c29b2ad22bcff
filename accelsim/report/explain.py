"""Why the RTF is what it is: the critical path, occupancy, and what a 2x better machine part would buy.

:func:`explanation` takes the base setting's result with its records and the results of six variants
(one part of the machine made twice as good each, :data:`KNOBS`: typed changes computed from the loaded
base spec), summarises the critical path (the chain of ops that set the makespan, as the breakdowns
attribute it) by component, by resource class and by (component, op kind, resource class), and ranks the
variants. Running the base and the variants is ``accelsim.explain``'s job (``accelsim/api.py``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from accelsim.files import atomic_write_bytes
from accelsim.graph.ir import COMPONENTS
from accelsim.hw.family import family_of
from accelsim.hw.link import link_bytes_per_s
from accelsim.report.figures import figure_bytes, figure_format
from accelsim.report.metrics import RESOURCE_CLASSES, critical_path
from accelsim.report.result import SimResult
from accelsim.spec.hardware import HardwareSpec
from accelsim.spec.loader import Variation

#: How many (component, op kind, resource class) groups the summary lists.
TOP_GROUPS = 5

#: An RTF change smaller than this (in %) is reported as "no effect".
NEGLIGIBLE_PCT = 0.5
#: A knob whose RTF change is at most this (percent: equal schedules may differ in the last bits of a sum) had no effect.
NO_EFFECT_PCT = 1e-7


# ---------------------------------------------------------------- the report


@dataclass(frozen=True)
class PathGroup:
    """Time on the critical path spent by one component's ops of one kind on one resource class."""

    component: str
    kind: str
    resource_class: str
    seconds: float
    share: float  # of the makespan

    @property
    def description(self) -> str:
        """E.g. "lm_ext weight fetches over the link"."""
        what = _KIND_PHRASE.get(self.kind, f"{self.kind} ops")
        where = _WHERE.get(self.resource_class, f"on the {self.resource_class}")
        return f"{self.component} {what} {where}"


@dataclass(frozen=True)
class Sensitivity:
    """The RTF with one part of the machine made 2x better, everything else as in the base."""

    knob: str
    change: str  # what was changed, old -> new, in readable units
    overrides: tuple[str, ...]  # the changes, as --set flags would write them
    rtf: float
    change_pct: float  # (rtf / base rtf - 1) x 100: negative = faster
    note: str = ""


@dataclass(frozen=True)
class Explanation:
    workload: str
    hardware: str
    precision: dict[str, str]
    beam: int
    iterations: int
    overrides: tuple[str, ...]
    rtf: float
    time_s: float
    audio_s: float
    breakdown_by_component: dict[str, float]  # RTF units, sums to rtf
    breakdown_by_resource: dict[str, float]  # RTF units, sums to rtf
    occupancy: dict[str, float]  # share of the run each resource was busy
    path_by_component: dict[str, float]  # share of the critical path, sums to 1
    path_by_resource: dict[str, float]  # share of the critical path, sums to 1
    top_groups: tuple[PathGroup, ...]  # largest (component, kind, resource class) groups first
    sensitivity: tuple[Sensitivity, ...]  # largest speed-up first
    verdict: str  # one sentence: what bounds the run

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: plain dicts, lists, strings and finite numbers."""
        out = asdict(self)
        out["overrides"] = list(self.overrides)
        out["top_groups"] = [asdict(g) | {"description": g.description} for g in self.top_groups]
        out["sensitivity"] = [asdict(s) | {"overrides": list(s.overrides)} for s in self.sensitivity]
        return out


_KIND_PHRASE = {"fetch": "weight fetches", "matmul": "matmuls", "sfu": "element-wise (SFU) ops",
                "quantize": "quantizers", "gather": "state gathers", "launch": "program launches",
                "transfer": "transfers", "fuse": "score fusion", "topk": "top-k selection", "merge": "prefix merging",
                "copy": "hypothesis state copies", "prefetch": "next-iteration prefetches"}
_WHERE = {"link": "over the link", "coprocessor": "on the coprocessor", "host": "on the host",
          "memory": "from device memory"}


# ---------------------------------------------------------------- the knobs


def _num(value: float) -> str:
    return f"{value:.4g}"


def _time(seconds: float) -> str:
    for unit, factor in (("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if seconds >= factor:
            return f"{_num(seconds / factor)} {unit}"
    return f"{_num(seconds * 1e9)} ns" if seconds else "0 s"


def _size(n_bytes: float) -> str:
    for unit, factor in (("GiB", 2.0**30), ("MiB", 2.0**20), ("KiB", 2.0**10)):
        if n_bytes >= factor:
            return f"{_num(n_bytes / factor)} {unit}"
    return f"{_num(n_bytes)} B"


Knob = Callable[[HardwareSpec], "tuple[dict[str, Any], str, str] | None"]  # -> (typed changes by path, change, note)


def _link_bandwidth(hw: HardwareSpec) -> tuple[list[str], str, str]:
    link = hw.link
    new = link.bandwidth * 2
    usable = link_bytes_per_s(link)
    change = (f"link.bandwidth {_num(link.bandwidth * 8 / 1e9)} -> {_num(new * 8 / 1e9)} Gbps per lane "
              f"({_num(usable / 1e9)} -> {_num(2 * usable / 1e9)} GB/s usable)")
    note = ("weights come from device memory: the link carries only activations and scores"
            if hw.memory.weights_home == "device" else "")
    return {"hw.link.bandwidth": new}, change, note


def _link_latency(hw: HardwareSpec) -> tuple[list[str], str, str]:
    old = hw.link.latency
    return {"hw.link.latency": old / 2}, f"link.latency {_time(old)} -> {_time(old / 2)}", ""


def _mac_rate(hw: HardwareSpec) -> tuple[list[str], str, str] | None:
    # Matmul compute only: element-wise (SFU) work and per-op overheads are other knobs. Doubling keeps every entry a multiple of the PE count, as the spec requires.
    device = family_of(hw)
    section, unit = device.section, device.unit
    if "macs_per_cycle" not in type(unit).model_fields:
        return None  # a GPU's tensor-core and CUDA-core rates: no single field to double
    macs = unit.macs_per_cycle
    overrides = {f"hw.{section}.macs_per_cycle.{fmt}": n * 2 for fmt, n in macs.items()}
    change = "macs_per_cycle x2: " + ", ".join(f"{fmt} {n} -> {n * 2}" for fmt, n in macs.items())
    return overrides, change, ""


def _scratchpad(hw: HardwareSpec) -> tuple[list[str], str, str] | None:
    if hw.coprocessor is None or hw.coprocessor.scratchpad is None:
        return None  # on-chip memory described as memory.levels: no single field to double
    old = hw.coprocessor.scratchpad
    note = ""
    if hw.memory.residency == "per_op":
        # Not hidden: a user asking "would more SRAM help?" deserves to see through what it can (whether it does is
        # measured: explanation() says "no effect" only when the RTF did not move).
        note = ("memory.residency is per_op (no weights stay between ops): more scratchpad only lets more of the next "
                "decode iteration's first weights be prefetched (workload.runtime.prefetch_next_iteration); "
                "try --set hw.memory.residency=pinned")
    return {"hw.coprocessor.scratchpad": old * 2}, f"coprocessor.scratchpad {_size(old)} -> {_size(old * 2)} per core", note


_HOST_TIMES = ("op_overhead", "fuse_per_element", "sort_per_element", "merge_per_element")


def _host_speed(hw: HardwareSpec) -> tuple[list[str], str, str]:
    values = {name: getattr(hw.host, name) for name in _HOST_TIMES}
    overrides = {f"hw.host.{name}": v / 2 for name, v in values.items()}
    change = "host times /2: " + ", ".join(f"{name.removesuffix('_per_element')} {_time(v)} -> {_time(v / 2)}"
                                           for name, v in values.items())
    return overrides, change, ""


def _overheads(hw: HardwareSpec) -> tuple[list[str], str, str] | None:
    device = family_of(hw)
    section, per_op, unit = device.section, device.per_op_overhead, device.unit
    if not per_op:
        return None  # a GPU's kernel overheads live in its runtime file
    launch, dispatch = unit.launch_overhead, getattr(unit, per_op)
    overrides = {f"hw.{section}.launch_overhead": launch / 2, f"hw.{section}.{per_op}": dispatch / 2}
    change = (f"launch {_time(launch)} -> {_time(launch / 2)}, "
              f"{per_op.removesuffix('_overhead')} {_time(dispatch)} -> {_time(dispatch / 2)}")
    return overrides, change, ""


#: The knobs, in the order they are listed when their effects tie.
KNOBS: tuple[tuple[str, Knob], ...] = (
    ("link bandwidth x2", _link_bandwidth),
    ("link latency /2", _link_latency),
    ("coprocessor MAC rate x2", _mac_rate),
    ("scratchpad size x2", _scratchpad),
    ("host speed x2", _host_speed),
    ("launch + dispatch /2", _overheads),
)


# ---------------------------------------------------------------- explain


def _summarise_path(result: SimResult) -> tuple[dict[str, float], dict[str, float], tuple[PathGroup, ...]]:
    by_component = {c: 0.0 for c in COMPONENTS}
    by_resource: dict[str, float] = defaultdict(float)
    groups: dict[tuple[str, str, str], float] = defaultdict(float)
    for record, seconds in critical_path(result.records):
        by_component[record.component] = by_component.get(record.component, 0.0) + seconds
        by_resource[record.resource_class] += seconds
        groups[(record.component, record.kind, record.resource_class)] += seconds
    total = sum(by_component.values()) or 1.0
    resources = {c: by_resource.get(c, 0.0) / total for c in RESOURCE_CLASSES if c != "memory" or c in by_resource}
    top = sorted(groups.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_GROUPS]
    return ({c: s / total for c, s in by_component.items()}, resources,
            tuple(PathGroup(c, k, rc, s, s / total) for (c, k, rc), s in top))


_SUBJECT = {"link": "The link", "coprocessor": "The coprocessor", "host": "The host CPU", "memory": "Device memory"}
_BOUND = {"link": "the host link", "coprocessor": "the coprocessor", "host": "the host CPU (the search's bookkeeping)",
          "memory": "device memory bandwidth"}


def _verdict(path_by_resource: dict[str, float], occupancy: dict[str, float],
             sensitivity: tuple[Sensitivity, ...]) -> str:
    """One sentence on what bounds the run, from the critical path, occupancy and sensitivities."""
    ranked = sorted(path_by_resource.items(), key=lambda kv: (-kv[1], kv[0]))
    cls, share = ranked[0]
    busy = occupancy.get("coprocessor", 0.0)
    if share >= 0.5 and cls == "coprocessor":
        head = (f"The coprocessor accounts for {share:.0%} of the critical path and is busy {busy:.0%} of the time: "
                f"the run is bound by the coprocessor")
        if busy < 0.5:
            head += " (by chains of dependent ops rather than by its peak rate)"
    elif share >= 0.5:
        head = (f"{_SUBJECT.get(cls, cls)} accounts for {share:.0%} of the critical path while the coprocessor is busy "
                f"{busy:.0%} of the time: the run is bound by {_BOUND.get(cls, cls)}")
    else:
        parts = ", ".join(f"{c} {s:.0%}" for c, s in ranked if s > 0)
        head = f"No single resource dominates the critical path ({parts}): the run is bound by several at once"
    if share >= 0.5 and len(ranked) > 1 and ranked[1][1] >= 0.25:  # a close second is worth naming
        head += f", with {_BOUND.get(ranked[1][0], ranked[1][0])} next at {ranked[1][1]:.0%} of the critical path"
    best = sensitivity[0] if sensitivity else None
    if best is None or best.change_pct > -NEGLIGIBLE_PCT:
        return head + f"; none of the 2x changes below speeds it up by {NEGLIGIBLE_PCT}% or more."
    return head + f"; {best.knob} alone would cut the RTF by {-best.change_pct:.0f}%."


def knob_variations(hw: HardwareSpec) -> list[tuple[str, Variation, str, str]]:
    """Each knob as (name, typed variation of ``hw``, what changed, note)."""
    out = []
    for knob, make in KNOBS:
        made = make(hw)
        if made is None:  # the knob has no field on this machine
            continue
        changes, change, note = made
        out.append((knob, Variation.of(changes, source=f"explain: {knob}"), change, note))
    return out


def explanation(base: SimResult, variants: list[tuple[str, Variation, str, str, SimResult]],
                overrides: tuple[str, ...] = ()) -> Explanation:
    """Summarise ``base``'s critical path and rank the ``variants`` (knob, variation, change, note, result)."""
    path_by_component, path_by_resource, top = _summarise_path(base)
    rows = []
    for order, (knob, variation, change, note, variant) in enumerate(variants):
        pct = (variant.rtf / base.rtf - 1.0) * 100.0 if base.rtf else 0.0
        flags = tuple(f"{c.path}={c.value!r}" for c in variation.changes)
        if note and abs(pct) <= NO_EFFECT_PCT:  # "no effect" is what was measured, never assumed
            note = f"no effect: {note}"
        rows.append((pct, order, Sensitivity(knob, change, flags, variant.rtf, pct, note)))
    sensitivity = tuple(s for _, _, s in sorted(rows, key=lambda row: (row[0], row[1])))
    return Explanation(
        workload=base.workload, hardware=base.hardware, precision=dict(base.presets), beam=base.beam,
        iterations=base.iterations, overrides=overrides, rtf=base.rtf, time_s=base.time_s, audio_s=base.audio_s,
        breakdown_by_component=dict(base.breakdown_by_component), breakdown_by_resource=dict(base.breakdown_by_resource),
        occupancy=dict(base.occupancy), path_by_component=path_by_component, path_by_resource=path_by_resource,
        top_groups=top, sensitivity=sensitivity, verdict=_verdict(path_by_resource, base.occupancy, sensitivity),
    )


# ---------------------------------------------------------------- text


def format_explain(report: Explanation) -> str:
    precision = ", ".join(f"{k}={v}" for k, v in report.precision.items())
    lines = [
        f"{report.workload} on {report.hardware}: {precision}; beam {report.beam}, {report.iterations} decode iterations",
        f"  RTF {report.rtf:.4f}   processing {report.time_s * 1e3:.2f} ms   audio {report.audio_s:.2f} s",
        "",
        report.verdict,
        "",
        "  critical path by component             by resource class",
    ]
    comps = list(report.path_by_component.items())
    res = list(report.path_by_resource.items())
    for i in range(max(len(comps), len(res))):
        left = f"{comps[i][0]:<12}{comps[i][1]:>7.1%}  RTF {report.breakdown_by_component[comps[i][0]]:.4f}" if i < len(comps) else ""
        right = f"{res[i][0]:<13}{res[i][1]:>7.1%}  RTF {report.breakdown_by_resource[res[i][0]]:.4f}" if i < len(res) else ""
        lines.append(f"    {left:<36}{right}".rstrip())
    lines += ["", "  largest parts of the critical path"]
    lines += [f"    {g.share:>6.1%}  {g.description}  ({g.seconds * 1e3:.2f} ms)" for g in report.top_groups]
    lines += ["", f"  {'occupancy':<14}{'busy':>7}"]
    lines += [f"    {k:<12}{v:>7.1%}" for k, v in report.occupancy.items()]
    lines += ["", f"  sensitivity: one part of the machine 2x better at a time (base RTF {report.rtf:.4f}; "
                  f"negative = faster)",
              f"    {'knob':<26}{'RTF':>8}{'change':>9}   what changed"]
    for s in report.sensitivity:
        lines.append(f"    {s.knob:<26}{s.rtf:>8.4f}{s.change_pct:>+8.1f}%   {s.change}")
        if s.note:
            lines.append(f"    {'':<26}{'':>8}{'':>9}   note: {s.note}")
    return "\n".join(lines)


# ---------------------------------------------------------------- plot


def sensitivity_png(report: Explanation, fmt: str = "png") -> bytes:
    """The sensitivity table as a horizontal bar chart (PNG bytes, or ``fmt``: svg, pdf): largest speed-up at the top."""
    from accelsim.report.figures import subplots

    rows = list(report.sensitivity)
    fig, ax = subplots(figsize=(9, 0.55 * len(rows) + 1.8))
    y = range(len(rows))
    values = [s.change_pct for s in rows]
    colors = ["#228833" if v <= -NEGLIGIBLE_PCT else "#cc3311" if v >= NEGLIGIBLE_PCT else "#bbbbbb" for v in values]
    ax.barh(y, values, color=colors, height=0.6)
    ax.invert_yaxis()  # first row (largest speed-up) on top
    ax.axvline(0.0, color="black", linewidth=0.8)
    low, high = min(values + [0.0]), max(values + [0.0])
    span = (high - low) or 1.0
    ax.set_xlim(low - 0.32 * span, high + 0.32 * span)
    ax.set_yticks(list(y), [_tick(s) for s in rows])
    for i, s in enumerate(rows):
        label = f"{s.change_pct:+.1f}%  (RTF {s.rtf:.4f})"
        right = s.change_pct >= 0
        ax.text(s.change_pct + (0.01 if right else -0.01) * span, i, label, va="center",
                ha="left" if right else "right", fontsize=8)
    ax.set_xlabel("RTF change (%) when the part is made 2x better (negative = faster)")
    ax.set_ylabel("part of the machine made 2x better")
    ax.grid(axis="x", alpha=0.3)
    presets = set(report.precision.values())
    precision = presets.pop() if len(presets) == 1 else "mixed precision"
    ax.set_title(f"What a 2x better machine part buys: {report.workload} on {report.hardware}\n"
                 f"{precision}, beam {report.beam}, base RTF {report.rtf:.4f}", fontsize=10)
    return figure_bytes(fig, fmt, dpi=130)


def _tick(s: Sensitivity) -> str:
    """The knob, and 'no effect' with the note's reason when its measured change is nil (e.g. residency per_op)."""
    if s.note.startswith("no effect: "):
        reason = s.note.removeprefix("no effect: ").split(";")[0].split("(")[0].split(":")[0].strip()
        return f"{s.knob}\n(no effect: {reason})"
    return s.knob


def plot_sensitivity(report: Explanation, path: str | Path) -> None:
    """Write :func:`sensitivity_png` to ``path`` (atomically), as PNG, SVG or PDF by its extension."""
    atomic_write_bytes(path, sensitivity_png(report, figure_format(path)), parents=False)  # --plot: the folder must exist
