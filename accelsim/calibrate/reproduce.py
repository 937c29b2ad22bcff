"""`accelsim reproduce`: every setting of the paper's hardware study, run by the runner, compared with its
figures, and written out as fig2a.png, fig2b.png, table1.csv, comparison.csv and ablation.csv (and energy.png when the
machine has an energy model)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from accelsim.files import atomic_write_bytes, atomic_write_text
from accelsim.pipeline import resolve
from accelsim.report.compare import compare
from accelsim.report.compare import settings_needed
from accelsim.report.paper import Ablation, PaperReport, paper_settings, qualitative_checks, size_comparisons, table1
from accelsim.report.result import SimResult
from accelsim.spec.loader import Variation, load_hardware, load_workload
from accelsim.spec.targets import Setting, load_targets
from accelsim.sweep.runner import Progress, run_points

#: Every file `reproduce` writes: energy.png when the machine has an energy model, ablation.csv with the ablation.
REPRODUCE_FILES = ("fig2a.png", "fig2b.png", "energy.png", "table1.csv", "comparison.csv", "ablation.csv")


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


#: The modelling mechanisms the ablation switches off one at a time: (short name, meaning, --set flags). A switch
#: that leaves the shipped configuration unchanged (the mechanism is already off there) is left out.
MECHANISMS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("batched", "LSTM input projection batched over frames instead of one fused cell per step",
     ("workload.runtime.lstm_input_projection=batched",)),
    ("no_copy", "host does not copy the survivors' recurrent states", ("workload.runtime.copy_states=false",)),
    ("no_bias", "FP32 biases never cross the link", ("workload.runtime.fetch_biases=false",)),
    ("no_pref", "no prefetch of the next iteration's first weights during the host's search",
     ("workload.runtime.prefetch_next_iteration=false",)),
    ("queue1", "link DMA queue of depth 1: each transfer's latency blocks the link", ("hw.link.queue_depth=1",)),
    ("serial", "systolic folds do not overlap: fill and drain paid per fold", ("hw.coprocessor.fold_overlap=false",)),
    ("ws", "weight-stationary arrays instead of output-stationary", ("hw.coprocessor.dataflow=weight_stationary",)),
)


def ablation(targets, workload: str | Path, hardware: str | Path, shipped: list, workers: int = 1,
             progress: Progress | None = None, dask: str | None = None, cache: Path | None = None,
             resume: bool = False) -> Ablation:
    """Every calibrate/validate figure with each mechanism of :data:`MECHANISMS` switched off in turn."""
    spec, hw = load_workload(workload), load_hardware(hardware)
    settings = settings_needed(targets)
    base = resolve(spec, hw, Variation())
    mechanisms, points, owners = [], [], []
    for name, meaning, flags in MECHANISMS:
        off = Variation.from_flags(flags)
        probe = resolve(spec, hw, off)
        if (probe.workload, probe.hardware) == (base.workload, base.hardware):
            continue
        mechanisms.append((name, meaning))
        for setting in settings:
            points.append(resolve(spec, hw, off + setting.variation()))
            owners.append((name, setting.key()))
    outcomes = run_points(points, workers=workers, dask=dask, progress=progress, cache=cache, resume=resume)
    results: dict[str, dict[tuple, SimResult]] = {}
    for (name, key), outcome in zip(owners, outcomes):
        if isinstance(outcome, BaseException):
            raise outcome
        results.setdefault(name, {})[key] = outcome
    errors = {c.id: {"shipped": c.error_pct} for c in shipped}
    for name, _ in mechanisms:
        for c in compare(targets, lambda setting, name=name: results[name][setting.key()]):
            errors[c.id][name] = c.error_pct
    return Ablation(mechanisms, errors)


def reproduce(out_dir: str | Path, workload: str, hardware: str, targets_path: str | None = None, workers: int = 1,
              progress: Progress | None = None, dask: str | None = None, resume: bool = False,
              with_ablation: bool = True) -> PaperReport:
    """Run the study's settings (each kept in ``out_dir/points``; ``resume`` reuses them) and write the report;
    ``with_ablation`` adds the ablation table (``ablation.csv``)."""
    targets = load_targets(targets_path)
    results = run_settings(paper_settings(targets), workload, hardware, workers, progress, dask,
                           cache=Path(out_dir) / "points", resume=resume)

    def get(setting: Setting) -> SimResult:
        return results[setting.key()]

    comparisons = compare(targets, get)
    ablated = ablation(targets, workload, hardware, comparisons, workers, progress, dask, Path(out_dir) / "points",
                       resume) if with_ablation else None
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
        atomic_write_bytes(files[-1], plot_energy(get), parents=True)
    if ablated is not None:
        files.append(out / "ablation.csv")
        atomic_write_text(files[-1], ablated.to_frame().to_csv(index=False, float_format="%.4g"), parents=True)
    return PaperReport(comparisons, checks, t1, results, files, ablated)
