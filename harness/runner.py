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
from backends import get_backend_class
from backends.base import Backend
from harness import accuracy, loadgen_logs
from harness.artifacts import ArtifactCache
from harness.datasets import Dataset, open_dataset
from harness.errors import EdgebenchError, UsageError
from harness.preprocess import to_layout
from harness.progress import say
from harness.qsl import QuerySampleLibrary
from harness.results import (
    RESULT_FILE,
    discard,
    finalize,
    make_staging_dir,
    run_name,
    utc_now,
    write_json_atomic,
)
from harness.sut import MultiStreamSUT, OfflineSUT, OutputRecorder, SingleStreamSUT
from harness.system_info import describe_system, physical_cores
from harness.weights import resolve_weights
from harness.zoo import get_spec
from scenarios.settings import MODES, Scenario, build_test_settings, get_scenario, settings_record

PRECISIONS = ("fp32",)
# MLPerf's ImageNet QSL keeps 1024 samples in memory for performance runs.
MAX_PERFORMANCE_SAMPLES = 1024
SYNTHETIC_SAMPLES = {True: 128, False: 1024}  # quick, full
PROBE_SECONDS = 0.5
PROGRESS_EVERY_S = 30.0
Measured = TypeVar("Measured")


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
    max_batch: int = 8
    results_dir: Path = Path("results")
    cache_dir: Path | None = None
    save_outputs: bool = False
    keep_trace: bool = False


def validate(config: RunConfig) -> Scenario:
    """Reject bad choices before anything slow happens."""
    get_spec(config.model)
    backend_class = get_backend_class(config.backend)
    if config.precision not in PRECISIONS:
        raise UsageError(
            f"unknown precision {config.precision!r}; choose one of: {', '.join(PRECISIONS)}"
        )
    if config.precision not in backend_class.precisions:
        raise UsageError(
            f"backend {config.backend} does not support precision {config.precision}; "
            f"it supports: {', '.join(backend_class.precisions)}"
        )
    scenario = get_scenario(config.scenario)
    if config.mode not in MODES:
        raise UsageError(f"unknown mode {config.mode!r}; choose one of: {', '.join(MODES)}")
    if config.threads is not None and config.threads < 1:
        raise UsageError(f"--threads must be at least 1, got {config.threads}")
    if config.count is not None and config.count < 1:
        raise UsageError(f"--count must be at least 1, got {config.count}")
    if config.max_batch < 1:
        raise UsageError(f"--max-batch must be at least 1, got {config.max_batch}")
    if config.mode == "accuracy" and config.dataset in (None, "synthetic"):
        raise UsageError("accuracy mode needs a labelled dataset: pass --dataset DIR")
    if config.save_outputs and config.mode != "accuracy":
        raise UsageError("--save-outputs keeps one row per sample: use it with --mode accuracy")
    return scenario


def probe(backend: Backend, dataset: Dataset, batch_size: int, streamed: bool) -> float:
    """Seconds per batch after warm-up: sizes LoadGen's query generation.

    `streamed` measures the way Offline runs (`predict_stream`, where a runtime may
    keep several batches in flight), the others one batch at a time.
    """
    batch = np.stack([to_layout(dataset.sample(i % len(dataset)), backend.input_layout)
                      for i in range(batch_size)])
    for _ in range(2):  # first calls allocate and pick kernels
        backend.predict(batch)
    runs, started = 0, time.perf_counter()
    while runs < 3 or time.perf_counter() - started < PROBE_SECONDS:
        if streamed:
            backend.predict_stream(((i, batch) for i in range(4)), lambda _tag, _logits: None)
            runs += 4
        else:
            backend.predict(batch)
            runs += 1
    return (time.perf_counter() - started) / runs


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


def on_run_thread(work: Callable[[RunStatus], Measured]) -> Measured:
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


def run_benchmark(config: RunConfig) -> tuple[Path, dict]:
    """Run one benchmark; return the result directory and the result record."""
    scenario = validate(config)
    started_at = utc_now()
    t_start = time.monotonic()
    cache = ArtifactCache(config.cache_dir)
    threads = config.threads or physical_cores()
    dataset = open_dataset(config.dataset or "synthetic", config.count, cache.root,
                           SYNTHETIC_SAMPLES[config.quick])
    dataset.prepare()  # a bad image should fail before a minute of model conversion
    weights = resolve_weights(config.weights, config.model)
    warnings: list[str] = []
    if not weights.pretrained:
        warnings.append("RANDOM WEIGHTS: latency is representative, accuracy is meaningless"
                        + (f"; {weights.note}" if weights.note else ""))
        say(f"WARNING: {warnings[-1]}")

    name = run_name([config.model, config.backend, config.precision, config.scenario,
                     config.mode], started_at)
    staging = make_staging_dir(Path(config.results_dir), name)
    try:
        backend, artifact, settings, outputs = on_run_thread(
            lambda status: _measure(config, scenario, dataset, weights, threads, cache,
                                    staging, status))
        record = _record(config, scenario, dataset, weights, backend, threads, artifact,
                         settings, staging, outputs, warnings, started_at, t_start)
        write_json_atomic(staging / RESULT_FILE, record)
    except BaseException:
        discard(staging)
        raise
    return finalize(staging, name), record


def _measure(config, scenario, dataset, weights, threads, cache, out_dir, status):
    """Backend -> probe -> LoadGen, on the run thread; LoadGen's logs go to `out_dir`."""
    batch_size = scenario.samples_per_query or config.max_batch
    backend = get_backend_class(config.backend)(threads, scenario.hint, batch_size)
    say(f"loading {config.model} on {config.backend} {config.precision}, {threads} threads")
    artifact = backend.prepare(config.model, weights, config.precision, cache)

    probe_s = probe(backend, dataset, batch_size, streamed=scenario.hint == "throughput")
    performance_count = min(len(dataset), MAX_PERFORMANCE_SAMPLES)
    settings = build_test_settings(scenario, config.mode, config.quick, performance_count,
                                   probe_s, batch_size)
    qsl = QuerySampleLibrary(dataset, performance_count, backend.input_layout)
    outputs = OutputRecorder(len(dataset)) if config.save_outputs else None
    if scenario.loadgen_name == "Offline":
        sut = OfflineSUT(backend, qsl, outputs, max_batch=config.max_batch)
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
    return backend, artifact, settings, outputs


def _record(config, scenario, dataset, weights, backend, threads, artifact, settings,
            run_dir, outputs, warnings, started_at, t_start) -> dict:
    detail = loadgen_logs.read_detail(run_dir)
    metrics: dict = {}
    if config.mode == "performance":
        metrics = loadgen_logs.performance_metrics(detail, scenario.loadgen_name)
        latencies = loadgen_logs.latencies_from_trace(
            run_dir, per_query=scenario.loadgen_name != "Offline")
        np.save(run_dir / "latencies_ms.npy", latencies)
    else:
        logits = None
        if outputs is not None and outputs.logits is not None:
            logits = outputs.logits
            np.save(run_dir / "outputs.npy", logits)
        predictions = loadgen_logs.read_accuracy_log(run_dir)
        metrics["accuracy"] = accuracy.score(predictions, dataset.labels, logits)
        if metrics["accuracy"]["logged"] != len(dataset):
            warnings.append(f"LoadGen logged {metrics['accuracy']['logged']} of "
                            f"{len(dataset)} samples; missing ones count as wrong")
    if not config.keep_trace:
        # A full-length trace runs to hundreds of MB; what the reports need from it
        # is in latencies_ms.npy.
        (run_dir / loadgen_logs.TRACE).unlink(missing_ok=True)
    verdict = loadgen_logs.read_verdict(run_dir)
    validity = detail.get("result_validity")
    return {
        "model": config.model,
        "backend": config.backend,
        "backend_version": backend.runtime_version(),
        "precision": config.precision,
        "scenario": config.scenario,
        "mode": config.mode,
        "quick": config.quick,
        "weights": weights.id,
        "weights_pretrained": weights.pretrained,
        "dataset": dataset.describe(),
        "samples": len(dataset),
        "threads": threads,
        "max_batch": config.max_batch if scenario.loadgen_name == "Offline" else None,
        "valid": None if validity is None else validity == "VALID",
        "loadgen_verdict": verdict,
        "metrics": metrics,
        "latencies_file": ({"path": "latencies_ms.npy", "unit": "ms",
                            "per": "sample" if scenario.loadgen_name == "Offline" else "query"}
                           if config.mode == "performance" else None),
        "loadgen_version": detail.get("loadgen_version"),
        "loadgen_settings": settings_record(settings),
        "backend_settings": backend.settings(),
        "artifact": None if artifact is None else str(artifact),
        "warnings": warnings,
        "system": describe_system(),
        "started_at": started_at.isoformat(timespec="seconds"),
        "duration_s": round(time.monotonic() - t_start, 2),
        "edgebench_version": harness.__version__,
    }
