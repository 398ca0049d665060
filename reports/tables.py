"""The comparison matrix per device, speed-ups over FP32, and the best configuration."""

from __future__ import annotations

import math

import pandas as pd

from reports.summary import HEADLINES
from scenarios.settings import SCENARIO_NAMES

BASELINE = "fp32"
TOP1_TOLERANCE = 0.01  # "within 1 point of FP32"
HIGHER_IS_BETTER = {"single-stream": False, "multi-stream": False, "offline": True}


def caveats(row: pd.Series) -> list[str]:
    """Why a number is not a full, valid MLPerf-style measurement; empty if it is."""
    notes = []
    if row["unsupported"]:
        return [f"unsupported: {row['unsupported_reason']}"]
    # `valid` is a bool, numpy's bool once pandas made the column boolean, or missing
    if row["mode"] == "performance" and not _missing(row["valid"]) and not bool(row["valid"]):
        notes.append("INVALID")
    if row["quick"]:
        notes.append("quick")
    elif row["mode"] == "performance" and not row["full_measurement"]:
        notes.append("short run")
    if not row["weights_pretrained"]:
        notes.append("random weights")
    if row["emulated"]:
        notes.append("emulated")
    return notes


def speedup(value: float | None, baseline: float | None, scenario: str) -> float | None:
    if value is None or baseline is None or _missing(value) or _missing(baseline) or not value:
        return None
    return value / baseline if HIGHER_IS_BETTER[scenario] else baseline / value


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _cell(performance: pd.DataFrame, key: tuple, scenario: str):
    match = performance[(performance["model"] == key[0]) & (performance["backend"] == key[1])
                        & (performance["precision"] == key[2])
                        & (performance["scenario"] == scenario)]
    return None if match.empty else match.iloc[0]


def device_matrix(newest: pd.DataFrame) -> pd.DataFrame:
    """model x backend x precision rows of one device: each scenario's headline, its
    speed-up over FP32, top-1 and its difference from FP32, and caveats."""
    performance = newest[newest["mode"] == "performance"]
    accuracy = newest[newest["mode"] == "accuracy"]
    keys = sorted({(r.model, r.backend, r.precision) for r in newest.itertuples()},
                  key=lambda k: (k[0], k[1], k[2] != BASELINE, k[2]))
    rows = []
    for model, backend, precision in keys:
        row = {"model": model, "backend": backend, "precision": precision}
        # what the runtime said it executed (one artifact serves every scenario)
        same = newest[(newest["model"] == model) & (newest["backend"] == backend)
                      & (newest["precision"] == precision)]
        said = same["precision_executed"].dropna()
        row["executed"] = said.iloc[0] if not said.empty else None
        notes, found = set(), 0
        for scenario in SCENARIO_NAMES:
            cell = _cell(performance, (model, backend, precision), scenario)
            base = _cell(performance, (model, backend, BASELINE), scenario)
            value = None if cell is None or cell["unsupported"] else cell["headline"]
            row[column(scenario)] = value
            row[f"{scenario} speed-up"] = speedup(
                value, None if base is None else base["headline"], scenario)
            if cell is not None:
                notes.update(caveats(cell))
                found += int(cell["runs_found"])
        top1 = accuracy[(accuracy["model"] == model) & (accuracy["backend"] == backend)]
        mine = top1[top1["precision"] == precision]
        base = top1[top1["precision"] == BASELINE]
        mine = mine[~mine["unsupported"]]
        row["top1"] = None if mine.empty else mine.iloc[0]["top1"]
        row["top1 vs fp32"] = None if mine.empty or base.empty else \
            mine.iloc[0]["top1"] - base.iloc[0]["top1"]
        row["agreement with fp32"] = None if mine.empty else mine.iloc[0]["fidelity_agreement"]
        row["SQNR (dB)"] = None if mine.empty else mine.iloc[0]["fidelity_sqnr_db"]
        # the largest of this configuration's runs: what a device must have free
        row["peak RSS (MB)"] = _largest(same["peak_rss_mb"])
        row["artifact (MB)"] = _largest(same["artifact_size_mb"])
        if not mine.empty:
            notes.update(caveats(mine.iloc[0]))
            found += int(mine.iloc[0]["runs_found"])
        row["runs found"] = found
        row["notes"] = ", ".join(sorted(notes))
        rows.append(row)
    return pd.DataFrame(rows)


def _largest(values: pd.Series) -> float | None:
    values = values.dropna()
    return None if values.empty else float(values.max())


def column(scenario: str) -> str:
    """The matrix column of a scenario's headline metric, with its unit."""
    label, _, unit = HEADLINES[scenario]
    return f"{scenario} {label.split()[0]} ({unit})"


def best_configurations(matrix: pd.DataFrame) -> list[str]:
    """Per model and scenario: the fastest configuration whose top-1 is within one point
    of FP32's (of the same backend), or why none qualifies."""
    lines = []
    for model in sorted(matrix["model"].unique()):
        rows = matrix[matrix["model"] == model]
        for scenario in SCENARIO_NAMES:
            metric = column(scenario)
            candidates = rows[rows[metric].notna()]
            if candidates.empty:
                continue
            qualified = candidates[candidates["top1 vs fp32"].notna() & (
                candidates["top1 vs fp32"] >= -TOP1_TOLERANCE)]
            if qualified.empty:
                lines.append(f"{model}, {scenario}: none qualifies (no top-1 measured against "
                             "FP32 of the same backend; run --mode accuracy)")
                continue
            best = qualified.sort_values(metric, ascending=not HIGHER_IS_BETTER[scenario])
            top = best.iloc[0]
            lines.append(f"{model}, {scenario}: {top['backend']} {top['precision']} "
                         f"({metric} {_fmt(top[metric])}, top-1 {_fmt(top['top1'])})"
                         + (f" [{top['notes']}]" if top["notes"] else ""))
    return lines


def _fmt(value) -> str:
    if _missing(value):
        return "n/a"
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"


def to_markdown(matrix: pd.DataFrame) -> str:
    columns = list(matrix.columns)
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for _, row in matrix.iterrows():
        cells = []
        for column in columns:
            value = row[column]
            if column.endswith("speed-up"):
                cells.append("n/a" if _missing(value) else f"{value:.2f}x")
            elif column == "top1 vs fp32":
                cells.append("n/a" if _missing(value) else f"{value * 100:+.1f} pt")
            elif isinstance(value, float) or value is None:
                cells.append(_fmt(value))
            else:
                cells.append(str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
