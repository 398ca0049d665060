"""The study's questions, answered per device from the comparison table: what each
precision buys over FP32, what it costs in top-1, which backend is fastest, and the
best precision within an accuracy loss; published figures beside ours."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from reports.tables import BASELINE, best_configurations, higher_is_better, made_by
from scenarios.scenario import SCENARIOS

PUBLISHED = Path(__file__).resolve().parent / "published.csv"


def _first(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """One row per key: the configuration listed first (the matrix's own order)."""
    return rows.drop_duplicates(keys, keep="first")


def speedups(matrix: pd.DataFrame) -> pd.DataFrame:
    """Per model, backend and scenario: each precision's speed-up over FP32."""
    rows = matrix[matrix["scenario"].isin(SCENARIOS.names()) & (matrix["precision"] != BASELINE)]
    rows = rows.assign(precision=rows.apply(made_by, axis=1)) if not rows.empty else rows
    rows = _first(rows, ["model", "backend", "scenario", "precision"])
    if rows.empty:
        return pd.DataFrame()
    table = rows.pivot_table(index=["model", "backend", "scenario"], columns="precision",
                             values="speed-up", aggfunc="first", dropna=False)
    table.columns = [f"speed-up {c}" for c in table.columns]
    return table.reset_index()


def accuracy_costs(matrix: pd.DataFrame) -> pd.DataFrame:
    rows = matrix[matrix["top1"].notna()]
    rows = rows.assign(precision=rows.apply(made_by, axis=1)) if not rows.empty else rows
    rows = _first(rows, ["model", "backend", "precision"])
    return rows[["model", "backend", "precision", "top1", "top1 95% CI", "vs fp32",
                 "p (McNemar)", "agreement with fp32", "SQNR (dB)"]].reset_index(drop=True)


def fastest_backends(matrix: pd.DataFrame) -> pd.DataFrame:
    """Per model and scenario: the fastest valid backend at FP32, and the fastest valid
    configuration at any precision."""
    rows = []
    valid = matrix[matrix["value"].notna() & ~matrix["_invalid"]]
    for (model, scenario), group in valid.groupby(["model", "scenario"], sort=True):
        ascending = not higher_is_better(scenario)
        fp32 = group[group["precision"] == BASELINE].sort_values("value", ascending=ascending)
        best = group.sort_values("value", ascending=ascending)
        rows.append({"model": model, "scenario": scenario, "metric": best.iloc[0]["metric"],
                     "fastest at fp32": None if fp32.empty else
                     f"{fp32.iloc[0]['backend']} ({fp32.iloc[0]['value']:.4g})",
                     "fastest at any precision": f"{best.iloc[0]['backend']} "
                     f"{best.iloc[0]['precision']} ({best.iloc[0]['value']:.4g})"})
    return pd.DataFrame(rows)


def published_beside_ours(matrix: pd.DataFrame) -> pd.DataFrame:
    """The published INT8 speed-ups, with ours for the same runtime and scenario."""
    published = pd.read_csv(PUBLISHED)
    rows = []
    for claim in published.itertuples():
        ours = matrix[(matrix["backend"] == claim.runtime) & (matrix["scenario"] == claim.scenario)
                      & (matrix["precision"] == claim.precision) & matrix["speed-up"].notna()]
        measured = ", ".join(f"{row['model']} {row['speed-up']:.2f}x"
                             for _, row in ours.iterrows()) or "not measured here"
        rows.append({"runtime": claim.runtime, "published on": claim.device,
                     "scenario": claim.scenario, "speed-up, published": claim.speed_up_over_fp32,
                     "ours (this device)": measured, "source": claim.source,
                     "note": claim.note})
    return pd.DataFrame(rows)


def study_sections(matrix: pd.DataFrame) -> list[tuple[str, pd.DataFrame | list[str]]]:
    """(title, table or lines) in the order the report shows them."""
    if matrix.empty:
        return []
    return [
        ("Speed-up over FP32 per backend and scenario", speedups(matrix)),
        ("Top-1 and fidelity cost per precision", accuracy_costs(matrix)),
        ("Fastest backend per model and scenario", fastest_backends(matrix)),
        ("Best precision within 1 point of FP32", best_configurations(matrix)),
        ("Published INT8 speed-ups beside ours", published_beside_ours(matrix)),
        ("Quantizers: deployed beside simulated (MQBench's question)", quantizers(matrix)),
    ]


def quantizers(matrix: pd.DataFrame) -> pd.DataFrame:
    """Per model and runtime, one row per quantized precision and quantizer: what it
    stored and executed, deployed top-1 beside the simulated one (the gap, McNemar's p),
    agreement with FP32, speed-up over FP32 (the first scenario measured, named),
    artifact size and build time."""
    made = matrix[matrix["quantizer"].notna()] if "quantizer" in matrix else matrix.iloc[:0]
    rows = []
    for (model, backend, precision, quantizer), group in made.groupby(
            ["model", "backend", "precision", "quantizer"], sort=True):
        timed = group[group["speed-up"].notna()]
        timed = timed.iloc[timed["scenario"].map(SCENARIOS.names().index).argsort()] \
            if not timed.empty else timed
        scored = group[group["top1"].notna()]
        first = scored.iloc[0] if not scored.empty else group.iloc[0]
        rows.append({
            "model": model, "backend": backend, "precision": precision,
            "quantizer": quantizer, "weights stored": first["weights stored"],
            "executed": first["executed"],
            "deployed top-1 (95% CI)": None if scored.empty else
            f"{first['top1']:.3f} ({first['top1 95% CI']})",
            "simulated top-1": first["simulated top1"],
            "deployed - simulated (p)": first["deployed - simulated"],
            "agreement with fp32": first["agreement with fp32"],
            "speed-up over fp32": None if timed.empty else
            f"{timed.iloc[0]['speed-up']:.2f}x ({timed.iloc[0]['scenario']})",
            "artifact (MB)": group["artifact (MB)"].max(),
            "build (s)": group["build (s)"].max(),
            "notes": first["notes"]})
    return pd.DataFrame(rows)
