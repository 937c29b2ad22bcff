"""Issue 11, streaming: chunk geometry and the real-time schedule by hand, a single chunk equal to the whole utterance,
latency relations over chunk sizes, unidirectional LSTM encoders streaming and the BLSTM refusing to."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, strategies as st

import accelsim
from accelsim.sim.streaming import stream_schedule
from accelsim.spec.workload import StreamingSpec, WorkloadSpec
from accelsim.workload.streaming import chunk_of_iteration, plan_chunks


def test_schedule_by_hand():
    """Audio complete at 1, 2, 3 s; work 0.5, 1.5, 0.2 s: the second chunk delays the third."""
    assert stream_schedule([1.0, 2.0, 3.0], [0.5, 1.5, 0.2]) == [(1.0, 1.5), (2.0, 3.5), (3.5, pytest.approx(3.7))]


@given(st.lists(st.tuples(st.floats(0, 10), st.floats(0, 5)), min_size=1, max_size=20), st.integers(0, 19),
       st.floats(0, 5))
def test_schedule_never_beats_compute_and_more_work_is_never_sooner(pairs, which, extra):
    ready = sorted(r for r, _ in pairs)
    work = [w for _, w in pairs]
    base = stream_schedule(ready, work)
    for (start, done), r, w in zip(base, ready, work):
        assert start >= r and done - r >= w - 1e-12
    which %= len(work)
    slower = stream_schedule(ready, [w + (extra if i == which else 0.0) for i, w in enumerate(work)])
    assert all(b[1] >= a[1] for a, b in zip(base, slower))


def test_chunk_geometry_by_hand():
    chunks = plan_chunks(20, StreamingSpec(chunk_frames=8, left_context=4, look_ahead=2), recomputes_look_ahead=True)
    assert [(c.first, c.frames, c.rows, c.keys, c.ready_frames) for c in chunks] == [
        (0, 8, 10, 10, 10), (8, 8, 10, 14, 18), (16, 4, 4, 8, 20)]
    lstm = plan_chunks(20, StreamingSpec(chunk_frames=8, left_context=4, look_ahead=2), recomputes_look_ahead=False)
    assert [c.rows for c in lstm] == [8, 8, 4] and [c.ready_frames for c in lstm] == [10, 18, 20]
    assert [chunk_of_iteration(i, 30, 20, 8, 3) for i in (0, 11, 12, 23, 24, 29)] == [0, 0, 1, 1, 2, 2]


def _small_conformer(repo, frames: int = 48, **streaming) -> WorkloadSpec:
    data = yaml.safe_load((repo / "workloads" / "conformer_transducer.yaml").read_text(encoding="utf-8"))
    enc = data["model"]["encoder"]["layers"]
    enc[0].update(channels=144, output=144)
    enc[1].update(dim=144, heads=4, count=2)
    enc[2].update(input=144)
    data["utterance"]["frames"] = frames
    data["decoding"]["beam"] = 2
    if streaming:
        data["streaming"] = streaming
    return WorkloadSpec.model_validate(data)


def _run(spec, hw_path):
    return accelsim.simulate(spec, hw_path.parent / "phone_npu.yaml", keep_records=False)


def test_one_chunk_is_the_whole_utterance(repo, hw_path):
    whole = _run(_small_conformer(repo), hw_path)
    one = _run(_small_conformer(repo, chunk_frames=48), hw_path)
    assert one.rtf == pytest.approx(whole.rtf, rel=1e-12)
    assert one.latency["chunks"] == 1
    # All the audio is there before anything runs: the final latency is the whole processing time.
    assert one.latency["final_s"] == pytest.approx(whole.time_s, rel=1e-12)


def test_latency_relations_over_chunk_sizes(repo, hw_path):
    shift = 0.04
    results = {c: _run(_small_conformer(repo, chunk_frames=c, left_context=16, look_ahead=2), hw_path)
               for c in (4, 8, 16)}
    for c, r in results.items():
        # A chunk's result never comes before its look-ahead audio has arrived.
        assert r.latency["chunk_p50_s"] >= 2 * shift
        assert r.latency["chunk_p50_s"] <= r.latency["chunk_p90_s"] <= r.latency["chunk_p99_s"]
        assert r.latency["final_s"] > 0
        assert r.latency["chunks"] == -(-48 // c)
    # Smaller chunks launch more programs and recompute more look-ahead frames: more processing time.
    assert results[4].rtf > results[8].rtf > results[16].rtf
    # Latency is counted from the end of a chunk's audio: a larger chunk has more frames to compute once it is complete.
    assert results[16].latency["chunk_p50_s"] > results[4].latency["chunk_p50_s"]


def test_left_context_costs_attention_work(repo, hw_path):
    short = _run(_small_conformer(repo, chunk_frames=8, left_context=0), hw_path)
    long = _run(_small_conformer(repo, chunk_frames=8, left_context=32), hw_path)
    assert long.rtf > short.rtf


def test_unidirectional_lstm_encoder_streams(workload_path, hw_path):
    data = yaml.safe_load(workload_path.read_text(encoding="utf-8"))
    data["model"]["encoder"]["layers"] = [{"kind": "lstm", "name": "lstm", "input": 340, "hidden": 640, "count": 2},
                                          {"kind": "linear", "name": "linear", "input": 640, "output": 256}]
    data["decoding"].update(lm_fusion=False, beam=2)
    spec = WorkloadSpec.model_validate(data)
    whole = accelsim.simulate(spec, hw_path, keep_records=False)
    streamed = accelsim.simulate(spec.model_copy(update={"streaming": StreamingSpec(chunk_frames=16, look_ahead=1)}),
                                 hw_path, keep_records=False)
    # The same recurrent steps (the state carries over), plus a launch and a feature transfer per chunk; the processing
    # time stays within a few percent (chunks also overlap their weight fetches differently).
    assert streamed.ops > whole.ops
    assert streamed.rtf == pytest.approx(whole.rtf, rel=0.03)
    assert streamed.latency["chunks"] == 10 and streamed.latency["chunk_p50_s"] >= 0.02


def test_blstm_refuses_to_stream(run_cli):
    proc = run_cli("run", "--set", "workload.streaming={chunk_frames: 8}")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "bidirectional LSTM" in proc.stderr and "cannot stream" in proc.stderr


def test_streaming_run_prints_latencies(run_cli):
    proc = run_cli("run", "workloads/conformer_transducer.yaml", "hwconfigs/phone_npu.yaml", "--set",
                   "workload.streaming={chunk_frames: 32, left_context: 64, look_ahead: 0}", "--set",
                   "workload.utterance.frames=64")
    assert proc.returncode == 0, proc.stderr
    assert "streaming in 2 chunks" in proc.stdout and "final latency" in proc.stdout


def test_streaming_run_has_no_layer_records_and_says_why(run_cli):
    proc = run_cli("run", "workloads/ondevice_rnnt.yaml", "hwconfigs/phone_npu.yaml", "--by", "layer")
    assert proc.returncode == 2 and "streams chunk by chunk" in proc.stderr and "workload.streaming=null" in proc.stderr


def test_two_chunks_faster_than_real_time_by_hand(repo, hw_path):
    """Two chunks, each computed well within its own 0.96 s of audio: neither waits for the other, so chunk i's latency is
    its own work w_i; the p50 of two latencies is their mean, (w0 + w1) / 2 = processing time / 2; the final latency is
    the second chunk's work, which is the processing time minus the first chunk's."""
    r = _run(_small_conformer(repo, chunk_frames=24), hw_path)
    assert r.latency["chunks"] == 2 and r.time_s < 0.96
    assert 2 * r.latency["chunk_p50_s"] == pytest.approx(r.time_s, rel=1e-12)
    w1 = r.latency["final_s"]
    assert r.latency["chunk_p99_s"] == pytest.approx(max(w1, r.time_s - w1) - 0.01 * abs(2 * w1 - r.time_s), rel=1e-9)


def test_explain_refuses_a_streaming_run(repo, hw_path):
    from accelsim.errors import AccelsimError

    with pytest.raises(AccelsimError, match="streams chunk by chunk"):
        accelsim.explain(_small_conformer(repo, chunk_frames=24), hw_path.parent / "phone_npu.yaml")
