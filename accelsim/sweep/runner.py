"""The one runner: a list of points, simulated in this process, in worker processes or on Dask, cached by
content, never losing finished work.

Everything that simulates more than one point uses it: recipe sweeps, ``accelsim reproduce``, calibration's
evaluations, ``explain``'s variants and the utterances of a test set. A point's key is a hash of both
resolved specs, the content of a recorded trace they name and accelsim's own source, so any change that
could change a result changes the key. With a cache folder each finished point is written at once
(atomically) to ``<cache>/<key>.json`` and ``resume`` reuses those files; a point that raises is returned
as its exception and the others go on; on Ctrl-C what finished stays written.
"""

from __future__ import annotations

import hashlib
import json
import os
from contextlib import contextmanager, nullcontext
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

from accelsim.errors import AccelsimError
from accelsim.files import atomic_write_text
from accelsim.pipeline import Point, prepare, simulate_point, trace_digest
from accelsim.serve.engine import serve
from accelsim.serve.result import ServeResult, serve_result
from accelsim.report.result import SimResult

Outcome = SimResult | BaseException
Progress = Callable[[int, int, int], None]  # (done, failed, total)


@lru_cache(maxsize=1)
def source_fingerprint() -> str:
    """A hash of accelsim's own source files: part of every cache key that outlives the process."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).resolve().parents[1].rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def point_key(workload_json: str, hardware_json: str) -> str:
    """A hash of everything a point's result depends on (see the module docstring; a mixed fleet's hardware files
    count by their content, as a recorded trace does)."""
    workload = json.loads(workload_json)
    chips = (workload.get("serving") or {}).get("chips")
    payload = json.dumps({"accelsim": source_fingerprint(), "workload": workload, "hardware": json.loads(hardware_json),
                          "trace": trace_digest(workload.get("decoding", {}).get("trace")),
                          "fleet": [trace_digest(path) for path in chips] if isinstance(chips, list) else None},
                         sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def key_of(point: Point) -> str:
    return point_key(point.workload.model_dump_json(), point.hardware.model_dump_json())


def run_point(point: Point) -> SimResult | ServeResult:
    """Simulate one point (a test set utterance by utterance, in this process); a workload with a ``serving:``
    section is served (many streams on the machine, accelsim.serve) and gives a :class:`ServeResult`."""
    if point.workload.serving is not None:
        return serve_result(point.workload.name, serve(point))
    if point.workload.test_set is not None:
        from accelsim.pipeline import utterance_points
        from accelsim.report.metrics import aggregate

        return aggregate([simulate_point(p) for p in utterance_points(point)])
    return simulate_point(point)


def _run_chunk(points: Sequence[Point]) -> list[Outcome]:
    out: list[Outcome] = []
    for point in points:
        try:
            out.append(run_point(point))
        except Exception as exc:  # a failing point is returned, the others go on
            out.append(exc)
    return out


@dataclass
class Cache:
    """Finished points as JSON files in one folder, by key."""

    folder: Path

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def load(self, key: str) -> SimResult | ServeResult | None:
        try:
            data = json.loads(self.path(key).read_text(encoding="utf-8"))
            if isinstance(data, dict) and data.get("result") == "serve":
                return ServeResult.from_json(data)
            return SimResult.from_json(data)
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
            return None  # missing, truncated, not an object or not ours (SimResult.from_json checks each field): not done

    def save(self, key: str, result: SimResult | ServeResult) -> None:
        atomic_write_text(self.path(key), json.dumps(result.to_json(), sort_keys=True), parents=True)


def run_points(points: Sequence[Point], *, workers: int = 1, dask=None, cache: Path | None = None,
               resume: bool = False, progress: Progress | None = None, chunk: int | None = None,
               on_outcome: Callable[[int, Outcome], None] | None = None) -> list[Outcome]:
    """Simulate every point; outcomes in the points' order (a result, or the exception that point raised).

    ``workers`` processes (1: this process); ``dask`` is ``"local"`` for a LocalCluster of ``workers``
    processes, a scheduler address, or a client of :func:`dask_session` (kept open for the next call). ``chunk`` points travel together to a worker (default: enough for
    about four chunks per worker, at most 64, so that many small points do not pay one round trip each).
    ``on_outcome(index, outcome)`` is called as each point finishes (cached ones included), before ``progress``.
    """
    store = Cache(Path(cache)) if cache is not None else None
    outcomes: list[Outcome | None] = [None] * len(points)
    keys = [key_of(p) for p in points] if store is not None else [""] * len(points)
    todo = []
    for i, key in enumerate(keys):
        found = store.load(key) if (store is not None and resume) else None
        if found is not None:
            outcomes[i] = found
            if on_outcome:
                on_outcome(i, found)
        else:
            todo.append(i)
    done = len(points) - len(todo)
    failed = 0

    def finish(index: int, outcome: Outcome) -> None:
        nonlocal done, failed
        done += 1
        outcomes[index] = outcome
        if on_outcome:
            on_outcome(index, outcome)
        if isinstance(outcome, BaseException):
            failed += 1
        elif store is not None:
            store.save(keys[index], outcome)
        if progress:
            progress(done, failed, len(points))

    if progress:
        progress(done, failed, len(points))
    workers = max(1, workers)
    size = chunk or max(1, min(64, -(-len(todo) // (4 * workers))))
    chunks = [todo[i:i + size] for i in range(0, len(todo), size)]
    if dask and todo:
        with dask_session(dask, workers) if isinstance(dask, str) else nullcontext(dask) as client:  # ours: closed after
            _run_dask(points, chunks, client, finish)
    elif workers == 1 or len(todo) < 2:
        for index in todo:
            finish(index, _run_chunk([points[index]])[0])
    else:
        # The search and the lowering depend on the workload only: do them once here, before the
        # worker processes fork, instead of once per worker (a no-op where processes are spawned).
        _prepare_shared(points, todo)
        _run_processes(points, chunks, workers, finish)
    return outcomes  # type: ignore[return-value]


def _prepare_shared(points: Sequence[Point], todo: list[int]) -> None:
    seen: set[str] = set()
    for index in todo:
        spec = points[index].workload
        if spec.test_set is not None:
            continue
        if spec.serving is not None:  # served points prepare their utterances without the traffic
            spec = spec.model_copy(update={"serving": None})
        key = spec.model_dump_json()
        if key in seen:
            continue
        seen.add(key)
        if len(seen) > 64:  # a test set's utterances each differ: nothing to share
            return
        try:
            prepare(spec)
        except Exception:  # the point's own run will fail and say why
            pass


def _run_processes(points, chunks, workers, finish) -> None:
    pool = ProcessPoolExecutor(max_workers=workers)
    pending: dict[Future, list[int]] = {}
    queue = list(chunks)
    interrupted = False
    try:
        while queue or pending:
            while queue and len(pending) < 2 * workers:  # keep workers busy without queueing everything
                indices = queue[0]
                try:
                    future = pool.submit(_run_chunk, [points[i] for i in indices])
                except BrokenProcessPool as exc:  # a worker died (killed, out of memory): the rest cannot run
                    for rest in queue:
                        for index in rest:
                            finish(index, exc)
                    queue.clear()
                    break
                queue.pop(0)
                pending[future] = indices
            if not pending:
                break
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in sorted(finished, key=lambda f: pending[f][0]):
                indices = pending.pop(future)
                try:
                    outcomes = future.result()
                except Exception as exc:  # the worker itself died
                    outcomes = [exc] * len(indices)
                for index, outcome in zip(indices, outcomes):
                    finish(index, outcome)
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        # On Ctrl-C do not wait for chunks whose results nobody would record.
        pool.shutdown(wait=not interrupted, cancel_futures=True)


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


@contextmanager
def dask_session(address: str | None, workers: int):
    """A Dask client for several calls of :func:`run_points` (one cluster for a whole search), or None without Dask."""
    if not address:
        yield None
        return
    client = _dask_client(address, workers)
    try:
        yield client
    finally:
        cluster = client.cluster
        client.close()
        if cluster is not None:
            cluster.close()


def _run_dask(points, chunks, client, finish) -> None:
    from distributed import as_completed

    futures = {client.submit(_run_chunk, [points[i] for i in indices], pure=False): indices for indices in chunks}
    for future in as_completed(futures):
        indices = futures[future]
        try:
            outcomes = future.result()
        except Exception as exc:
            outcomes = [exc] * len(indices)
        for index, outcome in zip(indices, outcomes):
            finish(index, outcome)


def default_workers(points: int) -> int:
    """The default worker count of every command: the CPUs, but no more than there are points."""
    return max(1, min(os.cpu_count() or 1, points))
