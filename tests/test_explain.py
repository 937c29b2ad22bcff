"""`explain`: critical-path summary, the 2x sensitivity table, the verdict sentence, JSON, plot and CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import accelsim
from accelsim.api import explain
from accelsim.report.explain import KNOBS, _tick, format_explain, plot_sensitivity

REPO = Path(__file__).resolve().parents[1]
WORKLOAD = REPO / "workloads" / "rnnt_lm_fusion.yaml"
HARDWARE = REPO / "hwconfigs" / "rapid_7nm.yaml"
SMALL = ["workload.utterance.frames=16", "workload.decoding.beam=4"]
KNOB_NAMES = {name for name, _ in KNOBS}


def _explain(*extra: str, **kwargs):
    return explain(WORKLOAD, HARDWARE, overrides=[*SMALL, *extra], **kwargs)


def _row(report, word: str):
    (row,) = [s for s in report.sensitivity if word in s.knob]
    return row


@pytest.fixture(scope="module")
def report():
    return _explain()


def test_six_knobs_sorted_by_effect(report):
    assert len(report.sensitivity) == 6
    assert {s.knob for s in report.sensitivity} == KNOB_NAMES
    changes = [s.change_pct for s in report.sensitivity]
    assert changes == sorted(changes)
    for s in report.sensitivity:
        assert s.change_pct == pytest.approx((s.rtf / report.rtf - 1) * 100)
        assert s.overrides and all(o.startswith("hw.") for o in s.overrides)
        assert "->" in s.change


def test_the_shipped_machine_is_link_bound(report):
    link = _row(report, "link bandwidth")
    assert report.sensitivity[0] is link
    assert link.change_pct < -20
    assert "32 -> 64 Gbps" in link.change


def test_variants_start_from_the_overridden_base():
    report = _explain("hw.link.bandwidth=64 Gbps", "hw.link.latency=2 us")
    assert "64 -> 128 Gbps" in _row(report, "link bandwidth").change
    assert _row(report, "link latency").change == "link.latency 2 us -> 1 us"


@pytest.mark.parametrize("precision", ["fp16", "int8", "int4"])
@pytest.mark.parametrize("lm", [True, False])
def test_more_link_bandwidth_is_never_slower(precision, lm):
    report = _explain(precision=precision, lm_fusion=lm)
    assert _row(report, "link bandwidth").rtf <= report.rtf * (1 + 1e-12)


def test_scratchpad_does_not_matter_when_every_op_fetches(report):
    scratch = _row(report, "scratchpad")
    assert accelsim.load_hardware(HARDWARE).memory.residency == "per_op"
    assert scratch.rtf == pytest.approx(report.rtf, rel=1e-12)
    assert "per_op" in scratch.note


def test_a_note_says_no_effect_only_where_the_rtf_did_not_move():
    """Issue 20: on the shipped configuration the scratchpad row printed -4.5% beside "no effect by construction"
    (the next iteration's prefetch fills the free scratchpad). One truth: "no effect" is what was measured."""
    shipped = explain(WORKLOAD, HARDWARE)
    scratch = _row(shipped, "scratchpad")
    assert scratch.change_pct < -1 and "per_op" in scratch.note and "no effect" not in scratch.note
    assert "prefetch" in scratch.note
    for row in shipped.sensitivity:
        assert row.note.startswith("no effect") == (bool(row.note) and abs(row.change_pct) <= 1e-7), row
    assert "no effect" not in _tick(scratch)
    assert _tick(_row(_explain(), "scratchpad")).endswith("(no effect: memory.residency is per_op)")


def test_scratchpad_matters_when_weights_stay_pinned():
    pinned = _explain("hw.memory.residency=pinned", precision="int4")
    assert _row(pinned, "scratchpad").rtf <= pinned.rtf * (1 + 1e-12)
    assert _row(pinned, "scratchpad").note == ""
    # With a small scratchpad, doubling it lets more weights stay: a real speed-up.
    small = _explain("hw.memory.residency=pinned", "hw.coprocessor.scratchpad=512 KiB", precision="int4")
    assert _row(small, "scratchpad").change_pct < -5


def test_critical_path_shares(report):
    assert sum(report.path_by_component.values()) == pytest.approx(1.0, abs=1e-9)
    assert sum(report.path_by_resource.values()) == pytest.approx(1.0, abs=1e-9)
    # The same attribution as the breakdowns, which are in RTF units.
    for comp, share in report.path_by_component.items():
        assert share * report.rtf == pytest.approx(report.breakdown_by_component[comp], rel=1e-9, abs=1e-12)
    for cls, share in report.path_by_resource.items():
        assert share * report.rtf == pytest.approx(report.breakdown_by_resource[cls], rel=1e-9, abs=1e-12)
    groups = report.top_groups
    assert 1 <= len(groups) <= 5
    assert [g.share for g in groups] == sorted((g.share for g in groups), reverse=True)
    top = groups[0]
    # INT4 with LMs at beam 16: the per-step encoder cells stream more weight bytes than LM_EXT does
    assert (top.component, top.kind, top.resource_class) == ("encoder", "fetch", "link")
    assert top.description == "encoder weight fetches over the link"
    for g in groups:
        assert g.share <= report.path_by_component[g.component] + 1e-12


def test_verdict_follows_the_numbers(report):
    assert "link" in report.verdict and "bound" in report.verdict
    assert f"{report.path_by_resource['link']:.0%}" in report.verdict
    host_bound = _explain("hw.host.sort_per_element=10 us")
    assert "bound by the host CPU" in host_bound.verdict
    assert _row(host_bound, "host speed") is host_bound.sensitivity[0]
    compute_bound = _explain("hw.memory.residency=pinned", "hw.link.bandwidth=4000 Gbps",
                             "hw.coprocessor.macs_per_cycle={fp16: 128, hfp8: 128, int8: 128, int4: 128, int2: 128}")
    assert "bound by the coprocessor" in compute_bound.verdict
    assert "MAC rate" in compute_bound.verdict


def test_to_dict_is_json(report):
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["rtf"] == report.rtf
    assert [s["knob"] for s in data["sensitivity"]] == [s.knob for s in report.sensitivity]
    assert data["top_groups"][0]["description"] == report.top_groups[0].description
    assert data["verdict"] == report.verdict


def test_text_has_every_part(report):
    text = format_explain(report)
    assert f"RTF {report.rtf:.4f}" in text
    assert report.verdict in text
    for word in ("critical path", "occupancy", "sensitivity", *report.occupancy, *KNOB_NAMES):
        assert word in text, word
    assert "note: no effect: memory.residency is per_op" in text


def test_plot_is_a_png(report, tmp_path):
    path = tmp_path / "s.png"
    plot_sensitivity(report, path)
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
    assert [p.name for p in tmp_path.iterdir()] == ["s.png"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "accelsim.cli", "explain", "--set", "workload.utterance.frames=16",
                           "--beam", "4", *args], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_cli_json_and_plot(tmp_path, report):
    png = tmp_path / "P.png"
    proc = _cli("--plot", str(png), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)  # nothing but the JSON object on stdout
    assert data["rtf"] == pytest.approx(report.rtf, rel=1e-12)
    assert png.read_bytes().startswith(b"\x89PNG")


def test_cli_text_prints_the_sentence(report):
    proc = _cli()
    assert proc.returncode == 0, proc.stderr
    assert report.verdict in proc.stdout


@pytest.mark.parametrize("name", ["gpu/a10.yaml", "cpu/xeon_8480plus_2s.yaml", "cpu_only.yaml", "rapid_7nm.yaml"])
def test_every_knob_asks_the_family_for_its_fields(name):
    """Each knob's fields come from the machine's family: a GPU has no single MAC-rate or per-op overhead field, so
    those knobs are left out (explain used to guess the coprocessor section and crash on a GPU)."""
    from accelsim.report.explain import knob_variations

    repo = Path(__file__).resolve().parents[1]
    hw = accelsim.load_hardware(repo / "hwconfigs" / name)
    knobs = [knob for knob, *_ in knob_variations(hw)]
    assert ("coprocessor MAC rate x2" in knobs) == (hw.family != "gpu")
    for _, variation, _, _ in knob_variations(hw):  # every path names a field of this machine
        accelsim.api.resolve(repo / "workloads" / "mlperf_rnnt.yaml", hw, variation)
