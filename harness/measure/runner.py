"""One benchmark run: dataset -> backend -> LoadGen -> result.json."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import mlperf_loadgen as lg
import numpy as np

import harness
from backends import get_backend_class, installed_version
from backends.base import Backend
from backends.recipes import (
    CALIBRATION_METHODS,
    PRECISIONS,
    QUANT_FORMATS,
    BuildContext,
    QuantOptions,
)
from harness.core import accuracy
from harness.core.artifacts import BUILD_LOG, MANIFEST, ArtifactCache
from harness.core.board import board_facts, throttled_during
from harness.core.calibration import DEFAULT_COUNT, CalibrationSet, resolve_calibration
from harness.core.datasets import Dataset, open_dataset
from harness.core.errors import EdgebenchError, Unsupported, UsageError
from harness.core.prepared import PreparedArtifacts
from harness.core.progress import say
from harness.core.records import (
    ResultRecord,
    discard,
    finalize,
    make_staging_dir,
    run_name,
    utc_now,
    write_record,
)
from harness.core.system_info import (
    default_device_name,
    describe_system,
    peak_memory_mb,
    reset_peak_memory,
    usable_cores,
)
from harness.core.weights import resolve_weights
from harness.core.zoo import get_spec
from harness.measure.fidelity import fidelity
from harness.measure.probe import choose_offline_batch, probe
from scenarios import loadgen_logs
from scenarios.qsl import QuerySampleLibrary
from scenarios.settings import (
    MODES,
    RunLength,
    Scenario,
    build_test_settings,
    get_scenario,
    settings_record,
)
from scenarios.sut import MultiStreamSUT, OfflineSUT, OutputRecorder, SingleStreamSUT

# MLPerf's ImageNet QSL keeps 1024 samples in memory for performance runs.
MAX_PERFORMANCE_SAMPLES = 1024
SYNTHETIC_SAMPLES = {True: 128, False: 1024}  # quick, full
PROGRESS_EVERY_S = 30.0
Result = TypeVar("Result")


@dataclass
class RunConfig:
    model: str
    backend: str = "onnxruntime"
    precision: str = "fp32"
    scenario: str = "single-stream"
    mode: str = "performance"
    quick: bool = False
    weights: str = "auto"
    dataset: str | None = None  # None: synthetic for performance runs
    count: int | None = None
    threads: int | None = None  # None: physical cores
    max_batch: int | str = "auto"  # Offline's batch size, or "auto": the fastest probed
    results_dir: Path = Path("results")
    cache_dir: Path | None = None
    save_outputs: bool = False
    keep_trace: bool = False
    calibration: str | None = None  # a folder, a list file, or "synthetic"
    calibration_count: int = DEFAULT_COUNT
    quant_format: str | None = None  # None: chosen from the CPU's ISA
    calibration_method: str = "minmax"
    duration: float | None = None  # LoadGen's minimum duration, seconds (default: MLPerf's)
    min_queries: int | None = None  # LoadGen's minimum query count (default: MLPerf's)
    user_conf: Path | None = None  # a LoadGen user.conf, as MLPerf's reference harness takes
    device_name: str | None = None  # None: hostname plus board or CPU model
    artifacts: Path | None = None  # a folder from `edgebench prepare`: no building here
    sweep_tag: str | None = None  # set by `sweep`: "<sweep id>:<repeat>:<of>:<run key>:<attempt>"

    @property
    def run_length(self) -> RunLength:
        return RunLength(self.quick, self.duration, self.min_queries, self.user_conf)


def validate(config: RunConfig) -> Scenario:
    """Reject bad choices before anything slow happens."""
    get_spec(config.model)
    backend_class = get_backend_class(config.backend)
    if config.precision not in PRECISIONS:
        raise UsageError(
            f"unknown precision {config.precision!r}; choose one of: {', '.join(PRECISIONS)}"
        )
    recipe = backend_class.recipe(config.precision)
    if recipe.needs_calibration and config.calibration is None and config.artifacts is None \
            and not backend_class.unsupported_reason(config.precision):
        raise UsageError(
            f"{config.precision} on {config.backend} needs calibration images: pass "
            "--calibration DIR|LIST (e.g. the dataset folder; its calibration images are "
            "then left out of the evaluation), or --calibration synthetic")
    if config.quant_format is not None and config.quant_format not in QUANT_FORMATS:
        raise UsageError(f"unknown --quant-format {config.quant_format!r}; choose one of: "
                         f"{', '.join(QUANT_FORMATS)}")
    if config.calibration_method not in CALIBRATION_METHODS:
        raise UsageError(f"unknown --calibration-method {config.calibration_method!r}; "
                         f"choose one of: {', '.join(CALIBRATION_METHODS)}")
    config.run_length.validate()
    if config.calibration_count < 1:
        raise UsageError(f"--calibration-count must be at least 1, got "
                         f"{config.calibration_count}")
    scenario = get_scenario(config.scenario)
    if config.mode not in MODES:
        raise UsageError(f"unknown mode {config.mode!r}; choose one of: {', '.join(MODES)}")
    if config.threads is not None and config.threads < 1:
        raise UsageError(f"--threads must be at least 1, got {config.threads}")
    if config.count is not None and config.count < 1:
        raise UsageError(f"--count must be at least 1, got {config.count}")
    config.max_batch = parse_max_batch(config.max_batch)
    if config.device_name is not None and not config.device_name.strip():
        raise UsageError("--device-name must not be empty (default: hostname and CPU model)")
    if config.mode == "accuracy" and config.dataset in (None, "synthetic"):
        raise UsageError("accuracy mode needs a labelled dataset: pass --dataset DIR")
    if config.save_outputs and config.mode != "accuracy":
        raise UsageError("--save-outputs keeps one row per sample: use it with --mode accuracy")
    return scenario


def parse_sweep_tag(tag: str | None) -> dict | None:
    """Which sweep, and which repeat of how many, a run was (for the report's medians)."""
    if not tag:
        return None
    try:
        sweep_id, repeat, of, _key, _attempt = tag.split(":")
        return {"id": sweep_id, "repeat": int(repeat), "of": int(of)}
    except ValueError:
        raise UsageError(f"malformed --sweep-tag {tag!r}") from None


def parse_max_batch(value: int | str) -> int | str:
    """'auto' or a positive batch size."""
    if value == "auto":
        return value
    try:
        size = int(value)
    except (TypeError, ValueError):
        size = 0
    if size < 1 or str(value).strip() != str(size):
        raise UsageError(f"--max-batch must be 'auto' or a positive integer, got {value!r}")
    return size


def run_loadgen(sut, qsl, settings: lg.TestSettings, out_dir: Path) -> None:
    """LoadGen's test, blocking; it calls the SUT from this same thread."""
    log_settings = lg.LogSettings()
    log_settings.log_output.outdir = str(out_dir)
    log_settings.log_output.copy_summary_to_stdout = False
    log_settings.enable_trace = True  # per-query latencies for the report's CDFs
    lg.StartTestWithLogSettings(sut.handle, qsl.handle, settings, log_settings)


class RunStatus:
    """What the main thread reports while the run thread works."""

    def __init__(self):
        self.sut: SingleStreamSUT | None = None
        self.min_duration_s = 0.0
        self.loadgen_started = 0.0

    def report(self) -> None:
        if self.sut is not None:
            say(f"  running: {time.monotonic() - self.loadgen_started:.0f} s, "
                f"{self.sut.answered_samples} samples answered "
                f"(LoadGen's minimum duration: {self.min_duration_s:.0f} s)")


def on_run_thread(work: Callable[[RunStatus], Result]) -> Result:
    """Run `work` on one worker thread while the main thread reports progress.

    The main thread stays free to notice Ctrl-C and SIGTERM (LoadGen blocks in C++).
    The backend is built, probed and driven by LoadGen all on the worker: LoadGen
    calls the SUT from the thread that starts the test, and PyTorch ran at half speed
    here on a thread other than the one that first used its OpenMP pool (measured; most
    likely libgomp throttling its spin-wait once two pools exist on few cores).
    """
    status, outcome = RunStatus(), {}

    def target() -> None:
        try:
            outcome["result"] = work(status)
        except BaseException as exc:  # handed to the main thread, raised there
            outcome["error"] = exc

    worker = threading.Thread(target=target, name="edgebench-run", daemon=True)
    next_report = time.monotonic() + PROGRESS_EVERY_S
    worker.start()
    while worker.is_alive():
        worker.join(0.1)
        if time.monotonic() > next_report:
            status.report()
            next_report += PROGRESS_EVERY_S
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def run_benchmark(config: RunConfig) -> tuple[Path, ResultRecord]:
    """Run one benchmark; return the result directory and the result record.

    A precision the runtime cannot run on this machine is recorded as unsupported,
    with the runtime's reason, not replaced by another.
    """
    scenario = validate(config)
    started_at = utc_now()
    t_start = time.monotonic()
    cache = ArtifactCache(config.cache_dir)
    threads = config.threads or usable_cores()[0]
    calibration = resolve_calibration_of(config, cache)
    dataset = open_dataset(config.dataset or "synthetic", config.count, cache.root,
                           SYNTHETIC_SAMPLES[config.quick],
                           exclude=frozenset(f.resolve() for f in calibration.files)
                           if calibration else frozenset())
    warnings: list[str] = []
    reason = get_backend_class(config.backend).unsupported_reason(config.precision)
    if reason is None:
        dataset.prepare()  # a bad image should fail before a minute of model conversion
    weights = resolve_weights(config.weights, config.model)
    if not weights.pretrained:
        warnings.append("RANDOM WEIGHTS: latency is representative, accuracy is meaningless"
                        + (f"; {weights.note}" if weights.note else ""))
        say(f"WARNING: {warnings[-1]}")
    if calibration is not None and calibration.synthetic:
        warnings.append("SYNTHETIC CALIBRATION: the int8 model was calibrated on random "
                        "inputs, not images; its accuracy says little about real use")
        say(f"WARNING: {warnings[-1]}")
    context = BuildContext(config.model, weights, cache, calibration=calibration,
                           options=QuantOptions(config.quant_format, config.calibration_method),
                           prepared=PreparedArtifacts(config.artifacts)
                           if config.artifacts else None)
    system = describe_system()
    if system["emulation"]:
        warnings.append(f"EMULATED: {system['emulation']}; timings mean nothing")
        say(f"WARNING: {warnings[-1]}")
    record = ResultRecord(
        model=config.model, backend=config.backend, precision=config.precision,
        scenario=config.scenario, mode=config.mode,
        device=config.device_name or default_device_name(system), quick=config.quick,
        threads=threads, batch_size=scenario.samples_per_query
        or (None if config.max_batch == "auto" else config.max_batch),
        weights=weights.id, weights_pretrained=weights.pretrained,
        dataset=dataset.describe(), samples=len(dataset),
        backend_version=installed_version(config.backend),
        edgebench_version=harness.__version__,
        started_at=started_at.isoformat(timespec="seconds"), system=system,
        calibration=calibration.describe() if calibration else None, warnings=warnings,
        emulated=bool(system["emulation"]),
        sweep_tag=config.sweep_tag, sweep=parse_sweep_tag(config.sweep_tag))

    name = run_name([config.model, config.backend, config.precision, config.scenario,
                     config.mode], started_at)
    staging = make_staging_dir(Path(config.results_dir), name)
    try:
        try:
            if reason is not None:
                raise Unsupported(reason)
            measured = on_run_thread(
                lambda status: _measure(config, scenario, dataset, context, threads,
                                        staging, status))
            _fill_measured(record, measured, config, scenario, dataset, staging)
            _board_after(record)
        except Unsupported as exc:
            say(f"{config.backend} cannot run {config.precision} here: {exc.reason}")
            record.unsupported = {"reason": exc.reason}
        record.duration_s = round(time.monotonic() - t_start, 2)
        write_record(staging, record)
    except BaseException:
        discard(staging)
        raise
    return finalize(staging, name), record


def _board_after(record: ResultRecord) -> None:
    """The board's temperature and throttling flags at the end; a warning if it throttled."""
    end = board_facts()
    record.system["board_facts_end"] = end
    warning = throttled_during(record.system.get("board_facts", {}), end)
    if warning:
        record.warnings.append(warning)
        say(f"WARNING: {warning}")


def resolve_calibration_of(config: RunConfig, cache: ArtifactCache) -> CalibrationSet | None:
    if config.calibration is None:
        return None
    dataset_dir = None if config.dataset in (None, "synthetic") else Path(config.dataset)
    return resolve_calibration(config.calibration, config.calibration_count, dataset_dir,
                               cache.root)


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


def _prepared(config, context, threads, hint, batch_size) -> tuple[Backend, Path | None, float]:
    """A backend loaded for `batch_size`, its artifact, and the seconds spent building it."""
    backend = get_backend_class(config.backend)(threads, hint, batch_size)
    built_before = context.cache.build_seconds
    artifact = backend.prepare(context, config.precision)
    return backend, artifact, context.cache.build_seconds - built_before


def _offline_batch(config, context, dataset, threads) -> tuple[int, dict | None]:
    if config.max_batch != "auto":
        return config.max_batch, None
    say(f"choosing the Offline batch size of {config.backend} {config.precision} "
        "(--max-batch auto) ...")
    choice = choose_offline_batch(
        lambda size: _prepared(config, context, threads, "throughput", size)[0], dataset)
    say(f"  Offline batch size: {choice['chosen']}")
    return choice["chosen"], choice


def _measure(config, scenario, dataset, context, threads, out_dir, status) -> Measured:
    """Backend -> probe -> LoadGen, on the run thread; LoadGen's logs go to `out_dir`."""
    batch_choice = None
    batch_size = scenario.samples_per_query
    built_before = context.cache.build_seconds
    if batch_size is None:  # Offline
        batch_size, batch_choice = _offline_batch(config, context, dataset, threads)
    say(f"loading {config.model} on {config.backend} {config.precision}, {threads} threads")
    # A deployed app loads a built model: the peak memory counts from here on, not the
    # quantizer's or converter's (whose cost is build_s).
    peak_scope = ("from model load (VmHWM reset after any build)" if reset_peak_memory()
                  else "whole process, builds included")
    started = time.monotonic()
    backend, artifact, build_s = _prepared(config, context, threads, scenario.hint, batch_size)
    probe_s, first_ms = probe(backend, dataset, batch_size,
                              streamed=scenario.hint == "throughput")
    costs = {"build_s": round(context.cache.build_seconds - built_before, 2),
             "load_s": round(time.monotonic() - started - build_s, 2),
             "first_inference_ms": round(first_ms, 3), "first_inference_batch": batch_size,
             "peak_memory_scope": peak_scope}
    performance_count = min(len(dataset), MAX_PERFORMANCE_SAMPLES)
    settings = build_test_settings(scenario, config.mode, config.run_length, performance_count,
                                   probe_s, batch_size)
    qsl = QuerySampleLibrary(dataset, performance_count, backend.to_input,
                             backend.batches_in_flight)
    # A quantized accuracy run keeps its logits: fidelity to FP32 is measured on them.
    keep_outputs = config.save_outputs or (config.mode == "accuracy"
                                           and config.precision != "fp32")
    outputs = OutputRecorder(len(dataset)) if keep_outputs else None
    if scenario.loadgen_name == "Offline":
        sut = OfflineSUT(backend, qsl, outputs, max_batch=batch_size)
    elif scenario.loadgen_name == "MultiStream":
        sut = MultiStreamSUT(backend, qsl, outputs)
    else:
        sut = SingleStreamSUT(backend, qsl, outputs)
    say(f"running {scenario.loadgen_name} {config.mode}"
        f"{' (quick)' if config.quick else ''} with LoadGen ...")
    status.min_duration_s = settings.min_duration_ms / 1000
    status.loadgen_started = time.monotonic()
    status.sut = sut
    run_loadgen(sut, qsl, settings, out_dir)
    status.sut = None
    if sut.error is not None:
        raise EdgebenchError(f"{config.backend} failed during the run: {sut.error}")
    sut.destroy()
    qsl.destroy()
    measured_fidelity = None
    if outputs is not None and config.precision != "fp32" and outputs.logits is not None:
        measured_fidelity = _fidelity_to_fp32(config, dataset, context, threads, batch_size,
                                              outputs.logits)
    return Measured(backend, artifact, settings, outputs, measured_fidelity, costs,
                    batch_size, batch_choice)


def _fidelity_to_fp32(config, dataset, context, threads, batch_size, logits) -> dict:
    """The same backend at FP32 on the same samples, in this process, outside LoadGen."""
    say(f"computing the fp32 reference of {config.backend} on {len(dataset)} samples "
        "for fidelity ...")
    reference_backend = get_backend_class(config.backend)(threads, "latency", batch_size)
    artifact = reference_backend.prepare(context, "fp32")
    rows = []
    for start in range(0, len(dataset), batch_size):
        indices = range(start, min(start + batch_size, len(dataset)))
        rows.append(reference_backend.predict(
            np.stack([reference_backend.to_input(dataset.sample(i)) for i in indices])))
    result = fidelity(logits, np.concatenate(rows))
    result["reference"] = {"kind": "computed in-process", "backend": config.backend,
                           "precision": "fp32", "artifact": None if artifact is None
                           else str(artifact)}
    return result


def _fill_measured(record: ResultRecord, measured: Measured, config: RunConfig,
                   scenario: Scenario, dataset: Dataset, run_dir: Path) -> None:
    """What LoadGen and the runtime said, into `record`; LoadGen's logs are in `run_dir`."""
    backend, artifact, settings = measured.backend, measured.artifact, measured.settings
    detail = loadgen_logs.read_detail(run_dir)
    metrics: dict = {}
    if config.mode == "performance":
        metrics = loadgen_logs.performance_metrics(detail, scenario.loadgen_name)
        latencies = loadgen_logs.latencies_from_trace(
            run_dir, per_query=scenario.loadgen_name != "Offline")
        np.save(run_dir / "latencies_ms.npy", latencies)
        record.latencies_file = {"path": "latencies_ms.npy", "unit": "ms",
                                 "per": "sample" if scenario.loadgen_name == "Offline"
                                 else "query"}
    else:
        logits = measured.outputs.logits if measured.outputs is not None else None
        if logits is not None and config.save_outputs:
            np.save(run_dir / "outputs.npy", logits)
        predictions = loadgen_logs.read_accuracy_log(run_dir)
        metrics["accuracy"] = accuracy.score(predictions, dataset.labels, logits)
        # per sample, for paired comparisons between precisions in the report
        record.predictions_file = accuracy.save_predictions(
            run_dir, predictions, dataset.labels)
        if measured.fidelity is not None:
            metrics["accuracy"]["fidelity"] = measured.fidelity
        if metrics["accuracy"]["logged"] != len(dataset):
            record.warnings.append(f"LoadGen logged {metrics['accuracy']['logged']} of "
                                   f"{len(dataset)} samples; missing ones count as wrong")
    if not config.keep_trace:
        # A full-length trace runs to hundreds of MB; what the reports need from it
        # is in latencies_ms.npy.
        (run_dir / loadgen_logs.TRACE).unlink(missing_ok=True)
    validity = detail.get("result_validity")
    executed = backend.executed()
    quantization = backend.quantization()
    loadgen_settings = settings_record(settings, scenario, config.run_length)
    size_bytes = None if artifact is None else _size_on_disk(artifact)
    if quantization is not None and size_bytes is not None:
        quantization["artifact_size_bytes"] = size_bytes
    record.batch_size = measured.batch_size
    if scenario.loadgen_name == "Offline":
        record.max_batch, record.batch_choice = measured.batch_size, measured.batch_choice
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
    record.backend_settings = backend.settings()
    record.artifact = None if artifact is None else str(artifact)
    record.artifact_size_bytes = size_bytes
    # built on another machine (`edgebench prepare`): where, when, by what, from what
    record.artifact_provenance = backend.provenance
    # what a deployment pays besides speed; memory is the whole run process's peak
    record.costs = {**measured.costs, **peak_memory_mb(), "artifact_size_bytes": size_bytes}


def _size_on_disk(artifact: Path) -> int:
    """The artifact's files (an IR is an .xml and a .bin), without the cache's manifest
    and build log."""
    if artifact.parent.joinpath(MANIFEST).exists():
        return sum(p.stat().st_size for p in artifact.parent.iterdir()
                   if p.is_file() and p.name not in (MANIFEST, BUILD_LOG))
    return artifact.stat().st_size
