"""How long each run of a sweep will take, and what the figure stands on.

A run's time is its process start, the builds it pays for (the first run that needs an
artifact builds it), the Offline batch search, the probe, LoadGen's run and a --profile
run's profile. The speed behind the last four comes, best first, from:
1. an earlier run of the same configuration in this results folder (its real time);
2. this device's earlier results for the model, backend and precision (any scenario):
   measured latency and throughput;
3. this device's Offline batch-probe cache (`harness.measure.batch_cache`);
4. the speed model: the model's FP32 time on the project's machine (`ModelSpec.
   reference_fp32_ms`) times the recipe's known cost relative to it
   (`Recipe.cost`: int8-dynamic's integer convolutions, fp16 emulated on CPUs).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from backends import get_backend_class
from backends.recipes import BuildContext
from harness.core.artifacts import MANIFEST, default_cache_dir
from harness.core.precisions import reference_precision
from harness.core.records import RESULT_FILE, ResultRecord
from harness.core.zoo import get_spec
from harness.measure.batch_cache import FOLDER as BATCH_CACHE_FOLDER
from harness.measure.config import AUTO, RunConfig
from harness.measure.probe import (
    OFFLINE_BATCH_CANDIDATES,
    PROBE_BATCHES_PER_SIZE,
    PROBE_SECONDS,
    SEARCH_BUDGET_S,
)
from harness.measure.profiling import expected_seconds
from scenarios.scenario import get_scenario
from scenarios.settings import (
    QUICK_ACCURACY_MAX_S,
    QUICK_ACCURACY_MIN_SAMPLES,
    QUICK_ACCURACY_SAMPLES,
    SHORT_RUN_OFFLINE_MARGIN,
    cap_duration_ms,
)

# Measured on the project's 2-core x86 by a study-quick sweep (2026-11-30, 240 runs,
# benchmarks/time_to_answer.py): a fresh process's start and exit, with what a run does
# besides loading, probing and measuring (dataset, logs, record); loading a model, which
# grows with its size; a run the runtime refuses.
START_S = 2.8
LOAD_S = 0.5
LOAD_S_PER_FP32_MS = 0.018
UNSUPPORTED_S = 1.7
ACCURACY_SAMPLES = 700  # the ImageNet sample less 300 calibration images
FALLBACK_FP32_MS = 15.0  # a model with no reference time
# batching's gain over batch 1 on 2 cores, where this device has not measured it (the
# same sweep: a MultiStream query of 8 took 1.0x eight SingleStream samples, median;
# Offline ran 1.05x the rate of 1 / SingleStream latency)
MULTISTREAM_QUERY_VS_SAMPLES = 1.0
OFFLINE_VS_SINGLE = 1.05


@dataclass(frozen=True)
class Estimate:
    seconds: float
    parts: dict[str, float]  # start, build, batch search, probe, measure
    basis: str  # what the speed stands on (see the module's docstring)


@dataclass
class Speed:
    """One model/backend/precision's speed on this device."""

    sample_s: float  # batch 1
    query8_s: float  # a MultiStream query of 8
    offline_sps: float
    basis: str
    batch_searched: bool = False  # the Offline batch choice is cached: no search


@dataclass
class DeviceSpeeds:
    """What this device has measured: earlier results and the batch-probe cache."""

    device: str | None
    results: dict[tuple[str, str, str], dict] = field(default_factory=dict)
    unsupported: set[tuple[str, str, str]] = field(default_factory=set)
    probed: dict[tuple[str, str, str], float] = field(default_factory=dict)  # samples/s

    @classmethod
    def read(cls, results_dir: Path, cache_root: Path | None, device: str | None
             ) -> DeviceSpeeds:
        speeds = cls(device)
        for path in sorted(Path(results_dir).glob(f"*/{RESULT_FILE}")):
            try:
                record = ResultRecord.read(path)[0]
            except (OSError, ValueError):
                continue
            if device is not None and record.device != device:
                continue
            speeds._add(record)
        folder = Path(cache_root or default_cache_dir()) / BATCH_CACHE_FOLDER
        for path in folder.glob("*.json"):
            try:
                saved = json.loads(path.read_text())
                key, choice = saved["key"], saved["choice"]
            except (OSError, ValueError, KeyError):
                continue
            if device is None or key.get("device") == device:
                rate = choice["probe_samples_per_s"].get(str(choice["chosen"]))
                if rate:
                    speeds.probed[(key["model"], key["backend"], key["precision"])] = rate
        return speeds

    def _add(self, record: ResultRecord) -> None:
        key = (record.model, record.backend, record.precision)
        if record.unsupported:
            self.unsupported.add(key)
            return
        known = self.results.setdefault(key, {})
        metrics = record.metrics
        if record.mode != "performance":
            return
        latency = metrics.latency_ms
        if record.scenario == "single-stream" and latency and latency.p50:
            known["sample_s"] = latency.p50 / 1000
        elif record.scenario == "multi-stream" and latency and latency.p50:
            known["query8_s"] = latency.p50 / 1000
        elif record.scenario == "offline" and metrics.throughput_sps:
            known["offline_sps"] = metrics.throughput_sps

    def speed(self, model: str, backend: str, precision: str, recipe_time: float) -> Speed:
        key = (model, backend, precision)
        known = self.results.get(key, {})
        spec_ms = get_spec(model).reference_fp32_ms or FALLBACK_FP32_MS
        modelled = spec_ms / 1000 * recipe_time
        sample_s = known.get("sample_s")
        query8_s = known.get("query8_s")
        offline = known.get("offline_sps") or self.probed.get(key)
        if sample_s is None and query8_s is not None:
            sample_s = query8_s / 8 / MULTISTREAM_QUERY_VS_SAMPLES
        if sample_s is None and offline:
            sample_s = OFFLINE_VS_SINGLE / offline
        basis = "this device's results" if known else (
            "this device's batch probe" if key in self.probed else "speed model")
        sample_s = sample_s or modelled
        return Speed(sample_s, query8_s or 8 * MULTISTREAM_QUERY_VS_SAMPLES * sample_s,
                     offline or OFFLINE_VS_SINGLE / sample_s, basis,
                     batch_searched=key in self.probed)


class Estimator:
    """Estimates for a sweep's runs in order: the first run that needs an artifact
    pays its build, a later one finds it built."""

    def __init__(self, speeds: DeviceSpeeds, earlier_s: dict[str, float]) -> None:
        self.speeds = speeds
        self.earlier_s = earlier_s  # configuration key -> real seconds of a done run
        self._built: set[str] = set()
        self._searched: set[tuple[str, str, str]] = set()

    def estimate(self, config: RunConfig, configuration_key: str) -> Estimate:
        if configuration_key in self.earlier_s:
            seconds = self.earlier_s[configuration_key]
            return Estimate(seconds, {"earlier run": seconds}, "earlier run of this "
                            "configuration")
        backend_class = get_backend_class(config.backend)
        key = (config.model_name, config.backend, config.precision)
        if key in self.speeds.unsupported or backend_class.unsupported_reason(
                config.precision, get_spec(config.model_name).source_kind,
                config.recipe_options):
            return Estimate(UNSUPPORTED_S, {"start": UNSUPPORTED_S}, "unsupported here")
        recipe = backend_class.recipe(config.precision, config.recipe_options)
        speed = self.speeds.speed(*key, recipe.cost.time_vs_fp32)
        scenario = get_scenario(config.scenario)
        fp32_ms = get_spec(config.model_name).reference_fp32_ms or FALLBACK_FP32_MS
        parts = {"start": START_S + LOAD_S + LOAD_S_PER_FP32_MS * fp32_ms,
                 "build": self._build_s(config, backend_class, scenario.samples_per_query)}
        if scenario.samples_per_query is None:  # Offline (and accuracy runs)
            parts["batch search"] = self._search_s(config, speed, key)
            parts["probe"] = max(PROBE_SECONDS, 2 * 4 / speed.offline_sps)
            parts["measure"] = self._offline_s(config, speed)
        else:
            per_query = speed.sample_s if scenario.samples_per_query == 1 else speed.query8_s
            parts["probe"] = max(PROBE_SECONDS, per_query) + 2 * per_query
            # an accuracy run answers every sample once, at the scenario's pace
            parts["measure"] = self._accuracy_s(
                config, scenario.samples_per_query / per_query) if config.mode == "accuracy" \
                else self._stream_s(config, per_query, scenario.quick_min_query_count)
        if config.profile:
            batch_s = per_query if scenario.samples_per_query else 1 / speed.offline_sps
            parts["profile"] = expected_seconds(batch_s)
        return Estimate(sum(parts.values()), {k: round(v, 1) for k, v in parts.items()},
                        speed.basis)

    def _stream_s(self, config: RunConfig, per_query_s: float, min_queries: int) -> float:
        min_s = config.min_duration_s
        needed = max(min_s, (config.min_queries or min_queries) * per_query_s)
        cap_ms = cap_duration_ms(config.run_length, int(min_s * 1000))
        # LoadGen stops issuing at the cap; the query in flight still completes
        return (min(needed, cap_ms / 1000) if cap_ms else needed) + per_query_s

    def _offline_s(self, config: RunConfig, speed: Speed) -> float:
        if config.mode == "accuracy":
            return self._accuracy_s(config, speed.offline_sps)
        min_s = config.min_duration_s
        # the query is sized from the probe with a margin, so it runs past the minimum
        return min_s * (SHORT_RUN_OFFLINE_MARGIN if config.quick else 1.5)

    def _accuracy_s(self, config: RunConfig, samples_per_s: float) -> float:
        samples = config.count or (QUICK_ACCURACY_SAMPLES if config.quick
                                   else ACCURACY_SAMPLES)
        seconds = samples / samples_per_s
        if config.quick_accuracy:  # fewer images where 250 are slow
            return min(seconds, max(QUICK_ACCURACY_MAX_S,
                                    QUICK_ACCURACY_MIN_SAMPLES / samples_per_s))
        if config.precision != reference_precision():
            passes = 2  # and the FP32 reference on the same samples, for fidelity
            if get_backend_class(config.backend).recipe(
                    config.precision, config.recipe_options).needs_calibration:
                passes += 1  # and the simulated (fake-quant) run, at about FP32's speed
            seconds *= passes
        return seconds

    def _search_s(self, config: RunConfig, speed: Speed, key: tuple) -> float:
        if config.max_batch != AUTO or speed.batch_searched or key in self._searched:
            return 0.0
        self._searched.add(key)  # the first run probes, later ones read the cache
        per_size = [PROBE_BATCHES_PER_SIZE * size / speed.offline_sps + LOAD_S
                    for size in OFFLINE_BATCH_CANDIDATES]
        total = 0.0
        for seconds in per_size:
            if total + seconds > SEARCH_BUDGET_S and total:
                break
            total += max(seconds, PROBE_SECONDS)
        return total

    def _build_s(self, config: RunConfig, backend_class, samples_per_query: int | None
                 ) -> float:
        recipe = backend_class.recipe(config.precision, config.recipe_options)
        if recipe.build is None:
            return 0.0
        sizes = [samples_per_query] if samples_per_query else (
            list(OFFLINE_BATCH_CANDIDATES) if config.max_batch == AUTO
            else [int(config.max_batch)])
        if not recipe.per_batch_size:
            sizes = sizes[:1]
        roots = [Path(config.artifacts)] if config.artifacts else [
            Path(config.cache_dir or default_cache_dir())]
        fp32_ms = get_spec(config.model_name).reference_fp32_ms or FALLBACK_FP32_MS
        seconds = 0.0
        for size in sizes:
            label = recipe.label(backend_class.name, BuildContext(
                config.model_name, None, None, batch_size=size))  # type: ignore[arg-type]
            if label in self._built or _built_in(roots, label):
                continue
            self._built.add(label)
            seconds += recipe.cost.build_seconds(fp32_ms)
        return seconds


def _built_in(roots: list[Path], label: str) -> bool:
    """An artifact of this label is in a cache or prepared folder (its key is not checked:
    a dry run does not hash calibration images)."""
    return any(next(iter((root / "artifacts").glob(f"{label}-*/{MANIFEST}")), None)
               for root in roots)
