"""How a simulation compares with reference figures (the paper's, or a user's own measurements)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from accelsim.report.result import SimResult
from accelsim.spec.targets import PART_NAMES, Setting, SpeedupFigure, TargetsFile

#: How each part of the RTF is read off a simulation (critical-path attribution, RTF units).
PARTS: dict[str, Callable[[SimResult], float]] = {
    "total": lambda r: r.rtf,
    "encoder": lambda r: r.breakdown_by_component["encoder"],
    "lm_ext": lambda r: r.breakdown_by_component["lm_ext"],
    "decoder": lambda r: sum(r.breakdown_by_component[c] for c in ("prediction", "joint", "lm_ext", "lm_src")),
    "decoding_loop": lambda r: r.rtf - r.breakdown_by_component["encoder"],
    "host": lambda r: r.breakdown_by_resource["host"],
}
assert set(PARTS) == set(PART_NAMES)


@dataclass(frozen=True)
class Comparison:
    id: str
    kind: str  # rtf | share | speedup | accel | size
    setting: str
    target: float
    simulated: float
    role: str

    @property
    def error_pct(self) -> float:
        return 100.0 * (self.simulated - self.target) / self.target

    def to_dict(self) -> dict:
        return {"id": self.id, "kind": self.kind, "setting": self.setting, "target": self.target,
                "simulated": self.simulated, "error_pct": self.error_pct, "role": self.role}


Runner = Callable[[Setting], SimResult]


def settings_needed(targets: TargetsFile, roles: tuple[str, ...] = ("calibrate", "validate")) -> list[Setting]:
    """Every distinct setting the figures of ``roles`` need, baselines included."""
    out: dict[tuple, Setting] = {}
    for fig in [*targets.rtf, *targets.shares, *targets.speedups]:
        if fig.role in roles:
            out.setdefault(fig.setting().key(), fig.setting())
            if isinstance(fig, SpeedupFigure):
                out.setdefault(fig.baseline.key(), fig.baseline)
    for row in targets.table1:
        if row.accel is not None and (row.role or "validate") in roles:
            out.setdefault(row.setting().key(), row.setting())
            out.setdefault(row.baseline().key(), row.baseline())
    return list(out.values())


def compare(targets: TargetsFile, run: Runner, roles: tuple[str, ...] = ("calibrate", "validate")) -> list[Comparison]:
    """Simulate what the figures need (``run`` should cache by setting) and compare."""
    out: list[Comparison] = []
    for fig in targets.rtf:
        if fig.role in roles:
            out.append(Comparison(fig.id, "rtf", fig.setting().label(), fig.value, run(fig.setting()).rtf, fig.role))
    for fig in targets.shares:
        if fig.role in roles:
            r = run(fig.setting())
            out.append(Comparison(fig.id, "share", fig.setting().label(), fig.value, PARTS[fig.part_key()](r) / r.rtf, fig.role))
    for fig in targets.speedups:
        if fig.role in roles:
            part = PARTS[fig.part_key()]
            out.append(Comparison(fig.id, "speedup", fig.setting().label(), fig.value,
                                  part(run(fig.baseline)) / part(run(fig.setting())), fig.role))
    for row in targets.table1:
        if row.accel is not None and (row.role or "validate") in roles:
            out.append(Comparison(f"{row.id}_accel", "accel", row.setting().label(), row.accel,
                                  run(row.baseline()).rtf / run(row.setting()).rtf, row.role or "validate"))
    return out
