"""Memory hierarchies (issue 21): levels in the hardware YAML, where each op's weights come from, streaming overlapped
with compute, per-level traffic, the CPU family; hand calculations, and one clear error for each bad hierarchy."""

from __future__ import annotations

import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

import accelsim
from accelsim.errors import SpecError
from accelsim.graph.ir import Op
from accelsim.hw.cost import CostTable
from accelsim.hw.family import family_of
from accelsim.hw.memory import Level, levels_of
from accelsim.sim.policies import RESIDENCIES

REPO = Path(__file__).resolve().parents[1]
WORKLOAD = REPO / "workloads" / "rnnt_lm_fusion.yaml"
RAPID = REPO / "hwconfigs" / "rapid_7nm.yaml"
CPU = REPO / "hwconfigs" / "cpu_only.yaml"
SMALL = ["workload.utterance.frames=16", "workload.decoding.beam=2"]

#: A small CPU: one core at 1 GHz, 16 fp32 MACs and 8 vector ops per cycle, 1 us per call; 1 MiB L2 per core at
#: 64 GB/s, 8 MiB shared L3 at 16 GB/s, DRAM at 8 GB/s.
TOY = {
    "name": "toy", "family": "cpu",
    "cpu": {"cores": 1, "clock": "1 GHz", "macs_per_cycle": {"fp32": 16}, "vector_ops_per_cycle": 8,
            "call_overhead": "1 us", "launch_overhead": "0 s"},
    "host": {"op_overhead": "1 us", "fuse_per_element": "1 ns", "sort_per_element": "1 ns", "merge_per_element": "1 ns"},
    "link": {"bandwidth": "100 Gbps", "latency": "0 s"},
    "memory": {"weights_home": "DRAM", "residency": "cache", "overlap": 1.0, "levels": [
        {"name": "L2", "kind": "cache", "scope": "core", "capacity": "1 MiB", "read_bandwidth": "64 GB/s"},
        {"name": "L3", "kind": "cache", "scope": "shared", "capacity": "8 MiB", "read_bandwidth": "16 GB/s",
         "latency": "20 ns"},
        {"name": "DRAM", "kind": "memory", "read_bandwidth": "8 GB/s", "latency": "100 ns"}]},
}


def _write(tmp_path: Path, data: dict, name: str = "hw.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _toy(tmp_path: Path, **memory) -> accelsim.api.HardwareSpec:
    data = yaml.safe_load(yaml.safe_dump(TOY))
    data["memory"].update(memory)
    return accelsim.load_hardware(_write(tmp_path, data))


def _matvec(name: str, params: int, op_id: int = 0, m: int = 1) -> Op:
    return Op(op_id, name, "matmul", "core", "encoder", "r", m=m, k=params // 256, n=256, weight_bits=32, act_bits=32,
              weights=((name, params),))


# ---------------------------------------------------------------- old configs are a two-level hierarchy


def test_configs_without_levels_are_two_levels():
    rapid = accelsim.load_hardware(RAPID)
    pad, home = levels_of(rapid)
    assert (pad.kind, pad.capacity, pad.scope, pad.weight_fraction) == ("scratchpad", 2 * 2**20, "core", 0.5)
    assert (home.name, home.kind, home.via_link) == ("host", "memory", True)
    device = accelsim.load_hardware(RAPID, overrides=["hw.memory.weights_home=device", "hw.memory.device_bandwidth=50 GB/s"])
    assert levels_of(device)[1].read_bandwidth == 50e9 and not levels_of(device)[1].via_link


def test_the_same_machine_written_with_levels_runs_the_same(tmp_path):
    data = yaml.safe_load(RAPID.read_text(encoding="utf-8"))
    pad = data["coprocessor"].pop("scratchpad")
    share = data["coprocessor"].pop("weight_fraction")
    data["memory"]["levels"] = [
        {"name": "scratchpad", "kind": "scratchpad", "scope": "core", "capacity": pad, "weight_fraction": share},
        {"name": "host", "kind": "memory", "via_link": True}]
    explicit = _write(tmp_path, data)
    for flags in ([], ["hw.memory.residency=pinned"]):
        old = accelsim.simulate(WORKLOAD, RAPID, overrides=[*SMALL, *flags], keep_records=False)
        new = accelsim.simulate(WORKLOAD, explicit, overrides=[*SMALL, *flags], keep_records=False)
        assert new.to_dict() | {"hardware": "x"} == old.to_dict() | {"hardware": "x"}


# ---------------------------------------------------------------- streaming overlapped with compute, by hand


@pytest.mark.parametrize("overlap", [1.0, 0.5, 0.0])
def test_a_streamed_matvec_by_hand(tmp_path, overlap):
    """1 x 1024 @ 1024 x 256 fp32 (1 MiB of weights) on one core: compute 262,144 MACs / 16 per cycle = 16.384 us;
    from DRAM 1 MiB / 8 GB/s = 131.072 us: the op takes 1 us + max + (1 - overlap) x min + 100 ns."""
    costs = CostTable(_toy(tmp_path, overlap=overlap))
    op = _matvec("W", 1024 * 256)
    compute, stream = 1024 * 256 / 16e9, 2**20 / 8e9
    cost = costs.op(op, 1, (("DRAM", 2.0**20),))
    assert cost.seconds == pytest.approx(1e-6 + max(compute, stream) + (1 - overlap) * min(compute, stream) + 100e-9)
    assert cost.roofline_s == pytest.approx(stream) and cost.level_bytes == (("DRAM", 2.0**20),)
    from_l2 = costs.op(op, 1, (("L2", 2.0**20),))  # 1 MiB / 64 GB/s = 16.384 us: as long as the compute
    assert from_l2.seconds == pytest.approx(1e-6 + compute + (1 - overlap) * compute)
    batched = costs.op(_matvec("W", 1024 * 256, m=64), 1, (("DRAM", 2.0**20),))  # 64x the MACs: compute bound
    assert batched.seconds == pytest.approx(1e-6 + 64 * compute + (1 - overlap) * stream + 100e-9)


def test_a_gemm_of_several_rows_packs_its_weights_first(tmp_path):
    """With cpu.pack_bandwidth 1 GB/s, 4 x 1024 @ 1024 x 256 fp32 first packs its 1 MiB of weights (1.048576 ms), then
    computes 4 x 262,144 MACs / 16 per cycle = 65.536 us; streaming them from DRAM (131.072 us) overlaps both. One row
    is a matrix-vector product: no packing. Without pack_bandwidth nothing changes."""
    data = yaml.safe_load(yaml.safe_dump(TOY))
    data["cpu"]["pack_bandwidth"] = "1 GB/s"
    costs = CostTable(accelsim.load_hardware(_write(tmp_path, data)))
    reads = (("DRAM", 2.0**20),)
    four = costs.op(_matvec("W", 1024 * 256, m=4), 1, reads)
    assert four.seconds == pytest.approx(1e-6 + 2**20 / 1e9 + 4 * 1024 * 256 / 16e9 + 100e-9)
    one = costs.op(_matvec("W", 1024 * 256), 1, reads)
    assert one.seconds == pytest.approx(1e-6 + 2**20 / 8e9 + 100e-9)
    unpacked = CostTable(_toy(tmp_path)).op(_matvec("W", 1024 * 256, m=4), 1, reads)
    assert unpacked.seconds == pytest.approx(1e-6 + 2**20 / 8e9 + 100e-9)


def test_more_cores_draw_more_from_a_level_up_to_its_shared_bandwidth(tmp_path):
    data = yaml.safe_load(yaml.safe_dump(TOY))
    data["cpu"]["cores"] = 8
    data["memory"]["levels"][2]["shared_bandwidth"] = "32 GB/s"
    costs = CostTable(accelsim.load_hardware(_write(tmp_path, data)))
    op = _matvec("W", 1024 * 256)
    two = costs.op(op, 2, (("DRAM", 2.0**20),)).seconds - 1e-6 - 100e-9
    eight = costs.op(op, 8, (("DRAM", 2.0**20),)).seconds - 1e-6 - 100e-9
    assert two == pytest.approx(2**20 / 16e9) and eight == pytest.approx(2**20 / 32e9)  # 8 x 8 GB/s capped at 32


# ---------------------------------------------------------------- where weights come from (least recently used)


def test_reuse_distance_picks_the_level(tmp_path):
    """Tensors A and B of 768 KiB each: A read again after B has a reuse distance of 1.5 MiB, more than the 1 MiB L2,
    within the 8 MiB L3; B read twice in a row hits L2; the first reads come from DRAM."""
    device = family_of(_toy(tmp_path))
    size = 768 * 256  # fp32 parameters of 768 KiB
    ops = [_matvec("A", size, 0), _matvec("B", size, 1), _matvec("B", size, 2), _matvec("A", size, 3)]
    _, (plan,) = RESIDENCIES["cache"].plan([ops], device)
    kib = 768 * 1024.0
    assert plan == ((("DRAM", kib),), (("DRAM", kib),), (("L2", kib),), (("L3", kib),))


#: A measured hit curve for the toy's L3: all of it up to 4 MiB, half at 16 MiB, nothing from 64 MiB on.
CURVE = [{"distance": "4 MiB", "fraction": 1.0}, {"distance": "16 MiB", "fraction": 0.5},
         {"distance": "64 MiB", "fraction": 0.0}]


def _curved(tmp_path: Path, curve=CURVE, l3_capacity: str = "8 MiB"):
    levels = _levels(l1={"hit_curve": curve, "capacity": l3_capacity})
    return family_of(_toy(tmp_path, levels=levels))


def test_a_hit_curve_is_interpolated_in_log_distance(tmp_path):
    """At 8 MiB, halfway between 4 and 16 MiB in log distance: 1 + (0.5 - 1) x 1/2 = 0.75; at 32 MiB 0.25; flat before
    the first point, 0 after the last; a per-core level's distances are per core."""
    l3 = _curved(tmp_path).memory.by_name["L3"]
    mib = 2.0**20
    assert [l3.served(d * mib, 1) for d in (1, 4, 8, 16, 32, 64, 100)] == pytest.approx([1, 1, 0.75, 0.5, 0.25, 0, 0])
    assert l3.served(64 * mib, 1) == 0.0 and l3.served(16 * mib, 1) == 0.5  # a point's own fraction, exactly
    assert l3.reach(1) == 64 * mib
    per_core = Level("L2", "cache", mib, "core", 1e9, None, 0.0, None, 0.0, False,
                                        ((mib, 1.0), (4 * mib, 0.0)))
    assert per_core.served(4 * mib, 2) == pytest.approx(0.5) and per_core.reach(2) == 8 * mib


def test_a_hit_curve_splits_a_tensor_between_levels(tmp_path):
    """A 6 MiB tensor read twice in a row (reuse distance 6 MiB, beyond the 1 MiB L2): L3 serves 1 + (0.5 - 1) x
    log(6/4)/log(4) of it, DRAM the rest; least recently used (no curve) would have served it all from the 8 MiB L3."""
    size = 6 * 2**18  # fp32 parameters of 6 MiB
    ops = [_matvec("A", size, 0), _matvec("A", size, 1)]
    served = 1 - 0.5 * math.log(1.5) / math.log(4)
    _, (plan,) = RESIDENCIES["cache"].plan([ops], _curved(tmp_path))
    assert plan[0] == (("DRAM", 6 * 2.0**20),)
    assert dict(plan[1]) == pytest.approx({"L3": served * 6 * 2**20, "DRAM": (1 - served) * 6 * 2**20})
    _, (lru,) = RESIDENCIES["cache"].plan([ops], family_of(_toy(tmp_path)))
    assert lru[1] == (("L3", 6 * 2.0**20),)
    small = [_matvec("B", 2**16, 0), _matvec("B", 2**16, 1)]  # 256 KiB: the L2 holds it, whatever L3's curve says
    assert RESIDENCIES["cache"].plan([small], _curved(tmp_path))[1][0][1] == (("L2", 2.0**18),)


def test_a_recurrent_layer_streams_from_the_level_that_holds_it(tmp_path):
    """An LSTM layer reads its weights every step: they come from L2 when they fit its 1 MiB, else from L3, else DRAM."""
    spec = accelsim.load_workload(REPO / "workloads" / "ondevice_rnnt.yaml", overrides=[
        "workload.streaming=null", "workload.utterance.frames=6", "workload.precision.default=fp32"])
    for hidden, level in ((64, "L2"), (256, "L3"), (1024, "DRAM")):
        point = accelsim.api.resolve(spec, _toy(tmp_path), [
            f"workload.model.encoder.layers.0.hidden={hidden}", "workload.model.encoder.layers.0.count=1",
            f"workload.model.encoder.layers.1.input={hidden}"])
        layers = accelsim.simulate(point.workload, point.hardware).layers()
        row = layers[(layers.network == "encoder") & (layers.layer == "lstm")].iloc[0]
        assert row.weights_from == f"DRAM+{level}" if level != "DRAM" else row.weights_from == "DRAM", (hidden, row)


def test_traffic_per_level_adds_up_to_the_bytes_read(tmp_path):
    result = accelsim.simulate(REPO / "workloads" / "ondevice_rnnt.yaml", _toy(tmp_path),
                               overrides=["workload.streaming=null", "workload.utterance.frames=8"], keep_records=False)
    assert sum(result.traffic_bytes.values()) == pytest.approx(result.fetched_weight_bytes)
    assert set(result.level_bytes()) <= {"L2", "L3", "DRAM"} and set(result.level_busy_s) == set(result.level_bytes())
    assert result.level_busy_s["DRAM"] == pytest.approx(result.level_bytes()["DRAM"] / 8e9)
    assert result.row()["level_DRAM_bytes"] == result.level_bytes()["DRAM"]


def test_run_by_layer_says_where_weights_came_from():
    proc = subprocess.run([sys.executable, "-m", "accelsim.cli", "run", str(REPO / "workloads" / "ondevice_rnnt.yaml"),
                           str(CPU), "--set", "workload.streaming=null", "--set", "workload.utterance.frames=8",
                           "--by", "layer"], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert "from" in proc.stdout and "weights from" in proc.stdout and "DRAM" in proc.stdout


# ---------------------------------------------------------------- bad hierarchies


def _levels(**change) -> list[dict]:
    levels = yaml.safe_load(yaml.safe_dump(TOY["memory"]["levels"]))
    for index, fields in change.items():
        levels[int(index[1:])].update(fields)
    return levels


BAD = {
    "out of order": ({"levels": _levels(l0={"capacity": "16 MiB"})}, "levels out of order"),
    "cache after memory": ({"levels": [TOY["memory"]["levels"][2], TOY["memory"]["levels"][0]]}, "out of order"),
    "cache larger than the level below": ({"levels": _levels(l2={"capacity": "4 MiB"})}, "not larger"),
    "zero capacity": ({"levels": _levels(l0={"capacity": "0 B"})}, "greater than zero"),
    "zero bandwidth": ({"levels": _levels(l1={"read_bandwidth": "0 GB/s"})}, "greater than zero"),
    "overlap above 1": ({"overlap": 1.5}, "less than or equal to 1"),
    "overlap below 0": ({"overlap": -0.1}, "greater than or equal to 0"),
    "home not a memory": ({"weights_home": "L3"}, "not a memory level"),
    "duplicate names": ({"levels": _levels(l1={"name": "L2"})}, "unique"),
    "cache without capacity": ({"levels": _levels(l1={"capacity": None})}, "needs a capacity"),
    "hit curve rising": ({"levels": _levels(l1={"hit_curve": [CURVE[1], CURVE[0], CURVE[2]]})}, "distances must increase"),
    "hit curve fraction rising": ({"levels": _levels(l1={"hit_curve": [
        CURVE[1], {"distance": "32 MiB", "fraction": 0.7}, CURVE[2]]})}, "must not increase"),
    "hit curve not ending at 0": ({"levels": _levels(l1={"hit_curve": CURVE[:2]})}, "last point's fraction must be 0"),
    "hit curve fraction above 1": ({"levels": _levels(l1={"hit_curve": [{"distance": "4 MiB", "fraction": 1.5},
                                                                         CURVE[2]]})}, "less than or equal to 1"),
    "hit curve on a memory": ({"levels": _levels(l2={"hit_curve": CURVE})}, "goes with kind 'cache'"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_hierarchy_is_one_clear_error(tmp_path, case):
    memory, message = BAD[case]
    data = yaml.safe_load(yaml.safe_dump(TOY))
    data["memory"].update(memory)
    data["memory"]["levels"] = [{k: v for k, v in level.items() if v is not None} for level in data["memory"]["levels"]]
    path = _write(tmp_path, data)
    with pytest.raises(SpecError, match=message) as info:
        accelsim.load_hardware(path)
    assert str(path) in str(info.value) and "memory" in str(info.value)
    proc = subprocess.run([sys.executable, "-m", "accelsim.cli", "validate", str(path)], capture_output=True, text=True)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_a_cpu_needs_levels_and_an_overlap(tmp_path):
    data = yaml.safe_load(yaml.safe_dump(TOY))
    del data["memory"]["overlap"]
    with pytest.raises(SpecError, match="streams weights through its caches"):
        accelsim.load_hardware(_write(tmp_path, data))
    data = yaml.safe_load(yaml.safe_dump(TOY))
    data["coprocessor"] = accelsim.load_hardware(RAPID).coprocessor.model_dump(mode="json")
    with pytest.raises(SpecError, match="not a coprocessor one"):
        accelsim.load_hardware(_write(tmp_path, data))


def test_overlap_needs_weights_on_the_device():
    with pytest.raises(SpecError, match="not across the link"):
        accelsim.load_hardware(RAPID, overrides=["hw.memory.overlap=1"])


# ---------------------------------------------------------------- the runtime's kernels and special functions


def _encoder_ops(workload: str, *overrides: str) -> dict[str, Op]:
    """The encoder ops of workloads/measure/``workload``.yaml on the CPU config, by name."""
    from accelsim.pipeline import prepare

    point = accelsim.api.resolve(REPO / "workloads" / "measure" / f"{workload}.yaml", CPU, list(overrides))
    return {op.name: op for op in prepare(point.workload).program.encoder.lower().ops}


def _lstm_encoder(projection: str, kernels: str) -> dict[str, Op]:
    return _encoder_ops("lstm320", f"workload.runtime.lstm_input_projection={projection}",
                        f"workload.runtime.kernels={kernels}", "workload.utterance.frames=4")


@pytest.mark.parametrize("projection", ["per_step", "batched"])
def test_an_eager_runtime_calls_a_kernel_per_elementwise_operation(projection):
    """Eager: an LSTM cell is eight calls (nine per step with its output copied out of [x_t, h_t]); the per-step gate
    matmul copies x_t in and adds the bias (three), the batched step's adds the projection (two). Fused: one each.
    The work is the same either way, special functions included (3 sigmoids and 2 tanh per unit)."""
    eager, fused = _lstm_encoder(projection, "eager"), _lstm_encoder(projection, "fused")
    assert eager.keys() == fused.keys()
    cell = "encoder.lstm1.t2.cell"
    matmul = "encoder.lstm1.t2.gates" if projection == "per_step" else "encoder.lstm1.t2.rec"
    assert (eager[cell].kernels, eager[matmul].kernels) == ((9, 3) if projection == "per_step" else (8, 2))
    assert all(op.kernels == 1 for op in fused.values())
    # Views between the calls: the cell's four gates and its sigmoid slice (read, written), h_t's slot (and, per step,
    # the slot read again to copy h_t out); the per-step matmul's x_t row, the batched step's h_{t-1} and projection rows.
    assert (eager[cell].views, eager[matmul].views) == ((8, 1) if projection == "per_step" else (7, 2))
    assert all(op.views == 0 for op in fused.values())
    assert eager[cell].special == fused[cell].special == (("sigmoid", 3 * 320), ("tanh", 2 * 320))
    assert eager[cell].elements == fused[cell].elements == 13 * 320


def test_special_functions_and_kernels_on_a_cpu_by_hand(tmp_path):
    """An LSTM cell of 320 units, eager (8 calls of 1 us), on the toy CPU (1 GHz, 8 vector ops per cycle) with
    sigmoid at 0.1 and tanh at 1 evaluation per cycle: 8 us + (13 - 5) x 320 / 8 + 960 / 0.1 + 640 / 1 cycles."""
    data = yaml.safe_load(yaml.safe_dump(TOY))
    data["cpu"]["special_ops_per_cycle"] = {"sigmoid": 0.1, "tanh": 1.0}
    costs = CostTable(accelsim.load_hardware(_write(tmp_path, data)))
    cell = Op(0, "cell", "sfu", "core", "encoder", "r", elements=13 * 320, kernels=8,
              special=(("sigmoid", 960), ("tanh", 640)))
    cycles = 8 * 320 / 8 + 960 / 0.1 + 640 / 1.0
    assert costs.op(cell).seconds == pytest.approx(8e-6 + cycles / 1e9)
    # A depthwise convolution has no reuse for a matmul kernel: a multiply and an add per MAC on the vector units.
    dw = Op(0, "dw", "dwconv", "core", "encoder", "r", m=200, k=32, n=144, weight_bits=32, act_bits=32)
    assert costs.op(dw).seconds == pytest.approx(1e-6 + 2 * 200 * 32 * 144 / 8 / 1e9)


def test_broadcast_and_reduce_loops_on_a_cpu_by_hand(tmp_path):
    """The toy CPU (1 GHz, 8 vector ops per cycle, 1 us per call) with broadcast at 2 and reduce at 1 per cycle: an
    eager layer norm of 1,000 elements (9 calls, 7 passes: 4 broadcast, 2 reduce, 1 flat) takes 9 us + (4,000 / 2 +
    2,000 / 1 + 1,000 / 8) cycles; eager depthwise taps broadcast their products (half of 2 x MACs); a matmul's bias
    added in a pass of its own broadcasts. Without the rates, every pass runs at 8 per cycle."""
    data = yaml.safe_load(yaml.safe_dump(TOY))
    data["cpu"]["special_ops_per_cycle"] = {"broadcast": 2.0, "reduce": 1.0}
    costs, plain = CostTable(accelsim.load_hardware(_write(tmp_path, data))), CostTable(_toy(tmp_path))
    norm = Op(0, "norm", "sfu", "core", "encoder", "r", elements=7000, kernels=9, broadcast=4000, reduce=2000)
    assert costs.op(norm).seconds == pytest.approx(9e-6 + (4000 / 2 + 2000 / 1 + 1000 / 8) / 1e9)
    assert plain.op(norm).seconds == pytest.approx(9e-6 + 7000 / 8 / 1e9)
    macs = 200 * 32 * 144
    dw = Op(0, "dw", "dwconv", "core", "encoder", "r", m=200, k=32, n=144, weight_bits=32, act_bits=32, broadcast=macs)
    assert costs.op(dw).seconds == pytest.approx(1e-6 + (macs / 2 + macs / 8) / 1e9)
    biased = replace(_matvec("W", 1024 * 256, m=4), epilogue=4 * 256, broadcast=4 * 256)
    assert costs.op(biased).seconds == pytest.approx(1e-6 + 4 * 1024 * 256 / 16e9 + 4 * 256 / 2 / 1e9)


def test_a_matmul_call_and_views_have_their_own_fixed_costs_on_a_cpu_by_hand(tmp_path):
    """An eager batched LSTM step on the toy CPU (1 us per call) with matmul_call_overhead 3 us and view_overhead
    0.25 us: the recurrent matmul (2 calls, one of them the matmul; 2 views) pays 1 + 3 + 2 x 0.25 us before its
    compute; the cell (8 calls, 7 views) 8 + 7 x 0.25 us. Without them, calls only."""
    data = yaml.safe_load(yaml.safe_dump(TOY))
    data["cpu"].update(matmul_call_overhead="3 us", view_overhead="0.25 us")
    costs, plain = CostTable(accelsim.load_hardware(_write(tmp_path, data))), CostTable(_toy(tmp_path))
    rec = replace(_matvec("W", 1024 * 256), kernels=2, views=2)
    compute = 1024 * 256 / 16 / 1e9
    assert costs.op(rec).seconds == pytest.approx(1e-6 + 3e-6 + 0.5e-6 + compute)
    assert plain.op(rec).seconds == pytest.approx(2e-6 + compute)
    cell = Op(0, "cell", "sfu", "core", "encoder", "r", elements=800, kernels=8, views=7)
    assert costs.op(cell).seconds == pytest.approx(8e-6 + 1.75e-6 + 800 / 8 / 1e9)
    assert plain.op(cell).seconds == pytest.approx(8e-6 + 800 / 8 / 1e9)


def test_an_eager_runtime_adds_biases_and_norms_in_passes_of_their_own():
    """Eager, each matmul with weights adds its bias over its rows x outputs, and the attention its u and v biases to
    the queries, in element-wise passes broadcasting a row; a layer norm makes seven passes over the data, of which
    four broadcast and two reduce; a softmax seven, two and two; the depthwise taps broadcast their weights, one
    product per MAC. Fused, a bias is in the matmul's own epilogue, a norm 5 operations per element, nothing broadcast."""
    rows, d = 8, 144
    eager, fused = (_encoder_ops("conformer_s4", f"workload.runtime.kernels={k}", f"workload.utterance.frames={rows}")
                    for k in ("eager", "fused"))
    block = "encoder.conformer1."
    w1, scores = eager[block + "ffn1.W1"], eager[block + "mhsa.scores"]
    assert (w1.m, w1.n, w1.epilogue, w1.broadcast) == (rows, 576, rows * 576, rows * 576)
    assert (scores.epilogue, scores.broadcast) == (rows * d, rows * d)
    norm, soft, dw = eager[block + "ffn1.norm"], eager[block + "mhsa.softmax"], eager[block + "conv.dw"]
    assert (norm.elements, norm.broadcast, norm.reduce) == (7 * rows * d, 4 * rows * d, 2 * rows * d)
    assert (soft.elements, soft.broadcast, soft.reduce) == (7 * 4 * rows * rows, 2 * 4 * rows * rows, 2 * 4 * rows * rows)
    assert dw.broadcast == dw.macs == rows * 32 * d
    assert fused[block + "ffn1.norm"].elements == 5 * rows * d
    assert all(op.epilogue == op.broadcast == op.reduce == 0 for op in fused.values() if op.kind in ("matmul", "dwconv"))
    assert all(op.broadcast == op.reduce == 0 for op in fused.values())


def test_the_systolic_chip_prices_special_functions_like_any_sfu_op(hw_spec):
    from accelsim.hw.cost import op_cost

    plain = Op(0, "cell", "sfu", "core", "encoder", "r", elements=13 * 320)
    special = Op(0, "cell", "sfu", "core", "encoder", "r", elements=13 * 320, special=(("sigmoid", 960),))
    assert op_cost(plain, hw_spec, 2) == op_cost(special, hw_spec, 2)


def test_a_streamed_codebook_matmul_still_pays_its_decode(hw_spec):
    """A codebook matmul streaming its weights on a systolic chip with overlap costs at least what the same op costs
    with nothing streamed: its look-up-table rate or SFU decode holds in both paths (the streamed path used to price the
    index bits as a native format and skip the decode: 14.8 us without reads, 4.6 us with one byte read)."""
    from accelsim.hw.family import family_of

    hw = hw_spec.model_copy(update={"memory": hw_spec.memory.model_copy(
        update={"weights_home": "device", "overlap": 1.0, "device_bandwidth": 1e12})})
    device = family_of(hw)
    op = Op(0, "W", "matmul", "core", "encoder", "r", m=1, k=1024, n=1024, weight_bits=4, act_bits=8, codebook_bits=8,
            weights=(("W", 1024 * 1024),))
    alone, _ = device.matmul(op, 1)
    streamed, _ = device.matmul(op, 1, (("device", 1.0),))
    assert streamed >= alone
