"""What LoadGen and the runtime said about a measured run, into its result record."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from backends.base import Backend, Executed
from harness.core import accuracy
from harness.core.artifacts import BUILD_LOG, MANIFEST
from harness.core.board import board_facts, throttled_during
from harness.core.datasets import Dataset
from harness.core.model_card import card_record
from harness.core.progress import say
from harness.core.record_parts import Energy, ModelSourceRecord, Shortcut
from harness.core.records import ResultRecord
from harness.core.system_info import peak_memory_mb
from harness.core.zoo import get_spec
from harness.measure.config import RunConfig
from harness.measure.probe import sample_batch
from harness.measure.profiling import with_latency
from scenarios import loadgen_logs
from scenarios.scenario import Scenario
from scenarios.settings import capped_short, settings_record, timed
from scenarios.sut import OutputRecorder

T = TypeVar("T")


@dataclass
class Measured:
    backend: Backend
    artifact: Path | None
    settings: object  # LoadGen's TestSettings
    outputs: OutputRecorder | None
    fidelity: dict | None
    costs: dict  # build and load time, first inference
    batch_size: int
    batch_choice: dict | None  # Offline --max-batch auto: the probe behind the choice
    machine_load: dict | None = None  # what else the machine did while LoadGen measured
    # the artifact run as fake-quant in float on the same samples (`Backend.simulation`)
    simulated: dict | None = None
    profile: dict | None = None  # --profile: `harness.measure.profiling.measure_profile`
    energy: Energy | None = None  # over LoadGen's run, or why it could not be read


def fill_measured(record: ResultRecord, measured: Measured, config: RunConfig,
                  scenario: Scenario, dataset: Dataset, run_dir: Path) -> None:
    """What LoadGen and the runtime said, into `record`; LoadGen's logs are in `run_dir`."""
    backend, artifact, settings = measured.backend, measured.artifact, measured.settings
    detail = loadgen_logs.read_detail(run_dir)
    if timed(config.mode):
        metrics = loadgen_logs.performance_metrics(detail, scenario.loadgen_name)
        latencies = loadgen_logs.latencies_from_trace(
            run_dir, per_query=scenario.latencies_per_query)
        np.save(run_dir / "latencies_ms.npy", latencies)
        record.latencies_file = {"path": "latencies_ms.npy", "unit": "ms",
                                 "per": scenario.latency_basis}
        if measured.profile is not None:
            metrics["profile"] = with_latency(measured.profile, metrics)
    else:
        metrics = {"accuracy": _accuracy(record, measured, config, dataset, run_dir)}
    if not config.keep_trace:
        # A full-length trace runs to hundreds of MB; what the reports need from it
        # is in latencies_ms.npy.
        (run_dir / loadgen_logs.TRACE).unlink(missing_ok=True)
    validity = detail.get("result_validity")
    # what the runtime says it ran: read after the measurement, so a read-back that fails
    # is recorded with its reason and never costs the measured run
    executed = read_back(record, "what executed", backend.executed,
                         lambda reason: Executed(f"unknown: the read-back failed ({reason})",
                                                 {"read_back_failed": reason}))
    quantization = read_back(record, "the quantization record", backend.quantization,
                             lambda reason: {"read_back_failed": reason})
    batch = sample_batch(backend, dataset, measured.batch_size)
    record.executed_isa = read_back(record, "the kernels' ISA",
                                    lambda: backend.executed_isa(batch),
                                    lambda reason: {"unsupported": f"the read-back failed "
                                                                   f"({reason})"})
    loadgen_settings = settings_record(settings, scenario, config.run_length)
    size_bytes = None if artifact is None else size_on_disk(artifact)
    if quantization is not None and size_bytes is not None:
        quantization["artifact_size_bytes"] = size_bytes
    record.machine_load = measured.machine_load
    record.energy = measured.energy
    if measured.machine_load and measured.machine_load["noisy"]:
        say(f"WARNING: noisy machine: {measured.machine_load['others_share']:.0%} of the "
            f"CPU time went to other processes, {measured.machine_load['steal_share']:.0%} "
            "was stolen by the hypervisor")
    record.batch_size = measured.batch_size
    if scenario.samples_per_query is None:  # Offline: the batch it chose or was given
        record.max_batch, record.batch_choice = measured.batch_size, measured.batch_choice
    if record.model_source is not None:
        _model_source_facts(record, measured, config.model_name)
    record.backend_version = backend.runtime_version()
    record.precision_executed = executed.precision
    record.executed = executed.detail
    record.quantization = quantization
    record.valid = None if validity is None else validity == "VALID"
    record.loadgen_verdict = loadgen_logs.read_verdict(run_dir)
    record.metrics = metrics
    record.loadgen_version = detail.get("loadgen_version")
    record.loadgen_settings = loadgen_settings
    # at least MLPerf's minimum duration and query count: else flagged everywhere
    record.full_measurement = loadgen_settings["full_measurement"]
    choice = measured.batch_choice
    if choice is not None and choice.get("source") == "cache":
        record.shortcuts.append(Shortcut(kind="batch from cache", detail=(
            f"Offline batch {choice['chosen']} chosen by this device's probe of "
            f"{choice.get('probed_at')}, not probed again in this run")))
    if timed(config.mode) and capped_short(loadgen_settings, metrics["query_count"]):
        record.shortcuts.append(Shortcut(kind="capped", detail=(
            f"stopped at LoadGen's max_duration ({loadgen_settings['max_duration_ms'] / 1000:g}"
            f" s) after {metrics['query_count']} of {loadgen_settings['min_query_count']} "
            "queries" + ("" if scenario.headline.read(metrics) is not None else
                         "; no early-stopping estimate (short run): the headline is the "
                         "raw percentile"))))
    record.backend_settings = read_back(record, "the runtime's settings", backend.settings,
                                        lambda reason: {"read_back_failed": reason})
    record.artifact = None if artifact is None else str(artifact)
    record.artifact_size_bytes = size_bytes
    # built on another machine (`edgebench prepare`): where, when, by what, from what
    record.artifact_provenance = backend.provenance
    # what a deployment pays besides speed; memory is the whole run process's peak
    record.costs = {**measured.costs, **peak_memory_mb(), "artifact_size_bytes": size_bytes}


def _model_source_facts(record: ResultRecord, measured: Measured, model_name: str) -> None:
    """A user's model: every input's shape as fed at each batch size the run used or
    probed, and, for an ONNX file this runtime reached as onnx2torch's module, the proof
    of that conversion (made again here where the artifact came from the cache: seconds,
    after the measurement; where it cannot be, a failed read-back, never a lost run)."""
    spec = get_spec(model_name)
    sizes = {measured.batch_size, *(measured.batch_choice or {}).get("candidates", [])}
    record.model_source.inputs_fed = {str(size): spec.card.fed_shapes(size)
                                      for size in sorted(sizes)}
    if spec.source_kind == "onnx" and "onnx" not in type(measured.backend).native_sources:
        from harness.core.onnx_to_torch import convert

        record.model_source.conversion = read_back(
            record, "the conversion's proof",
            lambda: convert(spec.source.path, spec.card)[1].to_json(),
            lambda reason: {"read_back_failed": reason})


def read_back(record: ResultRecord, what: str, read: Callable[[], T],
              failed: Callable[[str], T]) -> T:
    """`read()`, or where it fails, `failed(reason)` and a warning naming it."""
    try:
        return read()
    except Exception as exc:  # a runtime's read-back: its own words, kept in the record
        reason = f"{type(exc).__name__}: {' '.join(str(exc).split())[:500]}"
        record.warnings.append(f"reading back {what} failed after the measurement: {reason}")
        say(f"WARNING: reading back {what} failed (the measurement is kept): {reason}")
        return failed(reason)


def _accuracy(record: ResultRecord, measured: Measured, config: RunConfig, dataset: Dataset,
              run_dir: Path) -> dict:
    logits = measured.outputs.logits if measured.outputs is not None else None
    if logits is not None and config.save_outputs:
        np.save(run_dir / "outputs.npy", logits)
    predictions = loadgen_logs.read_accuracy_log(run_dir)
    scored = accuracy.score(predictions, dataset.labels, logits)
    # per sample, for paired comparisons between precisions in the report
    simulated = measured.simulated or {}
    record.predictions_file = accuracy.save_predictions(run_dir, predictions, dataset.labels,
                                                        simulated.get("logits"))
    if measured.fidelity is not None:
        scored["fidelity"] = measured.fidelity
    if measured.simulated is not None:
        scored["simulated"] = accuracy.simulated(measured.simulated, predictions,
                                                 dataset.labels)
    if scored["logged"] != len(dataset):
        record.warnings.append(f"LoadGen logged {scored['logged']} of {len(dataset)} samples; "
                               "missing ones count as wrong")
    return scored


def board_after(record: ResultRecord) -> None:
    """The board's temperature and throttling flags at the end; a warning if it throttled."""
    end = board_facts()
    start = record.system.board_facts
    record.system.board_facts_end = end
    warning = throttled_during(start.model_dump() if start else {}, end)
    if warning:
        record.warnings.append(warning)
        say(f"WARNING: {warning}")


def size_on_disk(artifact: Path) -> int:
    """The artifact's files (an IR is an .xml and a .bin), without the cache's manifest
    and build log."""
    if artifact.parent.joinpath(MANIFEST).exists():
        return sum(p.stat().st_size for p in artifact.parent.iterdir()
                   if p.is_file() and p.name not in (MANIFEST, BUILD_LOG))
    return artifact.stat().st_size


def model_source_record(model_name: str) -> ModelSourceRecord | None:
    """What result.json says of a user's model: source, digest, card as used."""
    spec = get_spec(model_name)
    if spec.source is None:
        return None
    return ModelSourceRecord(kind=spec.source_kind, file_name=spec.source.file_name,
                             sha256=spec.source.digest, card=card_record(spec.card),
                             defaults=list(spec.card.defaults))
