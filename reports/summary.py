"""Plain-text summaries of result.json records: one run, or a table of several."""

from __future__ import annotations

import math
from pathlib import Path

from harness.core.records import ResultRecord
from harness.core.statistics import wilson_interval
from scenarios.scenario import get_scenario
from scenarios.settings import timed

# How `edgebench run` names its run folder for people (`sweep` reads a JSON answer instead).
RESULTS_LINE = "results: "


def headline(record: ResultRecord) -> tuple[str, float | None, str]:
    """The scenario's MLPerf metric (accuracy runs: top-1). The one definition every
    table, figure and console line uses."""
    if record.mode == "accuracy":
        return "top-1", record.metrics.accuracy.top1, ""
    metric, value = get_scenario(record.scenario).read_headline(record.metrics)
    return metric.label, value, metric.unit


def format_number(value: float | None) -> str:
    """How every table and console line writes a number: 4 significant digits, 'n/a'
    for none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"


def verdict(record: ResultRecord) -> str:
    if record.valid is None:
        return "n/a (accuracy run)"
    return "VALID" if record.valid else "INVALID"


def flags(record: ResultRecord) -> list[str]:
    """What makes a run less than a full MLPerf-style measurement."""
    short = (timed(record.mode) and not record.quick
             and not record.full_measurement)
    noisy = bool(record.machine_load and record.machine_load.noisy)
    return [flag for flag, on in (("quick", record.quick), ("short run", short),
                                  ("RANDOM WEIGHTS", not record.weights_pretrained),
                                  ("noisy machine", noisy)) if on] \
        + list(dict.fromkeys(shortcut.kind for shortcut in record.shortcuts))


def format_run(record: ResultRecord, run_dir: Path) -> str:
    if record.unsupported:
        return "\n".join([
            f"{record.model} | {record.backend} {record.backend_version} | "
            f"{record.precision} | {record.scenario} {record.mode}",
            f"  unsupported on this machine: {record.unsupported.reason}",
            f"  {RESULTS_LINE}{run_dir}"])
    label, value, unit = headline(record)
    lines = [
        f"{record.model} | {record.backend} {record.backend_version} | "
        f"{record.precision} | {record.scenario} {record.mode}"
        + (f"  [{', '.join(flags(record))}]" if flags(record) else ""),
        f"  {label}: {format_number(value)} {unit}".rstrip(),
    ]
    if record.precision_executed and record.precision_executed != record.precision:
        lines.append(f"  executed: {record.precision_executed}")
    metrics = record.metrics
    if record.audit:
        lines.append(f"  audit {record.audit.test}: {record.audit.what} (LoadGen read "
                     f"{record.audit.audit_config})")
    if timed(record.mode):
        scenario = get_scenario(record.scenario)
        if not scenario.latencies_per_query:  # Offline: its latencies count from its query
            choice = record.batch_choice
            lines.append(f"  batch {record.max_batch}" + (
                " (--max-batch auto; probed samples/s: " + ", ".join(
                    f"{size}: {sps:.4g}" for size, sps in choice.probe_samples_per_s.items())
                + ")" if choice else ""))
        else:
            lat = metrics.latency_ms
            kind = "sample" if scenario.samples_per_query == 1 else "query"
            lines.append(
                f"  raw {kind} latency ms: p50 {format_number(lat.p50)}  "
                f"p90 {format_number(lat.p90)}  p99 {format_number(lat.p99)}  "
                f"mean {format_number(lat.mean)}   "
                f"throughput {format_number(metrics.throughput_sps)} samples/s"
            )
        lines.append("  LoadGen: " + (record.loadgen_verdict or "no verdict").replace(
            "\n", "\n           "))
    else:
        acc = metrics.accuracy
        top5 = f"  top-5 {format_number(acc.top5)}" if acc.top5 is not None else ""
        low, high = wilson_interval(acc.top1, acc.count)
        lines.append(f"  top-1 {format_number(acc.top1)} (95% CI {format_number(low)}-"
                     f"{format_number(high)}, Wilson){top5} over {acc.count} samples")
        if acc.fidelity:
            fid, reference = acc.fidelity, acc.fidelity.reference
            lines.append(f"  fidelity to {reference.precision}: top-1 agreement "
                         f"{format_number(fid.agreement)}, SQNR {format_number(fid.sqnr_db)} dB "
                         f"({reference.kind}, {reference.backend} {reference.precision})")
        simulated = acc.simulated
        if simulated and simulated.unsupported:
            lines.append(f"  simulated (fake-quant) top-1: not measured: {simulated.unsupported}")
        elif simulated:
            low, high = simulated.top1_ci95
            lines.append(f"  simulated (fake-quant) top-1 {format_number(simulated.top1)} "
                         f"(95% CI {format_number(low)}-{format_number(high)}); deployed minus "
                         f"simulated {format_number(simulated.gap_deployed_minus_simulated)} "
                         f"(McNemar p {format_number(simulated.gap_p_value)}), the same class on "
                         f"{simulated.agreement_with_deployed:.1%} of samples")
    lines.append(f"  device {record.device}, threads {record.threads}, "
                 f"weights {record.weights}, "
                 f"dataset {record.dataset.name} ({record.samples} samples)")
    for warning in record.warnings:
        lines.append(f"  WARNING: {warning}")
    lines.append(f"  {RESULTS_LINE}{run_dir}")
    return "\n".join(lines)


def format_table(rows: list[tuple]) -> str:
    """One line per run: (record, run_dir, error[, seconds[, cell]]) with record None
    for a failed run, `cell` its (model, backend, precision, scenario); the seconds a
    sweep spent on the cell, when given, are a column."""
    header = ("model", "backend", "precision", "scenario", "metric", "value", "LoadGen",
              "time", "notes")
    table = [header]
    for record, _run_dir, error, *extra in rows:
        seconds = f"{extra[0]:.0f} s" if extra and extra[0] else ""
        if record is None:
            cell = extra[1] if len(extra) > 1 else ("", "", "", "")
            table.append((*cell, "FAILED", "", "", seconds, error or ""))
            continue
        if record.unsupported:
            table.append((record.model, record.backend, record.precision,
                          record.scenario, "unsupported", "", "", seconds,
                          record.unsupported.reason))
            continue
        label, value, unit = headline(record)
        table.append((record.model, record.backend, record.precision,
                      record.scenario, f"{label} ({unit})" if unit else label,
                      format_number(value), verdict(record), seconds, ", ".join(flags(record))))
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in table
    )
