"""Speed of the simulator itself. Prints figures; asserts nothing (tests assert behaviour, not time).

    python tests/benchmarks/bench_speed.py            # everything (a few minutes on 2 cores)
    python tests/benchmarks/bench_speed.py --quick    # smaller test set and sweep (about a minute)

1. Simulated ops per second of the engine against a bare SimPy loop handling the same number of items,
   each waiting for a dependency event, requesting a resource, holding it and releasing it (same run):
   once as one global SimPy run of the utterance, once as accelsim runs it (distinct segments once).
2. Wall time of the full paper reproduction (`accelsim reproduce`, plots included, a fresh process) against
   a bare SimPy loop of 300,000 events measured in the same run.
3. Wall time of a Hub5'00-size test set: 4,458 utterances drawn with mean 200, std 120, min 20 frames, beam 16
   with LM fusion, 2 worker processes (--quick: 200 utterances).
4. Speed-up of a sweep from 1 to 2 worker processes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import simpy

REPO = Path(__file__).resolve().parents[2]


def _accelsim() -> list[str]:
    """The installed console script (as a user runs it)."""
    script = Path(sys.executable).with_name("accelsim")
    return [str(script)] if script.exists() else [shutil.which("accelsim") or "accelsim"]
WORKLOAD = REPO / "workloads" / "rnnt_lm_fusion.yaml"
HW = REPO / "hwconfigs" / "rapid_7nm.yaml"


def bare_simpy_events(events: int) -> tuple[float, int]:
    """Seconds for a bare SimPy loop of about ``events`` scheduled events (items as in :func:`bare_simpy`)."""
    env = simpy.Environment()
    items = events // 6  # each item: its process start, the awaited event, a request, a timeout, a release, its end
    start = time.perf_counter()
    _bare(env, items)
    return time.perf_counter() - start, next(env._eid)  # SimPy numbers every scheduled event


def _bare(env: simpy.Environment, n: int) -> None:
    resources = [simpy.Resource(env, 1) for _ in range(4)]
    done = [env.event() for _ in range(n)]

    def item(i: int):
        if i:
            yield done[i - 1]
        resource = resources[i % 4]
        request = resource.request()
        yield request
        yield env.timeout(1e-6)
        resource.release(request)
        done[i].succeed()

    for i in range(n):
        env.process(item(i))
    env.run()


def bare_simpy(n: int) -> float:
    """Seconds for n items: wait for the previous item's event, request one of 4 resources, hold, release."""
    env = simpy.Environment()
    start = time.perf_counter()
    _bare(env, n)
    return time.perf_counter() - start


def engine_rates() -> None:
    import accelsim
    from accelsim.memo import clear_caches
    from accelsim.pipeline import prepare, resolve
    from accelsim.sim.engine import simulate_ops
    from accelsim.sim.segments import simulate_program
    from accelsim.sim.target import target_for

    point = resolve(WORKLOAD, HW)
    spec, hw = point.workload, point.hardware
    program = prepare(spec).program
    n = len(program.ops)
    bare = min(bare_simpy(n) for _ in range(3))
    t0 = time.perf_counter()
    simulate_ops(program.ops, target_for(hw))
    global_s = time.perf_counter() - t0
    clear_caches()
    program = prepare(spec).program
    t0 = time.perf_counter()
    simulate_program(program, target_for(hw))
    segmented_s = time.perf_counter() - t0
    print(f"1. {n} ops (default workload, INT4, beam 16)")
    print(f"   bare SimPy loop      {n / bare:10.0f} items/s")
    print(f"   engine, one run      {n / global_s:10.0f} ops/s   ratio {bare / global_s:.2f}")
    print(f"   engine, segmented    {n / segmented_s:10.0f} ops/s   ratio {bare / segmented_s:.2f}  (accelsim run: records kept)")
    clear_caches()
    prepare(spec)
    t0 = time.perf_counter()
    accelsim.simulate(spec, hw, keep_records=False)
    summary_s = time.perf_counter() - t0
    print(f"   engine, summary      {n / summary_s:10.0f} ops/s   ratio {bare / summary_s:.2f}  (sweeps, reproduce: no records)")


def reproduce_time() -> None:
    bare, events = min(bare_simpy_events(300_000) for _ in range(3))
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        subprocess.run([*_accelsim(), "reproduce", "--out", out], cwd=REPO, check=True, capture_output=True)
        wall = time.perf_counter() - t0
    print(f"2. accelsim reproduce (plots included, {os.cpu_count()} CPUs): {wall:.1f} s; bare SimPy loop of "
          f"{events} events {bare:.2f} s; ratio {wall / bare:.1f}x")


def test_set_time(count: int) -> None:
    import accelsim

    workers = min(2, os.cpu_count() or 1)
    t0 = time.perf_counter()
    r = accelsim.simulate(WORKLOAD, HW, workers=workers, beam=16, lm_fusion=True, overrides=[
        f"workload.test_set={{count: {count}, mean_frames: 200, std_frames: 120, min_frames: 20}}"])
    wall = time.perf_counter() - t0
    print(f"3. test set of {count} utterances at one config ({workers} processes): {wall:.1f} s "
          f"({wall / count * 1e3:.0f} ms per utterance), aggregate RTF {r.rtf:.4f}, p50 {r.percentile(50):.4f}, "
          f"p99 {r.percentile(99):.4f}")


def sweep_scaling(quick: bool) -> None:
    import yaml

    # Every point its own machine (link rate), so no point reuses another's simulated segments.
    rates = [f"{r} Gbps" for r in ((16, 24, 32, 48) if quick else (8, 12, 16, 24, 32, 48, 64, 96))]
    with tempfile.TemporaryDirectory() as tmp:
        recipe = Path(tmp) / "r.yaml"
        recipe.write_text(yaml.safe_dump({
            "name": "bench", "workload": str(WORKLOAD), "hardware": str(HW),
            "axes": {"precision": ["fp16", "int8", "int4"], "hw.link.bandwidth": rates}}))
        times = {}
        for workers in (1, 2):  # fresh processes each, so that no cache is shared between the two
            t0 = time.perf_counter()
            subprocess.run([*_accelsim(), "sweep", str(recipe), "--out", str(Path(tmp) / f"w{workers}"),
                            "--workers", str(workers)], cwd=REPO, check=True, capture_output=True)
            times[workers] = time.perf_counter() - t0
        points = 3 * len(rates)
        print(f"4. sweep of {points} points: 1 worker {times[1]:.1f} s, 2 workers {times[2]:.1f} s, "
              f"speed-up {times[1] / times[2]:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 utterances and a smaller sweep")
    args = parser.parse_args()
    engine_rates()
    reproduce_time()
    test_set_time(200 if args.quick else 4458)
    sweep_scaling(args.quick)


if __name__ == "__main__":
    main()
