"""`accelsim reproduce`: every setting of the paper's hardware study, run by the runner, compared with its
figures, and written out as fig2a.png, fig2b.png, table1.csv and comparison.csv (and energy.png when the machine has an energy model)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from accelsim.files import atomic_write_bytes, atomic_write_text
from accelsim.pipeline import resolve
from accelsim.report.compare import compare
from accelsim.report.paper import PaperReport, paper_settings, qualitative_checks, size_comparisons, table1
from accelsim.report.result import SimResult
from accelsim.spec.loader import load_hardware, load_workload
from accelsim.spec.targets import Setting, load_targets
from accelsim.sweep.runner import Progress, run_points


def run_settings(settings: list[Setting], workload: str | Path, hardware: str | Path, workers: int = 1,
                 progress: Progress | None = None, dask: str | None = None, cache: Path | None = None,
                 resume: bool = False) -> dict[tuple, SimResult]:
    """Simulate every setting (typed variations of the two specs) with the runner; results by ``Setting.key()``."""
    spec, hw = load_workload(workload), load_hardware(hardware)
    points = [resolve(spec, hw, s.variation()) for s in settings]
    outcomes = run_points(points, workers=workers, dask=dask, progress=progress, cache=cache, resume=resume)
    results = {}
    for setting, outcome in zip(settings, outcomes):
        if isinstance(outcome, BaseException):
            raise outcome
        results[setting.key()] = outcome
    return results


def reproduce(out_dir: str | Path, workload: str, hardware: str, targets_path: str | None = None, workers: int = 1,
              progress: Progress | None = None, dask: str | None = None, resume: bool = False) -> PaperReport:
    """Run the study's settings (each kept in ``out_dir/points``; ``resume`` reuses them) and write the report."""
    targets = load_targets(targets_path)
    results = run_settings(paper_settings(targets), workload, hardware, workers, progress, dask,
                           cache=Path(out_dir) / "points", resume=resume)

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
    from accelsim.report.plots import plot_energy, plot_fig2a, plot_fig2b

    atomic_write_bytes(files[2], plot_fig2a(get, targets), parents=True)
    atomic_write_bytes(files[3], plot_fig2b(get, targets), parents=True)
    if all(r.energy_J for r in results.values()):  # the machine has an energy model
        files.append(out / "energy.png")
        atomic_write_bytes(files[4], plot_energy(get), parents=True)
    return PaperReport(comparisons, checks, t1, results, files)
