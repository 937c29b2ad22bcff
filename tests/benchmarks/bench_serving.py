"""Speed of the serving engine: 1 minute of traffic at 64 always-active streams on the shipped chip.

    python tests/benchmarks/bench_serving.py           # the minute at 64 streams, batched, encoders wait up to 500 ms (target: at most 60 s on 2 cores)
    python tests/benchmarks/bench_serving.py --quick   # 10 s of traffic
    python tests/benchmarks/bench_serving.py --max-wait "200 ms"   # smaller encoder batches: more jobs, lower latency

Prints wall time, SimPy events per second against a bare SimPy loop of the same event count measured in the
same run (bench_speed.bare_simpy_events), and what batching across streams buys: the same streams unbatched
over a shorter window (unbatched, every stream fetches every weight itself, and the link saturates).
Asserts nothing: tests assert behaviour, benchmarks print speed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import simpy

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_speed import HW, WORKLOAD, bare_simpy_events  # noqa: E402

from accelsim.pipeline import resolve  # noqa: E402
from accelsim.serve.engine import Server  # noqa: E402
from accelsim.serve.result import serve_result  # noqa: E402


def serve_timed(sets: list[str]):
    point = resolve(str(WORKLOAD), str(HW), sets)
    env = simpy.Environment()
    start = time.perf_counter()
    served = Server(point, env).run()
    seconds = time.perf_counter() - start
    return serve_result(point.workload.name, served), seconds, next(env._eid)  # SimPy numbers its events


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--max-wait", default="500 ms", help="how long encoders wait for their batch (default 500 ms)")
    args = parser.parse_args()
    window = "10 s" if args.quick else "60 s"
    resolve(str(WORKLOAD), str(HW), [])  # load once, outside the timing
    batched = ["workload.serving.streams=64", f"workload.serving.duration={window}", "workload.serving.max_batch=64",
               f"workload.serving.max_wait={args.max_wait}", "workload.serving.max_inflight=1"]
    Server(resolve(str(WORKLOAD), str(HW), batched[:1] + ["workload.serving.duration=3.5 s"])).run()  # search + lowering once
    r, seconds, events = serve_timed(batched)
    bare_s, bare_events = bare_simpy_events(events)
    print(f"64 streams, {window} of traffic, batched (max batch 64, max wait {args.max_wait}): {seconds:.1f} s wall "
          f"(target <= 60 s for 60 s of traffic), {r.served} utterances, {r.jobs} ops and fetches")
    print(f"  {events} SimPy events: {events / seconds:,.0f} events/s; bare SimPy loop of {bare_events} events: "
          f"{bare_events / bare_s:,.0f} events/s ({bare_s / seconds * 100:.0f}% of the engine's time)")
    print(f"  latency p50 {r.latency_p50_s * 1e3:.1f} ms, p99 {r.latency_p99_s * 1e3:.1f} ms; throughput {r.throughput:.2f} "
          f"audio s/s (offered {r.offered_load:.2f}); link h2d busy {r.utilisation['link_h2d']:.1%}; mean batch "
          f"encoder {r.batch_mean['encoder']:.2f}, decode {r.batch_mean['decode']:.2f}; "
          f"{r.fetched_weight_bytes / r.served / 1e9:.2f} GB of weights fetched per utterance")
    if r.energy:
        print(f"  energy {r.row()['energy_J_per_audio_h'] / 1e3:.2f} kJ per audio hour")
    short = "6 s"
    u, seconds_u, events_u = serve_timed(["workload.serving.streams=64", f"workload.serving.duration={short}"])
    print(f"64 streams, {short} of traffic, unbatched: {seconds_u:.1f} s wall, {events_u} events; latency p50 "
          f"{u.latency_p50_s * 1e3:.1f} ms, p99 {u.latency_p99_s * 1e3:.1f} ms; throughput {u.throughput:.2f} audio s/s "
          f"(offered {u.offered_load:.2f}); link h2d busy {u.utilisation['link_h2d']:.1%}; "
          f"{u.fetched_weight_bytes / u.served / 1e9:.2f} GB of weights fetched per utterance")


if __name__ == "__main__":
    main()
