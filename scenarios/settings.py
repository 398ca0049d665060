"""Scenario definitions and the LoadGen TestSettings for each.

Full runs take LoadGen's own MLPerf defaults (its built-in ``mlperf.conf``) for the
ImageNet classification benchmark; ``--quick`` shortens only the minimum duration and
query count, to values that still let LoadGen's own validity checks pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import mlperf_loadgen as lg

from harness.errors import UsageError

# mlperf.conf has no entry for our three models; its ImageNet classification entry
# ("resnet50") carries the rules an image classifier is measured under.
MLPERF_BENCHMARK = "resnet50"
MODES = ("performance", "accuracy")


@dataclass(frozen=True)
class Scenario:
    name: str  # CLI spelling
    loadgen_name: str  # mlperf.conf / TestScenario spelling
    headline: str  # the metric MLPerf reports for this scenario
    quick_min_query_count: int  # the smallest count LoadGen still calls valid
    # Samples in one query, run as one batch; None: Offline's single query of every
    # sample, run in batches of --max-batch.
    samples_per_query: int | None

    @property
    def loadgen(self) -> lg.TestScenario:
        return getattr(lg.TestScenario, self.loadgen_name)

    @property
    def hint(self) -> str:
        """What the backend should optimise for: "latency" or "throughput"."""
        return "throughput" if self.loadgen_name == "Offline" else "latency"


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        # p90 early stopping needs 64 queries at zero overshoot; 100 is LoadGen's default.
        Scenario("single-stream", "SingleStream", "latency_ms.p90", 100, 1),
        # p99 early stopping needs at least 662 queries.
        Scenario("multi-stream", "MultiStream", "latency_ms.p99", 662, 8),
        Scenario("offline", "Offline", "throughput_sps", 1, None),
    )
}
SCENARIO_NAMES: tuple[str, ...] = tuple(SCENARIOS)

QUICK_MIN_DURATION_MS = 2000
# The Offline query is sized as expected_qps x min_duration; asking for more than the
# probe measured keeps the query longer than the minimum duration even when the
# system warms up and runs faster than during the probe.
OFFLINE_EXPECTED_QPS_MARGIN = 1.5


def get_scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise UsageError(
            f"unknown scenario {name!r}; choose one of: {', '.join(SCENARIO_NAMES)}"
        ) from None


def build_test_settings(
    scenario: Scenario,
    mode: str,
    quick: bool,
    performance_sample_count: int,
    probe_latency_s: float,
    probe_batch: int,
) -> lg.TestSettings:
    """LoadGen settings for one run; `probe_*` is a short measurement taken just before."""
    settings = lg.TestSettings()
    if settings.FromConfig("", MLPERF_BENCHMARK, scenario.loadgen_name, 0) != 0:
        raise RuntimeError("LoadGen could not read its built-in mlperf.conf")
    settings.scenario = scenario.loadgen
    settings.mode = lg.TestMode.AccuracyOnly if mode == "accuracy" else lg.TestMode.PerformanceOnly
    settings.performance_sample_count_override = performance_sample_count
    if quick:
        settings.min_duration_ms = QUICK_MIN_DURATION_MS
        settings.min_query_count = scenario.quick_min_query_count
    probe_latency_s = max(probe_latency_s, 1e-6)  # a no-op toy backend measures ~0
    latency_ns = probe_latency_s * 1e9
    if scenario.loadgen_name == "SingleStream":
        settings.single_stream_expected_latency_ns = int(latency_ns)
    elif scenario.loadgen_name == "MultiStream":
        settings.multi_stream_samples_per_query = scenario.samples_per_query
        settings.multi_stream_expected_latency_ns = int(latency_ns)
    elif scenario.loadgen_name == "Offline":
        settings.offline_expected_qps = probe_batch / probe_latency_s * OFFLINE_EXPECTED_QPS_MARGIN
    return settings


def settings_record(settings: lg.TestSettings) -> dict:
    """The settings that decide validity, as result.json records them."""
    fields = ("min_duration_ms", "min_query_count", "performance_sample_count_override",
              "single_stream_expected_latency_ns", "multi_stream_expected_latency_ns",
              "multi_stream_samples_per_query", "offline_expected_qps")
    return {"mlperf_conf_benchmark": MLPERF_BENCHMARK,
            **{f: getattr(settings, f) for f in fields}}
