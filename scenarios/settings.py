"""Scenario definitions and the LoadGen TestSettings for each.

Full runs take LoadGen's own MLPerf defaults (its built-in ``mlperf.conf``) for the
ImageNet classification benchmark; ``--quick`` shortens only the minimum duration and
query count, to values that still let LoadGen's own validity checks pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mlperf_loadgen as lg

from harness.core.digests import sha256_of
from harness.core.errors import UsageError
from scenarios.mlcommons import AUDIT_TESTS
from scenarios.scenario import Scenario

# mlperf.conf has no entry for our three models; its ImageNet classification entry
# ("resnet50") carries the rules an image classifier is measured under.
MLPERF_BENCHMARK = "resnet50"
# LoadGen's timing, the dataset's top-1, and each audit test: a performance run whose
# LoadGen reads the test's audit.config
MODES = ("performance", "accuracy", *AUDIT_TESTS.names())


def timed(mode: str) -> bool:
    """LoadGen measures time in this mode (performance, and every audit test)."""
    return mode != "accuracy"

QUICK_MIN_DURATION_MS = 2000
MLPERF_MIN_DURATION_S = 600  # mlperf.conf's, for estimates and timeouts before a run
# A quick run stops here even short of its minimum query count: a precision 14x slower
# than FP32 (or VGG-19's 662 MultiStream queries) then measures its rate in bounded time.
# LoadGen calls such a run INVALID and gives no early-stopping estimate; the record says
# it was capped (`capped_short_of_min_queries`), and every report flags it.
QUICK_MAX_DURATION_MS = 5000
# A quick accuracy run scores the first N images (the same N for every precision, so
# the paired test against FP32 holds); recorded as a shortcut.
QUICK_ACCURACY_SAMPLES = 250
# ... or fewer, where the probe says 250 would take longer than this (VGG-19 at a slow
# precision scores ~1 image/s on 2 cores), but never fewer than the floor. The report
# pairs such a run with FP32 on the samples both scored.
QUICK_ACCURACY_MAX_S = 20
QUICK_ACCURACY_MIN_SAMPLES = 32
# The Offline query is sized as expected_qps x min_duration; asking for more than the
# probe measured keeps the query longer than the minimum duration even when the
# system warms up and runs faster than during the probe.
OFFLINE_EXPECTED_QPS_MARGIN = 1.5
# Runs of seconds rest on a half-second probe; a probe slowed by a noisy neighbour (or
# kernels still warming up) then sized the query short of the minimum duration
# (seen: INVALID, "Min duration satisfied: NO"). They ask for more.
SHORT_RUN_S = 60
SHORT_RUN_OFFLINE_MARGIN = 2.5


# Settings a user.conf may set that edgebench otherwise derives from its probe.
PROBED_FIELDS = ("single_stream_expected_latency_ns", "multi_stream_expected_latency_ns",
                 "offline_expected_qps")
RECORDED_FIELDS = ("min_duration_ms", "max_duration_ms", "min_query_count",
                   "performance_sample_count_override",
                   *PROBED_FIELDS, "multi_stream_samples_per_query")


@dataclass(frozen=True)
class RunLength:
    """How long LoadGen runs: MLPerf's rules unless shortened (quick, or explicit
    minimums) or changed by a user.conf, as MLPerf's reference harness takes it."""

    quick: bool = False
    duration_s: float | None = None
    min_queries: int | None = None
    user_conf: Path | None = None
    max_duration_s: float | None = None  # None: QUICK_MAX_DURATION_MS when quick, else none

    def validate(self) -> None:
        if self.duration_s is not None and self.duration_s <= 0:
            raise UsageError(f"--duration must be positive seconds, got {self.duration_s}")
        if self.max_duration_s is not None and self.max_duration_s <= 0:
            raise UsageError(f"--max-duration must be positive seconds, got "
                             f"{self.max_duration_s}")
        if None not in (self.max_duration_s, self.duration_s) and \
                self.max_duration_s < self.duration_s:
            raise UsageError(f"--max-duration {self.max_duration_s:g} is shorter than "
                             f"--duration {self.duration_s:g}: raise it or drop one")
        if self.min_queries is not None and self.min_queries < 1:
            raise UsageError(f"--min-queries must be at least 1, got {self.min_queries}")
        if self.user_conf is not None and not Path(self.user_conf).is_file():
            raise UsageError(f"--user-conf {self.user_conf}: no such file")


def mlperf_settings(scenario: Scenario) -> lg.TestSettings:
    """LoadGen's built-in mlperf.conf rules for the ImageNet classification benchmark."""
    settings = lg.TestSettings()
    if settings.FromConfig("", MLPERF_BENCHMARK, scenario.loadgen_name, 0) != 0:
        raise RuntimeError("LoadGen could not read its built-in mlperf.conf")
    settings.scenario = scenario.loadgen
    return settings


def build_test_settings(
    scenario: Scenario,
    mode: str,
    length: RunLength,
    performance_sample_count: int,
    probe_latency_s: float,
    probe_batch: int,
) -> lg.TestSettings:
    """LoadGen settings for one run; `probe_*` is a short measurement taken just before.

    Precedence: mlperf.conf, then the user.conf, then --quick, --duration, --min-queries.
    The probe sets the expected latency or QPS only where a user.conf did not.
    """
    settings = mlperf_settings(scenario)
    before = {f: getattr(settings, f) for f in PROBED_FIELDS}
    if length.user_conf is not None and settings.FromConfig(
            str(length.user_conf), MLPERF_BENCHMARK, scenario.loadgen_name, 1) != 0:
        raise UsageError(f"--user-conf {length.user_conf}: LoadGen could not read it "
                         "(lines look like '*.Offline.min_duration = 60000')")
    from_user_conf = {f for f in PROBED_FIELDS if getattr(settings, f) != before[f]}
    settings.mode = lg.TestMode.PerformanceOnly if timed(mode) else lg.TestMode.AccuracyOnly
    settings.performance_sample_count_override = performance_sample_count
    if length.quick:
        settings.min_duration_ms = QUICK_MIN_DURATION_MS
        settings.min_query_count = scenario.quick_min_query_count
    if length.duration_s is not None:
        settings.min_duration_ms = int(length.duration_s * 1000)
    if length.min_queries is not None:
        settings.min_query_count = length.min_queries
    cap_ms = cap_duration_ms(length, settings.min_duration_ms)
    if cap_ms is not None:
        settings.max_duration_ms = cap_ms
    probe_latency_s = max(probe_latency_s, 1e-6)  # a no-op toy backend measures ~0
    if scenario.expected_is_rate:  # Offline: samples per second, with a margin
        margin = (SHORT_RUN_OFFLINE_MARGIN if settings.min_duration_ms < SHORT_RUN_S * 1000
                  else OFFLINE_EXPECTED_QPS_MARGIN)
        value = probe_batch / probe_latency_s * margin
    else:  # one query's latency
        value = int(probe_latency_s * 1e9)
    if scenario.expected_setting not in from_user_conf:
        setattr(settings, scenario.expected_setting, value)
    if scenario.samples_per_query_setting:
        setattr(settings, scenario.samples_per_query_setting, scenario.samples_per_query)
    return settings


def cap_duration_ms(length: RunLength, min_duration_ms: int) -> int | None:
    """LoadGen's max_duration for this run: --max-duration, else the quick cap (never
    below the minimum duration), else none."""
    if length.max_duration_s is not None:
        return int(length.max_duration_s * 1000)
    if length.quick:
        return max(QUICK_MAX_DURATION_MS, min_duration_ms)
    return None


def capped_short(settings_recorded: dict, query_count: int | None) -> bool:
    """LoadGen stopped at max_duration before the minimum query count."""
    return bool(settings_recorded.get("max_duration_ms")) and query_count is not None \
        and query_count < (settings_recorded.get("min_query_count") or 0)


def is_full_measurement(settings: lg.TestSettings, scenario: Scenario) -> bool:
    """At least MLPerf's own minimum duration and query count for this scenario."""
    rules = mlperf_settings(scenario)
    return (settings.min_duration_ms >= rules.min_duration_ms
            and settings.min_query_count >= rules.min_query_count)


def settings_record(settings: lg.TestSettings, scenario: Scenario,
                    length: RunLength | None = None) -> dict:
    """The settings that decide validity, as result.json records them, and where the
    run length came from."""
    record = {"mlperf_conf_benchmark": MLPERF_BENCHMARK,
              **{f: getattr(settings, f) for f in RECORDED_FIELDS},
              "full_measurement": is_full_measurement(settings, scenario)}
    if length is not None:
        record["run_length"] = {
            "quick": length.quick, "duration_s": length.duration_s,
            "min_queries": length.min_queries, "max_duration_s": length.max_duration_s,
            "user_conf": None if length.user_conf is None else {
                "path": str(Path(length.user_conf).resolve()),
                "sha256": sha256_of(Path(length.user_conf))}}
    return record
