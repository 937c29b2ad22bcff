"""Serving streaming workloads: chunks as their audio arrives, agreement with `accelsim run`, load, Little's law."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.pipeline import resolve, simulate_point
from accelsim.serve.engine import Chip, serve
from accelsim.serve.result import serve_result

RNNT, CONFORMER, PHONE = "workloads/ondevice_rnnt.yaml", "workloads/ondevice_conformer.yaml", "hwconfigs/phone_npu.yaml"
#: Short utterances (4 chunks of 10 frames), a small beam: the traffic is what is being tested.
SMALL = ["workload.utterance.frames=40", "workload.decoding.beam=2"]
#: What the shared machine does not model (see accelsim/serve/engine.py): it plans each batch's fetches on its own,
#: so weights a batch before left pinned on chip (phone_npu's residency: pinned) are fetched again, and the decode
#: loop's prefetch of the next iteration's weights does not reach into the next batch. Off, both paths are exact.
EXACT = ["hw.memory.residency=per_op", "workload.runtime.prefetch_next_iteration=false"]


def _point(workload: str, *sets: str):
    return resolve(workload, PHONE, SMALL + list(sets))


def _chunk_figures(latencies: list[float]) -> list[float]:
    return [float(np.percentile(latencies, q)) for q in (50, 90, 99)]


@pytest.mark.parametrize("workload", [RNNT, CONFORMER])
def test_one_idle_stream_is_accelsim_run_chunk_by_chunk_on_both_paths(workload):
    run = simulate_point(_point(workload, *EXACT)).latency
    expected = [run["chunk_p50_s"], run["chunk_p90_s"], run["chunk_p99_s"]]
    sets = (*EXACT, "workload.serving.streams=1", "workload.serving.duration=4 s")
    for exact_reuse, level in ((True, "batch"), (False, "op"), (False, "batch")):
        served = serve(_point(workload, *sets, f"workload.serving.level={level}"), exact_reuse=exact_reuse)
        assert served.exact_reuse == exact_reuse and len(served.utterances) >= 1
        for u in served.utterances:
            assert len(u.chunk_latencies_s) == run["chunks"]
            assert _chunk_figures(u.chunk_latencies_s) == pytest.approx(expected, rel=1e-9)
            assert u.latency_s == pytest.approx(run["final_s"], rel=1e-9)
            assert u.wait_s == 0.0


def test_the_exact_path_is_accelsim_run_with_pinned_weights_and_the_prefetch():
    point = _point(RNNT, "workload.serving.streams=1", "workload.serving.duration=4 s")
    run = simulate_point(_point(RNNT)).latency
    served = serve(point)
    result = serve_result(point.workload.name, served)
    assert result.exact_reuse and result.utterances == len(served.utterances) > 1
    assert result.chunks == run["chunks"] * result.utterances
    for u in served.utterances:
        assert _chunk_figures(u.chunk_latencies_s) == pytest.approx([run["chunk_p50_s"], run["chunk_p90_s"],
                                                                     run["chunk_p99_s"]], rel=1e-9)
        assert u.latency_s == pytest.approx(run["final_s"], rel=1e-9)
    # the shared machine, without them, is never faster
    shared = serve(point, exact_reuse=False)
    assert min(u.latency_s for u in shared.utterances) >= run["final_s"] * (1 - 1e-9)


def test_streaming_latency_grows_with_load():
    finals, chunks = [], []
    for rate in (2, 40, 80):
        point = _point(RNNT, "workload.serving.arrivals=poisson", f"workload.serving.rate={rate}",
                       "workload.serving.duration=3 s", "workload.serving.max_batch=4")
        r = serve_result(point.workload.name, serve(point))
        finals.append(r.latency_mean_s)
        chunks.append(r.chunk_latency_p99_s)
    assert finals == sorted(finals) and chunks == sorted(chunks)
    assert finals[-1] > 1.5 * finals[0] and chunks[-1] > 1.5 * chunks[0]


def test_littles_law_holds_for_streaming():
    point = _point(RNNT, "workload.serving.arrivals=poisson", "workload.serving.rate=60", "workload.serving.duration=4 s",
                   "workload.serving.warmup=1 s", "workload.serving.max_batch=8")
    r = serve_result(point.workload.name, serve(point))
    assert r.utterances > 100 and r.mean_in_system > 0.5
    assert r.mean_in_system == pytest.approx(r.little_l, rel=0.05)


def test_chunks_are_batched_across_streams_only_with_chunks_of_their_shape(monkeypatch):
    # A Conformer's chunks differ in shape (left context grows over the first chunks, the last one is short).
    point = _point(CONFORMER, "workload.utterance.frames=56", "workload.serving.streams=24",
                   "workload.serving.duration=3 s", "workload.serving.max_batch=8", "workload.serving.max_wait=100 ms")
    shapes = []
    start = Chip._start_encoders

    def check(self, batch):
        shapes.append({(u.encoder.frames, u.encoder.keys) for u in batch})
        start(self, batch)

    monkeypatch.setattr(Chip, "_start_encoders", check)
    served = serve(point)
    assert len({s for found in shapes for s in found}) > 1  # chunks of several shapes met in the queue
    assert all(len(found) == 1 for found in shapes)
    (run,) = served.chips
    assert max(run.batches["encoder"]) > 1
    chunks = len(served.utterances[0].chunk_latencies_s)
    assert sum(n * size for size, n in run.batches["encoder"].items()) == chunks * len(served.utterances)
    assert all(len(u.chunk_latencies_s) == chunks for u in served.utterances)
    assert all(u.latency_s >= 0 and min(u.chunk_latencies_s) >= 0 for u in served.utterances)


def test_serve_command_and_table_report_chunk_latencies(capsys):
    from accelsim.cli import main

    assert main(["serve", RNNT, PHONE, "--streams", "4", "--duration", "3 s", *[f"--set={s}" for s in SMALL]]) == 0
    assert "per chunk (" in capsys.readouterr().out
    point = _point(RNNT, "workload.serving.streams=4", "workload.serving.duration=3 s")
    frame = serve_result(point.workload.name, serve(point)).to_frame()
    assert frame["chunk_latency_p99_s"].iloc[0] >= frame["chunk_latency_p50_s"].iloc[0] > 0
    assert frame["chunks"].iloc[0] == 4 * frame["utterances"].iloc[0]
    blstm = resolve("workloads/rnnt_lm_fusion.yaml", "hwconfigs/rapid_7nm.yaml",
                    ["workload.utterance.frames=24", "workload.decoding.beam=4", "workload.serving.duration=1 s"])
    plain = serve_result(blstm.workload.name, serve(blstm))
    assert plain.chunks == 0 and "chunk_latency_p50_s" not in plain.to_frame()


@pytest.mark.parametrize("workload", [RNNT, CONFORMER])
def test_streaming_chunks_agree_at_both_levels(workload):
    """Chunks of 8 streams batched across streams: the batch level is the op level here (its batches barely overlap)."""
    sets = ("workload.serving.streams=8", "workload.serving.duration=6 s", "workload.serving.max_batch=8",
            "workload.serving.max_wait=20 ms")
    op, batch = (serve_result("x", serve(_point(workload, *sets, f"workload.serving.level={level}"), exact_reuse=False))
                 for level in ("op", "batch"))
    assert batch.batch_overlap < 0.01 and batch.chunks == op.chunks > 0
    for name in ("latency_p50_s", "latency_p99_s", "chunk_latency_p50_s", "chunk_latency_p99_s", "throughput"):
        assert getattr(batch, name) == pytest.approx(getattr(op, name), rel=0.01), name
