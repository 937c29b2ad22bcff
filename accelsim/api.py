"""The public Python API: what the CLI and the tests call, and what a notebook user gets.

    >>> import accelsim
    >>> result = accelsim.simulate("workloads/rnnt_lm_fusion.yaml", "hwconfigs/rapid_7nm.yaml",
    ...                            precision="fp16", overrides=["hw.link.bandwidth=64 Gbps"])
    >>> result.rtf, result.breakdown_by_component["lm_ext"]

Each function is a thin composition of the pipeline (``accelsim/pipeline.py``: resolve, prepare, execute,
measure) and the runner (``accelsim/sweep/runner.py``) that runs many points.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from accelsim.errors import AccelsimError
from accelsim.memo import clear_caches
from accelsim.pipeline import Point, decode_trace, prepare, resolve as resolve_point, simulate_point, utterance_points
from accelsim.report.explain import Explanation, explanation, knob_variations
from accelsim.report.metrics import aggregate
from accelsim.report.result import SimResult
from accelsim.spec.hardware import HardwareSpec
from accelsim.spec.loader import Variation, as_variation, flag_variation
from accelsim.spec.workload import WorkloadSpec
from accelsim.sweep.runner import Progress, default_workers, run_points, source_fingerprint

__all__ = ["Point", "SimResult", "clear_caches", "decode_trace", "explain", "prepare", "resolve", "simulate", "source_fingerprint",
           "write_trace"]

def _variation(overrides: Variation | Iterable[str], precision: str | None, beam: int | None,
               lm_fusion: bool | None) -> Variation:
    return as_variation(overrides if isinstance(overrides, Variation) else list(overrides)) + \
        flag_variation(precision, beam, lm_fusion)


def resolve(workload: WorkloadSpec | str | Path, hardware: HardwareSpec | str | Path,
            overrides: Variation | Iterable[str] = ()) -> Point:
    """Load (or take) the two specs and apply ``--set`` overrides (or a :class:`Variation`) to each: the
    pipeline's first stage (``point.workload``, ``point.hardware``; ``workload, hardware = point`` also works)."""
    return resolve_point(workload, hardware, as_variation(overrides if isinstance(overrides, Variation) else list(overrides)))


def simulate(workload: WorkloadSpec | str | Path, hardware: HardwareSpec | str | Path, *,
             overrides: Variation | Iterable[str] = (), precision: str | None = None, beam: int | None = None,
             lm_fusion: bool | None = None, keep_records: bool = True, segmented: bool = True,
             workers: int | None = 1, progress: Progress | None = None) -> SimResult:
    """Simulate one utterance of ``workload`` on ``hardware`` and measure it, or every utterance of its
    test set (run by the runner in ``workers`` processes) aggregated.

    ``keep_records=False`` drops the per-op records (and the model) from the result, which makes it
    small enough to ship between processes (a test set's result never has records). ``segmented=False`` runs
    each utterance as one SimPy run instead of simulating each distinct segment once (same figures; much
    slower: a reference for checking, so a test set's utterances then run one by one in this process).
    ``workers=None`` is every command's default (:func:`accelsim.sweep.runner.default_workers`).
    """
    point = resolve_point(workload, hardware, _variation(overrides, precision, beam, lm_fusion))
    if point.workload.test_set is None:
        if keep_records:
            _check_records(point, "keep_records=False (or, on the command line, drop --trace and --by layer)")
        return simulate_point(point, keep_records=keep_records, segmented=segmented)
    if not segmented:
        utterances = utterance_points(point)
        results = []
        for p in utterances:
            results.append(simulate_point(p, segmented=False))
            if progress:
                progress(len(results), 0, len(utterances))
        return aggregate(results)
    return simulate_test_set(point, workers, progress)


def simulate_test_set(point: Point, workers: int | None = 1, progress: Progress | None = None) -> SimResult:
    """Every utterance of a test set as a point of its own, run by the runner, then aggregated.

    Points go to the workers in order of length, so that each process meets equal encoders together."""
    utterances = utterance_points(point)
    order = sorted(range(len(utterances)), key=lambda i: (utterances[i].workload.utterance.frames, i))
    outcomes = run_points([utterances[i] for i in order], workers=workers or default_workers(len(utterances)),
                          progress=progress)
    results: list[SimResult] = [None] * len(utterances)  # type: ignore[list-item]
    for i, outcome in zip(order, outcomes):
        if isinstance(outcome, BaseException):
            raise outcome
        results[i] = outcome
    return aggregate(results)


#: Longest utterance whose per-op records are kept (a timeline, the per-layer table, explain's critical path): the
#: records grow with it, about 1 GB and a minute at 10,000 frames, while a run without them stays small.
MAX_RECORDED_FRAMES = 10_000


def _check_records(point: Point, instead: str) -> None:
    frames = point.workload.utterance.frames
    if frames > MAX_RECORDED_FRAMES and not point.workload.streaming:
        raise AccelsimError(f"per-op records are kept for utterances of at most {MAX_RECORDED_FRAMES:,} frames (about "
                            f"1 GB of them); this one has {frames:,}: {instead}")


def explain(workload: WorkloadSpec | str | Path, hardware: HardwareSpec | str | Path, *,
            overrides: Variation | Iterable[str] = (), precision: str | None = None, beam: int | None = None,
            lm_fusion: bool | None = None, workers: int | None = 1) -> Explanation:
    """Simulate the setting with its records, then six variants with one part of the machine 2x better
    (run by the runner), and explain the RTF (see ``accelsim/report/explain.py``)."""
    variation = _variation(overrides, precision, beam, lm_fusion)
    point = resolve_point(workload, hardware, variation)
    if point.workload.test_set is not None:
        raise AccelsimError("explain follows the critical path of one utterance; this workload describes a test set "
                            "(--set workload.test_set=null explains its utterance.frames)")
    if point.workload.streaming is not None:
        raise AccelsimError("explain follows the critical path of one utterance run whole; this workload streams chunk "
                            "by chunk (--set workload.streaming=null explains it run whole)")
    _check_records(point, "explain a shorter utterance (--set workload.utterance.frames=...)")
    base = simulate_point(point, keep_records=True)
    knobs = knob_variations(point.hardware)
    variants = [resolve_point(point.workload, point.hardware, v) for _, v, _, _ in knobs]
    outcomes = run_points(variants, workers=workers or default_workers(len(variants)))
    rows = []
    for (knob, v, change, note), outcome in zip(knobs, outcomes):
        if isinstance(outcome, BaseException):
            raise outcome
        rows.append((knob, v, change, note, outcome))
    flags = tuple(c.source.removeprefix("--set ") for c in variation.changes)
    return explanation(base, rows, flags)


def write_trace(result: SimResult, path: str | Path) -> Path:
    """Write ``result``'s timeline as Chrome / Perfetto trace-event JSON (one utterance simulated with its
    records); returns the path written."""
    from accelsim.report.trace import write_chrome_trace

    if not result.records:
        raise AccelsimError("a trace draws one utterance's records; this result has none (a test set, or "
                            "keep_records=False)")
    write_chrome_trace(result, path)
    return Path(path)


def serve(workload: WorkloadSpec | str | Path, hardware: HardwareSpec | str | Path, *,
          overrides: Variation | Iterable[str] = (), exact_reuse: bool = True):
    """Serve the traffic of the workload's ``serving:`` section (default: one always-active stream) on its fleet
    (default: one machine of ``hardware``); returns an :class:`accelsim.serve.result.ServeResult` (``.to_frame()`` for a
    DataFrame row)."""
    from accelsim.serve.engine import serve as serve_point
    from accelsim.serve.result import serve_result

    point = _serving_point(workload, hardware, overrides)
    return serve_result(point.workload.name, serve_point(point, exact_reuse=exact_reuse))


def capacity(workload: WorkloadSpec | str | Path, hardware: HardwareSpec | str | Path, slo: str, *,
             overrides: Variation | Iterable[str] = (), replications: int = 2, find: str = "load",
             workers: int | None = None, dask: str | None = None):
    """The largest load (streams, or rate for Poisson arrivals) whose serving run meets ``slo`` (e.g.
    ``"p99_latency<=300 ms, rtf<=1"``) at the traffic's seed and ``replications`` more, searched from the serving
    section's load; with ``find="chips"``, the smallest fleet that does at the section's load. Each probe's seeds run
    through the runner (``workers`` processes, or Dask); see :mod:`accelsim.serve.capacity`."""
    from accelsim.serve.capacity import find_capacity
    from accelsim.serve.result import parse_slo
    from accelsim.sweep.runner import dask_session

    objectives = parse_slo(slo)
    point = _serving_point(workload, hardware, overrides)
    spec = point.workload.serving
    if find not in ("load", "chips"):
        raise AccelsimError(f"--find: expected 'chips' (or nothing: the load), got {find!r}")
    if find == "chips" and isinstance(spec.chips, list):
        raise AccelsimError("--find chips searches the size of a fleet of one machine; serving.chips lists hardware files")
    with dask_session(dask, workers or 2) as client:
        def run_many(settings):
            points = [Point(point.workload.model_copy(update={"serving": s}), point.hardware) for s in settings]
            outcomes = run_points(points, workers=workers or default_workers(len(points)), dask=client)
            for outcome in outcomes:
                if isinstance(outcome, BaseException):
                    raise outcome
            return outcomes

        return find_capacity(spec, run_many, objectives, replications=replications, find=find)


def _serving_point(workload, hardware, overrides) -> Point:
    from accelsim.spec.serving import ServingSpec

    point = resolve(workload, hardware, overrides)
    if point.workload.serving is None:
        point = Point(point.workload.model_copy(update={"serving": ServingSpec()}), point.hardware)
    return point


def mlperf(workload: WorkloadSpec | str | Path, hardware: HardwareSpec | str | Path, scenario: str, *,
           max_batch: int = 2048, overrides: Variation | Iterable[str] = (), passes: int = 10, seed: int = 0):
    """One MLPerf Inference scenario (offline, server, singlestream) of the workload's test set on one machine; returns
    an :class:`accelsim.mlperf.scenarios.MlperfResult` (see that module for the scenarios' definitions)."""
    from accelsim.mlperf.scenarios import check_scenario, run_scenario

    check_scenario(scenario, max_batch)
    return run_scenario(_bench(workload, hardware, overrides, passes, seed), scenario, max_batch)


def mlperf_all(workload: WorkloadSpec | str | Path, *, max_batch: int = 2048,
               overrides: Variation | Iterable[str] = ()) -> tuple[list[dict], list[str]]:
    """Every shipped system (:func:`accelsim.mlperf.table.shipped_systems`) in the three scenarios: one row of figures
    per system, and a line for each scenario a system cannot run (a server bound no load meets, a missing format)."""
    from accelsim.mlperf.scenarios import SCENARIOS, check_scenario, run_scenario
    from accelsim.mlperf.table import row, shipped_systems

    check_scenario(SCENARIOS[0], max_batch)
    rows, problems = [], []
    for path in shipped_systems():
        results = {}
        try:
            bench = _bench(workload, path, overrides)
            for scenario in SCENARIOS:
                try:
                    results[scenario] = run_scenario(bench, scenario, max_batch)
                except AccelsimError as exc:
                    problems.append(f"{path.stem} {scenario}: {exc}")
        except AccelsimError as exc:
            problems.append(f"{path.stem}: {exc}")
        rows.append(row(path.stem, results))
    return rows, problems


def _bench(workload, hardware, overrides, passes: int = 10, seed: int = 0):
    """The MLPerf bench of a workload on a machine, every layer's format checked on it (naming the hardware file)."""
    from accelsim.mlperf.scenarios import Bench, check_formats

    bench = Bench.of(resolve(workload, hardware, overrides), passes, seed)
    check_formats(bench, str(hardware))
    return bench
