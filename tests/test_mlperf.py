"""The MLPerf scenarios (issue 22): continuous batching by hand, Offline's steady rate, the Server's p99 bound and
Little's law, SingleStream's fit against every sample simulated, the calibration, the shipped configs, bad input."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml

import accelsim
from accelsim.mlperf.batching_jit import run_rounds
from accelsim.mlperf.rounds import bucket, round_cost, round_program
from accelsim.mlperf.scenarios import (SERVER_BOUND_S, Batching, Bench, in_system, offline, server, server_run,
                                       singlestream, steady_rate)
from accelsim.mlperf.table import shipped_systems
from accelsim.pipeline import resolve

REPO = Path(__file__).resolve().parents[1]
MLPERF = REPO / "workloads" / "mlperf_rnnt.yaml"
A100 = REPO / "hwconfigs" / "gpu" / "a100_sxm_80gb.yaml"
#: A small data set: 40 utterances of 1.2 to 6 s.
SMALL = ["workload.test_set.count=40", "workload.test_set.mean_frames=50", "workload.test_set.std_frames=20",
         "workload.test_set.max_frames=100"]


@pytest.fixture(scope="module")
def bench() -> Bench:
    return Bench.of(resolve(MLPERF, A100, SMALL), passes=4)


# ---------------------------------------------------------------- continuous batching, by hand


def _rounds(arrivals, samples, frames, labels, max_batch, costs):
    offsets = np.concatenate(([0], np.cumsum(frames)[:-1]))
    flat = np.concatenate([np.asarray(l, dtype=np.int64) for l in labels])
    bucket_of = np.zeros(max_batch + 1, dtype=np.int64)  # one bucket for every occupancy
    return run_rounds(np.asarray(arrivals, dtype=float), np.asarray(samples, dtype=np.int64),
                      np.asarray(frames, dtype=np.int64), offsets.astype(np.int64), flat, max_batch, bucket_of,
                      np.asarray(costs, dtype=float))


def test_samples_join_free_slots_and_leave_after_their_last_frame():
    """Two slots, rounds of 1 s (2 s when a slot emits a label). Samples of 2, 1 and 3 frames all there at 0: A and B
    join at round 0; B leaves after round 0 (t = 1), C joins at round 1 and runs rounds 1-3; A leaves after round 1
    (t = 2... its second frame emits a label: round 1 costs 2 s, t = 3). C's rounds 2 and 3: t = 4, 5."""
    done, counts, slot_rounds, rounds = _rounds([0, 0, 0], [0, 1, 2], [2, 1, 3], [[0, 1], [0], [0, 0, 0]], 2,
                                                [[1.0, 2.0]])
    assert done.tolist() == [3.0, 1.0, 5.0]
    assert (counts.tolist(), slot_rounds, rounds) == ([[3, 1]], 2 + 2 + 1 + 1, 4)


def test_a_sample_that_arrives_later_joins_at_the_next_round():
    """One slot free: a sample arriving at 0.5 s joins the round that starts at 1 s; an idle machine waits for it."""
    done, *_ = _rounds([0.0, 0.5, 10.0], [0, 0, 0], [2], [[0, 0]], 2, [[1.0]])
    assert done.tolist() == [2.0, 3.0, 12.0]


def test_the_rounds_of_a_batch_are_its_bucket():
    assert [bucket(b) for b in (1, 2, 3, 63, 64, 65, 2048)] == [1, 2, 4, 64, 64, 128, 2048]


def test_a_round_is_the_encoder_for_one_frame_then_the_decode(bench):
    """A round of 8 slots, 2 joint evaluations: the encoder's six input frames per slot (two 30 ms steps of pre_rnn,
    one of post_rnn), no features crossing the link (copied ahead), then one decode program per evaluation, the
    prediction network (masked, every row) before the second."""
    program = round_program(bench.model, 8, 2)
    encoder = program.encoder.lower().ops
    assert not any(op.kind == "transfer" for op in encoder)
    steps = [op for op in encoder if op.step >= 0]
    assert sorted({(op.layer, op.step) for op in steps}) == [
        ("post_rnn1", 0), ("post_rnn2", 0), ("post_rnn3", 0), ("pre_rnn1", 0), ("pre_rnn1", 1), ("pre_rnn2", 0),
        ("pre_rnn2", 1)]
    assert all(op.m == 8 for op in steps)
    (_, first), (_, second) = program.iterations
    assert not any(op.component == "prediction" for op in first.ops)
    assert {op.m for op in second.ops if op.component == "prediction" and op.kind == "matmul"} == {8}


# ---------------------------------------------------------------- Offline


def test_steady_rate_leaves_out_the_start_and_the_drain():
    """Results at 1..10 s, two slots: between the 2nd and the 8th result, 6 results in 6 s."""
    assert steady_rate(np.arange(1.0, 11.0), 2) == pytest.approx(1.0)
    assert steady_rate(np.array([1.0, 2.0, 4.0]), 2) == pytest.approx(3 / 4.0)  # too short: over the whole run


def test_offline_with_one_slot_is_one_sample_after_the_other(bench):
    """With one slot every round runs one sample's frame: the run lasts the sum of its samples' rounds."""
    batching = Batching(bench, 1)
    order = np.arange(len(bench.samples))
    done, tally, slots = batching.run(order, np.zeros(len(order)))
    by_hand = sum(round_cost(bench.target, bench.model, 1, 1 + m).time_s for s in bench.samples for m in s.labels)
    assert float(done.max()) == pytest.approx(by_hand)
    assert slots == 1.0


def test_offline_picks_the_best_largest_batch(bench):
    """From the largest batch down while the rate grows: on a GPU 64 slots beat 32, so the search stops there."""
    result = offline(bench, 64)
    rates = result.breakdown["samples_per_s_by_max_batch"]
    assert list(rates) == [64, 32]
    assert result.samples_per_s == max(rates.values()) == rates[64] and result.breakdown["max_batch"] == 64
    assert rates[64] > offline(bench, 1).samples_per_s * 5  # batching pays on a GPU


# ---------------------------------------------------------------- Server


def test_server_meets_the_p99_bound_and_little_s_law(bench):
    """The rate found meets p99 <= 1 s; Little's law: samples per second x mean latency = mean number in the
    system, the latter integrated over the run's own arrivals and results."""
    result = server(bench, 64)
    b = result.breakdown
    assert result.latency_p99_s <= SERVER_BOUND_S
    assert result.samples_per_s <= b["full_batch_samples_per_s"]
    run = server_run(Batching(bench, 64), result.samples_per_s, 0, b["full_batch_samples_per_s"], seconds=20)
    assert run.arrival_rate * run.latency_mean_s == pytest.approx(run.mean_in_system, rel=1e-9)
    assert run.arrival_rate == pytest.approx(result.samples_per_s, rel=0.03)  # Poisson at the asked rate


def test_in_system_integrates_its_own_events():
    """Arrivals at 0 and 1 s, results at 2 and 3 s: 1, 2, 1 samples for 1 s each over 3 s."""
    assert in_system(np.array([0.0, 1.0]), np.array([2.0, 3.0])) == pytest.approx(4 / 3)


def test_above_the_full_batch_throughput_the_latency_is_unbounded(bench):
    run = server_run(Batching(bench, 8), 1e6, 0, 1e3)
    assert run.latency_p99_s == float("inf") and run.samples == 0


def test_a_server_bound_no_load_meets_is_one_clear_error(run_cli):
    """An idle machine whose every query already takes 2 s (the harness alone) meets no rate's p99 bound."""
    out = run_cli("mlperf", "--scenario", "server", "--set", "hw.gpu.runtime.query_overhead=2 s", *_small())
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == [out.stderr.strip()]
    assert "no load meets the bound" in out.stderr and "p99 latency is already" in out.stderr


# ---------------------------------------------------------------- SingleStream


def test_singlestream_fit_matches_every_sample_simulated(bench):
    fitted, exact = singlestream(bench), singlestream(bench, anchors=None)
    assert exact.breakdown["simulated"] > fitted.breakdown["simulated"] == 12
    assert fitted.latency_p90_s == pytest.approx(exact.latency_p90_s, rel=0.01)
    assert fitted.latency_mean_s == pytest.approx(exact.latency_mean_s, rel=0.01)
    assert exact.breakdown["fit_miss"] < 0.02


def test_singlestream_latency_holds_the_harness_per_query(bench):
    query = bench.target.device.query_seconds()
    assert query > 0
    result = singlestream(bench)
    assert result.breakdown["latency_p50_s"] > query


# ---------------------------------------------------------------- calibration and configs


def test_the_calibrated_runtime_reproduces_the_a100_figures():
    """The shipped runtime file was fitted on the A100 SXM: its three figures come out within 0.5%."""
    from accelsim.calibrate.mlperf import comparisons, load_reference, simulated

    reference = load_reference()
    assert reference.system == "a100_sxm_80gb"
    for c in comparisons(reference, simulated(reference)):
        assert abs(c.error_pct) < 0.5, c


def test_the_runtime_file_marks_its_fitted_values_and_no_more_than_four():
    lines = (REPO / "hwconfigs" / "gpu" / "runtime.yaml").read_text(encoding="utf-8").splitlines()
    fitted = [line.split(":")[0] for line in lines if not line.startswith("#") and "# calibrated:" in line]
    assert fitted == ["tensor_efficiency", "kernel_overhead", "query_overhead"]
    assert all("range" in line for line in lines if "# calibrated:" in line and not line.startswith("#"))


def test_calibration_fits_at_most_four_and_writes_marked_values(tmp_path):
    from accelsim.calibrate.fit import Parameter
    from accelsim.calibrate.mlperf import PARAMETERS, calibrate_mlperf, load_reference, write_runtime

    reference = load_reference()
    with pytest.raises(ValueError, match="at most four"):
        calibrate_mlperf(reference, PARAMETERS + (Parameter("gpu.runtime.grid_sync", 1, 2, "us"),) * 2)
    calibration = calibrate_mlperf(reference, PARAMETERS[:1], max_evals=2, samples=0)
    out = tmp_path / "runtime.yaml"
    write_runtime(calibration, REPO / "hwconfigs" / "gpu" / "runtime.yaml", out)
    line = next(l for l in out.read_text(encoding="utf-8").splitlines() if l.startswith("tensor_efficiency"))
    assert "calibrated: accelsim mlperf --calibrate on a100_sxm_80gb" in line and "range 0.4..0.95" in line


SOURCED = re.compile(r"\[[A-Z0-9-]+\]|Assumption|calibrated")
#: Lines that name or choose rather than give a figure, and section headers.
NAMES = re.compile(r"^\s*(name|description|family|runtime|weights_home|residency|levels)\s*:|^\s*[\w-]+:\s*(#.*)?$")


@pytest.mark.parametrize("path", shipped_systems(), ids=lambda p: p.stem)
def test_every_config_validates_and_cites_every_value(path):
    """Each value line carries a source tag ([DS], [WP]...), 'Assumption' or 'calibrated': on itself, in the comment
    block right above it, or on the section it belongs to (the same, up the indentation)."""
    accelsim.load_hardware(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if line.strip() and not line.lstrip().startswith("#") and not NAMES.match(line):
            assert _cited(lines, i), f"{path.name}:{i + 1}: {line.strip()!r} cites nothing"


def _cited(lines: list[str], index: int) -> bool:
    while index >= 0:
        if SOURCED.search(lines[index]) or SOURCED.search(_comment_block(lines, index)):
            return True
        depth = _indent(lines[index])
        index -= 1
        while index >= 0 and (not lines[index].strip() or lines[index].lstrip().startswith("#")
                              or _indent(lines[index]) >= depth):
            index -= 1
    return False


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _comment_block(lines: list[str], index: int) -> str:
    """The comment lines right above ``index``."""
    block = []
    j = index - 1
    while j >= 0 and lines[j].lstrip().startswith("#"):
        block.append(lines[j])
        j -= 1
    return "\n".join(block)


def test_the_shipped_systems_are_the_issue_s():
    assert [p.stem for p in shipped_systems()] == [
        "a10", "a100_pcie_80gb", "a100_sxm_80gb", "a30", "gh200", "h100_pcie_80gb", "h100_sxm_80gb",
        "jetson_agx_orin_64gb", "l4", "t4", "xeon_8480plus_2s"]


# ---------------------------------------------------------------- bad input, one line each


def _small() -> list[str]:
    return [arg for change in SMALL for arg in ("--set", change)]


@pytest.mark.parametrize("args, needles", [
    (["--scenario", "ofline"], ["--scenario 'ofline'", "did you mean 'offline'"]),
    (["--scenario", "offline", "--max-batch", "0"], ["--max-batch 0", "at least 1"]),
    (["--scenario", "offline", "--max-batch", "many"], ["--max-batch 'many'"]),
    ([], ["give --scenario"]),
])
def test_bad_scenario_flags_are_one_clear_line(capsys, monkeypatch, args, needles):
    from accelsim.cli import main

    monkeypatch.chdir(REPO)
    assert main(["mlperf", *args]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert line.startswith("accelsim: error: ") and all(n in line for n in needles), line


def test_a_gpu_without_the_workload_s_format_names_it_and_the_file(run_cli, tmp_path):
    data = yaml.safe_load(A100.read_text(encoding="utf-8"))
    data["gpu"]["tensor_macs_per_cycle"] = {"int8": 2048}
    (tmp_path / "runtime.yaml").write_text((A100.parent / "runtime.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    bad = tmp_path / "int8_only.yaml"
    bad.write_text(yaml.safe_dump(data), encoding="utf-8")
    out = run_cli("mlperf", MLPERF, bad, "--scenario", "offline")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    (line,) = out.stderr.strip().splitlines()
    assert str(bad) in line and "fp16" in line and "encoder.pre_rnn1" in line, line
