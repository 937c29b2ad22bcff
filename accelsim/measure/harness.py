"""The timing harness: pin the process, limit BLAS to N threads, warm up, repeat, keep robust statistics.

A shared, virtualised machine's speed moves between minutes, so every figure is the *minimum* CPU time of at least
five repeats (the run least disturbed by other work), with the median beside it to show the spread, and the wall
time of each. CPU time (``time.process_time``: every thread of the process) is what single-threaded work is timed by;
work on several threads is timed by wall time, since CPU time then adds the threads up.

What cannot be controlled (no permission to set the CPU affinity, a BLAS whose threads threadpoolctl does not reach)
is said in :attr:`Controls.notes`, and the measurement goes on with what could be controlled.
"""

from __future__ import annotations

import os
import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

#: The least number of timed repeats of anything (warm-up runs come on top).
MIN_REPEATS = 5


@dataclass(frozen=True)
class Timing:
    """Repeated timings of one piece of work, in seconds."""

    cpu_min: float
    cpu_median: float
    wall_min: float
    wall_median: float
    repeats: int

    def to_dict(self) -> dict:
        return {"cpu_min_s": self.cpu_min, "cpu_median_s": self.cpu_median, "wall_min_s": self.wall_min,
                "wall_median_s": self.wall_median, "repeats": self.repeats}


def time_call(work: Callable[[], object], repeats: int = MIN_REPEATS, warmup: int = 1) -> Timing:
    """Run ``work`` ``warmup`` times untimed (caches, page faults, lazy initialisation), then ``repeats`` times
    (at least :data:`MIN_REPEATS`), each timed in CPU time and wall time."""
    for _ in range(warmup):
        work()
    cpu, wall = [], []
    for _ in range(max(repeats, MIN_REPEATS)):
        w0, c0 = time.perf_counter(), time.process_time()
        work()
        c1, w1 = time.process_time(), time.perf_counter()
        cpu.append(c1 - c0)
        wall.append(w1 - w0)
    return Timing(min(cpu), statistics.median(cpu), min(wall), statistics.median(wall), len(cpu))


@dataclass
class Controls:
    """What the harness controlled for a measurement: the CPUs the process ran on, the BLAS threads, and notes
    on anything it could not control."""

    cpus: tuple[int, ...] = ()
    blas_threads: int | None = None
    blas: str = ""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"cpus": list(self.cpus), "blas_threads": self.blas_threads, "blas": self.blas, "notes": list(self.notes)}


def allowed_cpus() -> tuple[int, ...]:
    """The CPUs this process may run on (its affinity mask), or every online CPU where the mask is not readable."""
    try:
        return tuple(sorted(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return tuple(range(os.cpu_count() or 1))


def current_cpu() -> int | None:
    """The CPU this thread is running on now (field 39 of /proc/thread-self/stat), or None where unreadable."""
    try:
        with open("/proc/thread-self/stat") as handle:
            text = handle.read()
        return int(text.rsplit(")", 1)[1].split()[37])
    except (OSError, ValueError, IndexError):
        return None


def _set_affinity(cpus: set[int]) -> None:
    """Every thread of the process (BLAS pools were started at import time), then the process itself."""
    try:
        tasks = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        tasks = [0]
    for tid in tasks:
        try:
            os.sched_setaffinity(tid, cpus)
        except ProcessLookupError:  # a thread that ended meanwhile
            pass


@contextmanager
def controlled(threads: int = 1) -> Iterator[Controls]:
    """Pin the process to ``threads`` CPUs (the one it runs on first, for one thread) and limit BLAS to ``threads``
    threads for the block; restore both after it. What could not be done is noted, never raised."""
    controls = Controls()
    allowed = allowed_cpus()
    if threads > len(allowed):
        controls.notes.append(f"asked for {threads} threads but the process may run on {len(allowed)} CPU(s) "
                              f"({_cpu_list(allowed)}); using {len(allowed)}")
        threads = len(allowed)
    here = current_cpu()
    first = here if here in allowed else allowed[0]
    chosen = {first} | set([c for c in allowed if c != first][: threads - 1])
    pinned = False
    try:
        _set_affinity(chosen)
        pinned = True
        controls.cpus = tuple(sorted(chosen))
    except (AttributeError, OSError) as exc:
        controls.notes.append(f"could not pin the process to CPUs {_cpu_list(chosen)} ({exc}); it ran where the "
                              "scheduler put it")
        controls.cpus = allowed
    with _blas_limited(threads, controls):
        try:
            yield controls
        finally:
            if pinned:
                _set_affinity(set(allowed))


@contextmanager
def _blas_limited(threads: int, controls: Controls) -> Iterator[None]:
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        controls.notes.append("threadpoolctl is not installed: BLAS threads not controlled")
        yield
        return
    import numpy  # noqa: F401  (loads the BLAS whose pool is limited)

    with threadpool_limits(limits=threads, user_api="blas"):
        pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        if not pools:
            controls.notes.append("no BLAS thread pool found by threadpoolctl: BLAS threads not controlled")
        else:
            controls.blas = ", ".join(f"{p['internal_api']} {p.get('version') or '?'} ({p.get('architecture') or '?'})"
                                      for p in pools)
            counts = {p["num_threads"] for p in pools}
            controls.blas_threads = max(counts)
            if counts != {threads}:
                controls.notes.append(f"BLAS reports {sorted(counts)} threads after limiting to {threads}")
        yield


def _cpu_list(cpus) -> str:
    return ",".join(str(c) for c in sorted(cpus))
