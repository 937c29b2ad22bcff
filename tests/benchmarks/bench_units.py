"""Speed of reading quantities with units (accelsim/spec/units.py). Prints figures; asserts nothing.

    python tests/benchmarks/bench_units.py

Sweeps and calibration parse many values (every point resolves its workload and machine, every --set and axis
value is read). Three figures, each the minimum CPU time of 7 repeats (median beside it), threads pinned to 1:

1. parse: the values of the shipped files and typical axis values, one parse each per round;
2. reference: ``float()`` of each value's number part in the same loop (what no unit handling at all costs);
3. load: validating the shipped hardware file's mapping into a HardwareSpec (pydantic, every quantity parsed).

Also the time of the first parse in a fresh process (the unit library's import and set-up), against the time of a
fresh process importing accelsim without parsing.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
VALUES = [("bandwidth", v) for v in ("32 Gbps", "64 Gbps", "6.7 GB/s", "4 GB/s", "100 Mbps", "2 MiB/s", "25.6 GB/s")] + \
         [("size", v) for v in ("2 MiB", "16 GB", "512 kbit", "4 MiB")] + \
         [("frequency", v) for v in ("1.6 GHz", "800 MHz")] + \
         [("time", v) for v in ("2 us", "18.8 us", "2.0 ns", "20 ms", "0.5 us", "100 ms")]
ROUNDS = 2_000
REPEATS = 7


def _cpu(fn) -> tuple[float, float]:
    """(minimum, median) CPU seconds of ``fn`` over REPEATS runs."""
    times = []
    for _ in range(REPEATS):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return min(times), statistics.median(times)


def main() -> None:
    import yaml

    from accelsim.spec import units
    from accelsim.spec.hardware import HardwareSpec

    parsers = {"bandwidth": units.parse_bandwidth, "size": units.parse_size, "frequency": units.parse_frequency,
               "time": units.parse_time}
    calls = [(parsers[k], v) for k, v in VALUES]
    numbers = [v.split()[0] for _, v in VALUES]

    def parse():
        for _ in range(ROUNDS):
            for fn, value in calls:
                fn(value)

    def reference():
        for _ in range(ROUNDS):
            for text in numbers:
                float(text)

    raw = yaml.safe_load((REPO / "hwconfigs" / "rapid_7nm.yaml").read_text(encoding="utf-8"))

    def load():
        for _ in range(200):
            HardwareSpec.model_validate(raw)

    n = ROUNDS * len(calls)
    (p_min, p_med), (r_min, r_med), (l_min, l_med) = _cpu(parse), _cpu(reference), _cpu(load)
    print(f"1. parse      {n / p_min:>12,.0f} values/s  ({p_min / n * 1e6:.2f} us each, median {p_med / n * 1e6:.2f} us)")
    print(f"2. reference  {n / r_min:>12,.0f} values/s  ({r_min / n * 1e6:.3f} us each: float() only)  "
          f"parse/reference {p_min / r_min:.1f}x")
    print(f"3. load       {200 / l_min:>12,.0f} hardware files/s ({l_min / 200 * 1e6:.0f} us each, median {l_med / 200 * 1e6:.0f} us)")
    first = "import time; t = time.perf_counter(); from accelsim.spec import units; units.parse_bandwidth('32 Gbps'); " \
            "print(time.perf_counter() - t)"
    bare = "import time; t = time.perf_counter(); from accelsim.spec import units; print(time.perf_counter() - t)"
    runs = {name: min(float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
                      for _ in range(5)) for name, code in (("first parse", first), ("import only", bare))}
    print(f"4. fresh process: import + first parse {runs['first parse'] * 1e3:.0f} ms; import only "
          f"{runs['import only'] * 1e3:.0f} ms (minimum of 5)")


if __name__ == "__main__":
    main()
