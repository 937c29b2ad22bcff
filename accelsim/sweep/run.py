"""Run a recipe's points with the runner (``accelsim/sweep/runner.py``) and write its results and plots.

Every point is resolved first (the base workload and machine with the recipe's ``set:`` and the point's
axis values); a point that cannot be resolved is recorded as invalid, one that fails as failed, and the
sweep goes on. ``<out>/points/<key>.json`` holds each finished point, ``resume`` reuses them; on Ctrl-C
the finished points are written out before stopping.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from accelsim.errors import AccelsimError
from accelsim.files import atomic_write_bytes, atomic_write_text, is_shipped
from accelsim.pipeline import Point as SimPoint, resolve
from accelsim.spec.loader import PREFIXES, Variation
from accelsim.spec.schema import SI_SUFFIX, unit_at
from accelsim.sweep.recipe import Point, Recipe, expand, load_recipe, recipe_from
from accelsim.sweep.runner import default_workers, key_of, run_points

STATUS_OK, STATUS_FAILED, STATUS_INVALID, STATUS_NOT_RUN = "ok", "failed", "invalid", "not run"


def default_out(recipe: Recipe) -> Path:
    """out/<name> beside the recipe; for a recipe shipped inside the installed package, reports/out/<name> in the
    current folder (an installed package is never written into)."""
    if is_shipped(recipe.path):
        return Path("reports") / "out" / recipe.spec.name
    return recipe.path.parent / "out" / recipe.spec.name


def run_sweep(recipe: Recipe | str | Path | None = None, out: str | Path | None = None, workers: int | None = None,
              dask: str | None = None, resume: bool = False,
              progress: Callable[[int, int, int], None] | None = None, *, workload: Any = None, hardware: Any = None,
              **keys: Any) -> pd.DataFrame:
    """Run every point of ``recipe``; returns the results table (also written to ``out``).

    ``recipe`` is a recipe file, or, from Python, its parts: ``workload`` and ``hardware`` (paths, dicts as their
    YAML files hold them, or specs) and the recipe's keys as keyword arguments (``axes={"precision": ["fp16",
    "int4"]}``, ``zip``, ``set``, ``plots``, ``name``); the outputs of such a recipe go to ``out/<name>`` in the
    current folder unless ``out`` says otherwise. ``workers`` processes run the points (1: in this process);
    ``dask`` is ``"local"`` for a LocalCluster of ``workers`` processes or a scheduler address; ``resume`` reuses
    the points already finished in ``out``. ``progress(done, failed, total)`` is called as points finish.
    """
    recipe = _recipe(recipe, workload, hardware, keys)
    out = Path(out) if out is not None else default_out(recipe)
    points = expand(recipe.spec)
    workers = workers or default_workers(len(points))
    base = Variation.from_flags(recipe.spec.set)

    rows: dict[int, dict[str, Any]] = {}
    runnable: list[tuple[Point, SimPoint, str]] = []
    for point in points:
        try:
            resolved = resolve(recipe.workload, recipe.hardware, base + point.variation())
        except AccelsimError as exc:
            rows[point.index] = {"status": STATUS_INVALID, "error": str(exc)}
            continue
        key = key_of(resolved)
        rows[point.index] = {"key": key, "status": STATUS_NOT_RUN, "error": ""}
        runnable.append((point, resolved, key))
    if points and all(r["status"] == STATUS_INVALID for r in rows.values()):
        raise AccelsimError(f"{recipe.path}: no point of the recipe is valid; the first: {rows[0]['error']}")

    invalid = len(points) - len(runnable)

    def record(index: int, outcome) -> None:
        point, _, key = runnable[index]
        if isinstance(outcome, BaseException):
            message = str(outcome) if isinstance(outcome, AccelsimError) else f"{type(outcome).__name__}: {outcome}"
            rows[point.index] = {"key": key, "status": STATUS_FAILED, "error": message}
        else:
            rows[point.index] = {**outcome.row(), "key": key, "status": STATUS_OK, "error": ""}

    def report(done: int, failed: int, total: int) -> None:
        if progress:
            progress(done + invalid, failed, len(points))

    try:
        run_points([r for _, r, _ in runnable], workers=workers, dask=dask, cache=out / "points", resume=resume,
                   progress=report, on_outcome=record)
    finally:  # also on Ctrl-C: what finished is written out
        table = _table(points, rows, {p.index: r for p, r, _ in runnable})
        _write_results(out, table)
    _draw(recipe, table, out)
    return table


def _recipe(recipe: Recipe | str | Path | None, workload: Any, hardware: Any, keys: dict[str, Any]) -> Recipe:
    """The recipe to run: a file, or one made of ``workload``, ``hardware`` and recipe keys (not both)."""
    if recipe is None:
        if workload is None or hardware is None:
            raise AccelsimError("run_sweep: give a recipe file, or workload=, hardware= and axes= (a recipe's parts)")
        return recipe_from(workload, hardware, **keys)
    if workload is not None or hardware is not None or keys:
        raise AccelsimError("run_sweep: give a recipe file or its parts (workload=, hardware=, axes=...), not both")
    return recipe if isinstance(recipe, Recipe) else load_recipe(recipe)


def _si_axes(names: list[str]) -> dict[str, str]:
    """Axes that are quantities written with a unit ('32 Gbps'), with the name of their SI column beside them
    (``hw.link.bandwidth`` -> ``hw.link.bandwidth_bytes_per_s``)."""
    out = {}
    for name in names:
        prefix, _, path = name.partition(".")
        unit = unit_at(PREFIXES[prefix], path) if prefix in PREFIXES else None
        if unit is not None:
            out[name] = f"{name}_{SI_SUFFIX[unit.si]}"
    return out


def _si_value(point: SimPoint | None, axis: str) -> float:
    if point is None:
        return float("nan")  # the point did not resolve: its error says why
    prefix, _, path = axis.partition(".")
    node: Any = point.workload if prefix == "workload" else point.hardware
    for part in path.split("."):
        node = getattr(node, part)
    return float(node)


def _table(points: list[Point], rows: dict[int, dict[str, Any]], resolved: dict[int, SimPoint] | None = None) -> pd.DataFrame:
    """One row per point: the axes as the recipe writes them (and each quantity axis in SI beside it), status,
    then the metrics. A breakdown or occupancy column a finished point does not have is 0 for it (that resource
    did nothing), not missing."""
    names = list(points[0].axes) if points else []
    si = _si_axes(names)
    records = []
    for point in points:
        axes: dict[str, Any] = {}
        for name, value in point.axes.items():
            axes[name] = value if isinstance(value, (int, float, str, bool)) else json.dumps(value)
            if name in si:
                axes[si[name]] = _si_value((resolved or {}).get(point.index), name)
        records.append({"point": point.index, **axes, **rows[point.index]})
    table = pd.DataFrame.from_records(records)
    first = ["point", *(c for n in names for c in ([n, si[n]] if n in si else [n])), "status", "error", "key"]
    table = table[first + [c for c in table.columns if c not in first]]
    if "status" in table:
        ok = table["status"] == "ok"
        for column in (c for c in table.columns if c.startswith(("component_", "resource_", "occupancy_"))):
            table.loc[ok, column] = table.loc[ok, column].fillna(0.0)
    return table


def sweep_files(recipe: Recipe, out: str | Path) -> list[Path]:
    """Every file a sweep of ``recipe`` writes into ``out`` (besides the points it keeps in ``out/points``)."""
    out = Path(out)
    tables = ["results.csv", "results.parquet"]
    return [out / name for name in tables] + [out / plot.file for plot in recipe.spec.plots]


def _write_results(out: Path, table: pd.DataFrame) -> None:
    atomic_write_text(out / "results.csv", table.to_csv(index=False), parents=True)
    import io

    buf = io.BytesIO()
    table.astype({c: str for c in table.columns if table[c].dtype == object}).to_parquet(buf, index=False)
    atomic_write_bytes(out / "results.parquet", buf.getvalue(), parents=True)


def _draw(recipe: Recipe, table: pd.DataFrame, out: Path) -> None:
    from accelsim.sweep.plots import draw

    for plot in recipe.spec.plots:
        atomic_write_bytes(out / plot.file, draw(plot, table), parents=True)
