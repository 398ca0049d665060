"""The comparison table per device: one row per configuration, its speed-up over the
FP32 run of the same configuration, its top-1 with sampling error and a paired test
against FP32, and the best configuration."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from harness.core.accuracy import load_correct
from harness.core.precisions import reference_precision
from harness.core.statistics import (
    NOISY_WIDTH,
    SIGNIFICANCE,
    interval_width_pct,
    is_noisy,
    median_interval,
    meets_target,
    paired_comparison,
    wilson_interval,
)
from reports.collect import BASELINE_MATCH
from reports.summary import format_number
from scenarios.scenario import SCENARIOS, get_scenario

BASELINE = reference_precision()
TOP1_TOLERANCE = 0.01  # "within 1 point of FP32"
# An accuracy run belongs to every performance configuration it shares these with:
# top-1 does not depend on the scenario, the batch or the run length.
PAIRED_TEST = "McNemar exact"
ACCURACY_MATCH = ["device", "model", "backend", "precision", "recipe_options", "threads",
                  "weights", "backend_version", "edgebench_version"]
QUALIFY_RULE = ("the fastest valid run (not INVALID, not unsupported) whose "
                f"top-1 is within {TOP1_TOLERANCE * 100:g} point of FP32 of the same backend, "
                "unless McNemar's exact test on the same samples finds a larger drop "
                f"significant (p < {SIGNIFICANCE})")


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
    if row.get("throttled", False):
        notes.append("THROTTLED")
    if row.get("noisy_machine", False):
        notes.append("noisy machine")
    if not _missing(row.get("shortcuts")) and row.get("shortcuts"):
        notes.extend(row["shortcuts"].split(", "))
    return notes


def speedup(value: float | None, baseline: float | None, scenario: str) -> float | None:
    if value is None or baseline is None or _missing(value) or _missing(baseline) or not value:
        return None
    return value / baseline if higher_is_better(scenario) else baseline / value


def higher_is_better(scenario: str) -> bool:
    return get_scenario(scenario).headline.higher_is_better


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _matching(frame: pd.DataFrame, row: pd.Series, columns: list[str], **fixed) -> pd.DataFrame:
    """Rows of `frame` equal to `row` in `columns`, with `fixed` values overriding."""
    mask = pd.Series(True, index=frame.index)
    for name in columns:
        want = fixed.get(name, row[name])
        mask &= frame[name].isna() if _missing(want) else frame[name] == want
    return frame[mask]


def baseline_of(performance: pd.DataFrame, row: pd.Series) -> pd.Series | None:
    """The FP32 run of exactly the same configuration, if there is one."""
    match = _matching(performance, row, [*BASELINE_MATCH, "precision"], precision=BASELINE)
    match = match[~match["unsupported"]]
    return None if match.empty else match.iloc[-1]


def _accuracy_of(accuracy: pd.DataFrame, row: pd.Series, precision: str) -> pd.Series | None:
    """The accuracy run of `row`'s configuration at `precision` (FP32: made by no recipe
    options, whichever quantizer made `row`)."""
    reference = {"recipe_options": None} if precision == BASELINE else {}
    match = _matching(accuracy, row, ACCURACY_MATCH, precision=precision, **reference)
    match = match[~match["unsupported"]].sort_values("started_at")
    return None if match.empty else match.iloc[-1]


def _versus_fp32(mine: pd.Series, base: pd.Series | None) -> dict:
    """top-1 difference from FP32 and McNemar's p, on the same samples only: all of them,
    or the first ones both scored when one run scored fewer of the same list."""
    if base is None:
        return {"vs fp32": None, "p (McNemar)": None,
                "accuracy test": "no fp32 accuracy run of the same configuration"}
    same = mine["dataset"] == base["dataset"]
    if not same and mine["dataset_source"] != base["dataset_source"]:
        return {"vs fp32": None, "p (McNemar)": None,
                "accuracy test": "fp32 ran on other samples: no paired test"}
    if _missing(mine["predictions_file"]) or _missing(base["predictions_file"]):
        return {"vs fp32": mine["top1"] - base["top1"] if same else None, "p (McNemar)": None,
                "accuracy test": "no per-sample predictions (older runs): no paired test"}
    try:
        first = load_correct(Path(base["predictions_file"]))
        second = load_correct(Path(mine["predictions_file"]))
        shared = min(len(first), len(second))
        test = paired_comparison(first[:shared], second[:shared])
    except (OSError, ValueError, KeyError) as exc:
        return {"vs fp32": None, "p (McNemar)": None,
                "accuracy test": f"predictions unreadable: {exc}"}
    return {"vs fp32": test.difference, "p (McNemar)": test.p_value,
            "accuracy test": PAIRED_TEST + ("" if same else f" on the first {shared} images")}


def _qualifies(row: pd.Series) -> bool:
    if row["precision"] == BASELINE:
        return True  # the reference itself
    if not str(row["accuracy test"]).startswith(PAIRED_TEST):
        return False
    return row["vs fp32"] >= -TOP1_TOLERANCE or row["p (McNemar)"] >= SIGNIFICANCE


def device_matrix(newest: pd.DataFrame) -> pd.DataFrame:
    """One row per performance configuration of one device (and per accuracy run no
    performance run shares): headline, speed-up over the FP32 run of the same
    configuration, top-1 with its 95% interval and a paired test against FP32."""
    performance = newest[newest["mode"] == "performance"]
    accuracy = newest[newest["mode"] == "accuracy"]
    used_accuracy: set[str] = set()
    rows = []
    for _, cell in performance.iterrows():
        rows.append(_row(cell, performance, accuracy, used_accuracy))
    for _, run in accuracy.iterrows():
        if run["run_dir"] not in used_accuracy:
            rows.append(_row(run, performance, accuracy, used_accuracy))
    matrix = pd.DataFrame(rows)
    if matrix.empty:
        return matrix
    order = {name: i for i, name in enumerate(SCENARIOS)}
    matrix["_order"] = [(r.model, r.backend, order.get(r.scenario, 9), r.precision != BASELINE,
                         r.precision, str(r.quantizer), r.threads, str(r.batch))
                        for r in matrix.itertuples()]
    return matrix.sort_values("_order").drop(columns="_order").reset_index(drop=True)


def _row(cell: pd.Series, performance: pd.DataFrame, accuracy: pd.DataFrame,
         used_accuracy: set[str]) -> dict:
    measured = cell["mode"] == "performance"
    notes = set(caveats(cell))
    row = {"model": cell["model"], "backend": cell["backend"], "precision": cell["precision"],
           "quantizer": None if _missing(cell["quantizer"]) else cell["quantizer"],
           "scenario": cell["scenario"] if measured else "(accuracy only)",
           "threads": cell["threads"], "batch": _batch(cell) if measured else None,
           "run": cell["run_length"], "executed": cell["precision_executed"],
           "ISA": cell["executed_isa"]}
    value = cell["headline"] if measured and not cell["unsupported"] else None
    headline = get_scenario(cell["scenario"]).headline if measured else None
    row["metric"] = f"{headline.label} ({headline.unit})" if headline else None
    row["value"] = value
    row["95% CI"] = _interval(cell["headline_ci_low"], cell["headline_ci_high"]) \
        if value is not None else None
    row["repeats"] = int(cell["repeats"]) if measured else None
    if value is not None and is_noisy(value, cell["headline_ci_low"], cell["headline_ci_high"]):
        notes.add(f"noisy (95% CI wider than {NOISY_WIDTH:.0%} of the median)")
    target = cell.get("target_ci_pct")
    if value is not None and not _missing(target):
        width = interval_width_pct(value, cell["headline_ci_low"], cell["headline_ci_high"])
        said = "n/a" if width is None else f"{width:.1f}%"
        notes.add(f"CI target {target:g}%: "
                  + ("met" if meets_target(int(cell["repeats"]), width, target) else "NOT met")
                  + f" ({said} after {int(cell['repeats'])} repeats)")
    base = baseline_of(performance, cell) if measured else None
    row["speed-up"], row["speed-up 95% CI"] = (None, None) \
        if base is None or cell["precision"] == BASELINE else _speedup(cell, base, value)
    if row["speed-up"] is not None:
        # a speed-up is only as good as its baseline
        notes.update(f"baseline {note}" for note in caveats(base) if note not in notes)
    if measured:
        mine = _accuracy_of(accuracy, cell, cell["precision"])
    else:
        mine = None if cell["unsupported"] else cell
    if mine is not None:
        used_accuracy.add(mine["run_dir"])
        notes.update(caveats(mine))
        low, high = wilson_interval(mine["top1"], int(mine["accuracy_count"]))
        row.update({"top1": mine["top1"], "top1 95% CI": f"{low:.3f}-{high:.3f}"})
        if cell["precision"] == BASELINE:
            row.update({"vs fp32": None, "p (McNemar)": None, "accuracy test": "reference"})
        else:
            row.update(_versus_fp32(mine, _accuracy_of(accuracy, mine, BASELINE)))
        row["agreement with fp32"] = mine["fidelity_agreement"]
        row["SQNR (dB)"] = mine["fidelity_sqnr_db"]
        row.update(_simulated(mine))
    else:
        row.update({"top1": None, "top1 95% CI": None, "vs fp32": None, "p (McNemar)": None,
                    "accuracy test": "no accuracy run", "agreement with fp32": None,
                    "SQNR (dB)": None, "simulated top1": None, "deployed - simulated": None})
    row["weights stored"] = cell["weights_stored"]
    # the build as recorded (near 0 where the cache had it): the longest of its runs
    row["build (s)"] = max((r["build_s"] for r in (cell, mine) if r is not None
                            and not _missing(r["build_s"])), default=None)
    row["J/inference"] = cell["joules_per_inference"]
    row["J/inference above idle"] = cell["joules_per_inference_above_idle"]
    row["energy source"] = cell["energy_source"]
    row["peak RSS (MB)"] = cell["peak_rss_mb"]
    row["artifact (MB)"] = cell["artifact_size_mb"]
    row["runs found"] = int(cell["runs_found"])
    row["notes"] = ", ".join(sorted(notes))
    row["_invalid"] = bool(cell["unsupported"]) or "INVALID" in notes
    return row


def _simulated(run: pd.Series) -> dict:
    """The run's simulated (fake-quant) top-1 and the deployed-minus-simulated gap with
    McNemar's p; where the runtime cannot simulate, that it did not."""
    if not _missing(run.get("simulated_unsupported")):
        return {"simulated top1": None, "deployed - simulated": "not simulated on this runtime"}
    if _missing(run.get("simulated_top1")):
        return {"simulated top1": None, "deployed - simulated": None}
    return {"simulated top1": run["simulated_top1"],
            "deployed - simulated": f"{run['simulated_gap']:+.3f} "
                                    f"(p {format_number(run['simulated_p'])})"}


def _interval(low, high) -> str | None:
    if _missing(low) or _missing(high):
        return None
    return f"{format_number(low)}-{format_number(high)}"


def _speedup(cell: pd.Series, base: pd.Series, value) -> tuple[float | None, str | None]:
    """The speed-up, and its interval from runs paired by repeat when both were repeated
    in one sweep (repeat i of one against repeat i of the other: same machine state)."""
    mine, theirs = cell["headline_by_repeat"], base["headline_by_repeat"]
    if isinstance(mine, dict) and isinstance(theirs, dict) \
            and cell["sweep_id"] == base["sweep_id"]:
        paired = [speedup(mine[i], theirs[i], cell["scenario"]) for i in mine if i in theirs]
        paired = [ratio for ratio in paired if ratio is not None]
        if len(paired) > 1:
            median, low, high = median_interval(paired)
            return median, _interval(low, high)
    return speedup(value, base["headline"], cell["scenario"]), None


def _batch(cell: pd.Series) -> str | None:
    if _missing(cell["batch_size"]):
        return cell["batch"]
    size = str(int(cell["batch_size"]))
    return f"auto: {size}" if cell["batch"] == "auto" else size


def column(scenario: str) -> str:
    """A scenario's headline metric, with its unit."""
    headline = get_scenario(scenario).headline
    return f"{scenario} {headline.label} ({headline.unit})"


def best_configurations(matrix: pd.DataFrame) -> list[str]:
    """Per model and scenario: the fastest valid configuration whose top-1 qualifies
    against FP32 (QUALIFY_RULE), or why none does."""
    lines = []
    if matrix.empty:
        return lines
    for model in sorted(matrix["model"].unique()):
        for scenario in SCENARIOS:
            candidates = matrix[(matrix["model"] == model) & (matrix["scenario"] == scenario)
                                & matrix["value"].notna() & ~matrix["_invalid"]]
            if candidates.empty:
                continue
            qualified = candidates[candidates.apply(_qualifies, axis=1)]
            if qualified.empty:
                lines.append(f"{model}, {scenario}: none qualifies ({QUALIFY_RULE}; no "
                             "candidate has a paired accuracy test: run --mode accuracy on "
                             "a labelled dataset)")
                continue
            top = qualified.sort_values("value",
                                        ascending=not higher_is_better(scenario)).iloc[0]
            faster = candidates[(candidates["value"] > top["value"]) if higher_is_better(
                scenario) else (candidates["value"] < top["value"])]
            untested = int((~faster["accuracy test"].astype(str).str.startswith(PAIRED_TEST)).sum())
            test = "" if top["precision"] == BASELINE else (
                f", {format_number(top['vs fp32'] * 100)} pt vs fp32, McNemar exact p "
                f"{format_number(top['p (McNemar)'])}")
            lines.append(f"{model}, {scenario}: {top['backend']} {made_by(top)}, "
                         f"{top['threads']} threads, batch {top['batch']} "
                         f"({top['metric']} {format_number(top['value'])}, "
                         f"top-1 {format_number(top['top1'])}"
                         f"{test})" + (f" [{top['notes']}]" if top["notes"] else "")
                         + (f"; {untested} faster run(s) have no paired accuracy test against "
                            "fp32 (run --mode accuracy on a labelled dataset)"
                            if untested else ""))
    return lines


def _with_interval(text: str, interval: str | None) -> str:
    return text if text == "n/a" or not interval else f"{text} ({interval})"


def _speedup_text(value) -> str:
    return "n/a" if _missing(value) else f"{value:.2f}x"


def made_by(row: pd.Series) -> str:
    """The precision, and the quantizer that made it where there was a choice."""
    quantizer = row.get("quantizer")
    return row["precision"] if _missing(quantizer) else f"{row['precision']} ({quantizer})"


def main_table(matrix: pd.DataFrame) -> pd.DataFrame:
    """What a reader needs first, one row per configuration, at most 11 columns: the
    configuration, what executed, the headline, the speed-up over FP32 and top-1 (each
    with its 95% interval), top-1's difference from FP32, and the notes; and joules per
    inference where any run measured energy."""
    rows = []
    energy = has_energy(matrix)
    for _, row in matrix.iterrows():
        unit = get_scenario(row["scenario"]).headline.unit \
            if row["scenario"] in SCENARIOS else ""
        headline = "n/a" if _missing(row["value"]) else f"{format_number(row['value'])} {unit}"
        rows.append({
            "model": row["model"], "backend": row["backend"], "precision": made_by(row),
            "scenario": row["scenario"],
            "threads x batch": f"{row['threads']} x {row['batch']}"
            if isinstance(row["batch"], str) else str(row["threads"]),
            "executed (ISA)": _executed_text(row),
            "headline (95% CI)": _with_interval(headline.strip(), row["95% CI"]),
            "speed-up (95% CI)": _with_interval(_speedup_text(row["speed-up"]),
                                                row["speed-up 95% CI"]),
            "top-1 (95% CI)": _with_interval(format_number(row["top1"]), row["top1 95% CI"]),
            "vs fp32": "n/a" if _missing(row["vs fp32"]) else f"{row['vs fp32'] * 100:+.1f} pt",
            **({"J/inference": _energy_text(row)} if energy else {}),
            "notes": row["notes"] or ""})
    return pd.DataFrame(rows)


def _executed_text(row: pd.Series) -> str:
    """What executed, with the ISA its kernels ran on where the runtime said it."""
    executed = row["executed"] if isinstance(row["executed"], str) else "n/a"
    return f"{executed} ({row['ISA']})" if isinstance(row["ISA"], str) else executed


def has_energy(matrix: pd.DataFrame) -> bool:
    """Whether any run of the table measured energy (its columns are shown only then)."""
    return "J/inference" in matrix and matrix["J/inference"].notna().any()


def _energy_text(row: pd.Series) -> str:
    if _missing(row["J/inference"]):
        return "n/a"
    return f"{format_number(row['J/inference'])} ({row['energy source']})"


DETAIL_COLUMNS = ["metric", "repeats", "run", "accuracy test", "p (McNemar)",
                  "agreement with fp32", "SQNR (dB)", "simulated top1", "deployed - simulated",
                  "peak RSS (MB)", "artifact (MB)", "runs found"]
ENERGY_COLUMNS = ["J/inference", "J/inference above idle", "energy source"]


def detail_table(matrix: pd.DataFrame) -> pd.DataFrame:
    """The rest of each row (also in results.csv): how the headline was measured, the
    paired accuracy test, fidelity, the simulated top-1, memory and size, and how many
    runs were found."""
    configuration = matrix["model"] + " " + matrix["backend"] + " " \
        + matrix.apply(made_by, axis=1) + " " + matrix["scenario"]
    columns = DETAIL_COLUMNS + (ENERGY_COLUMNS if has_energy(matrix) else [])
    return pd.concat([configuration.rename("configuration"), matrix[columns]], axis=1)


def shown(matrix: pd.DataFrame) -> pd.DataFrame:
    """The matrix without its internal columns."""
    return matrix.drop(columns=[c for c in matrix.columns if c.startswith("_")])


def formatted(table: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Header and cells as text, formatted one way for Markdown and HTML alike."""
    table = shown(table)
    columns = list(table.columns)
    rows = []
    for _, row in table.iterrows():
        cells = []
        for name in columns:
            value = row[name]
            if isinstance(value, str):
                cells.append(value)
            elif name.startswith("speed-up"):
                cells.append(_speedup_text(value))
            elif name == "vs fp32":
                cells.append("n/a" if _missing(value) else f"{value * 100:+.1f} pt")
            elif isinstance(value, float) or value is None:
                cells.append(format_number(value))
            else:
                cells.append(str(value))
        rows.append(cells)
    return columns, rows


def to_markdown(table: pd.DataFrame) -> str:
    columns, rows = formatted(table)
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def to_html(table: pd.DataFrame) -> str:
    import html

    columns, rows = formatted(table)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"
                   for cells in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def energy_line(runs: pd.DataFrame) -> str:
    """What the device's energy figures cover, or why it has none (a run's own words)."""
    measured = runs[runs["joules_per_inference"].notna()]
    if not measured.empty:
        covers = "; ".join(f"{source}: {covers}" for source, covers in sorted(set(zip(
            measured["energy_source"], measured["energy_covers"], strict=True))))
        return (f"Energy per inference ({len(measured)} runs) covers {covers}. "
                "'Above idle' takes off the idle power measured just before each run.")
    reasons = runs["energy_unsupported"].dropna()
    if reasons.empty:
        return "Energy: not recorded by these runs."
    return f"Energy: not measured on this device: {reasons.iloc[-1]}"

