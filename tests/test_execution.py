"""Execution has one home (accelsim/sim/): one cost record per job, one target per machine, immutable totals,
families and policies as plug-ins, and an engine of short named steps."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

import accelsim
from accelsim.hw import link
from accelsim.hw.coprocessor import SystolicCoprocessor
from accelsim.hw.family import FAMILIES
from accelsim.hw.job import JobCost
from accelsim.memo import clear_caches
from accelsim.pipeline import prepare, resolve
from accelsim.sim.encoder import encoder_totals
from accelsim.sim.execute import execute
from accelsim.sim.target import target_for

REPO = Path(__file__).resolve().parents[1]
WORKLOAD = REPO / "workloads" / "rnnt_lm_fusion.yaml"
HW = REPO / "hwconfigs" / "rapid_7nm.yaml"
SIM = REPO / "accelsim" / "sim"
SMALL = ["workload.utterance.frames=12", "workload.decoding.beam=2"]


def _spy_on_the_link(monkeypatch) -> list[tuple[str, float]]:
    """Every call of the link's arithmetic, answered with a duration that says which call it was."""
    calls: list[tuple[str, float]] = []
    real = link.transfer

    def spy(spec, direction, n_bytes):
        calls.append((direction, n_bytes))
        cost = real(spec, direction, n_bytes)
        return dataclasses.replace(cost, busy_s=marker(n_bytes))

    monkeypatch.setattr(link, "transfer", spy)
    return calls


def marker(n_bytes: float) -> float:
    return 1e-3 * (1 + n_bytes / 1e9)


@pytest.mark.parametrize("queue_depth", [1, 4])
def test_every_transfer_and_fetch_is_costed_by_the_one_link_function(monkeypatch, queue_depth):
    """A spy on ``accelsim.hw.link.transfer`` sees every transfer op and every weight fetch over the link, and the
    engine holds the link for exactly what it answered: link bandwidth becomes seconds nowhere else."""
    clear_caches()
    calls = _spy_on_the_link(monkeypatch)
    result = accelsim.simulate(WORKLOAD, HW, overrides=[*SMALL, f"hw.link.queue_depth={queue_depth}"], segmented=False)
    clear_caches()
    link_rows = [r for r in result.records if r.resource in ("h2d", "d2h") and (r.kind == "transfer" or r.kind == "fetch")]
    assert link_rows and {r.kind for r in link_rows} == {"transfer", "fetch"}
    seen = set(calls)
    for r in link_rows:
        assert (r.resource, r.bytes) in seen, r
        if queue_depth == 1:  # unqueued: the row is the link's holding time, the spy's answer
            assert r.end - r.start == pytest.approx(marker(r.bytes), rel=1e-9), r


def test_device_memory_fetches_are_the_hierarchys():
    point = resolve(WORKLOAD, HW, [*SMALL, "hw.memory.weights_home=device", "hw.memory.device_bandwidth=100 GB/s"])
    fetch = target_for(point.hardware).costs.fetch((("device", 1e6),))
    assert fetch == JobCost("dram", 1e6 / 100e9, 1e6 / 100e9, level_bytes=(("device", 1e6),))


def test_one_target_per_machine_and_clear_caches_forgets_them():
    a = resolve(WORKLOAD, HW, SMALL).hardware
    b = resolve(WORKLOAD, HW, SMALL).hardware
    assert a is not b and target_for(a) is target_for(b)
    assert target_for(resolve(WORKLOAD, HW, ["hw.coprocessor.cores=2"]).hardware) is not target_for(a)
    old = target_for(a)
    clear_caches()
    assert target_for(a) is not old


def test_totals_are_immutable_and_memoized_ones_never_change():
    """Found before: a caller added to memoized totals in place and every later run grew. Totals are frozen now,
    and what they hand out are copies."""
    point = resolve(WORKLOAD, HW, SMALL)
    target = target_for(point.hardware)
    encoder = prepare(point.workload).program.encoder
    first = encoder_totals(encoder, target)
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.time_s = 0.0  # type: ignore[misc]
    first.busy["host"] = 1e9
    first.component_s.clear()
    again = encoder_totals(encoder, target)
    assert again is first and again.busy["host"] < 1 and again.component_s
    assert first.plus(first).time_s == pytest.approx(2 * first.time_s) and first.minus(first).time_s == 0


def test_the_one_entry_point_runs_every_way_alike():
    """Metrics only, with records and as one SimPy run: the same totals from the one entry point."""
    point = resolve(WORKLOAD, HW, SMALL)
    program, target = prepare(point.workload).program, target_for(point.hardware)
    ways = [execute(program, target), execute(program, target, records=True), execute(program, target, whole=True)]
    assert ways[0].run is None and ways[1].run is not None and ways[2].run is not None
    for other in ways[1:]:
        assert other.totals.time_s == pytest.approx(ways[0].totals.time_s, rel=1e-9)
        assert other.totals.ops == ways[0].totals.ops and other.totals.fetches == ways[0].totals.fetches


def test_a_family_is_a_class_and_one_registration(monkeypatch):
    """The engine costs device ops through the registered family: a family whose matmuls take twice as long (one
    class, one registration) keeps the cores busy longer and changes nothing the device does not do."""

    class Slow(SystolicCoprocessor):
        def matmul(self, op, cores, reads=()):
            seconds, roofline = super().matmul(op, cores, reads)
            return 2 * seconds, roofline

    base = accelsim.simulate(WORKLOAD, HW, overrides=SMALL, keep_records=False)
    monkeypatch.setitem(FAMILIES, "systolic", Slow)
    clear_caches()
    slow = accelsim.simulate(WORKLOAD, HW, overrides=SMALL, keep_records=False)
    monkeypatch.undo()
    clear_caches()
    def core_seconds(result):
        return result.occupancy["coprocessor"] * result.time_s

    assert slow.rtf > base.rtf and core_seconds(slow) > 1.2 * core_seconds(base)
    assert slow.fetched_weight_bytes == base.fetched_weight_bytes


def _functions(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def test_no_function_in_sim_is_over_50_lines():
    long = [f"{p.name}:{f.name} ({f.end_lineno - f.lineno + 1} lines)" for p in sorted(SIM.glob("*.py"))
            for f in _functions(p) if f.end_lineno - f.lineno + 1 > 50]
    assert not long, long


def test_policies_are_asked_not_named():
    """Outside the policy objects nothing in sim/ branches on a policy's or an op kind's name."""
    found = []
    for path in sorted(SIM.glob("*.py")):
        if path.name == "policies.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Compare) and isinstance(node.left, ast.Attribute)
                    and node.left.attr in ("name", "kind")
                    and any(isinstance(c, ast.Constant) and isinstance(c.value, str) for c in node.comparators)):
                found.append(f"{path.name}:{node.lineno}")
    assert not found, found
