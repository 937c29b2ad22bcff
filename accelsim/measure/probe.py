"""``accelsim probe``: characterise the local CPU with micro-benchmarks only.

Every figure is measured on this machine by a generic micro-benchmark (a square matmul, a read of an array sized to
sit inside one cache level, a tiny numpy call...), never by running a workload: nothing here is fitted to what
``accelsim measure`` later predicts. Each figure carries its unit and a ``method`` string saying how it was taken.

Single-thread figures are the *minimum CPU time* of at least five repeats with the process pinned to one CPU and
BLAS limited to one thread (``accelsim/measure/harness.py``); all-core figures are the minimum *wall* time with
every allowed CPU used (CPU time would add the threads up).

Read rates: a level's working set is read by a matrix-vector product (``x @ W``, the kernel that streams weights at
batch 1) where a call lasts long enough to time beyond its overhead, else by ``np.max``. A cache level so read (in
practice the last) is also read at sizes from its working set out to the next level's: the *ladder* from which
``accelsim/measure/hwyaml.py`` derives its hit curve, how much of a cyclic sweep of each size it still serves.

The clock: /proc/cpuinfo's "cpu MHz" is on a VM often the nominal clock, and turbo moves the real one. It is
measured instead by a compiled loop whose iterations are a dependent chain of four single-cycle integer operations
(add, xor, add, xor: one cycle of latency each on every x86-64 and Arm core), so cycles = 4 x iterations. Doubt:
the clock under heavy vector (AVX-512) work can be lower than under this scalar loop; MACs per cycle derived from it
then absorb that difference (their product with the clock, the MAC rate, is what was measured).
"""

from __future__ import annotations

import datetime
import math
import statistics
import threading
import timeit
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
from scipy.special import expit

from accelsim.measure.harness import Controls, controlled, time_call
from accelsim.measure.machine import Cache, CpuInfo, describe_cpu

#: Operations in the dependent chain of one iteration of the clock loop (see the module docstring).
CHAIN_OPS = 4


@dataclass(frozen=True)
class Figure:
    """One measured figure: its value, its unit and how it was obtained; ``typical``: a rate read from a level shared
    with other tenants (the last-level cache, DRAM), merged as the median of rounds rather than the fastest, which is
    the moment the neighbours left it alone, not the state a workload runs in (the packing rate also comes from the
    difference of two timings, whose noise errs both ways)."""

    value: float
    unit: str
    method: str
    typical: bool = False

    def to_dict(self) -> dict:
        return {"value": self.value, "unit": self.unit, "method": self.method}


@dataclass(frozen=True)
class ProbeResult:
    """Everything ``accelsim probe`` found: the CPU as the OS describes it and the measured figures."""

    date: str
    cpu: CpuInfo
    figures: dict[str, Figure]
    working_sets: dict[str, int]  # memory level (L1, L2, L3, DRAM) -> bytes read in its bandwidth test
    controls: dict[str, dict]  # single / all: what the harness controlled
    quick: bool
    notes: tuple[str, ...] = field(default=())
    #: cache level -> (bytes, B/s) of the streaming reads from its working set out to the next level's, nearest first
    ladders: dict[str, tuple[tuple[int, float], ...]] = field(default_factory=dict)

    def value(self, name: str) -> float:
        return self.figures[name].value

    def to_dict(self) -> dict:
        return {"date": self.date, "quick": self.quick, "cpu": self.cpu.to_dict(),
                "figures": {k: f.to_dict() for k, f in self.figures.items()}, "working_sets_bytes": self.working_sets,
                "controls": self.controls, "notes": list(self.notes),
                "ladders": {level: [list(point) for point in points] for level, points in self.ladders.items()}}


def run_probe(quick: bool = False, rounds: int = 1) -> ProbeResult:
    """Measure the local CPU (``quick``: smaller problems and fewer passes, for tests; still at least 5 repeats);
    ``rounds`` whole probes one after another, merged by :func:`fastest`."""
    if rounds > 1:
        return fastest([run_probe(quick) for _ in range(rounds)])
    cpu = describe_cpu()
    sets = working_sets(cpu.caches, _available_memory())
    figures: dict[str, Figure] = {}
    with controlled(1) as single:
        figures["clock"] = _clock(quick)
        clock = figures["clock"].value
        figures.update(_single_thread(clock, sets, quick))
        streams, ladders = _read_rates(sets, quick)
        figures.update(streams)
    with controlled(len(cpu.allowed_cpus)) as every:
        figures.update(_all_cores(clock, sets, cpu.caches, every, quick))
    notes = tuple(cpu.notes) + tuple(single.notes) + tuple(n for n in every.notes if n not in single.notes)
    if len(cpu.allowed_cpus) < cpu.logical_cpus:
        notes += (f"a restricted CPU set: the process may run on {len(cpu.allowed_cpus)} of the {cpu.logical_cpus} "
                  "CPUs; the all-core figures are for those",)
    return ProbeResult(datetime.date.today().isoformat(), cpu, figures, sets,
                       {"single": single.to_dict(), "all": every.to_dict()}, quick, notes, ladders)


def fastest(probes: list[ProbeResult]) -> ProbeResult:
    """The probes of one machine taken at different times, merged figure by figure into the fastest each saw: the
    least time (unit s), the highest rate; a per-cycle figure is taken back to a rate with its own probe's clock, the
    highest rate kept, then divided by the fastest clock. On a shared machine whose neighbours come and go over seconds
    to minutes, this is the minimum of repeats spread over that time. A ``typical`` figure (a shared level's rate) and
    the ladders, size by size, take the median of the probes instead."""
    if len(probes) == 1:
        return probes[0]
    first, clock = probes[0], max(p.value("clock") for p in probes)
    figures = {}
    for name in dict.fromkeys(name for p in probes for name in p.figures):  # a figure some probe could not take too
        seen = [p for p in probes if name in p.figures]
        figure = seen[0].figures[name]
        if figure.typical:
            value, how = statistics.median(p.value(name) for p in seen), "the median"
        elif figure.unit == "s":
            value, how = min(p.value(name) for p in seen), "the fastest"
        elif figure.unit.endswith("/cycle"):
            value, how = max(p.value(name) * p.value("clock") for p in seen) / clock, "the fastest"
        else:
            value, how = max(p.value(name) for p in seen), "the fastest"
        figures[name] = replace(figure, value=value, method=f"{figure.method}; {how} of {len(seen)} probes")
    rates: dict[str, dict[int, list[float]]] = {}  # level -> size -> the rates the probes read there
    for p in probes:
        for level, points in p.ladders.items():
            for size, rate in points:
                rates.setdefault(level, {}).setdefault(size, []).append(rate)
    ladders = {level: tuple((size, statistics.median(seen)) for size, seen in sorted(points.items()))
               for level, points in rates.items()}
    notes = tuple(dict.fromkeys(n for p in probes for n in p.notes))
    return replace(first, figures=figures, ladders=ladders, notes=notes)


def working_sets(caches: tuple[Cache, ...], available: int | None) -> dict[str, int]:
    """Bytes read in each level's bandwidth test: half of L1; for each further level the geometric middle of its
    capacity and the capacity of the level above (well inside it, well outside the one before); for DRAM twice the
    last level (at least 64 MiB, at most an eighth of the available memory)."""
    out: dict[str, int] = {}
    previous = None
    for cache in caches:
        size = cache.size_bytes // 2 if previous is None else int(math.sqrt(previous * cache.size_bytes))
        out[cache.name] = _rounded(size)
        previous = cache.size_bytes
    dram = max(2 * (previous or 0), 64 << 20)
    if available:
        dram = min(dram, max(available // 8, 16 << 20))
    out["DRAM"] = _rounded(dram)
    return out


def _rounded(size: int) -> int:
    return max(4096, size // 4096 * 4096)


def _available_memory() -> int | None:
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


# ---------------------------------------------------------------- the clock


def _clock(quick: bool) -> Figure:
    import numba

    chain = numba.njit(_dependent_chain)
    n = 5_000_000 if quick else 40_000_000
    chain(10, 3, 5, 7)  # compile
    timing = time_call(lambda: chain(n, 3, 5, 7), repeats=5)
    return Figure(CHAIN_OPS * n / timing.cpu_min, "Hz",
                  f"a compiled loop of {n:,} iterations, each a dependent chain of {CHAIN_OPS} single-cycle integer "
                  f"ops (add, xor, add, xor); cycles / minimum CPU time of {timing.repeats} repeats, pinned")


def _dependent_chain(n, y, z, w):
    x = 0
    for _ in range(n):
        x = (((x + y) ^ z) + w) ^ y
    return x


# ---------------------------------------------------------------- single thread


def _single_thread(clock: float, sets: dict[str, int], quick: bool) -> dict[str, Figure]:
    out: dict[str, Figure] = {}
    n = 512 if quick else 1024
    out.update(_matmul_and_packing(n, clock))
    out["copy_L2"] = _copy_bandwidth(sets.get("L2", 1 << 20))
    out.update((name, _fixed_cost(name, quick)) for name in FIXED_COSTS)
    out["elementwise_ops_per_s"] = _elementwise_rate(16_384, "192 KiB in all: in L2")
    out["elementwise_L1_ops_per_s"] = _elementwise_rate(2_048, "24 KiB in all: in L1")
    out["tanh_L1_ops_per_s"] = _elementwise_rate(2_048, "16 KiB in all: in L1", np.tanh)
    out["exp_L1_ops_per_s"] = _elementwise_rate(2_048, "16 KiB in all: in L1", np.exp)
    rate = out["elementwise_ops_per_s"]
    out["elementwise_ops_per_cycle"] = Figure(rate.value / clock, "op/cycle", f"({rate.method}) / clock")
    for name, ufunc in SPECIAL.items():  # the special functions as the reference runtime computes them, in L2
        rate = _elementwise_rate(16_384, "in L2", ufunc)
        out[f"{name}_ops_per_cycle"] = Figure(rate.value / clock, "op/cycle", f"({rate.method}) / clock")
    for kind in LOOPS:
        rate = _loop_rate(kind)
        out[f"{kind}_ops_per_cycle"] = Figure(rate.value / clock, "op/cycle", f"({rate.method}) / clock")
    out["topk_per_element"] = _topk_cost()
    out["merge_per_element"] = _merge_cost()
    return out


def _matmul_rate(n: int, wall: bool) -> tuple[float, str]:
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    c = np.empty((n, n), np.float32)
    timing = time_call(lambda: np.matmul(a, b, out=c), repeats=5)
    seconds = timing.wall_min if wall else timing.cpu_min
    kind = "wall" if wall else "CPU"
    return n ** 3 / seconds, (f"numpy float32 {n}x{n} @ {n}x{n} matmul (BLAS): n^3 MACs / minimum {kind} time of "
                              f"{timing.repeats} repeats")


#: Rows of the small GEMM that shows the matmul library's packing (more than one: one row is a matrix-vector product).
PACK_ROWS = 4


def _matmul_and_packing(n: int, clock: float) -> dict[str, Figure]:
    """The MAC rate of a square float32 matmul, and the rate at which the BLAS packs a GEMM's second operand.

    A GEMM copies its second operand into a packed layout once per call, then computes: an n-row GEMM of an n x n
    operand takes P + n^3/R, a ``PACK_ROWS``-row one P + 4n^2/R with the same packing P; their difference gives R, the
    MAC rate with packing taken out (the n-row GEMM also packs its first operand, which the 4-row one hardly does:
    R comes out 1-2% low). The packing rate is then read off a ``PACK_ROWS``-row GEMM of a 2n x 2n operand
    (16 MiB at n = 1024: beyond any L2, as the weights of a layer are), its time less its MACs at R. Where that packing
    comes out under 1% of the time (a library that does not pack small GEMMs), no packing figure is written."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    c = np.empty((n, n), np.float32)
    few, out_few = a[:PACK_ROWS].copy(), np.empty((PACK_ROWS, n), np.float32)
    big = time_call(lambda: np.matmul(a, b, out=c), repeats=5).cpu_min
    small = time_call(lambda: np.matmul(few, b, out=out_few), repeats=9).cpu_min
    both = (f"numpy float32 {n}x{n} @ {n}x{n} matmul (BLAS) and the same with {PACK_ROWS} rows: minimum CPU time of 5 "
            f"and 9 repeats")
    if big > small:
        rate, how = (n ** 3 - PACK_ROWS * n ** 2) / (big - small), (f"{both}; (n^3 - {PACK_ROWS}n^2) MACs / the "
                                                                    "difference of the two times (packing taken out)")
    else:
        rate, how = n ** 3 / big, f"{both}; n^3 MACs / the n-row time"
    figures = {"matmul_macs_per_s": Figure(rate, "MAC/s", how),
               "fp32_macs_per_cycle": Figure(rate / clock, "MAC/cycle", f"({how}) / clock")}
    wide = rng.standard_normal((2 * n, 2 * n), dtype=np.float32)
    rows, out_rows = rng.standard_normal((PACK_ROWS, 2 * n), dtype=np.float32), np.empty((PACK_ROWS, 2 * n), np.float32)
    seconds = time_call(lambda: np.matmul(rows, wide, out=out_rows), repeats=9).cpu_min
    packing = seconds - PACK_ROWS * (2 * n) ** 2 / rate
    if packing > 0.01 * seconds:  # less is within the timing's noise
        # typical: it reads 16 MiB from the shared L3 and DRAM, and comes from a difference whose noise errs both ways
        figures["pack_bandwidth"] = Figure(
            wide.nbytes / packing, "B/s", f"numpy float32 {PACK_ROWS}x{2 * n} @ {2 * n}x{2 * n} matmul (BLAS): the "
            f"{wide.nbytes:,} B operand / (minimum CPU time of 9 repeats less its MACs at matmul_macs_per_s)",
            typical=True)
    return figures


def _read_bandwidth(size: int, threads: int, quick: bool, what: str) -> Figure:
    """Bytes read per second by ``np.max`` over float32 arrays of ``size`` bytes per thread, each array read
    ``passes`` times in one call (a stride-0 view), so that the per-call overhead does not count."""
    target = (16 << 20) if quick else (64 << 20)
    passes = max(1, math.ceil(target / size))
    arrays = [np.ones(size // 4, np.float32) for _ in range(threads)]
    views = [np.lib.stride_tricks.as_strided(a, shape=(passes, a.size), strides=(0, 4), writeable=False)
             for a in arrays]
    if threads == 1:
        timing = time_call(lambda: np.max(views[0]), repeats=5)
        seconds, kind = timing.cpu_min, "CPU"
    else:
        timing = _parallel(lambda i: np.max(views[i]), threads)
        seconds, kind = timing.wall_min, "wall"
    return Figure(threads * passes * size / seconds, "B/s",
                  f"{what}: np.max over {size:,} B of float32 per thread, {passes} pass(es) per call, "
                  f"{threads} thread(s); bytes / minimum {kind} time of {timing.repeats} repeats")


#: The least working set whose streaming rate is taken by a matrix-vector product: one call then reads for tens of
#: microseconds, against a call overhead of about one (smaller working sets are read by ``np.max`` instead).
STREAM_MIN = 2 << 20
#: Points of each cache level's ladder, from its working set to the next level's (both ends included): 13 from an L3's
#: 5.65 MiB to DRAM's 64 MiB are 1.22x apart. The hit curve is a straight line in log distance between two points, so
#: a knee between points is smoothed: 7 points, 1.5x apart, put one L3's fall (1.0 at 12.7 MiB, 0.6 at 19 MiB) on a
#: line that read 56 GB/s at 16 MiB where a 16 MiB sgemv ran at 44.
LADDER_POINTS = 13
#: Rounds of the whole ladder: each size's figure is the median of its rounds (the levels streamed are in practice the
#: ones shared with other tenants -- the last-level cache, DRAM -- whose fastest round is the moment the neighbours
#: left them alone, not the state a workload runs in; see :class:`Figure`).
LADDER_ROUNDS = 5


def _read_rates(sets: dict[str, int], quick: bool) -> tuple[dict[str, Figure], dict[str, tuple[tuple[int, float], ...]]]:
    """Every level's single-thread read rate and the ladders (:func:`_streaming`): levels whose working set is under
    :data:`STREAM_MIN` are read by ``np.max`` (a matrix that fits in them is read in little more time than a call
    costs) and get no ladder; the others by a matrix-vector product."""
    figures = {f"read_{level}": _read_bandwidth(size, 1, quick, f"one thread, {level} working set")
               for level, size in sets.items() if size < STREAM_MIN}
    streamed, ladders = _streaming(sets, quick)
    return figures | streamed, ladders


def _streaming(sets: dict[str, int], quick: bool) -> tuple[dict[str, Figure], dict[str, tuple[tuple[int, float], ...]]]:
    """The rate at which a matrix-vector product streams a float32 matrix from each level whose working set is at
    least :data:`STREAM_MIN`, and how it falls between one such level's working set and the next's (the *ladder* from
    which ``accelsim/measure/hwyaml.py`` derives the level's hit curve).

    The kernel is what streams weights at batch 1: ``x @ W`` with a square float32 ``W`` of the size's bytes (BLAS
    sgemv), called until 64 MiB have been read, less the time of the same call on a 16 x 16 matrix (the per-call
    overhead, charged apart); minimum CPU time of 5 repeats in each of several rounds over all sizes, the median of the
    rounds kept (these levels are shared: :data:`LADDER_ROUNDS`)."""
    figures: dict[str, Figure] = {}
    levels = [level for level, size in sets.items() if size >= STREAM_MIN]
    ladders: dict[str, list[int]] = {}
    for level, after in zip(levels, levels[1:]):
        low, high = sets[level], sets[after]
        if high < 1.5 * low:  # the next level's test barely leaves this one (a memory cap): no curve to read
            continue
        steps = (3 if quick else LADDER_POINTS) - 1
        ladders[level] = sorted({_rounded(int(low * (high / low) ** (i / steps))) for i in range(steps + 1)})
    sizes = sorted({sets[level] for level in levels} | {size for sizes in ladders.values() for size in sizes})
    seen: dict[int, list[float]] = {size: [] for size in sizes}
    rounds = 2 if quick else LADDER_ROUNDS
    target = (16 << 20) if quick else (64 << 20)
    matrices = {size: _square(size) for size in sizes}
    for _ in range(rounds):
        overhead = _gemv_seconds(_square(16 * 16 * 4), 1000)
        for size in sizes:
            w = matrices[size]
            seen[size].append(_gemv_seconds(w, max(1, math.ceil(target / w[0].nbytes))) - overhead)
    rate = {size: matrices[size][0].nbytes / max(statistics.median(times), 1e-12) for size, times in seen.items()}
    how = (f"x @ W with a square float32 W of that size (BLAS sgemv), called until {target >> 20} MiB were read, less "
           f"the same call on a 16 x 16 W; bytes / minimum CPU time of 5 repeats, the median of {rounds} rounds")
    figures.update({f"read_{level}": Figure(rate[sets[level]], "B/s", f"one thread, {level} working set of "
                                            f"{matrices[sets[level]][0].nbytes:,} B: {how}", typical=True)
                    for level in levels})
    return figures, {level: tuple(dict((matrices[size][0].nbytes, rate[size]) for size in sizes_).items())
                     for level, sizes_ in ladders.items()}  # one point per matrix size


def _square(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = max(4, int(math.sqrt(size / 4)))
    return np.full((n, n), 0.5, np.float32), np.full(n, 0.5, np.float32), np.empty(n, np.float32)


def _gemv_seconds(w: tuple[np.ndarray, np.ndarray, np.ndarray], calls: int) -> float:
    matrix, x, y = w

    def loop():
        for _ in range(calls):
            np.matmul(x, matrix, out=y)

    return time_call(loop, repeats=5).cpu_min / calls


def _copy_bandwidth(size: int) -> Figure:
    src = np.ones(size // 8, np.float32)
    dst = np.empty_like(src)
    timing = time_call(lambda: np.copyto(dst, src), repeats=7)
    return Figure(src.nbytes / timing.cpu_min, "B/s",
                  f"np.copyto of {src.nbytes:,} B (half the L2 working set each way): bytes copied / minimum CPU "
                  f"time of {timing.repeats} repeats")


#: The runtime's fixed costs, each a statement timed in a loop: one numpy call, one matmul call (256 MACs; the rest is
#: its library's dispatch) and one view of an array.
FIXED_COSTS = {
    "call_overhead": ("np.add(a, b, out=c)", "np.add of two 16-element float32 arrays into a third",
                      "the runtime's cost per numpy call"),
    "matmul_call_overhead": ("np.matmul(a, w, out=c)", "np.matmul of a 16-element float32 vector by a 16 x 16 matrix "
                             "into a third array", "the runtime's cost per matmul call"),
    "view_overhead": ("a[:8]", "a slice of a 16-element float32 array", "the runtime's cost per view"),
}


def _fixed_cost(name: str, quick: bool) -> Figure:
    statement, what, meaning = FIXED_COSTS[name]
    names = {"np": np, "a": np.ones(16, np.float32), "b": np.ones(16, np.float32), "c": np.empty(16, np.float32),
             "w": np.ones((16, 16), np.float32)}
    calls = 5_000 if quick else 50_000
    loop = timeit.Timer(statement, globals=names).timeit  # the statement inline in a Python loop
    timing = time_call(lambda: loop(calls), repeats=5)
    return Figure(timing.cpu_min / calls, "s", f"{what} ({statement}), {calls:,} times in a Python loop: minimum CPU "
                                               f"time of {timing.repeats} repeats / times ({meaning})")


def _beyond_overhead(call_of: Callable[[int], Callable[[], object]], big: int, small: int, elements: Callable[[int], int],
                     calls: int) -> float:
    """Elements per second of the call ``call_of(size)`` makes beyond its fixed cost: (time at ``big`` - time at
    ``small``) / (elements(big) - elements(small)), each time the minimum CPU time of 7 repeats of ``calls`` calls (a
    call's overhead is charged on its own: the dispatch overhead)."""
    def timed(size: int) -> float:
        call = call_of(size)

        def loop():
            for _ in range(calls):
                call()

        return time_call(loop, repeats=7).cpu_min / calls

    return (elements(big) - elements(small)) / max(timed(big) - timed(small), 1e-12)


def _elementwise_rate(n: int, where: str, ufunc: np.ufunc = np.multiply) -> Figure:
    """Elements per second of ``ufunc`` on ``n``-element float32 operands, less the same for 16 elements."""
    def call_of(size: int) -> Callable[[], object]:
        args = [np.full(size, 0.5, np.float32) for _ in range(ufunc.nin)]
        out = np.empty(size, np.float32)
        return lambda: ufunc(*args, out=out)

    rate = _beyond_overhead(call_of, n, 16, lambda size: size, 200)
    return Figure(rate, "op/s", f"{'scipy.special' if ufunc is expit else 'np'}.{ufunc.__name__} of {n:,}-element "
                                f"float32 arrays ({where}), 200 calls, minimum CPU time of 7 repeats, less the same for 16 "
                                "elements: elements per second beyond the call overhead")


#: The special functions ``runtime.kernels: eager`` workloads evaluate, as the reference runtime computes them
#: (``accelsim/measure/reference.py``: sigmoid is scipy.special.expit).
SPECIAL = {"sigmoid": expit, "tanh": np.tanh, "exp": np.exp}

#: Element-wise loops an eager runtime runs slower than a flat one, each on a square float32 array: (what, the call on
#: an array ``a``, a row ``r`` of its width and an output ``o`` of its shape).
LOOPS: dict[str, tuple[str, Callable[[np.ndarray, np.ndarray, np.ndarray], object]]] = {
    "broadcast": ("np.add of a row to every row of a float32 array (a bias)", lambda a, r, o: np.add(a, r, out=o)),
    "reduce": ("np.sum along the rows of a float32 array, keeping its dimensions (a mean's, a softmax's)",
               lambda a, r, o: np.sum(a, -1, keepdims=True)),
    "gather": ("np.copyto of a float32 array's transpose into a contiguous one (an im2col copy, a transpose)",
               lambda a, r, o: np.copyto(o, a.T)),
}
#: ... the side of the array: 128 (64 KiB) for the element-wise loops, 256 (256 KiB each way) for the gather; in L2.
LOOP_SIDE = {"broadcast": 128, "reduce": 128, "gather": 256}


def _loop_rate(kind: str) -> Figure:
    """Elements per second of one of :data:`LOOPS` on its square array, less the same for 4 x 4."""
    what, call = LOOPS[kind]

    def call_of(side: int) -> Callable[[], object]:
        a, r, o = np.full((side, side), 0.5, np.float32), np.full(side, 0.25, np.float32), np.empty((side, side), np.float32)
        return lambda: call(a, r, o)

    side = LOOP_SIDE[kind]
    rate = _beyond_overhead(call_of, side, 4, lambda n: n * n, 100)
    return Figure(rate, "op/s", f"{what}: {side} x {side} ({side * side * 4 // 1024} KiB, in L2), 100 calls, minimum CPU "
                                "time of 7 repeats, less the same for 4 x 4: elements per second beyond the call overhead")


def _topk_cost() -> Figure:
    n, k = 65_536, 16
    scores = np.random.default_rng(0).standard_normal(n, dtype=np.float32)

    def select():
        best = np.argpartition(scores, n - k)[n - k:]
        return best[np.argsort(scores[best])]

    timing = time_call(select, repeats=7)
    return Figure(timing.cpu_min / (n * math.log2(k)), "s",
                  f"np.argpartition of the best {k} of {n:,} float32 scores, then sorting them: minimum CPU time of "
                  f"{timing.repeats} repeats / (n log2 k)")


def _merge_cost() -> Figure:
    n = 4096
    keys = [(i % 64, (i * 7) % 97) for i in range(n)]

    def merge():
        seen: dict = {}
        for key in keys:
            seen[key] = seen.get(key, 0) + 1
        return seen

    timing = time_call(merge, repeats=7)
    return Figure(timing.cpu_min / n, "s",
                  f"hashing {n:,} (parent, label) tuples into a Python dict: minimum CPU time of {timing.repeats} "
                  "repeats / keys")


# ---------------------------------------------------------------- all cores


def _all_cores(clock: float, sets: dict[str, int], caches: tuple[Cache, ...], controls: Controls,
               quick: bool) -> dict[str, Figure]:
    """The same tests on every allowed CPU at once; in a shared level (and DRAM) each thread reads its share of the
    working set, so that together they fill it as one thread did."""
    threads = len(controls.cpus) or 1
    private = {c.name for c in caches if c.per_core}
    rate, how = _matmul_rate(1024 if quick else 2048, wall=True)
    out = {"matmul_all_macs_per_s": Figure(rate, "MAC/s", f"{how}, BLAS on {threads} thread(s)")}
    out["matmul_all_macs_per_cycle_per_core"] = Figure(rate / clock / threads, "MAC/cycle",
                                                       f"matmul_all_macs_per_s / clock / {threads} core(s)")
    for level, size in sets.items():
        share = size if level in private else _rounded(size // threads)
        out[f"read_all_{level}"] = _read_bandwidth(share, threads, quick, f"all {threads} CPUs, {level} working set")
    return out


class _ParallelTiming:
    def __init__(self, walls: list[float]):
        self.wall_min = min(walls)
        self.repeats = len(walls)


def _parallel(work: Callable[[int], object], threads: int, repeats: int = 5) -> _ParallelTiming:
    """``work(i)`` on ``threads`` threads, each pinned to its own CPU of the process's set, released together by a
    barrier; the wall time from the first start to the last end, repeated (one warm-up)."""
    import os
    import time

    cpus = sorted(os.sched_getaffinity(0))
    walls = []
    for attempt in range(repeats + 1):
        barrier = threading.Barrier(threads)
        spans = [(0.0, 0.0)] * threads

        def run(i: int) -> None:
            os.sched_setaffinity(0, {cpus[i % len(cpus)]})
            barrier.wait()
            start = time.perf_counter()
            work(i)
            spans[i] = (start, time.perf_counter())

        pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        if attempt:
            walls.append(max(end for _, end in spans) - min(start for start, _ in spans))
    return _ParallelTiming(walls)


def format_probe(probe: ProbeResult) -> str:
    """The CPU, then every figure with its unit and method."""
    cpu = probe.cpu
    caches = ", ".join(f"{c.name} {c.size_bytes // 1024:,} KiB ({'per core' if c.per_core else f'shared by {c.shared_by}'})"
                       for c in cpu.caches)
    lines = [f"{cpu.model}: {len(cpu.allowed_cpus)} of {cpu.logical_cpus} CPU(s) allowed, {cpu.threads_per_core} "
             f"thread(s) per core{', virtual machine' if cpu.hypervisor else ''}",
             f"  caches: {caches or 'unknown'}",
             f"  ISA: {' '.join(cpu.flags) or 'unknown'}",
             f"  /proc/cpuinfo clock: {cpu.nominal_mhz or '?'} MHz (often nominal on a VM; the measured clock is used)",
             f"  measured {probe.date}{' (--quick)' if probe.quick else ''}: single-thread figures are minimum CPU "
             "times, all-core figures minimum wall times, of at least 5 repeats", ""]
    for name, f in probe.figures.items():
        lines.append(f"  {name:<36}{_shown(f):>16}  {f.method}")
    for level, points in probe.ladders.items():
        shown = ", ".join(f"{size / 2 ** 20:.3g} MiB {rate / 1e9:.3g}" for size, rate in points)
        lines.append(f"  {'ladder_' + level:<36}  GB/s at {shown}")
    lines += [f"  note: {n}" for n in probe.notes]
    return "\n".join(lines)


_SCALES = {"Hz": (1e9, "GHz"), "B/s": (1e9, "GB/s"), "MAC/s": (1e9, "GMAC/s"), "op/s": (1e9, "Gop/s"), "s": (1e-9, "ns")}


def _shown(f: Figure) -> str:
    scale, unit = _SCALES.get(f.unit, (1.0, f.unit))
    return f"{f.value / scale:.4g} {unit}"
