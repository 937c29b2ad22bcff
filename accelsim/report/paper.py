"""The paper's hardware study as a report: its grid of settings, Table 1, the qualitative statements and
the printed comparison. Running the settings is ``accelsim/calibrate/reproduce.py``'s job.

The grid is FP16/INT8/INT4 x with/without LM fusion x 32/64 Gbps x beam 1..16, plus the mixed-precision
rows of Table 1 and whatever else the figures need.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from accelsim.report.compare import PARTS, Comparison, settings_needed
from accelsim.report.result import SimResult
from accelsim.spec.loader import flag_variation, load_workload
from accelsim.spec.targets import Setting, TargetsFile
from accelsim.workload.model import build_model, model_size

PRECISIONS = ("fp16", "int8", "int4")
LINKS = (32.0, 64.0)
BEAMS = (1, 2, 4, 8, 16)


def paper_settings(targets: TargetsFile) -> list[Setting]:
    grid = [Setting(precision=p, lm_fusion=lm, link_Gbps=bw, beam=b)
            for p in PRECISIONS for lm in (True, False) for bw in LINKS for b in BEAMS]
    extra = settings_needed(targets) + [s for row in targets.table1 for s in (row.setting(), row.baseline())]
    out = {s.key(): s for s in grid}
    for s in extra:
        out.setdefault(s.key(), s)
    return list(out.values())


@dataclass(frozen=True)
class Check:
    id: str
    text: str
    holds: bool
    detail: str


def qualitative_checks(targets: TargetsFile, get: Callable[[Setting], SimResult]) -> list[Check]:
    """The paper's qualitative statements, each tested on the simulated sweep."""
    texts = {q.id: q.text for q in targets.qualitative}
    out: list[Check] = []

    def add(cid: str, holds: bool, detail: str) -> None:
        if cid in texts:
            out.append(Check(cid, texts[cid], holds, detail))

    details, holds = [], True
    for bw in LINKS:
        dec = [PARTS["decoding_loop"](get(Setting(precision="int4", link_Gbps=bw, beam=b))) for b in BEAMS]
        ratio = dec[-1] / dec[0]
        holds &= all(a <= b for a, b in zip(dec, dec[1:])) and ratio < BEAMS[-1] / BEAMS[0]
        details.append(f"{bw:g} Gbps: {', '.join(f'{d:.4f}' for d in dec)} (x{ratio:.1f} for 16x the beam)")
    add("beam_sublinear", holds, "INT4 decoding RTF at beam 1..16, " + "; ".join(details))
    host = [get(Setting(precision="int4", link_Gbps=bw, beam=1)) for bw in LINKS]
    shares = [PARTS["host"](r) / r.rtf for r in host]
    add("host_negligible_beam1", max(shares) < 0.05,
        f"host share of RTF at beam 1: {', '.join(f'{s:.1%}' for s in shares)} (negligible: under 5%; 32 and 64 Gbps)")
    pairs = [(get(Setting(precision="int4", link_Gbps=32, beam=b)).rtf, get(Setting(precision="int4", link_Gbps=64, beam=b)).rtf)
             for b in BEAMS]
    add("bw64_every_beam", all(b64 < b32 for b32, b64 in pairs),
        "INT4 RTF 32 -> 64 Gbps per beam: " + ", ".join(f"{a:.4f}->{b:.4f}" for a, b in pairs))
    int4_lm = get(Setting(precision="int4")).rtf
    fp16_nolm = get(Setting(precision="fp16", lm_fusion=False)).rtf
    add("int4_lm_vs_fp16_nolm", int4_lm <= 1.05 * fp16_nolm,
        f"INT4+LM {int4_lm:.4f} vs FP16 without LMs {fp16_nolm:.4f} (comparable: within 5%, or better)")
    nolm, lm = get(Setting(precision="fp16", lm_fusion=False)), get(Setting(precision="fp16"))
    enc_share = PARTS["encoder"](nolm) / nolm.rtf
    loop_share = PARTS["decoding_loop"](lm) / lm.rtf
    add("decoding_dominates_with_lm", enc_share > 0.5 and loop_share > 0.5,
        f"FP16 without LMs: encoder {enc_share:.0%} of RTF; with LMs: decoding loop {loop_share:.0%}")
    return out


def table1(targets: TargetsFile, workload: str, get: Callable[[Setting], SimResult]) -> pd.DataFrame:
    rows = []
    for row in targets.table1:
        spec = load_workload(workload, flag_variation(row.precision()))
        size = model_size(build_model(spec, with_lms=row.with_lms))
        accel = get(row.baseline()).rtf / get(row.setting()).rtf
        rows.append({"id": row.id, "rnnt": row.rnnt, "lm_ext": row.lm_ext or "-", "lm_src": row.lm_src or "-",
                     "size_MB": round(size["total_MB"], 2), "size_MB_paper": row.size_MB,
                     "compression": round(size["compression"], 2), "compression_paper": row.compression,
                     "accel": round(accel, 2), "accel_paper": row.accel, "rtf": get(row.setting()).rtf})
    return pd.DataFrame(rows)


def size_comparisons(targets: TargetsFile, t1: pd.DataFrame) -> list[Comparison]:
    out = []
    for row, data in zip(targets.table1, t1.to_dict("records")):
        if row.size_MB is not None:
            out.append(Comparison(f"{row.id}_size", "size", row.precision(), row.size_MB, data["size_MB"], row.role or "validate"))
        if row.compression is not None and row.compression != 1.0:
            out.append(Comparison(f"{row.id}_compression", "compression", row.precision(), row.compression,
                                  data["compression"], row.role or "validate"))
    return out


@dataclass
class PaperReport:
    comparisons: list[Comparison]
    checks: list[Check]
    table1: pd.DataFrame
    results: dict[tuple, SimResult]
    files: list[Path]
    ablation: "Ablation | None" = None


#: A figure is called sensitive to a mechanism when switching it off moves its error by at least this many points.
SENSITIVE_POINTS = 1.0


@dataclass(frozen=True)
class Ablation:
    """Each paper figure's error with one modelling mechanism switched off at a time (nothing refitted)."""

    mechanisms: list[tuple[str, str]]  # (short name, what switching it off means)
    errors: dict[str, dict[str, float]]  # figure id -> {"shipped": error %, mechanism: error % with it off}

    def sensitive(self, figure: str) -> list[str]:
        row = self.errors[figure]
        return [m for m, _ in self.mechanisms if abs(row[m] - row["shipped"]) >= SENSITIVE_POINTS]

    def to_frame(self) -> pd.DataFrame:
        rows = [{"id": f, **{k: v for k, v in row.items()}, "sensitive_to": " ".join(self.sensitive(f))}
                for f, row in self.errors.items()]
        return pd.DataFrame(rows)


def format_ablation(ablation: Ablation) -> str:
    """The ablation table: error (%) per figure as shipped and with each mechanism off, and what it is sensitive to."""
    names = [m for m, _ in ablation.mechanisms]
    width = max(9, *(len(n) + 2 for n in names))
    buf = io.StringIO()
    buf.write("\n  ablation: error (%) of each figure with one mechanism switched off (the rest as shipped, nothing refitted)\n")
    for name, meaning in ablation.mechanisms:
        buf.write(f"    {name:<{width}}{meaning}\n")
    buf.write(f"  {'figure':<30}{'shipped':>9}" + "".join(f"{n:>{width}}" for n in names) + "  sensitive to\n")
    for figure, row in ablation.errors.items():
        cells = "".join(f"{row[n]:>+{width}.1f}" for n in names)
        buf.write(f"  {figure:<30}{row['shipped']:>+9.1f}{cells}  {', '.join(ablation.sensitive(figure)) or '-'}\n")
    return buf.getvalue()


def format_report(report: PaperReport) -> str:
    buf = io.StringIO()
    buf.write(f"  {'figure':<30}{'role':<11}{'target':>9}{'accelsim':>10}{'error':>9}\n")
    for c in report.comparisons:
        flag = "" if abs(c.error_pct) <= (10 if c.role == "calibrate" else 20) else "  <- outside band"
        buf.write(f"  {c.id:<30}{c.role:<11}{c.target:>9.4g}{c.simulated:>10.4g}{c.error_pct:>+8.1f}%{flag}\n")
    buf.write("\n  qualitative statements\n")
    for q in report.checks:
        buf.write(f"  [{'holds' if q.holds else 'FAILS'}] {q.text}\n          {q.detail}\n")
    return buf.getvalue()
