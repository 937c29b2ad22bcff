"""`accelsim reproduce`: every setting of the paper's hardware study, compared with its figures.

Runs FP16/INT8/INT4 x with/without LM fusion x 32/64 Gbps x beam 1..16 plus the mixed-precision
rows of Table 1, then writes fig2a.png, fig2b.png, table1.csv and comparison.csv.
"""

from __future__ import annotations

import io
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from accelsim.api import SimResult, simulate
from accelsim.calibrate.targets import PARTS, Comparison, Setting, TargetsFile, compare, load_targets, settings_needed
from accelsim.files import atomic_write_bytes, atomic_write_text
from accelsim.spec.loader import load_workload
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


def _simulate_setting(args: tuple[str, str, Setting]) -> SimResult:
    workload, hardware, setting = args
    return simulate(workload, hardware, overrides=setting.overrides(), keep_records=False)


def run_settings(settings: list[Setting], workload: str, hardware: str, workers: int = 1,
                 progress: Callable[[int, int], None] | None = None) -> dict[tuple, SimResult]:
    """Simulate every setting, in ``workers`` processes; results keyed by ``Setting.key()``."""
    jobs = [(str(workload), str(hardware), s) for s in settings]
    results: dict[tuple, SimResult] = {}
    if workers <= 1:
        for i, job in enumerate(jobs):
            results[job[2].key()] = _simulate_setting(job)
            if progress:
                progress(i + 1, len(jobs))
        return results
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for i, (job, result) in enumerate(zip(jobs, pool.map(_simulate_setting, jobs, chunksize=2))):
            results[job[2].key()] = result
            if progress:
                progress(i + 1, len(jobs))
    return results


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
        from accelsim.api import run_overrides

        spec = load_workload(workload, run_overrides(row.precision()))
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


def reproduce(out_dir: str | Path, workload: str, hardware: str, targets_path: str | None = None, workers: int = 1,
              progress: Callable[[int, int], None] | None = None) -> PaperReport:
    targets = load_targets(targets_path)
    results = run_settings(paper_settings(targets), workload, hardware, workers, progress)

    def get(setting: Setting) -> SimResult:
        return results[setting.key()]

    comparisons = compare(targets, get)
    t1 = table1(targets, workload, get)
    comparisons += size_comparisons(targets, t1)
    checks = qualitative_checks(targets, get)
    out = Path(out_dir)
    files = [out / "comparison.csv", out / "table1.csv", out / "fig2a.png", out / "fig2b.png"]
    frame = pd.DataFrame([c.to_dict() for c in comparisons])
    atomic_write_text(files[0], frame.to_csv(index=False, float_format="%.6g"), parents=True)
    atomic_write_text(files[1], t1.to_csv(index=False, float_format="%.6g"), parents=True)
    from accelsim.report.plots import plot_fig2a, plot_fig2b

    atomic_write_bytes(files[2], plot_fig2a(get, targets), parents=True)
    atomic_write_bytes(files[3], plot_fig2b(get, targets), parents=True)
    return PaperReport(comparisons, checks, t1, results, files)


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
