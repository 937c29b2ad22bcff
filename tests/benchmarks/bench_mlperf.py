"""Speed of `accelsim mlperf`: Offline on one GPU config, and every shipped system in all three scenarios.

    python tests/benchmarks/bench_mlperf.py           # Offline on the A100 SXM (target <= 10 s on 2 cores), then --all
                                                      # (target <= 3 min)
    python tests/benchmarks/bench_mlperf.py --quick   # Offline only

Offline is the data set of 2,513 samples issued 10 times, batches up to 2,048 (largest batches from 2,048 down while
the rate grows), from a cold machine (its round costs simulated again: caches cleared), three times: the minimum CPU time and
the median wall time. Beside each figure, a bare SimPy loop of 50,000 items measured in the same run (this VM's speed
moves 1.5-2x between minutes). Threads pinned to one. Asserts nothing: tests assert behaviour, benchmarks print speed.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_speed import bare_simpy  # noqa: E402

from accelsim.api import clear_caches  # noqa: E402
from accelsim.api import mlperf_all  # noqa: E402
from accelsim.mlperf.scenarios import Bench, offline  # noqa: E402
from accelsim.pipeline import resolve  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
WORKLOAD = REPO / "workloads" / "mlperf_rnnt.yaml"
A100 = REPO / "hwconfigs" / "gpu" / "a100_sxm_80gb.yaml"
BARE_ITEMS = 50_000


def timed(fn, repeats: int):
    """(result, min CPU seconds, median wall seconds) of ``repeats`` cold runs."""
    cpu, wall, result = [], [], None
    for _ in range(repeats):
        clear_caches()
        c0, w0 = time.process_time(), time.perf_counter()
        result = fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return result, min(cpu), statistics.median(wall)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="Offline only")
    args = parser.parse_args()
    Bench.of(resolve(WORKLOAD, A100))  # imports, the compiled loop's cache, outside the timing
    result, cpu, wall = timed(lambda: offline(Bench.of(resolve(WORKLOAD, A100))), 3)
    bare = min(bare_simpy(BARE_ITEMS) for _ in range(3))
    print(f"Offline, A100 SXM, {result.samples:,} samples issued (2,513 x 10), largest batches from 2048 down: "
          f"{cpu:.2f} s CPU (min of 3), {wall:.2f} s wall (median); target <= 10 s")
    print(f"  {result.samples_per_s:,.0f} samples/s at largest batch {result.breakdown['max_batch']}; bare SimPy loop "
          f"of {BARE_ITEMS:,} items in this run: {bare:.2f} s (Offline = {cpu / bare:.1f} bare loops)")
    if args.quick:
        return
    (rows, problems), cpu, wall = timed(lambda: mlperf_all(WORKLOAD), 1)
    bare = min(bare_simpy(BARE_ITEMS) for _ in range(3))
    print(f"every shipped system ({len(rows)}) x 3 scenarios: {cpu:.1f} s CPU, {wall:.1f} s wall; target <= 180 s; "
          f"bare SimPy loop of {BARE_ITEMS:,} items: {bare:.2f} s ({cpu / bare:.0f} bare loops)")
    for problem in problems:
        print(f"  {problem}")


if __name__ == "__main__":
    main()
