"""Serving many streams on one machine: agreement with `accelsim run`, Little's law, load, batching."""

from __future__ import annotations

from pathlib import Path

import pytest

from accelsim.errors import AccelsimError
from accelsim.pipeline import resolve, simulate_point
from accelsim.serve.batching import batch_iteration, summed_work
from accelsim.serve.engine import distinct_utterances, fetch_plan, serve
from accelsim.serve.result import parse_slo, serve_result
from accelsim.sim.target import target_for

WORKLOAD, HARDWARE = "workloads/rnnt_lm_fusion.yaml", "hwconfigs/rapid_7nm.yaml"
#: A short utterance keeps these runs quick; the traffic is what is being tested.
SMALL = ["workload.utterance.frames=24", "workload.decoding.beam=4"]


def _point(*sets: str):
    return resolve(WORKLOAD, HARDWARE, SMALL + list(sets))


def _result(*sets: str, exact_reuse: bool = True):
    point = _point(*sets)
    return serve_result(point.workload.name, serve(point, exact_reuse=exact_reuse))


@pytest.mark.parametrize("level", ["op", "batch"])
def test_one_stream_is_accelsim_run_on_both_paths(level):
    # The shared machine plans each batch's fetches on its own, so it does not carry the decode loop's prefetch of
    # the next iteration's weights (runtime.prefetch_next_iteration) from one batch into the next: the paths agree
    # without it (with it, see the test below), at the op level and at the batch level alike.
    no_prefetch = "workload.runtime.prefetch_next_iteration=false"
    run = simulate_point(_point(no_prefetch))
    sets = ("workload.serving.streams=1", "workload.serving.duration=3 s", no_prefetch, f"workload.serving.level={level}")
    shared, exact = _result(*sets, exact_reuse=False), _result(*sets)
    assert shared.level == level
    assert not shared.exact_reuse and shared.jobs > 0 and exact.exact_reuse
    assert shared.utterances == exact.utterances > 1
    assert shared.latencies_s == pytest.approx([run.time_s] * shared.utterances, rel=1e-9)
    assert exact.latencies_s == pytest.approx(shared.latencies_s, rel=1e-9)
    assert shared.fetched_weight_bytes == pytest.approx(exact.fetched_weight_bytes)
    assert shared.utilisation == pytest.approx(exact.utilisation, rel=1e-6)
    assert shared.queueing_mean_s == exact.queueing_mean_s == 0.0


def test_with_the_next_iteration_prefetch_only_the_exact_path_is_accelsim_run():
    """One stream: the exact path is `accelsim run` (prefetch included); the shared machine, which does not carry a
    prefetch across batches, is never faster than it."""
    run = simulate_point(_point())
    sets = ("workload.serving.streams=1", "workload.serving.duration=3 s")
    shared, exact = _result(*sets, exact_reuse=False), _result(*sets)
    assert exact.latencies_s == pytest.approx([run.time_s] * exact.utterances, rel=1e-9)
    assert min(shared.latencies_s) >= run.time_s * (1 - 1e-9)


def test_littles_law_holds():
    r = _result("workload.serving.arrivals=poisson", "workload.serving.rate=30", "workload.serving.duration=4.5 s",
                "workload.serving.warmup=0.5 s", "workload.serving.max_batch=8", exact_reuse=False)
    assert r.utterances > 90 and r.mean_in_system > 0.5
    assert r.mean_in_system == pytest.approx(r.little_l, rel=0.05)


def test_latency_grows_with_load():
    means, p99s = [], []
    for rate in (5, 20, 40):
        r = _result("workload.serving.arrivals=poisson", f"workload.serving.rate={rate}", "workload.serving.duration=3 s",
                    "workload.serving.max_batch=4")
        means.append(r.latency_mean_s)
        p99s.append(r.latency_p99_s)
    assert means == sorted(means) and p99s == sorted(p99s) and means[-1] > 1.5 * means[0]


def test_batching_never_fetches_more_weight_bytes():
    sets = ("workload.serving.streams=16", "workload.serving.duration=2 s", "workload.serving.max_inflight=1")
    alone, batched = _result(*sets, exact_reuse=False), _result(*sets, "workload.serving.max_batch=16",
                                                               "workload.serving.max_wait=50 ms")
    assert batched.utterances == alone.utterances
    assert batched.batch_mean["decode"] > 1.3 and batched.batch_mean["encoder"] > 1.3
    assert batched.fetched_weight_bytes < 0.8 * alone.fetched_weight_bytes
    # Iteration by iteration: a batch fetches what one of its streams would, never the sum.
    point = _point()
    prepared = distinct_utterances(point)[0]
    target = target_for(point.hardware)
    steps = prepared.trace.steps
    for group in (steps[:1], steps[3:7], steps[::5]):
        def fetched(steps):
            work = summed_work(steps)
            return sum(n for reads in fetch_plan(batch_iteration(prepared.model, work, 4), target) for _, n in reads)

        each = sum(fetched([s]) for s in group)
        together = fetched(list(group))
        assert together <= each + 1e-6


def test_serving_is_deterministic_and_seeded():
    sets = ("workload.serving.arrivals=poisson", "workload.serving.rate=10", "workload.serving.duration=2 s")
    a, b = _result(*sets), _result(*sets)
    c = _result(*sets, "workload.serving.seed=1")
    assert a == b and a.latencies_s != c.latencies_s


def test_slo_parsing():
    (p99, rtf) = parse_slo("p99_latency<=300 ms, rtf<=1")
    assert (p99.metric, p99.limit, rtf.metric, rtf.limit) == ("p99_latency", pytest.approx(0.3), "rtf", 1.0)
    for bad in ("p99<=3 ms", "p99_latency<300 ms", "p99_latency<=-1 s", "rtf<=1 s", "p99_latency<=3 hours"):
        with pytest.raises(AccelsimError, match="--slo"):
            parse_slo(bad)


def test_capacity_command_finds_the_largest_load_and_plots_it(tmp_path, capsys):
    from accelsim.cli import main

    plot = tmp_path / "capacity.png"
    code = main(["capacity", WORKLOAD, HARDWARE, "--slo", "p99_latency<=60 ms", "--duration", "1 s", "--streams", "8", "--replications",
                 "1", "--plot", str(plot), "--json", *[f"--set={s}" for s in SMALL]])
    assert code == 0 and plot.read_bytes()[:4] == b"\x89PNG"
    import json

    found = json.loads(capsys.readouterr().out)
    met = {p["load"]: p["met"] for p in found["probes"]}
    assert met[found["capacity"]] and not met[found["above"]] and found["above"] == found["capacity"] + 1
    assert all(met[load] for load in met if load <= found["capacity"])
    assert found["seeds"] == [0, 1] and all(len(p["runs"]) == 2 for p in found["probes"])
    assert "met the objectives at every one of 2 seeds" in found["statement"]
    assert main(["capacity", WORKLOAD, HARDWARE, "--slo", "p99<=3 ms"]) == 2
    assert "--slo: expected METRIC<=VALUE" in capsys.readouterr().err


def test_a_sweep_over_serving_axes_gives_serving_columns_and_resumes_identically(tmp_path):
    from accelsim.sweep.run import run_sweep

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"""name: serving
workload: {Path(WORKLOAD).resolve()}
hardware: {Path(HARDWARE).resolve()}
set: {SMALL + ["workload.serving.duration=1 s", "workload.serving.max_inflight=1"]}
axes:
  workload.serving.streams: [4, 12]
  workload.serving.max_batch: [1, 12]
plots:
  - {{kind: line, file: latency.png, x: workload.serving.streams, y: latency_p99_s, group: workload.serving.max_batch}}
  - {{kind: line, file: energy.png, x: workload.serving.streams, y: energy_J_per_audio_h, group: workload.serving.max_batch}}
""")
    table = run_sweep(recipe, tmp_path / "out", workers=1)
    assert (table["status"] == "ok").all()
    assert list(table["streams"]) == [4, 4, 12, 12] and list(table["max_batch"]) == [1, 12, 1, 12]
    assert (table["latency_p99_s"] > 0).all() and (table["energy_J_per_audio_h"] > 0).all()
    batched, alone = table[table["max_batch"] == 12], table[table["max_batch"] == 1]
    assert (batched["fetched_weight_bytes"].to_numpy() <= alone["fetched_weight_bytes"].to_numpy() + 1).all()
    first = (tmp_path / "out" / "results.csv").read_bytes()
    run_sweep(recipe, tmp_path / "out", workers=1, resume=True)
    assert (tmp_path / "out" / "results.csv").read_bytes() == first
    assert (tmp_path / "out" / "latency.png").read_bytes()[:4] == b"\x89PNG"

