"""Reference figures (the paper's, or a user's own measurements) and how to compare a simulation to them.

A targets file has the shape of ``accelsim/reference/paper_targets.yaml``: sections ``rtf``, ``shares``,
``speedups``, ``table1`` and ``qualitative``. Each figure names its setting (precision, LM fusion, link
bandwidth, beam) and, for shares and speedups, the part of the RTF it measures.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable, Literal

from pydantic import Field

from accelsim.api import SimResult
from accelsim.spec.base import Strict
from accelsim.spec.loader import read_yaml, validate

Role = Literal["calibrate", "validate"]

#: How each part of the RTF is read off a simulation (critical-path attribution, RTF units).
PARTS: dict[str, Callable[[SimResult], float]] = {
    "total": lambda r: r.rtf,
    "encoder": lambda r: r.breakdown_by_component["encoder"],
    "lm_ext": lambda r: r.breakdown_by_component["lm_ext"],
    "decoder": lambda r: sum(r.breakdown_by_component[c] for c in ("prediction", "joint", "lm_ext", "lm_src")),
    "decoding_loop": lambda r: r.rtf - r.breakdown_by_component["encoder"],
    "host": lambda r: r.breakdown_by_resource["host"],
}


def _part(text: str) -> str:
    """Accept the paper file's descriptive part names ('decoder (prediction + LMs + joint)')."""
    key = text.split("(")[0].strip().replace(" ", "_")
    if key not in PARTS:
        raise ValueError(f"unknown part {text!r}; expected one of {sorted(PARTS)}")
    return key


class Setting(Strict):
    """One simulated point of the study."""

    precision: str = Field(description="Precision preset or per-network flag, as for --precision.")
    lm_fusion: bool = True
    link_Gbps: float = Field(32, gt=0, description="Host link rate per lane in Gbps (the paper's 'BW').")
    beam: int = Field(16, gt=0)

    def key(self) -> tuple:
        return (self.precision, self.lm_fusion, self.link_Gbps, self.beam)

    def overrides(self) -> list[str]:
        from accelsim.api import run_overrides

        return run_overrides(self.precision, self.beam, self.lm_fusion) + [f"hw.link.bandwidth={self.link_Gbps:g} Gbps"]

    def label(self) -> str:
        return f"{self.precision}{'+LM' if self.lm_fusion else ''} {self.link_Gbps:g}Gbps beam{self.beam}"


BASELINE = Setting(precision="fp16", lm_fusion=True, link_Gbps=32, beam=16)


class _Figure(Strict):
    id: str
    precision: str
    lm_fusion: bool = True
    link_Gbps: float = 32
    beam: int = 16
    value: float = Field(gt=0)
    role: Role = "validate"
    src: str = ""

    def setting(self) -> Setting:
        return Setting(precision=self.precision, lm_fusion=self.lm_fusion, link_Gbps=self.link_Gbps, beam=self.beam)


class RtfFigure(_Figure):
    pass


class ShareFigure(_Figure):
    part: str

    def part_key(self) -> str:
        return _part(self.part)


class SpeedupFigure(_Figure):
    part: str
    baseline: Setting = BASELINE

    def part_key(self) -> str:
        return _part(self.part)


class Table1Row(Strict):
    id: str
    rnnt: Literal["32/32", "16/16", "8/8", "4/4", "2/4"]
    lm_ext: Literal["32/32", "16/16", "8/8", "4/4"] | None = None
    lm_src: Literal["32/32", "16/16", "8/8", "4/4"] | None = None
    size_MB: float | None = None
    compression: float | None = None
    accel: float | None = None
    role: Role | None = None

    def precision(self) -> str:
        """As a --precision flag: '4/4' RNN-T is the Fig. 1 scheme, '2/4' its 2-bit-weight variant."""
        rnnt = {"32/32": "fp32", "16/16": "fp16", "8/8": "int8", "4/4": "int4", "2/4": "w2a4"}[self.rnnt]
        lms = {"32/32": "fp32", "16/16": "fp16", "8/8": "int8", "4/4": "int4"}
        parts = [f"rnnt={rnnt}"]
        if self.lm_ext:
            parts += [f"lm_ext={lms[self.lm_ext]}", f"lm_src={lms[self.lm_src or self.lm_ext]}"]
        return ",".join(parts)

    @property
    def with_lms(self) -> bool:
        return self.lm_ext is not None

    def setting(self) -> Setting:
        return Setting(precision=self.precision(), lm_fusion=self.with_lms)

    def baseline(self) -> Setting:
        return Setting(precision="fp16", lm_fusion=self.with_lms)


class Qualitative(Strict):
    id: str
    text: str


class TargetsFile(Strict):
    rtf: list[RtfFigure] = []
    shares: list[ShareFigure] = []
    speedups: list[SpeedupFigure] = []
    table1: list[Table1Row] = []
    qualitative: list[Qualitative] = []


def default_targets_path() -> Path:
    return Path(str(resources.files("accelsim.reference") / "paper_targets.yaml"))


def load_targets(path: str | Path | None = None) -> TargetsFile:
    path = Path(path) if path else default_targets_path()
    targets = validate(TargetsFile, read_yaml(path), str(path))
    for section in (targets.shares, targets.speedups):
        for fig in section:
            try:
                fig.part_key()
            except ValueError as exc:
                from accelsim.errors import SpecError

                raise SpecError(str(path), f"{fig.id}.part", str(exc)) from None
    return targets


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
