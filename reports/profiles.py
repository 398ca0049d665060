"""Per-layer profiles (`--profile` runs): where one inference's time goes per layer class
and per layer, for each backend x precision, and what INT8 (or FP16, BF16) saves in each
class against FP32 of the same backend: the table that explains a headline speed-up."""

from __future__ import annotations

import pandas as pd

from harness.core.layer_classes import LAYER_CLASSES, time_by_layer
from harness.core.precisions import reference_precision
from harness.core.records import ResultRecord
from reports.tables import to_markdown

TOP_LAYERS = 10
# profiles of one model compare when these match (the precision and its recipe aside)
SAME_SETUP = ("device", "model", "backend", "scenario", "batch_size", "threads",
              "backend_version")


def newest(profiles: list[dict]) -> list[dict]:
    """The newest profile of each device, model, backend, precision (and its recipe),
    scenario and batch."""
    keep: dict[tuple, dict] = {}
    for row in sorted(profiles, key=lambda row: row["started_at"]):
        keep[tuple(row.get(k) for k in (*SAME_SETUP, "precision", "recipe_options"))] = row
    return list(keep.values())


def label(row: dict) -> str:
    """`openvino int8-static (nncf)`."""
    quantizer = row.get("quantizer")
    return f"{row['backend']} {row['precision']}" + (f" ({quantizer})" if quantizer else "")


def breakdown(profiles: list[dict]) -> pd.DataFrame:
    """One row per profile: its time per layer class (ms per inference) and how far the
    profile can be trusted."""
    rows = []
    for row in profiles:
        profile = row["profile"]
        by_class = profile["by_class_ms"]
        rows.append({
            "backend x precision": label(row), "scenario": row["scenario"],
            "executed": row["precision_executed"],
            **{c: by_class.get(c) for c in LAYER_CLASSES},
            "operators (ms)": profile["operators_ms"],
            "sum / latency": profile.get("sum_over_latency"),
            "sum / LoadGen latency": profile.get("sum_over_loadgen_latency"),
            "mapped share": profile["mapped_share"],
            "profiler cost": f"{profile['overhead']:+.0%}",
            "inferences": profile["inferences"]})
    table = pd.DataFrame(rows)
    return table.dropna(axis=1, how="all") if not table.empty else table


def class_speedups(profiles: list[dict]) -> pd.DataFrame:
    """Per backend, each precision against FP32 of the same setup, class by class:
    `fp32 ms -> its ms (speed-up)`."""
    reference = reference_precision()
    rows = []
    for row in profiles:
        if row["precision"] == reference:
            continue
        base = next((b for b in profiles if b["precision"] == reference and all(
            b.get(k) == row.get(k) for k in SAME_SETUP)), None)
        if base is None:
            continue
        mine, theirs = row["profile"]["by_class_ms"], base["profile"]["by_class_ms"]
        cells = {c: _versus(theirs.get(c), mine.get(c)) for c in LAYER_CLASSES
                 if c in mine or c in theirs}
        rows.append({"backend x precision": label(row), "scenario": row["scenario"], **cells,
                     "all operators": _versus(base["profile"]["operators_ms"],
                                              row["profile"]["operators_ms"])})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    order = ["backend x precision", "scenario", *(c for c in LAYER_CLASSES if c in table),
             "all operators"]
    return table[order].fillna("")


def _versus(reference_ms: float | None, ms: float | None) -> str:
    if not reference_ms and not ms:
        return ""
    if not reference_ms or not ms:
        return f"{reference_ms or 0:.3f} -> {ms or 0:.3f}"
    return f"{reference_ms:.3f} -> {ms:.3f} ({reference_ms / ms:.2f}x)"


def top_layers(profile: dict, count: int = TOP_LAYERS) -> pd.DataFrame:
    """The `count` slowest layers of one profile, with the kernels the runtime chose."""
    total = profile["operators_ms"] or 1.0
    rows = [{"layer": layer["layer"], "class": layer["layer_class"],
             "ms": layer["time_ms"], "share": f"{layer['time_ms'] / total:.1%}",
             "kernels": ", ".join(layer["kernels"]),
             "precision": ", ".join(layer["precisions"])}
            for layer in time_by_layer(profile["operators"])[:count]]
    return pd.DataFrame(rows)


def run_text(record: ResultRecord) -> str:
    """`edgebench profile RUN_DIR`: one run's profile as terminal tables."""
    profile = record.metrics.profile.to_json()
    ratio = profile.get("sum_over_latency")
    lines = [f"{record.model} on {record.backend} {record.precision} ({record.scenario}, "
             f"batch {profile['batch_size']}), executed: {record.precision_executed}",
             f"profiler: {profile['source']}; mean of {profile['inferences']} inferences; "
             f"profiling cost {profile['overhead']:+.0%}",
             f"operators: {profile['operators_ms']:.3f} ms per inference"
             + f" = {ratio:.2f} of {profile['latency_basis']}"
             + f"; {profile['mapped_share']:.0%} of it placed in the model's layers",
             *([f"{loadgen:.2f} of {profile['loadgen_latency_basis']}"]
               if (loadgen := profile.get("sum_over_loadgen_latency")) else []),
             *profile.get("notes", []), "",
             to_markdown(pd.DataFrame([
                 {"class": c, "ms": ms, "share": f"{ms / (profile['operators_ms'] or 1):.1%}"}
                 for c, ms in profile["by_class_ms"].items()])), "",
             f"top {TOP_LAYERS} layers:", to_markdown(top_layers(profile))]
    return "\n".join(lines)
