"""Properties of the model over random valid machines (a seeded generator, so every run checks the same 300):
fewer bits are never slower with the default fused quantization, for every ordered pair of precision presets (one
narrower than the other in every layer's weight and activation bits), more link bandwidth and a narrower beam are
never slower, both breakdowns sum to the RTF, and every number is finite.

Honest exceptions, checked rather than hidden:

* fp32 and fp16 give the same RTF: the machines have no fp32 MAC units, so fp32 runs and ships as fp16 (`run` says so).
* When a narrower format has no more MAC units per cycle than the wider one (int8 at the fp16 rate), it gains nothing
  in the arrays, and its dynamic (MAX) quantizers' statistics passes still cost SFU cycles; it may then be slower, by
  at most a fraction of a percent.
* A narrower scheme may place its quantizers differently: w4a8 leaves the first LSTM's output unquantized (it keeps
  the 8-bit ends of seed 002), so the next layer quantizes its input as an op of its own, one op more than int8.
  Where the narrower preset runs more ops than the wider one, it may be slower by at most a fraction of a percent.
* Codebook weights (gq) decoded on the SFU pay for the decode: their pairs are checked with the decode in the load
  path (see CODEBOOK_DECODE).
* With `precision.quantize: separate` (the shipped workload's setting, which the calibration assumed) every activation
  quantizer is an op of its own, dispatched like any other: on a machine whose dispatch is dear and whose weights are
  cheap (device memory), those extra ops can cost more than the narrower format saves (issue 20: int8 5.2% slower than
  fp16). That is what such a runtime does, not a modelling error: with the quantizers fused the same machine is faster
  at int8, and without dispatch cost the exception vanishes (test_separate_quantizers_are_the_whole_exception).
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
import yaml

from accelsim.pipeline import resolve, simulate_point
from accelsim.spec.hardware import HardwareSpec
from accelsim.spec.workload import WorkloadSpec

REPO = Path(__file__).resolve().parents[1]
MACHINES = 300
SLACK = 1e-9  # relative: equal schedules may differ in the last bits of a sum


def _workload() -> WorkloadSpec:
    """The shipped model, shrunk so that one run takes milliseconds: 6 frames (the encoder then runs whole, not from its steady state), beam 4, two small BLSTM layers, a small
    LM_EXT; the precision section's `quantize` left at its default (fused)."""
    data = yaml.safe_load((REPO / "workloads" / "rnnt_lm_fusion.yaml").read_text(encoding="utf-8"))
    data["utterance"]["frames"] = 6
    data["decoding"]["beam"] = 4
    del data["precision"]["quantize"]
    model = data["model"]
    model["encoder"]["layers"][0].update(hidden=64, count=2)
    model["encoder"]["layers"][1]["input"] = 128
    model["lm_ext"]["layers"][1].update(hidden=256, count=1)
    model["lm_ext"]["layers"][2]["input"] = 256
    return WorkloadSpec.model_validate(data)


WORKLOAD = _workload()
BASE_HW = yaml.safe_load((REPO / "hwconfigs" / "rapid_7nm.yaml").read_text(encoding="utf-8"))


def machine(rng: random.Random) -> HardwareSpec:
    """A random valid machine with fp16, int8 and int4 units, a narrower format never fewer MACs per cycle."""
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in BASE_HW.items()}
    cop = data["coprocessor"]
    cop.update(cores=rng.randint(1, 8), corelets_per_core=rng.randint(1, 4), pe_rows=rng.randint(1, 16),
               pe_cols=rng.randint(1, 16), sfu_ops_per_cycle=rng.randint(1, 256),
               clock=f"{rng.uniform(0.2, 3):.4g} GHz", dispatch_overhead=f"{10 ** rng.uniform(-2, 1):.4g} us",
               launch_overhead=f"{10 ** rng.uniform(-1, 1.5):.4g} us",
               scratchpad=f"{rng.choice([64, 256, 2048, 8192])} KiB")
    fp16 = cop["corelets_per_core"] * cop["pe_rows"] * cop["pe_cols"] * rng.randint(1, 16)
    int8 = fp16 * rng.randint(1, 4)
    cop["macs_per_cycle"] = {"fp16": fp16, "int8": int8, "int4": int8 * rng.randint(1, 4)}
    data["link"].update(bandwidth=f"{10 ** rng.uniform(0, 2):.4g} Gbps", lanes=rng.choice([1, 4, 16]),
                        efficiency=round(rng.uniform(0.4, 1), 3), latency=f"{rng.uniform(0, 5):.3g} us")
    data["host"]["op_overhead"] = f"{rng.uniform(0, 5):.3g} us"
    data["memory"].update(residency=rng.choice(["per_op", "pinned"]), prefetch=rng.choice(["one_deep", "on_demand"]))
    if rng.random() < 0.3:
        data["memory"].update(weights_home="device", device_bandwidth=f"{10 ** rng.uniform(1, 3):.4g} GB/s")
    return HardwareSpec.model_validate(data)


def _run(hw: HardwareSpec, *flags: str):
    result = simulate_point(resolve(WORKLOAD, hw, list(flags)))
    numbers = [result.rtf, result.time_s, *result.breakdown_by_component.values(), *result.breakdown_by_resource.values(),
               *result.occupancy.values()]
    assert all(math.isfinite(x) for x in numbers), result
    assert sum(result.breakdown_by_component.values()) == pytest.approx(result.rtf, rel=1e-9)
    assert sum(result.breakdown_by_resource.values()) == pytest.approx(result.rtf, rel=1e-9)
    return result


PRESETS = ("fp32", "fp16", "int8", "int4", "w2a4", "w4a8", "w4a8_mixed", "gq")


def _layer_bits(preset: str) -> list[tuple[int, int]]:
    """(weight bits, activation bits) of every layer of the test workload under ``preset``."""
    from accelsim.workload.model import build_model

    spec = resolve(WORKLOAD, BASE_HW_SPEC, [f"workload.precision.default={preset}"]).workload
    return [(layer.precision.weight_bits, layer.precision.act_bits)
            for network in build_model(spec).networks.values() for layer in network.layers]


def _format(weight_bits: int, act_bits: int) -> str:
    """The MAC format a layer runs in on the test machines (fp16, int8 and int4 units; codebook weights decode to int8)."""
    widest = max(weight_bits, act_bits)
    return "fp16" if widest > 8 else ("int8" if widest > 4 else "int4")


BASE_HW_SPEC = HardwareSpec.model_validate(BASE_HW)
BITS = {p: _layer_bits(p) for p in PRESETS}
#: Every ordered pair (wide, narrow): narrow has no more weight and activation bits than wide in any layer.
PAIRS = [(wide, narrow) for wide in PRESETS for narrow in PRESETS if wide != narrow and BITS[wide] != BITS[narrow]
         and all(wn <= ww and an <= aw for (ww, aw), (wn, an) in zip(BITS[wide], BITS[narrow]))]


#: Codebook weights (gq) are indices decoded to centroids before the MACs: compared with the decode in the weight load
#: path (free). Decoded on the SFU instead, the decode is work of its own, and where weight bytes are cheap it can
#: cost more than the bytes saved (3% slower than fp16 on one of these machines): the format's cost, documented.
CODEBOOK_DECODE = {"gq": ("hw.coprocessor.codebook_decode=load_path",)}


def _gains_mac_rate(wide: str, narrow: str, macs: dict[str, int]) -> bool:
    """Whether every layer that changes format runs on more MACs per cycle (else only bytes and quantizers change)."""
    pairs = [(_format(*b), _format(*a)) for a, b in zip(BITS[wide], BITS[narrow]) if _format(*a) != _format(*b)]
    return all(macs[n] > macs[w] for n, w in pairs)


def test_the_pairs_are_every_ordering_not_only_neighbours():
    assert {("fp16", "int8"), ("int8", "int4"), ("fp16", "int4"), ("int4", "w2a4"), ("fp16", "w2a4"),
            ("fp32", "int4"), ("int8", "w4a8"), ("fp32", "fp16")} <= set(PAIRS)
    assert len(PAIRS) >= 15


def test_properties_over_random_machines():
    rng = random.Random(20261201)
    equal_rate = 0
    for index in range(MACHINES):
        hw = machine(rng)
        results = {p: _run(hw, f"workload.precision.default={p}", *CODEBOOK_DECODE.get(p, ())) for p in PRESETS}
        rtf = {p: r.rtf for p, r in results.items()}
        macs = hw.coprocessor.macs_per_cycle
        assert rtf["fp32"] == rtf["fp16"], index  # no fp32 units: fp32 runs as fp16
        for wide, narrow in PAIRS:
            where = f"machine {index}: {narrow} {rtf[narrow]} vs {wide} {rtf[wide]} on {hw.model_dump_json()}"
            if _gains_mac_rate(wide, narrow, macs) and results[narrow].ops <= results[wide].ops:
                assert rtf[narrow] <= rtf[wide] * (1 + SLACK), where
            else:
                equal_rate += 1
                assert rtf[narrow] <= rtf[wide] * 1.01, where
        if index % 5 == 0:  # the other two properties on every fifth machine (CI time)
            precision = rng.choice(["fp16", "int8", "int4"])
            flag = f"workload.precision.default={precision}"
            faster = hw.link.bandwidth * 2
            assert _run(hw, flag, f"hw.link.bandwidth={faster!r} B/s").rtf <= rtf[precision] * (1 + SLACK), index
            assert _run(hw, flag, "workload.decoding.beam=2").rtf <= rtf[precision] * (1 + SLACK), index
    assert equal_rate  # the exception above was exercised


#: Issue 20's reproducer: a machine on which int8 with separate quantizer ops is 5.2% slower than fp16.
REPRODUCER = [
    "hw.link.bandwidth=1.14794 Gbps", "hw.link.lanes=32", "hw.link.efficiency=0.8976", "hw.link.latency=4.461 us",
    "hw.coprocessor.cores=8", "hw.coprocessor.clock=1.357 GHz", "hw.coprocessor.corelets_per_core=2",
    "hw.coprocessor.pe_rows=8", "hw.coprocessor.pe_cols=16",
    "hw.coprocessor.macs_per_cycle={fp16: 2048, hfp8: 4096, int8: 4096, int4: 16384, int2: 32768}",
    "hw.coprocessor.sfu_ops_per_cycle=8", "hw.coprocessor.scratchpad=8 MiB", "hw.coprocessor.weight_fraction=0.28",
    "hw.coprocessor.dispatch_overhead=4.428 us", "hw.coprocessor.launch_overhead=33.42 us", "hw.host.op_overhead=6.207 us",
    "hw.host.fuse_per_element=1.689 ns", "hw.host.sort_per_element=78.32 ns", "hw.host.merge_per_element=24.64 ns",
    "hw.memory.residency=per_op", "hw.memory.weights_home=device", "hw.memory.device_bandwidth=1646 GB/s",
    "workload.decoding.lm_fusion=false",
]


def test_separate_quantizers_are_the_whole_exception():
    """On the reproducer's machine, with the shipped workload: separate quantizer ops make int8 and int4 slower than
    fp16; fused, or with no dispatch cost, fewer bits are faster again. The exception is the quantizers' dispatch."""
    workload = REPO / "workloads" / "rnnt_lm_fusion.yaml"
    hw = REPO / "hwconfigs" / "rapid_7nm.yaml"

    def rtf(precision: str, *flags: str) -> float:
        return simulate_point(resolve(workload, hw, [*REPRODUCER, f"workload.precision.default={precision}",
                                                     *flags])).rtf

    separate = {p: rtf(p) for p in ("fp16", "int8", "int4")}
    assert separate["int8"] > separate["fp16"] * 1.04 and separate["int4"] > separate["fp16"]  # the figures
    fused = {p: rtf(p, "workload.precision.quantize=fused") for p in ("fp16", "int8", "int4")}
    assert fused["fp16"] == separate["fp16"] and fused["int4"] < fused["int8"] < fused["fp16"]
    free = {p: rtf(p, "hw.coprocessor.dispatch_overhead=1 ns") for p in ("fp16", "int8", "int4")}
    assert free["int4"] < free["int8"] < free["fp16"]


def test_run_says_where_the_exceptions_happen(capsys):
    """`run` names both exceptions where they happen: fp32 networks that ran as fp16, and quantizers dispatched as ops
    of their own (the reason a narrower format can be slower); neither note where it does not apply."""
    from accelsim.cli import main

    def run(*args: str) -> str:
        assert main(["run", str(REPO / "workloads" / "rnnt_lm_fusion.yaml"), str(REPO / "hwconfigs" / "rapid_7nm.yaml"),
                     "--no-lm", *args]) == 0
        return capsys.readouterr().out

    fp32 = run("--precision", "fp32")
    assert "ran as fp16" in fp32 and "quantizers run as ops of their own" not in fp32
    assert "ran as fp16" not in run("--precision", "fp16")
    separate = run("--precision", "int8", *(f"--set={flag}" for flag in REPRODUCER))
    assert "quantizers run as ops of their own" in separate and "4.43 us dispatch" in separate
    assert "quantizers run as ops" not in run("--precision", "int8", "--set", "workload.precision.quantize=fused")


@pytest.mark.parametrize(("machine", "says"), [("cpu_only.yaml", "us call overhead"), ("gpu/t4.yaml", "per-op overhead")])
def test_the_quantizer_note_names_each_familys_overhead(capsys, machine, says):
    """The note takes the per-op overhead from the machine's family (it read the coprocessor's and crashed on a CPU or
    a GPU after the whole simulation)."""
    from accelsim.cli import main

    assert main(["run", str(REPO / "workloads" / "rnnt_lm_fusion.yaml"), str(REPO / "hwconfigs" / machine), "--no-lm",
                 "--precision", "int8", "--beam", "1", "--set", "workload.utterance.frames=20"]) == 0
    assert says in capsys.readouterr().out
