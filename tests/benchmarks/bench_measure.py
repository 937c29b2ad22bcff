"""How far accelsim's predictions are from a real run on this CPU (issue 21). Prints figures; asserts nothing.

    python tests/benchmarks/bench_measure.py            # 5 rounds of a probe then every target (about 11 minutes)
    python tests/benchmarks/bench_measure.py --rounds 1 # one round (about 2 minutes; noisier)
    python tests/benchmarks/bench_measure.py --quick    # quick probes (the figures are noisier)
    python tests/benchmarks/bench_measure.py --keep probe.yaml   # and keep the merged probe's hardware YAML

1. In each of --rounds rounds: `accelsim probe` of this machine (micro-benchmarks only), then every target of
   workloads/measure/ -- 2-layer LSTM encoders of hidden 320, 640 and 1024 (input 340, 200 frames), each with one
   fused cell per step and with the input projection batched, and a 4-block Conformer(S)-size stack -- run by the
   numpy float32 reference runtime (pinned, BLAS on one thread, minimum and median CPU time of 5 repeats).
2. The probes merged (`accelsim.measure.probe.fastest`, as `accelsim probe --rounds`: the fastest figure each saw,
   the median for what is read from the levels shared with the machine's neighbours), each target's fastest round,
   and accelsim's prediction of each on the merged probe, with the error. The two sides are not alike: the probe's
   micro-benchmarks last milliseconds and catch quiet moments a target of hundreds does not, while a target's fastest
   round may have met the L3 at its emptiest, which the median ladder does not describe. Hence also:
3. Paired, round by round, like for like: each target's minimum in each round beside its prediction on that round's
   own probe (taken a minute or two before, under the same neighbours), and the median of those errors.
4. Reference timings of the same run, before and after the targets: a numpy float32 1024 x 1024 GEMM and a bare
   Python loop of 10^6 iterations (minimum CPU time of 5 repeats each), and the load average.

Nothing measured here goes back into the model: the probe's figures are micro-benchmarks, and the targets' times are
only compared with the predictions.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from accelsim.api import resolve  # noqa: E402
from accelsim.measure.compare import measure, predict  # noqa: E402
from accelsim.measure.harness import controlled, time_call  # noqa: E402
from accelsim.measure.hwyaml import hardware_yaml  # noqa: E402
from accelsim.measure.probe import fastest, format_probe, run_probe  # noqa: E402

TARGETS = [(f"lstm{h}.yaml", projection) for h in (320, 640, 1024) for projection in ("per_step", "batched")]
TARGETS.append(("conformer_s4.yaml", None))


def references() -> str:
    """A numpy GEMM and a bare loop, timed like the targets (pinned, one BLAS thread)."""
    a, b = (np.random.default_rng(0).standard_normal((1024, 1024), dtype=np.float32) for _ in range(2))

    def loop():
        for _ in range(1_000_000):
            pass

    with controlled(1):
        gemm, bare = time_call(lambda: a @ b), time_call(loop)
    load = os.getloadavg()[0]
    return (f"reference: numpy float32 1024^3 GEMM {gemm.cpu_min * 1e3:.2f} ms ({1024 ** 3 / gemm.cpu_min / 1e9:.1f} "
            f"GMAC/s), bare loop of 10^6 {bare.cpu_min * 1e3:.2f} ms (minimum CPU time of 5); load average {load:.2f}")


def _sets(projection: str | None) -> list[str]:
    return [f"workload.runtime.lstm_input_projection={projection}"] if projection else []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a quick probe")
    parser.add_argument("--keep", metavar="FILE.yaml", help="also keep the probe's hardware YAML in FILE")
    parser.add_argument("--rounds", type=int, default=5, metavar="N",
                        help="N rounds of a probe then every target; each figure and each part keeps its fastest round, "
                             "and the predictions use the merged probe (default 5: neighbours on a shared machine "
                             "come and go over seconds to minutes)")
    args = parser.parse_args()
    rounds = max(1, args.rounds)
    print(references())
    probes, rounds_of = [], {}  # (target) -> its parts in each round, predicted on that round's probe
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(rounds):  # a probe, then every target, in each round: both see the machine at its quietest
            probes.append(run_probe(quick=args.quick))
            hw = Path(folder) / f"probe{len(probes)}.yaml"
            hw.write_text(hardware_yaml(probes[-1]))
            for name, projection in TARGETS:
                parts = measure(resolve(REPO / "workloads" / "measure" / name, hw, _sets(projection)), name).parts
                rounds_of.setdefault((name, projection), []).append(parts)
        probe = fastest(probes)
        print(format_probe(probe) + "\n")
        hw = Path(args.keep or Path(folder) / "probe.yaml")
        hw.write_text(hardware_yaml(probe))
        rows = []
        for name, projection in TARGETS:  # predicted on the merged probe
            point = resolve(REPO / "workloads" / "measure" / name, hw, _sets(projection))
            best = [min(seen, key=lambda p: p.measured_s) for seen in zip(*rounds_of[name, projection])]
            rows.append((name.removesuffix(".yaml"), projection or "-",
                         [replace(part, predicted_s=s) for part, s in zip(best, predict(point))]))
    print(f"  {'workload':<14}{'projection':<11}{'min CPU ms':>11}{'median ms':>11}{'predicted ms':>14}{'error':>9}"
          f"{'decode iter ms':>16}{'predicted':>11}{'error':>9}")
    for name, projection, (enc, dec) in rows:
        print(f"  {name:<14}{projection:<11}{enc.timing.cpu_min * 1e3:>11.2f}{enc.timing.cpu_median * 1e3:>11.2f}"
              f"{enc.predicted_s * 1e3:>14.2f}{enc.error_pct:>+8.1f}%{dec.timing.cpu_min * 1e3:>16.3f}"
              f"{dec.predicted_s * 1e3:>11.3f}{dec.error_pct:>+8.1f}%")
    print(f"  (encoder: min and median CPU time of 5 repeats, of the fastest of {rounds} rounds; decode iter: "
          "the typical iteration's, likewise; error = (predicted - min) / min)")
    print(f"  within 15%: {sum(abs(enc.error_pct) <= 15 for _, _, (enc, _) in rows)} of {len(rows)}\n")
    print("  paired, round by round: the encoder's minimum in each round (ms) and the error of its prediction on that "
          "round's own probe,\n  taken a minute or two before under the same neighbours; the median of those errors:")
    paired = []
    for name, projection in TARGETS:
        runs = [parts[0] for parts in rounds_of[name, projection]]  # the encoder
        paired.append(float(np.median([p.error_pct for p in runs])))
        print(f"    {name.removesuffix('.yaml'):<14}{projection or '-':<11}"
              + "".join(f"{p.measured_s * 1e3:9.2f} ({p.error_pct:+5.1f}%)" for p in runs) + f"   median {paired[-1]:+6.1f}%")
    print(f"  within 15% by the median paired error: {sum(abs(e) <= 15 for e in paired)} of {len(paired)}")
    print(references())
    return 0


if __name__ == "__main__":
    sys.exit(main())
