"""Read what LoadGen wrote: metrics and verdict from its logs, latencies from its trace."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import numpy as np

from scenarios import responses

SUMMARY = "mlperf_log_summary.txt"
DETAIL = "mlperf_log_detail.txt"
ACCURACY = "mlperf_log_accuracy.json"
TRACE = "mlperf_log_trace.json"

_PERCENTILES = {"p50": "50.00", "p90": "90.00", "p95": "95.00", "p99": "99.00", "p99_9": "99.90"}


def read_detail(run_dir: Path) -> dict:
    """Every ``:::MLLOG`` entry of the detail log as key -> value (last one wins)."""
    entries = {}
    for line in (run_dir / DETAIL).read_text(errors="replace").splitlines():
        if line.startswith(":::MLLOG "):
            try:
                entry = json.loads(line[len(":::MLLOG "):])
            except ValueError:
                continue  # LoadGen does not escape every string it logs
            entries[entry["key"]] = entry["value"]
    return entries


# LoadGen stamps its timed window for MLPerf's power track in the process's local time,
# to the millisecond ("12-07-2026 21:19:43.395": std::localtime, "%m-%d-%Y %T" and .ms)
POWER_STAMP = "%m-%d-%Y %H:%M:%S.%f"


def timed_window(detail: dict) -> tuple[float, float] | None:
    """LoadGen's timed window, from the start of the test to its last completion
    (`power_begin`, `power_end`), as epoch seconds; None where the log lacks it."""
    try:
        begin, end = (datetime.strptime(detail[key], POWER_STAMP).timestamp()
                      for key in ("power_begin", "power_end"))
    except (KeyError, TypeError, ValueError):
        return None
    return begin, end


def read_verdict(run_dir: Path) -> str | None:
    """LoadGen's verdict block, verbatim, from 'Result is' to the end of its reasons."""
    lines = (run_dir / SUMMARY).read_text(errors="replace").splitlines()
    for start, line in enumerate(lines):
        if line.startswith("Result is"):
            block = []
            for following in lines[start:]:
                if not following.strip() or following.startswith("===="):
                    break
                block.append(following.rstrip())
            return "\n".join(block)
    return None  # accuracy runs have no performance verdict


def _latencies(detail: dict, per_query: bool) -> dict:
    """LoadGen's latency statistics in ms: per query (MultiStream's keys) or per sample."""
    percentile_key = "result_{}_percentile_per_query_latency_ns" if per_query \
        else "result_{}_percentile_latency_ns"
    stat_key = "result_{}_query_latency_ns" if per_query else "result_{}_latency_ns"
    latency_ms = {name: detail[percentile_key.format(pct)] / 1e6
                  for name, pct in _PERCENTILES.items() if percentile_key.format(pct) in detail}
    for name in ("mean", "min", "max"):
        if stat_key.format(name) in detail:
            latency_ms[name] = detail[stat_key.format(name)] / 1e6
    return latency_ms


def performance_metrics(detail: dict, scenario_loadgen_name: str) -> dict:
    """What LoadGen measured, under names that say what each number is.

    The headlines are those MLPerf's submission checker reads: SingleStream's
    early-stopping 90th-percentile estimate (`early_stopping_latency_ss`), MultiStream's
    early-stopping 99th-percentile estimate of per-query latency
    (`early_stopping_latency_ms`), Offline's samples/s; the raw percentiles stay beside.
    """
    metrics: dict = {"query_count": detail.get("result_query_count")}
    if scenario_loadgen_name == "Offline":
        # Offline's latencies count each sample from the start of its one query: not a
        # query latency, so kept under their own name.
        metrics["sample_latency_ms"] = _latencies(detail, per_query=False)
        metrics["throughput_sps"] = detail.get("result_samples_per_second")
        metrics["throughput_basis"] = "samples/s: LoadGen result_samples_per_second"
        return metrics
    per_query = scenario_loadgen_name == "MultiStream"
    latency_ms = _latencies(detail, per_query=per_query)
    if per_query and not latency_ms:  # a LoadGen without the per-query keys
        latency_ms = _latencies(detail, per_query=False)
    early_key = "early_stopping_latency_ms" if per_query else "early_stopping_latency_ss"
    # A run too short for early stopping (capped: LoadGen's max_duration) logs
    # early_stopping_met false and an estimate of 0: no estimate, said in LoadGen's words.
    if early_key in detail and detail.get("early_stopping_met", True) and detail[early_key]:
        latency_ms["p99_early_stopping" if per_query else "p90_early_stopping"] = \
            detail[early_key] / 1e6
    elif detail.get("early_stopping_result"):
        metrics["early_stopping_result"] = " ".join(
            str(detail["early_stopping_result"]).replace("*", "").split())
    metrics["latency_ms"] = latency_ms
    if per_query:
        # LoadGen reports no throughput for MultiStream; queries run back to back.
        mean_ms = latency_ms.get("mean")
        metrics["throughput_sps"] = (detail["effective_samples_per_query"] / (mean_ms / 1e3)
                                     if mean_ms else None)
        metrics["throughput_basis"] = "samples/s: samples per query / mean query latency"
    else:
        # Queries/s including LoadGen's own time between queries: the rate a user
        # would actually see, not the optimistic 1/mean latency.
        qps = detail.get("result_qps_with_loadgen_overhead")
        metrics["throughput_sps"] = qps * detail.get("effective_samples_per_query", 1) \
            if qps else None
        metrics["throughput_basis"] = "samples/s: LoadGen result_qps_with_loadgen_overhead"
    return metrics


_SAMPLE_BEGIN = re.compile(
    r'"name":"Sample".*"ph":"b".*"query_seq":(\d+).*"issue_start_ns":(\d+),"complete_ns":(\d+)'
)


def latencies_from_trace(run_dir: Path, per_query: bool) -> np.ndarray:
    """Latency (ms) of every query (or every sample, for Offline) in issue order.

    Read line by line with a regex: a full-length trace is hundreds of MB, too big to
    parse as one JSON document on a Raspberry Pi.
    """
    by_query: dict[int, int] = {}
    per_sample: list[int] = []
    with open(run_dir / TRACE, errors="replace") as trace:
        for line in trace:
            if not line.startswith('{"name":"Sample"'):
                continue
            match = _SAMPLE_BEGIN.search(line)
            if not match:
                continue
            query, issued, completed = (int(g) for g in match.groups())
            latency_ns = completed - issued
            if per_query:  # a query is done when its last sample is
                by_query[query] = max(by_query.get(query, 0), latency_ns)
            else:
                per_sample.append(latency_ns)
    values = [by_query[q] for q in sorted(by_query)] if per_query else per_sample
    return np.asarray(values, dtype=np.float64) / 1e6


def read_accuracy_log(run_dir: Path) -> dict[int, int]:
    """qsl_idx -> predicted class, decoded as the SUT encoded it."""
    return {int(entry["qsl_idx"]): responses.decode(entry["data"])
            for entry in json.loads((run_dir / ACCURACY).read_text())}
