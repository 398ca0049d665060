"""Find every result.json under the given folders and flatten each into one table row.

One row per run; the columns are flat so that `results.csv` loads with pandas as is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness.errors import UsageError
from harness.results import RESULT_FILE
from reports.summary import HEADLINES, headline

# Runs that are one configuration measured again: the newest counts.
CONFIGURATION = ["device", "model", "backend", "precision", "scenario", "mode"]


@dataclass
class Collected:
    runs: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    systems: dict[str, dict] = field(default_factory=dict)  # device -> system description


def find_results(folders: list[Path]) -> list[Path]:
    missing = [str(f) for f in folders if not Path(f).is_dir()]
    if missing:
        raise UsageError(f"no such results folder: {', '.join(missing)}")
    found = sorted({p for f in folders for p in Path(f).rglob(RESULT_FILE)
                    if not any(part.startswith(".") for part in p.relative_to(f).parts)})
    if not found:
        raise UsageError(f"no {RESULT_FILE} found under {', '.join(map(str, folders))} "
                         "(looked recursively; run 'edgebench run' or 'edgebench sweep' first)")
    return found


def flatten(record: dict, path: Path) -> dict:
    """One run as flat columns; raises KeyError/TypeError on a record that is not ours."""
    system = record["system"]
    metrics = record.get("metrics") or {}
    latency = metrics.get("latency_ms") or {}
    accuracy = metrics.get("accuracy") or {}
    unsupported = record.get("unsupported")  # {"reason": ...}: a precision the runtime lacks
    scenario = record["scenario"]
    return {
        "device": system.get("hostname") or "unknown",
        "cpu": system.get("cpu"),
        "arch": system.get("arch"),
        "model": record["model"],
        "backend": record["backend"],
        "backend_version": record.get("backend_version"),
        "precision": record["precision"],
        "scenario": scenario,
        "mode": record["mode"],
        "headline": None if record["mode"] != "performance" or unsupported
        else headline(record)[1],
        "headline_unit": HEADLINES[scenario][2],
        # query latencies (SingleStream: one sample per query; MultiStream: per query)
        "latency_p50_ms": latency.get("p50") if scenario != "offline" else None,
        "latency_p90_ms": latency.get("p90") if scenario != "offline" else None,
        "latency_p99_ms": latency.get("p99") if scenario != "offline" else None,
        "latency_p90_early_stopping_ms": latency.get("p90_early_stopping"),
        "latency_p99_early_stopping_ms": latency.get("p99_early_stopping"),
        # Offline: each sample's time from the start of its one query, not a query latency
        "offline_sample_latency_p50_ms": (metrics.get("sample_latency_ms") or {}).get("p50"),
        "offline_sample_latency_p99_ms": (metrics.get("sample_latency_ms") or {}).get("p99"),
        "throughput_sps": metrics.get("throughput_sps"),
        "throughput_basis": metrics.get("throughput_basis"),
        "top1": accuracy.get("top1"),
        "top5": accuracy.get("top5"),
        # fidelity of a quantized run to FP32 of the same backend, on the same samples
        "fidelity_agreement": (accuracy.get("fidelity") or {}).get("agreement"),
        "fidelity_sqnr_db": (accuracy.get("fidelity") or {}).get("sqnr_db"),
        "precision_executed": record.get("precision_executed"),
        "peak_rss_mb": (record.get("costs") or {}).get("peak_rss_mb"),
        "artifact_size_mb": None if record.get("artifact_size_bytes") is None
        else round(record["artifact_size_bytes"] / 2**20, 2),
        "load_s": (record.get("costs") or {}).get("load_s"),
        "first_inference_ms": (record.get("costs") or {}).get("first_inference_ms"),
        "valid": record.get("valid"),
        "quick": bool(record.get("quick")),
        # older records: only quick runs were shorter than MLPerf's rules
        "full_measurement": bool(record.get("full_measurement", not record.get("quick"))),
        "weights": record.get("weights"),
        "weights_pretrained": bool(record.get("weights_pretrained")),
        "emulated": bool(record.get("emulated")),
        "unsupported": bool(unsupported),
        "unsupported_reason": (unsupported or {}).get("reason"),
        "threads": record.get("threads"),
        "samples": record.get("samples"),
        "started_at": record.get("started_at"),
        "edgebench_version": record.get("edgebench_version"),
        "latencies_file": str(path.parent / record["latencies_file"]["path"])
        if record.get("latencies_file") else None,
        "run_dir": str(path.parent),
    }


def collect(folders: list[Path]) -> Collected:
    rows, warnings, systems = [], [], {}
    for path in find_results(folders):
        try:
            record = json.loads(path.read_text())
            row = flatten(record, path)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            warnings.append(f"skipped {path}: not a readable edgebench result "
                            f"({type(exc).__name__}: {exc})")
            continue
        rows.append(row)
        systems.setdefault(row["device"], {**record["system"], "runtimes": {}})
        systems[row["device"]]["runtimes"][row["backend"]] = row["backend_version"]
    if not rows:
        raise UsageError("no readable result.json found: " + "; ".join(warnings))
    runs = pd.DataFrame(rows)
    versions = sorted(runs["edgebench_version"].dropna().unique())
    if len(versions) > 1:
        warnings.append(f"results come from different edgebench versions: {', '.join(versions)}"
                        "; compare with care")
    return Collected(runs, warnings, systems)


def newest_per_configuration(runs: pd.DataFrame) -> pd.DataFrame:
    """The newest run of each configuration, with `runs_found` saying how many there were."""
    ordered = runs.sort_values("started_at")
    counts = ordered.groupby(CONFIGURATION, dropna=False)["run_dir"].transform("size")
    newest = ordered.assign(runs_found=counts).drop_duplicates(CONFIGURATION, keep="last")
    return newest.reset_index(drop=True)
