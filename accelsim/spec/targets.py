"""Reference figures (the paper's, or a user's own measurements): the schema of a targets file.

How a simulation is compared with them is in ``accelsim/report/compare.py``. A targets file has the shape of ``accelsim/reference/paper_targets.yaml``: sections ``rtf``, ``shares``,
``speedups``, ``table1`` and ``qualitative``. Each figure names its setting (precision, LM fusion, link
bandwidth, beam) and, for shares and speedups, the part of the RTF it measures.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import Field

from accelsim.spec.base import Strict
from accelsim.files import find_input
from accelsim.spec.loader import Variation, flag_variation, read_yaml, validate

Role = Literal["calibrate", "validate"]

#: The parts of the RTF a share or speedup figure may measure (``accelsim/report/compare.py`` reads them off a result).
PART_NAMES = ("total", "encoder", "lm_ext", "decoder", "decoding_loop", "host")


def _part(text: str) -> str:
    """Accept the paper file's descriptive part names ('decoder (prediction + LMs + joint)')."""
    key = text.split("(")[0].strip().replace(" ", "_")
    if key not in PART_NAMES:
        raise ValueError(f"unknown part {text!r}; expected one of {sorted(PART_NAMES)}")
    return key


class Setting(Strict):
    """One simulated point of the study."""

    precision: str = Field(description="Precision preset or per-network flag, as for --precision.")
    lm_fusion: bool = True
    link_Gbps: float = Field(32, gt=0, description="Host link rate per lane in Gbps (the paper's 'BW').")
    beam: int = Field(16, gt=0)

    def key(self) -> tuple:
        return (self.precision, self.lm_fusion, self.link_Gbps, self.beam)

    def variation(self) -> Variation:
        """This setting as typed changes of the base specs (the link rate in bytes per second)."""
        return flag_variation(self.precision, self.beam, self.lm_fusion) + Variation.of(
            {"hw.link.bandwidth": self.link_Gbps * 1e9 / 8}, source=f"link {self.link_Gbps:g} Gbps")

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


class SeedFigure(Strict):
    """A published figure of another seed paper, computed on a shipped workload (and machine) by ``accelsim seed``.

    compression: FP32 size over the size at ``precision``; memory_saving: 1 - size / the size at ``baseline``;
    latency_saving: 1 - processing time / that at ``baseline`` on ``hardware``. Never used to fit anything.
    """

    id: str
    seed: Literal["002", "003"]
    metric: Literal["compression", "memory_saving", "latency_saving"]
    workload: str = Field(description="Workload YAML, relative to the working directory.")
    hardware: str | None = Field(None, description="Hardware YAML (latency figures).")
    precision: str
    baseline: str = "fp32"
    value: float = Field(gt=0)
    role: Role = "validate"
    src: str = ""
    assumption: str = ""


class TargetsFile(Strict):
    rtf: list[RtfFigure] = []
    shares: list[ShareFigure] = []
    speedups: list[SpeedupFigure] = []
    table1: list[Table1Row] = []
    qualitative: list[Qualitative] = []
    seeds: list[SeedFigure] = []


def default_targets_path() -> Path:
    return Path(str(resources.files("accelsim.reference") / "paper_targets.yaml"))


def load_targets(path: str | Path | None = None) -> TargetsFile:
    path = find_input(path, "reference") if path else default_targets_path()
    targets = validate(TargetsFile, read_yaml(path), str(path))
    for section in (targets.shares, targets.speedups):
        for fig in section:
            try:
                fig.part_key()
            except ValueError as exc:
                from accelsim.errors import SpecError

                raise SpecError(str(path), f"{fig.id}.part", str(exc)) from None
    return targets
