"""Run a recipe's points: in parallel (processes, or Dask), cached by content, never losing work.

Every point is resolved first (its workload and hardware specs with the point's overrides); its key is
a hash of both resolved specs and the accelsim version, so any change that could change the result
changes the key. A finished point is written to ``<out>/points/<key>.json`` at once (atomically);
``resume`` reuses those files. A point that raises is recorded as failed with its message and the
sweep goes on; on Ctrl-C the finished points are written out before stopping.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any, Callable

import pandas as pd

import accelsim
from accelsim.api import SimResult, prepare_summary, resolve, simulate
from accelsim.errors import AccelsimError
from accelsim.files import atomic_write_bytes, atomic_write_text
from accelsim.sweep.recipe import Point, Recipe, expand, load_recipe

STATUS_OK, STATUS_FAILED, STATUS_INVALID, STATUS_NOT_RUN = "ok", "failed", "invalid", "not run"


def point_key(workload_json: str, hardware_json: str) -> str:
    """A hash of everything a point's result depends on: both resolved specs, the content of a recorded
    trace they name, and accelsim's own source (so a code change never reuses an older result)."""
    from accelsim.api import source_fingerprint, trace_digest

    workload = json.loads(workload_json)
    payload = json.dumps({"accelsim": source_fingerprint(), "workload": workload, "hardware": json.loads(hardware_json),
                          "trace": trace_digest(workload.get("decoding", {}).get("trace"))}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def flatten(r: SimResult) -> dict[str, Any]:
    """One results row: headline metrics, both breakdowns and occupancy as columns."""
    row: dict[str, Any] = {
        "rtf": r.rtf, "time_s": r.time_s, "audio_s": r.audio_s, "rtf_p50": r.percentile(50),
        "rtf_p90": r.percentile(90), "rtf_p99": r.percentile(99), "utterances": max(1, len(r.utterance_rtfs)),
        "model_size_MB": r.model_size_MB, "compression": r.compression, "beam": r.beam,
        "iterations": r.iterations, "link_GBps": r.link_GBps,
    }
    row.update({f"component_{k}": v for k, v in r.breakdown_by_component.items()})
    row.update({f"resource_{k}": v for k, v in r.breakdown_by_resource.items()})
    row.update({f"occupancy_{k}": v for k, v in r.occupancy.items()})
    return row


def run_point(workload: str, hardware: str, overrides: list[str]) -> dict[str, Any]:
    """Simulate one point (in a worker process); returns its metrics row."""
    return flatten(simulate(workload, hardware, overrides=overrides, keep_records=False))


def default_out(recipe: Recipe) -> Path:
    return recipe.path.parent / "out" / recipe.spec.name


def run_sweep(recipe: Recipe | str | Path, out: str | Path | None = None, workers: int | None = None,
              dask: str | None = None, resume: bool = False,
              progress: Callable[[int, int, int], None] | None = None) -> pd.DataFrame:
    """Run every point of ``recipe``; returns the results table (also written to ``out``).

    ``workers`` processes run the points (1: in this process); ``dask`` is ``"local"`` for a
    LocalCluster of ``workers`` processes or a scheduler address. ``progress(done, failed, total)``
    is called as points finish.
    """
    recipe = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    out = Path(out) if out is not None else default_out(recipe)
    points = expand(recipe.spec)
    workers = max(1, workers or min(os.cpu_count() or 1, len(points)))
    base = list(recipe.spec.set)
    workload, hardware = str(recipe.workload), str(recipe.hardware)

    rows: dict[int, dict[str, Any]] = {}
    jobs: list[tuple[Point, str, list[str]]] = []
    workload_specs: dict[str, Any] = {}
    for point in points:
        overrides = point.overrides(base)
        try:
            spec, hw = resolve(workload, hardware, overrides)
        except AccelsimError as exc:
            rows[point.index] = {"status": STATUS_INVALID, "error": str(exc)}
            continue
        key = point_key(spec.model_dump_json(), hw.model_dump_json())
        cached = out / "points" / f"{key}.json"
        if resume and cached.is_file():
            rows[point.index] = {**json.loads(cached.read_text()), "key": key, "status": STATUS_OK, "error": ""}
        else:
            rows[point.index] = {"key": key, "status": STATUS_NOT_RUN, "error": ""}
            jobs.append((point, key, overrides))
            workload_specs.setdefault(spec.model_dump_json(), spec)
    if points and all(r["status"] == STATUS_INVALID for r in rows.values()):
        raise AccelsimError(f"{recipe.path}: no point of the recipe is valid; the first: {rows[0]['error']}")

    failed = 0
    done = len(points) - len(jobs)

    def finish(point: Point, key: str, outcome: dict[str, Any] | BaseException) -> None:
        nonlocal done, failed
        done += 1
        if isinstance(outcome, BaseException):
            failed += 1
            message = str(outcome) if isinstance(outcome, AccelsimError) else f"{type(outcome).__name__}: {outcome}"
            rows[point.index] = {"key": key, "status": STATUS_FAILED, "error": message}
        else:
            atomic_write_text(out / "points" / f"{key}.json", json.dumps(outcome, sort_keys=True), parents=True)
            rows[point.index] = {**outcome, "key": key, "status": STATUS_OK, "error": ""}
        if progress:
            progress(done, failed, len(points))

    if progress:
        progress(done, failed, len(points))
    client = _dask_client(dask, workers) if dask and jobs else None  # fails before anything is overwritten
    try:
        if client is not None:
            _run_dask(jobs, workload, hardware, client, finish)
        elif workers == 1:
            for point, key, overrides in jobs:
                try:
                    outcome: dict[str, Any] | BaseException = run_point(workload, hardware, overrides)
                except Exception as exc:  # a failing point is recorded, the sweep goes on
                    outcome = exc
                finish(point, key, outcome)
        else:
            # The search and the lowering depend on the workload only: do them once here, before the
            # worker processes fork, instead of once per worker (a no-op where processes are spawned).
            for spec in workload_specs.values():
                if spec.test_set is None:
                    try:
                        prepare_summary(spec)
                    except Exception:  # the point's own run will fail and record why
                        pass
            _run_processes(jobs, workload, hardware, workers, finish)
    finally:  # also on Ctrl-C: what finished is written out
        table = _table(points, rows)
        _write_results(out, table)
    _draw(recipe, table, out)
    return table


def _run_processes(jobs, workload, hardware, workers, finish) -> None:
    pool = ProcessPoolExecutor(max_workers=workers)
    pending: dict[Future, tuple[Point, str]] = {}
    queue = list(jobs)
    try:
        while queue or pending:
            while queue and len(pending) < 2 * workers:  # keep workers busy without queueing everything
                point, key, overrides = queue.pop(0)
                pending[pool.submit(run_point, workload, hardware, overrides)] = (point, key)
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in sorted(finished, key=lambda f: pending[f][0].index):
                point, key = pending.pop(future)
                try:
                    finish(point, key, future.result())
                except Exception as exc:
                    finish(point, key, exc)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _dask_client(address: str, workers: int):
    """A Dask client: on a new LocalCluster of ``workers`` processes, or connected to ``address``."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise AccelsimError("--dask needs the optional dependency: pip install 'accelsim[dask]'") from None
    if address == "local":
        return Client(LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None))
    try:
        return Client(address, timeout="20s")
    except (OSError, ValueError, TypeError) as exc:
        raise AccelsimError(f"--dask {address}: cannot reach the scheduler: {exc}") from None


def _run_dask(jobs, workload, hardware, client, finish) -> None:
    from distributed import as_completed

    cluster = client.cluster
    try:
        futures = {client.submit(run_point, workload, hardware, overrides, pure=False, key=f"accelsim-{key}"):
                   (point, key) for point, key, overrides in jobs}
        for future in as_completed(futures):
            point, key = futures[future]
            try:
                finish(point, key, future.result())
            except Exception as exc:
                finish(point, key, exc)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _table(points: list[Point], rows: dict[int, dict[str, Any]]) -> pd.DataFrame:
    records = []
    for point in points:
        axes = {name: (value if isinstance(value, (int, float, str, bool)) else json.dumps(value))
                for name, value in point.axes.items()}
        records.append({"point": point.index, **axes, **rows[point.index]})
    table = pd.DataFrame.from_records(records)
    first = ["point", *(points[0].axes if points else []), "status", "error", "key"]
    return table[first + [c for c in table.columns if c not in first]]


def _write_results(out: Path, table: pd.DataFrame) -> None:
    atomic_write_text(out / "results.csv", table.to_csv(index=False), parents=True)
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return
    import io

    buf = io.BytesIO()
    table.astype({c: str for c in table.columns if table[c].dtype == object}).to_parquet(buf, index=False)
    atomic_write_bytes(out / "results.parquet", buf.getvalue(), parents=True)


def _draw(recipe: Recipe, table: pd.DataFrame, out: Path) -> None:
    from accelsim.sweep.plots import draw

    for plot in recipe.spec.plots:
        atomic_write_bytes(out / plot.file, draw(plot, table), parents=True)
