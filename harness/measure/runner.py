"""One benchmark run: dataset -> backend -> LoadGen -> result.json."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import mlperf_loadgen as lg
import numpy as np

import harness
from backends import installed_version
from backends.base import Backend
from harness.core.datasets import Dataset, open_dataset
from harness.core.digests import sha256_of
from harness.core.energy.window import EnergyWindow
from harness.core.errors import EdgebenchError, Unsupported, UsageError
from harness.core.machine_load import LoadWindow
from harness.core.precisions import reference_precision
from harness.core.progress import say
from harness.core.record_parts import Shortcut
from harness.core.records import (
    ResultRecord,
    cell_of,
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
    reset_peak_memory,
    usable_cores,
)
from harness.measure.batch_cache import BatchChoiceCache
from harness.measure.config import AUTO, RunConfig
from harness.measure.fidelity import fidelity
from harness.measure.plan import RunPlan
from harness.measure.probe import choose_offline_batch, probe
from harness.measure.profiling import measure_profile
from harness.measure.record import Measured, board_after, fill_measured, model_source_record
from harness.measure.run_thread import RunStatus, on_run_thread
from scenarios import loadgen_logs
from scenarios.mlcommons import AUDIT_TESTS, inference_checkout
from scenarios.qsl import QuerySampleLibrary
from scenarios.settings import (
    QUICK_ACCURACY_MAX_S,
    QUICK_ACCURACY_MIN_SAMPLES,
    QUICK_ACCURACY_SAMPLES,
    build_test_settings,
)
from scenarios.sut import OutputRecorder

AUDIT_CONFIG = "audit.config"  # the name LoadGen looks for
# MLPerf's ImageNet QSL keeps 1024 samples in memory for performance runs.
MAX_PERFORMANCE_SAMPLES = 1024
SYNTHETIC_SAMPLES = {True: 128, False: 1024}  # quick, full


def parse_sweep_tag(tag: str | None) -> dict | None:
    """Which sweep, which repeat of how many, and which --target-ci (if any) a run served
    (for the report's medians)."""
    if not tag:
        return None
    try:
        sweep_id, repeat, of, _key, _attempt, *target = tag.split(":")
        if len(target) > 1:
            raise ValueError
        return {"id": sweep_id, "repeat": int(repeat), "of": int(of),
                "target_ci_pct": float(target[0]) if target and target[0] else None}
    except ValueError:
        raise UsageError(f"malformed --sweep-tag {tag!r}") from None


def run_loadgen(sut, qsl, settings: lg.TestSettings, out_dir: Path) -> None:
    """LoadGen's test, blocking; it calls the SUT from this same thread. LoadGen reads
    `audit.config` from the run folder only (an audit test put it there): one left in the
    user's working directory never changes a run unseen."""
    log_settings = lg.LogSettings()
    log_settings.log_output.outdir = str(out_dir)
    log_settings.log_output.copy_summary_to_stdout = False
    log_settings.enable_trace = True  # per-query latencies for the report's CDFs
    lg.StartTestWithLogSettings(sut.handle, qsl.handle, settings, log_settings,
                                str(out_dir / AUDIT_CONFIG))


def _place_audit_config(config: RunConfig, out_dir: Path) -> dict | None:
    """An audit test's audit.config, copied into the run folder where LoadGen reads it
    and kept there; what the record says of it."""
    if config.mode not in AUDIT_TESTS:
        return None
    test = AUDIT_TESTS.get(config.mode)
    source = test.config_path(inference_checkout(config.mlperf_inference))
    shutil.copyfile(source, out_dir / AUDIT_CONFIG)
    return {"test": test.name, "what": test.what, "audit_config": str(source),
            "sha256": sha256_of(source)}


def _warn(warnings: list[str], warning: str) -> None:
    warnings.append(warning)
    say(f"WARNING: {warning}")


def run_benchmark(config: RunConfig) -> tuple[Path, ResultRecord]:
    """Run one benchmark; return the result directory and the result record.

    A precision the runtime cannot run on this machine is recorded as unsupported,
    with the runtime's reason, not replaced by another.
    """
    started_at = utc_now()
    t_start = time.monotonic()
    plan = RunPlan.of(config)
    scenario, calibration = plan.scenario, plan.calibration
    threads = config.threads or usable_cores()[0]
    reason = plan.unsupported_reason
    dataset_spec = config.dataset or "synthetic"
    if plan.tensor_inputs and reason is not None:
        # a model without one image input reads no dataset: its accuracy run is recorded
        # as unsupported; a performance run given a folder is refused by open_dataset
        dataset_spec = "synthetic"
    dataset = open_dataset(dataset_spec, config.count, plan.cache.root,
                           SYNTHETIC_SAMPLES[config.quick],
                           exclude=frozenset(f.resolve() for f in calibration.files)
                           if calibration else frozenset(), input_config=plan.input_config,
                           at_most=QUICK_ACCURACY_SAMPLES if config.quick_accuracy else None,
                           tensor_inputs=plan.tensor_inputs)
    warnings: list[str] = []
    if reason is None:
        dataset.prepare()  # a bad image should fail before a minute of model conversion
    if not plan.weights.pretrained:
        _warn(warnings, "RANDOM WEIGHTS: latency is representative, accuracy is meaningless"
              + (f"; {plan.weights.note}" if plan.weights.note else ""))
    if calibration is not None and calibration.synthetic:
        _warn(warnings, "SYNTHETIC CALIBRATION: the int8 model was calibrated on random "
              "inputs, not images; its accuracy says little about real use")
    system = describe_system()
    if system["emulation"]:
        _warn(warnings, f"EMULATED: {system['emulation']}; timings mean nothing")
    record = ResultRecord(
        model=config.model_name, backend=config.backend, precision=config.precision,
        scenario=config.scenario, mode=config.mode,
        device=config.device_name or default_device_name(system), quick=config.quick,
        threads=threads, batch_size=scenario.samples_per_query
        or (None if config.max_batch == AUTO else config.max_batch),
        weights=plan.weights.id, weights_pretrained=plan.weights.pretrained,
        dataset=dataset.describe(), samples=len(dataset),
        backend_version=installed_version(config.backend),
        edgebench_version=harness.__version__,
        started_at=started_at.isoformat(timespec="seconds"), system=system,
        calibration=calibration.describe() if calibration else None, warnings=warnings,
        emulated=bool(system["emulation"]),
        model_source=model_source_record(config.model_name),
        configuration=config.identity(), sweep_tag=config.sweep_tag,
        sweep=parse_sweep_tag(config.sweep_tag))

    # the model's name, not its path; a quantizer chosen, by name; a profiled run says so
    chosen = config.recipe_options["quantizer"]
    name = run_name([*cell_of(record), *([chosen] if chosen else []),
                     *(["profile"] if config.profile else [])], started_at)
    staging = make_staging_dir(Path(config.results_dir), name)
    try:
        try:
            if reason is not None:
                raise Unsupported(reason)
            record.audit = _place_audit_config(config, staging)
            measured = on_run_thread(
                lambda status: _measure(plan, dataset, threads, record.device, staging,
                                        status))
            fill_measured(record, measured, config, scenario, dataset, staging)
            record.dataset, record.samples = dataset.describe(), len(dataset)
            record.shortcuts.extend(_quick_accuracy_shortcuts(config, dataset))
            board_after(record)
        except Unsupported as exc:
            say(f"{config.backend} cannot run {config.precision} here: {exc.reason}")
            record.unsupported = {"reason": exc.reason}
        record.duration_s = round(time.monotonic() - t_start, 2)
        write_record(staging, record)
    except BaseException:
        discard(staging)
        raise
    return finalize(staging, name), record


def _quick_accuracy_shortcuts(config: RunConfig, dataset: Dataset) -> list[Shortcut]:
    """What a quick accuracy run left out to save time."""
    shortcuts = []
    if not (config.quick and config.mode == "accuracy"):
        return shortcuts
    if dataset.available is not None and len(dataset) < dataset.available:
        capped = len(dataset) < QUICK_ACCURACY_SAMPLES
        shortcuts.append(Shortcut(kind="fewer samples", detail=(
            f"top-1 on the first {len(dataset)} of {dataset.available} images (quick"
            + (f", and no more than {QUICK_ACCURACY_MAX_S} s of inference at the probed "
               "speed" if capped else "")
            + "; --count N sets another number); the report pairs it with FP32 on the "
            "samples both scored")))
    if config.precision != reference_precision():
        shortcuts.append(Shortcut(kind="no fidelity", detail=(
            f"agreement and SQNR against {reference_precision()} not computed in-process "
            "(quick): the report's paired test against the FP32 run stands instead")))
    return shortcuts


def _offline_batch(plan: RunPlan, dataset: Dataset, threads: int,
                   device: str) -> tuple[int, dict | None]:
    config = plan.config
    if config.max_batch != AUTO:
        return config.max_batch, None
    sizes = plan.batch_sizes()
    if len(sizes) == 1:  # the model fixes its batch size: nothing to choose
        return sizes[0], {"asked": "auto", "chosen": sizes[0], "candidates": sizes,
                          "method": "the model's batch dimension is fixed", "source": "model"}
    cache = BatchChoiceCache(plan.cache.root)
    key = cache.key_fields(device, config.model_name, config.backend, config.precision, threads,
                           plan.backend_class.runtime_version(),
                           # the options this precision's recipe reads: declaring another
                           # runtime's option must not throw every cached choice away
                           plan.recipe(config.precision).option_values(plan.context))
    cached = cache.get(key)
    if cached is not None:
        say(f"Offline batch size {cached['chosen']}: the probe of {cached.get('probed_at')} "
            f"on this device (--max-batch auto; cached in {cache.folder})")
        return cached["chosen"], {**cached, "source": "cache", "search_s": None}
    say(f"choosing the Offline batch size of {config.backend} {config.precision} "
        "(--max-batch auto) ...")
    started = time.monotonic()
    choice = cache.stamped(choose_offline_batch(
        lambda size: plan.backend(config.precision, size, threads)[0], dataset))
    choice["search_s"] = round(time.monotonic() - started, 2)
    cache.put(key, choice)
    say(f"  Offline batch size: {choice['chosen']}")
    return choice["chosen"], {**choice, "source": "probed"}


def _measure(plan: RunPlan, dataset: Dataset, threads: int, device: str, out_dir: Path,
             status: RunStatus) -> Measured:
    """Backend -> probe -> LoadGen, on the run thread; LoadGen's logs go to `out_dir`."""
    config, scenario = plan.config, plan.scenario
    batch_choice = None
    batch_size = scenario.samples_per_query
    built_before = plan.cache.build_seconds
    if batch_size is None:  # Offline
        batch_size, batch_choice = _offline_batch(plan, dataset, threads, device)
    say(f"loading {config.model_name} on {config.backend} {config.precision}, {threads} threads")
    # A deployed app loads a built model: the peak memory counts from here on, not the
    # quantizer's or converter's (whose cost is build_s).
    peak_scope = ("from model load (VmHWM reset after any build)" if reset_peak_memory()
                  else "whole process, builds included")
    started = time.monotonic()
    backend, artifact, build_s = plan.backend(config.precision, batch_size, threads)
    loaded = time.monotonic()
    probe_s, first_ms = probe(backend, dataset, batch_size,
                              streamed=scenario.hint == "throughput")
    costs = {"build_s": round(plan.cache.build_seconds - built_before, 2),
             "load_s": round(loaded - started - build_s, 2),
             "probe_s": round(time.monotonic() - loaded, 2),
             "first_inference_ms": round(first_ms, 3), "first_inference_batch": batch_size,
             "peak_memory_scope": peak_scope}
    if config.quick_accuracy:
        fits = int(QUICK_ACCURACY_MAX_S / probe_s * batch_size)
        if fits < len(dataset):
            say(f"  quick accuracy: {max(fits, QUICK_ACCURACY_MIN_SAMPLES)} of {len(dataset)} "
                f"images fit in {QUICK_ACCURACY_MAX_S} s at the probed speed")
            dataset.keep_first(max(fits, QUICK_ACCURACY_MIN_SAMPLES))
    performance_count = min(len(dataset), MAX_PERFORMANCE_SAMPLES)
    settings = build_test_settings(scenario, config.mode, config.run_length, performance_count,
                                   probe_s, batch_size)
    qsl = QuerySampleLibrary(dataset, performance_count, backend.to_input,
                             backend.batches_in_flight)
    # A quantized accuracy run keeps its logits: fidelity to FP32 is measured on them.
    keep_outputs = config.save_outputs or plan.needs_fidelity
    outputs = OutputRecorder(len(dataset)) if keep_outputs else None
    sut = scenario.sut(backend, qsl, outputs, max_batch=batch_size)
    say(f"running {scenario.loadgen_name} {config.mode}"
        f"{' (quick)' if config.quick else ''} with LoadGen ...")
    status.min_duration_s = settings.min_duration_ms / 1000
    status.loadgen_started = time.monotonic()
    status.sut = sut
    # idle power first (model loaded, nothing running), then the same window as LoadGen's
    energy_window = EnergyWindow.open(config.energy_command)
    window = LoadWindow.open()
    try:
        run_loadgen(sut, qsl, settings, out_dir)
        machine_load = window.close()
        energy = energy_window.close(sut.answered_samples, loadgen_logs.timed_window(
            loadgen_logs.read_detail(out_dir)))
        costs["loadgen_s"] = machine_load["window_s"]
    finally:  # LoadGen's handles go with the run, whether the backend failed or not
        energy_window.abandon()
        status.sut = None
        sut.destroy()
        qsl.destroy()
    if sut.error is not None:
        raise EdgebenchError(f"{config.backend} failed during the run: {sut.error}")
    measured_fidelity = None
    if plan.needs_fidelity and outputs.logits is not None:
        measured_fidelity = _fidelity_to_reference(plan, dataset, threads, batch_size,
                                                   outputs.logits)
    simulated = _simulated(backend, artifact, dataset, batch_size) \
        if plan.needs_simulation else None
    profile = measure_profile(backend, dataset, batch_size, probe_s) if config.profile \
        else None
    return Measured(backend, artifact, settings, outputs, measured_fidelity, costs,
                    batch_size, batch_choice, machine_load, simulated, profile, energy)


def _predict_all(backend: Backend, dataset: Dataset, batch_size: int) -> np.ndarray:
    """Every sample's logits, in dataset order, outside LoadGen."""
    rows = []
    for start in range(0, len(dataset), batch_size):
        indices = range(start, min(start + batch_size, len(dataset)))
        rows.append(backend.predict(
            np.stack([backend.to_input(dataset.sample(i)) for i in indices])))
    return np.concatenate(rows)


def _simulated(backend: Backend, artifact: Path | None, dataset: Dataset,
               batch_size: int) -> dict:
    """The same artifact run as fake-quant in float on the same samples: its logits, how,
    and what the runtime executed; or why this runtime cannot."""
    try:
        twin, how = backend.simulation(artifact)
    except Unsupported as exc:
        return {"unsupported": str(exc)}
    say(f"running the simulated (fake-quant) model on {len(dataset)} samples ...")
    return {"logits": _predict_all(twin, dataset, batch_size), "how": how,
            "executed": twin.executed().precision}


def _fidelity_to_reference(plan: RunPlan, dataset: Dataset, threads: int, batch_size: int,
                           logits: np.ndarray) -> dict:
    """The same backend at the reference precision on the same samples, in this process,
    outside LoadGen."""
    reference = reference_precision()
    say(f"computing the {reference} reference of {plan.config.backend} on {len(dataset)} "
        "samples for fidelity ...")
    backend, artifact, _ = plan.backend(reference, batch_size, threads, hint="latency")
    result = fidelity(logits, _predict_all(backend, dataset, batch_size))
    result["reference"] = {"kind": "computed in-process", "backend": plan.config.backend,
                           "precision": reference, "artifact": None if artifact is None
                           else str(artifact)}
    return result
