"""`accelsim reproduce` on the shipped defaults: outputs, accuracy bands, qualitative statements.

Bands (issue 3): calibrate figures within 10%, validate figures within 20%. The figures that the
model does not reach are listed in KNOWN_DEVIATIONS with the error it gives today and why (see the
README's "Where accelsim and the paper differ"); their test pins the error to a window, so a model
change that moves them (either way) is noticed and the README updated.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from accelsim.spec.targets import load_targets

BANDS = {"calibrate": 10.0, "validate": 20.0}

#: id -> (lowest, highest) error % accepted today. Both come from one imbalance that no mechanism of the model
#: closes with plausible values (see README, "Where accelsim and the paper differ"): with one fused LSTM cell per
#: step the FP16 encoder streams ~0.89x the LM_EXT's weight bytes, where the paper's shares imply ~0.56x; the fit
#: then gives the decoding loop fixed costs (launch, dispatch) near the top of their ranges, which caps the
#: loop's INT4 gain at 64 Gbps.
KNOWN_DEVIATIONS = {
    "lmext_share_fp16_lm": (-16.0, -10.0),
    "decoder_int4_bw64": (-27.0, -20.0),
}


@pytest.fixture(scope="module")
def reproduced(run_cli, tmp_path_factory):
    out = tmp_path_factory.mktemp("paper")
    proc = run_cli("reproduce", "--json", "--out", out, "--workers", 2, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return out, json.loads(proc.stdout)


def test_json_is_the_comparison_only(reproduced):
    _, rows = reproduced
    assert isinstance(rows, list) and rows
    for row in rows:
        assert set(row) == {"id", "target", "simulated", "error_pct", "role"}
        assert row["error_pct"] == pytest.approx(100 * (row["simulated"] - row["target"]) / row["target"])


def test_every_figure_of_the_targets_file_is_compared(reproduced):
    _, rows = reproduced
    ids = {r["id"] for r in rows}
    targets = load_targets()
    for fig in [*targets.rtf, *targets.shares, *targets.speedups]:
        assert fig.id in ids
    for row in targets.table1:
        assert f"{row.id}_size" in ids
        if row.accel is not None:
            assert f"{row.id}_accel" in ids


def test_files_are_written(reproduced):
    out, rows = reproduced
    for name in ("fig2a.png", "fig2b.png", "energy.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    comparison = pd.read_csv(out / "comparison.csv")
    assert list(comparison.columns) == ["id", "kind", "setting", "target", "simulated", "error_pct", "role"]
    assert len(comparison) == len(rows)
    table1 = pd.read_csv(out / "table1.csv")
    assert len(table1) == 9
    assert {"size_MB", "size_MB_paper", "compression", "accel", "accel_paper"} <= set(table1.columns)
    assert not list(out.glob(".*.tmp"))  # atomic writes leave nothing behind


@pytest.mark.parametrize("figure", [f for f in [*load_targets().rtf, *load_targets().shares, *load_targets().speedups]],
                         ids=lambda f: f.id)
def test_accuracy_band(reproduced, figure):
    _, rows = reproduced
    error = next(r["error_pct"] for r in rows if r["id"] == figure.id)
    if figure.id in KNOWN_DEVIATIONS:
        low, high = KNOWN_DEVIATIONS[figure.id]
        assert low <= error <= high, f"{figure.id} moved to {error:+.1f}%: update KNOWN_DEVIATIONS and the README"
    else:
        assert abs(error) <= BANDS[figure.role], f"{figure.id}: {error:+.1f}% outside the {figure.role} band"


def test_table1_acceleration_bands(reproduced):
    _, rows = reproduced
    accels = [r for r in rows if r["id"].endswith("_accel")]
    assert len(accels) == 5
    for r in accels:
        if r["id"] in KNOWN_DEVIATIONS:
            low, high = KNOWN_DEVIATIONS[r["id"]]
            assert low <= r["error_pct"] <= high, r
        else:
            assert abs(r["error_pct"]) <= BANDS["validate"], r


def test_table1_sizes_within_3_percent(reproduced):
    _, rows = reproduced
    sizes = [r for r in rows if r["id"].endswith(("_size", "_compression"))]
    assert len(sizes) >= 9
    assert all(abs(r["error_pct"]) <= 3.0 for r in sizes)


def test_qualitative_statements_hold(workload_path, hw_path):
    """Each statement is checked on the settings it needs (a handful of simulations)."""
    import accelsim
    from accelsim.spec.targets import Setting
    from accelsim.report.paper import qualitative_checks

    cache: dict = {}

    def get(setting: Setting):
        if setting.key() not in cache:
            cache[setting.key()] = accelsim.simulate(workload_path, hw_path, overrides=setting.variation(),
                                                     keep_records=False)
        return cache[setting.key()]

    checks = qualitative_checks(load_targets(), get)
    assert len(checks) == len(load_targets().qualitative)
    for check in checks:
        assert check.holds, f"{check.id}: {check.detail}"


def test_readme_shows_the_comparison_as_it_comes_out(reproduced):
    """The README's copy of the comparison table is what `accelsim reproduce` prints today."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    shown = re.findall(r"^\s+(\w+)\s+(calibrate|validate)\s+([\d.]+)\s+([\d.]+)\s+([+-][\d.]+)%", readme, re.M)
    seeds = {f.id for f in load_targets().seeds}  # the other seeds' table is checked in tests/test_seeds_report.py
    shown = [row for row in shown if row[0] not in seeds]
    assert len(shown) >= 18
    simulated = {r["id"]: r for r in reproduced[1]}
    for fig_id, role, target, value, error in shown:
        assert f"{simulated[fig_id]['simulated']:.4g}" == value, fig_id
        assert f"{simulated[fig_id]['error_pct']:+.1f}" == error, fig_id
        assert simulated[fig_id]["role"] == role
