"""The Chrome / Perfetto timeline: structure, one track per physical resource, exact timing, critical path."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

import accelsim
from accelsim.report.metrics import critical_path
from accelsim.report.trace import CRITICAL_TRACK, TRACK_LABELS, write_chrome_trace

REPO = Path(__file__).resolve().parents[1]
WORKLOAD = REPO / "workloads" / "rnnt_lm_fusion.yaml"
HARDWARE = REPO / "hwconfigs" / "rapid_7nm.yaml"
SMALL = ["workload.utterance.frames=16", "workload.decoding.beam=4"]
TOLERANCE_US = 1e-6  # one picosecond: float rounding of seconds -> microseconds, far below any op


@pytest.fixture(scope="module")
def result():
    return accelsim.simulate(WORKLOAD, HARDWARE, overrides=SMALL)


@pytest.fixture(scope="module")
def trace(result, tmp_path_factory) -> dict:
    path = tmp_path_factory.mktemp("trace") / "t.json"
    write_chrome_trace(result, path)
    return json.loads(path.read_text())


def _cores(resource: str) -> int:
    if not resource.startswith("core"):
        return 1
    first, _, last = resource[4:].partition("-")
    return int(last or first) - int(first) + 1


def _track_names(trace: dict) -> dict[int, str]:
    return {e["tid"]: e["args"]["name"] for e in trace["traceEvents"] if e["ph"] == "M" and e["name"] == "thread_name"}


def _critical_tid(trace: dict) -> int:
    (tid,) = [t for t, name in _track_names(trace).items() if name == CRITICAL_TRACK]
    return tid


def _complete(trace: dict) -> list[dict]:
    return [e for e in trace["traceEvents"] if e["ph"] == "X"]


def test_file_is_the_json_object_format(trace):
    assert set(trace) >= {"traceEvents", "displayTimeUnit", "metadata"}
    assert trace["displayTimeUnit"] == "ns"
    assert trace["metadata"]["workload"] == "rnnt_lm_fusion"


def test_every_complete_event_has_its_fields(trace):
    events = _complete(trace)
    assert events
    for e in events:
        assert {"ts", "dur", "pid", "tid", "name", "cat", "args"} <= set(e), e
        assert isinstance(e["ts"], float) and isinstance(e["dur"], float)
        assert e["ts"] >= 0 and e["dur"] >= 0
        assert e["name"].startswith(e["cat"] + ": ")
        assert {"op", "bytes", "macs"} <= set(e["args"])


def test_names_are_component_and_kind(trace, result):
    names = {e["name"] for e in _complete(trace)}
    assert "lm_ext: fetch" in names and "lm_ext: matmul" in names and "search: topk" in names
    fetch = next(e for e in _complete(trace) if e["name"] == "lm_ext: fetch")
    assert fetch["args"]["op"].endswith(".fetch") and fetch["args"]["bytes"] > 0


def test_one_named_track_per_core_host_and_link_direction(trace):
    cores = accelsim.load_hardware(HARDWARE).coprocessor.cores
    names = list(_track_names(trace).values())
    assert len(names) == len(set(names))
    assert [n for n in names if n.startswith("core")] == [f"core{i}" for i in range(cores)]
    assert sorted(n for n in names if not n.startswith("core")) == sorted(
        [CRITICAL_TRACK, TRACK_LABELS["host"], TRACK_LABELS["h2d"], TRACK_LABELS["d2h"]])  # no dram: weights live on the host
    sort = {e["tid"]: e["args"]["sort_index"] for e in trace["traceEvents"] if e["name"] == "thread_sort_index"}
    assert set(sort) == set(_track_names(trace)) and len(set(sort.values())) == len(sort)
    order = sorted(_track_names(trace).items(), key=lambda kv: sort[kv[0]])
    assert [n for _, n in order][:cores + 1] == [CRITICAL_TRACK] + [f"core{i}" for i in range(cores)]


def test_each_record_appears_once_on_every_core_it_held(trace, result):
    critical = _critical_tid(trace)
    on_resources = [e for e in _complete(trace) if e["tid"] != critical]
    assert len(on_resources) == sum(_cores(r.resource) for r in result.records)
    spanning = next(r for r in result.records if r.resource == "core0-3")
    copies = [e for e in on_resources if e["args"]["record"] == spanning.index]
    assert len(copies) == 4 and len({e["tid"] for e in copies}) == 4 and len({e["ts"] for e in copies}) == 1


def test_events_on_one_track_never_overlap(trace):
    by_track: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for e in _complete(trace):
        by_track[e["tid"]].append((e["ts"], e["ts"] + e["dur"]))
    assert len(by_track) >= 7
    for tid, spans in by_track.items():
        spans.sort()
        for (_, end), (start, _) in zip(spans, spans[1:]):
            assert start >= end - TOLERANCE_US, (tid, end, start)


def test_trace_ends_at_the_makespan(trace, result):
    assert max(e["ts"] + e["dur"] for e in _complete(trace)) == pytest.approx(result.time_s * 1e6, rel=1e-12)
    assert trace["metadata"]["time_s"] == result.time_s


def test_critical_path_track_tiles_the_makespan(trace, result):
    critical = _critical_tid(trace)
    events = sorted((e for e in _complete(trace) if e["tid"] == critical), key=lambda e: e["ts"])
    assert sum(e["dur"] for e in events) == pytest.approx(result.time_s * 1e6, rel=1e-9)
    assert events[0]["ts"] == 0.0
    for a, b in zip(events, events[1:]):
        assert b["ts"] == pytest.approx(a["ts"] + a["dur"], abs=TOLERANCE_US)
    assert [e["args"]["record"] for e in events] == [r.index for r, _ in critical_path(result.records)]


def test_a_result_without_records_is_refused(tmp_path):
    bare = accelsim.simulate(WORKLOAD, HARDWARE, overrides=SMALL, keep_records=False)
    with pytest.raises(ValueError, match="keep_records"):
        write_chrome_trace(bare, tmp_path / "t.json")
    assert not list(tmp_path.iterdir())


def test_written_atomically_in_place(result, tmp_path):
    path = tmp_path / "out" / "t.json"
    path.parent.mkdir()
    path.write_text("old")
    write_chrome_trace(result, path)
    assert [p.name for p in path.parent.iterdir()] == ["t.json"]  # no temporary left behind
    assert json.loads(path.read_text())["traceEvents"]


def test_cli_run_writes_a_trace(tmp_path):
    out = tmp_path / "T.json"
    proc = subprocess.run([sys.executable, "-m", "accelsim.cli", "run", "--set", "workload.utterance.frames=16",
                           "--beam", "4", "--trace", str(out)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "RTF" in proc.stdout
    data = json.loads(out.read_text())
    assert _complete(data) and _track_names(data)
