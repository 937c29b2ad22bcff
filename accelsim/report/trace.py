"""Chrome / Perfetto timeline of one simulated utterance (the trace-event "JSON Object Format").

One process for the machine; one track per coprocessor core, the host CPU, each link direction (and
device memory when weights live there), plus a "critical path" track. An op held by several cores
("core0-3") is drawn on each of them. The critical-path track shows the chain that determined the
makespan, each record drawn over the interval it is charged for (from its predecessor's end to its own
end, as the breakdowns attribute it), so that track tiles [0, makespan] exactly.

Open the file in https://ui.perfetto.dev or chrome://tracing. Times are in microseconds, as the
format requires.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from accelsim.report.result import SimResult
from accelsim.files import atomic_write_text
from accelsim.report.metrics import critical_path
from accelsim.sim.engine import Record

PID = 1
CRITICAL_TID = 1  # drawn first: the summary of the run
CRITICAL_TRACK = "critical path"
_US = 1e6


def _core_range(resource: str) -> tuple[int, ...] | None:
    """``"core2"`` -> (2,), ``"core0-3"`` -> (0, 1, 2, 3); None for host, h2d, d2h, dram."""
    if not resource.startswith("core"):
        return None
    first, _, last = resource[4:].partition("-")
    return tuple(range(int(first), int(last or first) + 1))


def _tracks(records: tuple[Record, ...]) -> dict[str, tuple[int, str]]:
    """Track of each physical resource: (tid, name), cores first, then host, h2d, d2h, dram.

    Every core up to the highest one used gets a track (an idle core is worth seeing), and so do the
    host and both link directions; device memory only when something used it.
    """
    n_cores = 0
    used = set()
    for resource in {r.resource for r in records}:
        cores = _core_range(resource)
        if cores:
            n_cores = max(n_cores, cores[-1] + 1)
        else:
            used.add(resource)
    names = [f"core{i}" for i in range(n_cores)] + ["host", "h2d", "d2h"] + (["dram"] if "dram" in used else [])
    return {name: (CRITICAL_TID + 1 + i, name) for i, name in enumerate(names)}


TRACK_LABELS = {"host": "host CPU", "h2d": "link h2d", "d2h": "link d2h", "dram": "device memory (dram)"}


def _args(r: Record) -> dict[str, Any]:
    return {"op": r.op, "resource": r.resource, "bytes": r.bytes, "macs": r.macs, "record": r.index, "pred": r.pred}


def trace_events(result: SimResult) -> dict[str, Any]:
    """The trace as a JSON-ready mapping (what :func:`write_chrome_trace` writes)."""
    records = result.records
    if not records and result.ops:
        raise ValueError("the result has no records (simulated with keep_records=False); re-run with keep_records=True")
    tracks = _tracks(records)
    title = f"accelsim: {result.workload} on {result.hardware}"
    events: list[dict[str, Any]] = [
        {"ph": "M", "pid": PID, "tid": 0, "name": "process_name", "args": {"name": title}},
        {"ph": "M", "pid": PID, "tid": 0, "name": "process_sort_index", "args": {"sort_index": 0}},
        {"ph": "M", "pid": PID, "tid": CRITICAL_TID, "name": "thread_name", "args": {"name": CRITICAL_TRACK}},
        {"ph": "M", "pid": PID, "tid": CRITICAL_TID, "name": "thread_sort_index", "args": {"sort_index": CRITICAL_TID}},
    ]
    for name, (tid, _) in tracks.items():
        events.append({"ph": "M", "pid": PID, "tid": tid, "name": "thread_name",
                       "args": {"name": TRACK_LABELS.get(name, name)}})
        events.append({"ph": "M", "pid": PID, "tid": tid, "name": "thread_sort_index", "args": {"sort_index": tid}})

    # Every record on every physical track it held. ``dur`` is end - start in microseconds, each
    # converted once, so that back-to-back ops on a track meet exactly instead of overlapping by a
    # rounding error.
    tids_of: dict[str, tuple[int, ...]] = {}
    for r in records:
        tids = tids_of.get(r.resource)
        if tids is None:
            cores = _core_range(r.resource)
            tids = tids_of[r.resource] = (tuple(tracks[f"core{c}"][0] for c in cores) if cores
                                          else (tracks[r.resource][0],))
        ts = r.start * _US
        dur = r.end * _US - ts
        name = f"{r.component}: {r.kind}"
        args = _args(r)
        for tid in tids:
            events.append({"ph": "X", "pid": PID, "tid": tid, "ts": ts, "dur": dur, "name": name,
                           "cat": r.component, "args": args})

    # The critical path: each record over the interval it is charged for. A record that waited for a
    # resource after its predecessor finished shows the wait (args: waited_us).
    clock = 0.0
    for r, seconds in critical_path(records):
        ts = clock
        clock = r.end * _US
        dur = clock - ts
        args = _args(r) | {"resource_class": r.resource_class, "charged_us": seconds * _US,
                           "waited_us": max(0.0, r.start * _US - ts)}
        events.append({"ph": "X", "pid": PID, "tid": CRITICAL_TID, "ts": ts, "dur": dur,
                       "name": f"{r.component}: {r.kind}", "cat": r.component, "args": args})

    metadata = {
        "generator": "accelsim",
        "workload": result.workload,
        "hardware": result.hardware,
        "precision": result.presets,
        "beam": result.beam,
        "rtf": result.rtf,
        "time_s": result.time_s,
        "audio_s": result.audio_s,
        "link_GBps": result.link_GBps,
        "records": len(records),
        "critical_path_track": CRITICAL_TRACK,
        "note": "ts and dur in microseconds; an op held by several cores appears on each core's track",
    }
    return {"traceEvents": events, "displayTimeUnit": "ns", "metadata": metadata}


def write_chrome_trace(result: SimResult, path: str | Path) -> None:
    """Write ``result``'s timeline as a Chrome trace-event JSON file (atomically)."""
    atomic_write_text(path, json.dumps(trace_events(result), separators=(",", ":")), parents=False)  # --trace: the folder must exist
