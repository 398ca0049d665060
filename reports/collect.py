"""Find every result.json under the given folders and flatten each into one table row.

One row per run; the columns are flat so that `results.csv` loads with pandas as is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness.core.errors import UsageError
from harness.core.isa import isa_summary
from harness.core.record_parts import Accuracy, Fidelity, LatencyMs, Percentiles, Simulated
from harness.core.records import (
    CELL_KEYS,
    FAILED_FILE,
    RESULT_FILE,
    FailedCell,
    ResultRecord,
    cell_of,
)
from harness.core.statistics import median_interval
from reports.summary import headline
from scenarios.scenario import get_scenario

# What the precision's own recipe was made with: another calibration set or quantization
# format is another configuration, yet compares with the same fp32 baseline.
RECIPE = ["calibration", "recipe_options"]
# Everything that changes the number: runs equal in all of these are one configuration
# measured again, and the newest counts. Speed-ups compare runs equal in all but precision
# and its recipe.
BASELINE_MATCH = ["device", "model", "backend", "scenario", "mode", "threads", "batch",
                  "run_length", "weights", "dataset", "backend_version", "edgebench_version"]
CONFIGURATION = [*BASELINE_MATCH[:3], "precision", *BASELINE_MATCH[3:], *RECIPE]


@dataclass
class Collected:
    runs: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    systems: dict[str, dict] = field(default_factory=dict)  # device -> system description
    failures: list[dict] = field(default_factory=list)  # sweep cells without a result
    # --profile runs: their row and profile (None: unsupported); never a headline
    profiles: list[dict] = field(default_factory=list)


def _visible(path: Path, folder: Path) -> bool:
    """Not inside a hidden (staging) folder."""
    return not any(part.startswith(".") for part in path.relative_to(folder).parts)


def find_failures(folders: list[Path], runs: pd.DataFrame, warnings: list[str]) -> list[dict]:
    """Every failed sweep cell (`failed.json`), and whether a later run of the same cell
    produced a result (a `--retry-failed`, say): a missing row is never silent."""
    failures = []
    for folder in folders:
        for path in sorted(Path(folder).rglob(FAILED_FILE)):
            if not _visible(path, Path(folder)):
                continue
            try:
                failed = FailedCell.read(path)
            except (OSError, ValueError) as exc:
                warnings.append(f"skipped {path}: not a readable failed-cell record "
                                f"({type(exc).__name__}: {exc})")
                continue
            failed_at = failed.failed_at or "9999"  # older files: time unknown
            cell = cell_of(failed.cell)
            same_cell = (runs[list(CELL_KEYS)] == list(cell)).all(axis=1)
            later = runs[same_cell & (runs["started_at"] > failed_at)].sort_values("started_at")
            later = list(later["run_dir"])
            failures.append({
                "cell": " ".join(cell), "repeat": failed.repeat, "reason": failed.reason,
                "elapsed_s": failed.elapsed_s, "folder": str(path.parent),
                "later_result": later[-1] if later else None})
    return failures


def find_results(folders: list[Path]) -> list[Path]:
    missing = [str(f) for f in folders if not Path(f).is_dir()]
    if missing:
        raise UsageError(f"no such results folder: {', '.join(missing)}")
    found = sorted({p for f in folders for p in Path(f).rglob(RESULT_FILE)
                    if _visible(p, Path(f))})
    if not found:
        raise UsageError(f"no {RESULT_FILE} found under {', '.join(map(str, folders))} "
                         "(looked recursively; run 'edgebench run' or 'edgebench sweep' first)")
    return found


def flatten(record: ResultRecord, path: Path) -> dict:
    """One run as flat columns."""
    metrics = record.metrics
    latency = metrics.latency_ms or LatencyMs()
    sample_latency = metrics.sample_latency_ms or Percentiles()
    accuracy = metrics.accuracy or Accuracy()
    fidelity = accuracy.fidelity or Fidelity()
    simulated = accuracy.simulated or Simulated()
    costs = record.costs
    energy = record.energy
    isa = record.executed_isa
    unsupported = record.unsupported
    scenario = record.scenario
    query_latencies = get_scenario(scenario).latencies_per_query
    performance = record.mode == "performance"
    return {
        "device": record.device,
        "cpu": record.system.cpu,
        "arch": record.system.arch,
        "model": record.model,
        "backend": record.backend,
        "backend_version": record.backend_version,
        "precision": record.precision,
        "scenario": scenario,
        "mode": record.mode,
        "threads": record.threads,
        "batch": record.batch,  # as configured: "auto" or a size
        "batch_size": record.batch_size,  # as run
        "run_length": record.run_length,
        "dataset": record.dataset_id,
        "dataset_source": record.dataset_source,
        "calibration": record.calibration.digest if record.calibration else None,
        # the quantizer that made it, and the types it stored (int8-static, w4a8)
        "quantizer": record.quantization.quantizer if record.quantization else None,
        "weights_stored": record.quantization.weights if record.quantization else None,
        "recipe_options": json.dumps(record.quantization.options, sort_keys=True)
        if record.quantization and record.quantization.options else None,
        "headline": headline(record)[1] if performance and not unsupported else None,
        "headline_unit": get_scenario(scenario).headline.unit,
        # query latencies (SingleStream: one sample per query; MultiStream: per query)
        "latency_p50_ms": latency.p50 if query_latencies else None,
        "latency_p90_ms": latency.p90 if query_latencies else None,
        "latency_p99_ms": latency.p99 if query_latencies else None,
        "latency_p90_early_stopping_ms": latency.p90_early_stopping,
        "latency_p99_early_stopping_ms": latency.p99_early_stopping,
        # Offline: each sample's time from the start of its one query, not a query latency
        "offline_sample_latency_p50_ms": sample_latency.p50,
        "offline_sample_latency_p99_ms": sample_latency.p99,
        "throughput_sps": metrics.throughput_sps,
        # Offline --max-batch auto: the probe's whole curve, batch size -> samples/s
        "batch_probe": json.dumps(record.batch_choice.probe_samples_per_s)
        if record.batch_choice and record.batch_choice.probe_samples_per_s else None,
        "throughput_basis": metrics.throughput_basis,
        "top1": accuracy.top1,
        "top5": accuracy.top5,
        "accuracy_count": accuracy.count,
        # fidelity of a quantized run to FP32 of the same backend, on the same samples
        "fidelity_agreement": fidelity.agreement,
        "fidelity_sqnr_db": fidelity.sqnr_db,
        # the same artifact run as fake-quant in float, on the same samples
        "simulated_top1": simulated.top1,
        "simulated_gap": simulated.gap_deployed_minus_simulated,
        "simulated_p": simulated.gap_p_value,
        "simulated_unsupported": simulated.unsupported,
        "precision_executed": record.precision_executed,
        # the instruction set the compute kernels ran on, as the runtime said it
        "executed_isa": isa_summary(isa.counts, isa.unsupported) if isa else None,
        # over LoadGen's run, from the source named; None where none could be read
        "energy_source": energy.source if energy else None,
        "energy_covers": energy.covers if energy else None,
        "joules_per_inference": energy.joules_per_inference if energy else None,
        "joules_per_inference_above_idle": energy.joules_per_inference_above_idle
        if energy else None,
        "idle_power_w": energy.idle_power_w if energy else None,
        "energy_unsupported": energy.unsupported if energy else None,
        "peak_rss_mb": costs.peak_rss_mb,
        "artifact_size_mb": None if record.artifact_size_bytes is None
        else round(record.artifact_size_bytes / 2**20, 2),
        "build_s": costs.build_s,  # this run's build: near 0 when the cache had it
        "load_s": costs.load_s,
        "first_inference_ms": costs.first_inference_ms,
        "valid": record.valid,
        "quick": record.quick,
        "full_measurement": record.full_measurement,
        "weights": record.weights,
        "weights_pretrained": record.weights_pretrained,
        "emulated": record.emulated,
        "throttled": record.throttled,
        "noisy_machine": bool(record.machine_load and record.machine_load.noisy),
        # what the run did short of the full method (a quick study's time savers)
        "shortcuts": ", ".join(dict.fromkeys(s.kind for s in record.shortcuts)),
        "unsupported": bool(unsupported),
        "unsupported_reason": unsupported.reason if unsupported else None,
        "samples": record.samples,
        "started_at": record.started_at,
        "edgebench_version": record.edgebench_version,
        "latencies_file": str(path.parent / record.latencies_file.path)
        if record.latencies_file else None,
        "predictions_file": str(path.parent / record.predictions_file.path)
        if record.predictions_file else None,
        # a repeated measurement: its sweep, and which repeat of how many
        "sweep_id": record.sweep.id if record.sweep else None,
        "repeat": record.sweep.repeat if record.sweep else None,
        "repeats_planned": record.sweep.of if record.sweep else None,
        "target_ci_pct": record.sweep.target_ci_pct if record.sweep else None,
        # a --profile run (or one refused for it): its own configuration, read by
        # `reports.profiles` alone
        "profiled": (record.configuration or {}).get("profile") == "True",
        "run_dir": str(path.parent),
    }


def collect(folders: list[Path]) -> Collected:
    rows, warnings, systems, profiles = [], [], {}, []
    defaulted: dict[str, int] = {}  # field -> records that lacked it
    unknown: dict[str, int] = {}  # field -> records that had it, unknown to this edgebench
    for path in find_results(folders):
        try:
            record, missing = ResultRecord.read(path)
            row = flatten(record, path)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            warnings.append(f"skipped {path}: not a readable edgebench result "
                            f"({type(exc).__name__}: {exc})")
            continue
        for name in missing:
            defaulted[name] = defaulted.get(name, 0) + 1
        for name in record.unknown_fields():
            unknown[name] = unknown.get(name, 0) + 1
        rows.append(row)
        if row["profiled"]:  # the profile, or None where the run could not profile
            profile = record.metrics.profile
            profiles.append({**row, "profile": profile.to_json() if profile else None})
        systems.setdefault(row["device"], {**record.system.model_dump(), "runtimes": {}})
        systems[row["device"]]["runtimes"][row["backend"]] = row["backend_version"]
    if not rows:
        raise UsageError("no readable result.json found: " + "; ".join(warnings))
    if defaulted:
        warnings.append("results written by an older edgebench lack fields that took their "
                        "defaults: " + ", ".join(f"{name} ({count} runs)"
                                                 for name, count in sorted(defaulted.items())))
    if unknown:
        warnings.append("results hold fields this edgebench does not know (kept in the "
                        "files, not shown): " + ", ".join(
                            f"{name} ({count} runs)" for name, count in sorted(unknown.items())))
    runs = pd.DataFrame(rows)
    versions = sorted(runs["edgebench_version"].dropna().unique())
    if len(versions) > 1:
        warnings.append(f"results come from different edgebench versions: {', '.join(versions)}"
                        "; compare with care")
    failures = find_failures(folders, runs, warnings)
    unresolved = [f for f in failures if not f["later_result"]]
    if unresolved:
        warnings.append(f"{len(unresolved)} sweep cell(s) failed and have no result, so they "
                        "are missing from the tables: see 'Failed cells'")
    return Collected(runs, warnings, systems, failures, profiles)


def newest_per_configuration(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration: its newest run, with `runs_found` saying how many there
    were. When the newest run is one repeat of a sweep's repeated measurement, the
    headline is the median over that sweep's repeats, with its 95% interval
    (`headline_ci_low`/`_high`) and `headline_by_repeat` for paired speed-ups. A
    profiled run (`--profile`) is never one: the profiler's cost is in its timing."""
    ordered = runs[~runs["profiled"]].sort_values("started_at") if "profiled" in runs \
        else runs.sort_values("started_at")
    rows = []
    for _, group in ordered.groupby(CONFIGURATION, dropna=False, sort=False):
        newest = group.iloc[-1].copy()
        newest["runs_found"] = len(group)
        newest["repeats"] = 1
        newest["headline_ci_low"] = newest["headline_ci_high"] = None
        newest["headline_by_repeat"] = None
        # a --target-ci sweep: its target, whichever repeat carried it
        targets = group["target_ci_pct"].dropna() if "target_ci_pct" in group else []
        newest["target_ci_pct"] = float(targets.max()) if len(targets) else None
        if not pd.isna(newest.get("sweep_id")) and newest["headline"] is not None \
                and not pd.isna(newest["headline"]):
            same = group[(group["sweep_id"] == newest["sweep_id"]) & group["headline"].notna()]
            if len(same) > 1:
                median, low, high = median_interval(list(same["headline"]))
                newest["headline"] = median
                newest["headline_ci_low"], newest["headline_ci_high"] = low, high
                newest["repeats"] = len(same)
                newest["headline_by_repeat"] = dict(zip(same["repeat"].astype(int),
                                                        same["headline"], strict=True))
        rows.append(newest)
    return pd.DataFrame(rows).reset_index(drop=True)


# What a figure draws one bar or point for.
CELL = ["device", "model", "backend", "precision", "scenario", "mode"]


def latest_per_cell(newest: pd.DataFrame) -> pd.DataFrame:
    """The newest configuration of each device/model/backend/precision/scenario/mode:
    what the figures draw (the tables list every configuration)."""
    ordered = newest.sort_values("started_at")
    return ordered.drop_duplicates(CELL, keep="last").reset_index(drop=True)
