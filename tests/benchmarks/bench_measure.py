"""How far accelsim's predictions are from a real run on this CPU (issue 21). Prints figures; asserts nothing.

    python tests/benchmarks/bench_measure.py            # a full probe, then every target (about two minutes)
    python tests/benchmarks/bench_measure.py --quick    # a quick probe (the figures are noisier)
    python tests/benchmarks/bench_measure.py --keep probe.yaml   # and keep the probe's hardware YAML

1. `accelsim probe` of this machine (micro-benchmarks only), written to a temporary hardware YAML.
2. Every target of workloads/measure/ -- 2-layer LSTM encoders of hidden 320, 640 and 1024 (input 340, 200 frames),
   each with one fused cell per step and with the input projection batched, and a 4-block Conformer(S)-size stack --
   run by the numpy float32 reference runtime (pinned, BLAS on one thread, minimum and median CPU time of 5 repeats)
   beside accelsim's prediction on the probed machine, with the error.
3. Reference timings of the same run, before and after the targets: a numpy float32 1024 x 1024 GEMM and a bare
   Python loop of 10^6 iterations (minimum CPU time of 5 repeats each), and the load average.

Nothing measured here goes back into the model: the probe's figures are micro-benchmarks, and the targets' times are
only compared with the predictions.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from accelsim.api import resolve  # noqa: E402
from accelsim.measure.compare import measure  # noqa: E402
from accelsim.measure.harness import controlled, time_call  # noqa: E402
from accelsim.measure.hwyaml import hardware_yaml  # noqa: E402
from accelsim.measure.probe import format_probe, run_probe  # noqa: E402

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a quick probe")
    parser.add_argument("--keep", metavar="FILE.yaml", help="also keep the probe's hardware YAML in FILE")
    args = parser.parse_args()
    print(references())
    probe = run_probe(quick=args.quick)
    print(format_probe(probe) + "\n")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        hw = Path(args.keep or Path(folder) / "probe.yaml")
        hw.write_text(hardware_yaml(probe))
        for name, projection in TARGETS:
            sets = [f"workload.runtime.lstm_input_projection={projection}"] if projection else []
            point = resolve(REPO / "workloads" / "measure" / name, hw, sets)
            rows.append((name.removesuffix(".yaml"), projection or "-", measure(point, name)))
    print(f"  {'workload':<14}{'projection':<11}{'min CPU ms':>11}{'median ms':>11}{'predicted ms':>14}{'error':>9}"
          f"{'decode iter ms':>16}{'predicted':>11}{'error':>9}")
    for name, projection, m in rows:
        enc, dec = m.parts
        print(f"  {name:<14}{projection:<11}{enc.timing.cpu_min * 1e3:>11.2f}{enc.timing.cpu_median * 1e3:>11.2f}"
              f"{enc.predicted_s * 1e3:>14.2f}{enc.error_pct:>+8.1f}%{dec.timing.cpu_min * 1e3:>16.3f}"
              f"{dec.predicted_s * 1e3:>11.3f}{dec.error_pct:>+8.1f}%")
    print("  (encoder: min and median CPU time of 5 repeats; decode iter: the typical iteration's min CPU time; error = "
          "(predicted - min) / min)")
    print(references())
    return 0


if __name__ == "__main__":
    sys.exit(main())
