"""Speed of serving: batch level against op level, fleets, and the capacity search, each beside a bare SimPy loop.

    python tests/benchmarks/bench_serving.py              # 64 streams x 60 s on rapid_7nm: batch level (target <= 6 s), op level
    python tests/benchmarks/bench_serving.py --quick      # 10 s of traffic
    python tests/benchmarks/bench_serving.py --fleet      # 16 chips x 1,000 streams x 10 min (target <= 60 s, <= 2 GB)
    python tests/benchmarks/bench_serving.py --capacity   # accelsim capacity --slo "p99_latency<=300 ms" (target <= 60 s)

Every run is timed as CPU seconds of this process (min over repeats) and wall seconds (median), beside the load
average of the machine and a bare SimPy loop of the same number of events measured in the same run
(bench_speed.bare_simpy_events). "cold" is a process's first serving run (every distinct batch measured on the
machine: after the search and the lowering, which do not depend on the traffic), "warm" a repeat (memoised costs).
The fleet runs in a child process, whose peak resident memory is reported. Asserts nothing: tests assert behaviour,
benchmarks print speed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # one thread each: the machine's other cores belong to other work

import simpy  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_speed import HW, WORKLOAD, bare_simpy_events  # noqa: E402

from accelsim.pipeline import resolve  # noqa: E402
from accelsim.serve.engine import distinct_utterances, serve  # noqa: E402
from accelsim.serve.result import serve_result  # noqa: E402

BATCHED = ["workload.serving.max_batch=64", "workload.serving.max_wait=500 ms", "workload.serving.max_inflight=1"]


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "n/a"


def timed(sets: list[str]):
    """One serving run: its result, CPU seconds, wall seconds and SimPy events."""
    point = resolve(str(WORKLOAD), str(HW), sets)
    env = simpy.Environment()
    cpu, wall = time.process_time(), time.perf_counter()
    served = serve(point, exact_reuse=False, env=env)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return serve_result(point.workload.name, served), cpu, wall, next(env._eid)  # SimPy numbers its events


def report(label: str, runs: list[tuple], target: str = "") -> None:
    r, _, _, events = runs[0]
    cpus, walls = [run[1] for run in runs], [run[2] for run in runs]
    bare_s, bare_events = bare_simpy_events(events)
    print(f"{label}: cold {cpus[0]:.2f} s CPU ({walls[0]:.2f} s wall)" + (
        f", warm min {min(cpus[1:]):.2f} s CPU, median {statistics.median(walls[1:]):.2f} s wall" if len(runs) > 1 else "")
          + f"{target}; load average {load()}")
    print(f"  {events:,} SimPy events; a bare SimPy loop of {bare_events:,} events took {bare_s:.2f} s "
          f"(the run took {walls[0] / bare_s:.2f}x that, cold)")
    print(f"  {r.served} utterances, {r.jobs:,} jobs ({r.level} level: ops and fetches run, or ops stood for); latency p50 {r.latency_p50_s * 1e3:.1f} ms, "
          f"p90 {r.latency_p90_s * 1e3:.1f} ms, p99 {r.latency_p99_s * 1e3:.1f} ms; throughput {r.throughput:.2f} audio s/s "
          f"(offered {r.offered_load:.2f}); batches shared a machine {r.batch_overlap:.1%} of the time")


def single(quick: bool, repeats: int) -> None:
    window = "10 s" if quick else "60 s"
    sets = ["workload.serving.streams=64", f"workload.serving.duration={window}", *BATCHED]
    distinct_utterances(resolve(str(WORKLOAD), str(HW), sets))  # the search and the lowering, outside the timing
    runs = [timed(sets + ["workload.serving.level=batch"]) for _ in range(repeats)]
    report(f"64 streams x {window}, batch level", runs, " (target <= 6 s for 60 s)")
    op = [timed(sets + ["workload.serving.level=op"])]
    report(f"64 streams x {window}, op level (the reference)", op)
    b, o = runs[0][0], op[0][0]
    print("  batch level against op level: " + ", ".join(
        f"{name} {getattr(b, name) / getattr(o, name) - 1:+.3%}" for name in
        ("latency_p50_s", "latency_p90_s", "latency_p99_s", "throughput")))


def fleet_child(minutes: float) -> None:
    sets = ["workload.serving.streams=1000", "workload.serving.chips=16", f"workload.serving.duration={minutes * 60:g} s",
            *BATCHED]
    distinct_utterances(resolve(str(WORKLOAD), str(HW), sets))
    r, cpu, wall, events = timed(sets)
    print(json.dumps({"cpu": cpu, "wall": wall, "events": events, "served": r.served, "p50": r.latency_p50_s,
                      "p99": r.latency_p99_s, "throughput": r.throughput, "overlap": r.batch_overlap,
                      "utilisation": r.utilisation}))


def fleet(minutes: float) -> None:
    before = load()
    child = subprocess.run([sys.executable, __file__, "--fleet-child", str(minutes)], capture_output=True, text=True,
                           check=True)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    r = json.loads(child.stdout.strip().splitlines()[-1])
    bare_s, bare_events = bare_simpy_events(r["events"])
    print(f"16 chips x 1,000 streams x {minutes:g} min, batch level, join-shortest-queue: {r['cpu']:.1f} s CPU, "
          f"{r['wall']:.1f} s wall (target <= 60 s); peak memory {peak_mb:,.0f} MB (target <= 2,048 MB); "
          f"load average {before} before, {load()} after")
    print(f"  {r['events']:,} SimPy events; a bare SimPy loop of {bare_events:,} events took {bare_s:.1f} s "
          f"(the run took {r['wall'] / bare_s:.2f}x that)")
    print(f"  {r['served']:,} utterances; latency p50 {r['p50'] * 1e3:.1f} ms, p99 {r['p99'] * 1e3:.1f} ms; throughput "
          f"{r['throughput']:.1f} audio s/s; batches shared a machine {r['overlap']:.1%} of the time")


def capacity() -> None:
    before = load()
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "accelsim.cli", "capacity", "--slo", "p99_latency<=300 ms"],
                             stdout=subprocess.PIPE, text=True)
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)  # the command's own CPU time and its worker processes'
    wall = time.perf_counter() - start
    bare_s, _ = bare_simpy_events(300_000)
    print(f"accelsim capacity --slo \"p99_latency<=300 ms\" (defaults): {wall:.1f} s wall, "
          f"{usage.ru_utime + usage.ru_stime:.1f} s CPU in its processes (target <= 60 s); load average {before} before, "
          f"{load()} after; a bare SimPy loop of 300,000 events: {bare_s:.2f} s")
    print("  " + out.strip().splitlines()[0] + "; " + out.strip().splitlines()[1].strip())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="10 s of traffic (single chip), a 1-minute fleet")
    parser.add_argument("--fleet", action="store_true", help="the 16-chip fleet only")
    parser.add_argument("--capacity", action="store_true", help="the capacity search only")
    parser.add_argument("--repeats", type=int, default=3, help="batch-level runs of the single-chip case (default 3)")
    parser.add_argument("--fleet-child", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fleet_child is not None:
        fleet_child(args.fleet_child)
        return
    if args.fleet:
        fleet(1 if args.quick else 10)
    elif args.capacity:
        capacity()
    else:
        single(args.quick, max(1, args.repeats))


if __name__ == "__main__":
    main()
