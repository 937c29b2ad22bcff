"""Performance regression: a recipe's results against a committed baseline.

Points are matched by their axis values (not by config hash: a changed hardware file is exactly what
should be compared). Every metric has a direction; one that got worse by more than the tolerance
(relative, ignoring absolute changes below ``ABS_FLOOR``) is a regression, and so is a baseline point
that no longer runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

#: Metrics compared, with +1 when higher is worse, -1 when lower is worse.
DIRECTIONS = {"rtf": 1, "time_s": 1, "rtf_p50": 1, "rtf_p90": 1, "rtf_p99": 1, "model_size_MB": 1, "compression": -1}
#: Breakdown columns, by (prefix, suffix): ``component_lm_ext_rtf``, ``resource_link_rtf`` (higher is worse).
PATTERNS = {("component_", "_rtf"): 1, ("resource_", "_rtf"): 1}
ABS_FLOOR = 1e-6  # RTF-scale changes smaller than this are noise of no interest (the model is deterministic)


def _pattern(column: str) -> tuple[str, str] | None:
    return next((p for p in PATTERNS if column.startswith(p[0]) and column.endswith(p[1])), None)


def metric_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c in DIRECTIONS or _pattern(c)]


def direction(metric: str) -> int:
    if metric in DIRECTIONS:
        return DIRECTIONS[metric]
    return PATTERNS[_pattern(metric)]  # type: ignore[index]


def current_names(baseline: pd.DataFrame) -> pd.DataFrame:
    """A baseline written before the breakdown columns carried their unit (``component_encoder``, not
    ``component_encoder_rtf``) read with today's names, so that it is still compared and not silently skipped."""
    renames = {c: c + "_rtf" for c in baseline.columns
               if c.startswith(("component_", "resource_")) and not c.endswith("_rtf")}
    return baseline.rename(columns=renames)


def baseline_table(results: pd.DataFrame, axes: list[str]) -> pd.DataFrame:
    """What a baseline keeps: the axis values and the metrics of the finished points."""
    ok = results[results["status"] == "ok"]
    return ok[axes + metric_columns(ok)].reset_index(drop=True)


@dataclass
class Regression:
    changes: pd.DataFrame  # point, axes..., metric, old, new, change_pct, verdict
    missing: list[str]  # baseline points that did not run now
    new: list[str]  # points not in the baseline
    tolerance_pct: float

    @property
    def worse(self) -> pd.DataFrame:
        return self.changes[self.changes["verdict"] == "worse"]

    @property
    def failed(self) -> bool:
        return bool(len(self.worse) or self.missing)


def _label(row: pd.Series, axes: list[str]) -> str:
    return ", ".join(f"{a}={row[a]}" for a in axes)


def _as_written(table: pd.DataFrame) -> pd.DataFrame:
    """The table as a CSV round trip gives it back, so that axis values compare like for like."""
    import io

    return pd.read_csv(io.StringIO(table.to_csv(index=False)))


def compare(baseline: pd.DataFrame, current: pd.DataFrame, axes: list[str], tolerance_pct: float) -> Regression:
    base = current_names(_as_written(baseline))
    now = _as_written(baseline_table(current, axes))
    for frame in (base, now):
        frame["_label"] = frame.apply(lambda r: _label(r, axes), axis=1)
    now_by_label = {row["_label"]: row for _, row in now.iterrows()}
    base_labels = set(base["_label"])
    rows, missing = [], []
    for _, old in base.iterrows():
        new = now_by_label.get(old["_label"])
        if new is None:
            missing.append(old["_label"])
            continue
        for metric in metric_columns(base):
            if metric not in new.index:
                continue
            a, b = float(old[metric]), float(new[metric])
            if (math.isnan(a) and math.isnan(b)) or a == b:
                continue
            change = (b - a) / abs(a) * 100 if a else math.inf
            if abs(b - a) < ABS_FLOOR:
                verdict = "same"
            elif direction(metric) * change > tolerance_pct:
                verdict = "worse"
            elif direction(metric) * change < -tolerance_pct:
                verdict = "better"
            else:
                verdict = "within"
            rows.append({"point": old["_label"], "metric": metric, "old": a, "new": b, "change_pct": change,
                         "verdict": verdict})
    changes = pd.DataFrame(rows, columns=["point", "metric", "old", "new", "change_pct", "verdict"])
    new_points = [label for label in now["_label"] if label not in base_labels]
    return Regression(changes, missing, new_points, tolerance_pct)


def format_text(reg: Regression, limit: int = 40) -> str:
    moved = reg.changes[reg.changes["verdict"].isin(["worse", "better", "within"])]
    moved = moved.reindex(moved["change_pct"].abs().sort_values(ascending=False).index)
    lines = []
    if moved.empty and not reg.missing:
        lines.append("no metric moved")
    else:
        lines.append(f"  {'verdict':<8}{'metric':<26}{'old':>11}{'new':>11}{'change':>9}  point")
        for _, r in moved.head(limit).iterrows():
            lines.append(f"  {r['verdict']:<8}{r['metric']:<26}{r['old']:>11.5g}{r['new']:>11.5g}{r['change_pct']:>+8.2f}%  {r['point']}")
        if len(moved) > limit:
            lines.append(f"  ... {len(moved) - limit} more")
    for label in reg.missing:
        lines.append(f"  MISSING  {label} (in the baseline, did not run now)")
    for label in reg.new:
        lines.append(f"  new      {label} (not in the baseline)")
    verdict = "FAILED" if reg.failed else "passed"
    lines.append(f"regression check {verdict}: {len(reg.worse)} metrics worse than the baseline by more than "
                 f"{reg.tolerance_pct:g}%, {len(reg.missing)} points missing, "
                 f"{int((reg.changes['verdict'] == 'better').sum())} better")
    return "\n".join(lines)


def format_markdown(reg: Regression, recipe: str, baseline: str) -> str:
    verdict = ":x: **failed**" if reg.failed else ":white_check_mark: **passed**"
    out = [f"### accelsim regression check: `{recipe}` vs `{baseline}` — {verdict}", "",
           f"Tolerance {reg.tolerance_pct:g}%. {len(reg.worse)} metrics worse, {len(reg.missing)} points missing, "
           f"{int((reg.changes['verdict'] == 'better').sum())} metrics better.", ""]
    moved = reg.changes[reg.changes["verdict"].isin(["worse", "better"])]
    if not moved.empty:
        out += ["| verdict | point | metric | old | new | change |", "|---|---|---|---:|---:|---:|"]
        for _, r in moved.iterrows():
            out.append(f"| {r['verdict']} | {r['point']} | {r['metric']} | {r['old']:.5g} | {r['new']:.5g} | {r['change_pct']:+.2f}% |")
    for label in reg.missing:
        out.append(f"- missing point: {label}")
    return "\n".join(out) + "\n"
