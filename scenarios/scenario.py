"""The MLPerf scenarios, each owning its behaviour: its SUT, its headline metric and
which way is better, what its latencies count from, how its LoadGen settings are sized.

The runner, the reports and the CLI ask a `Scenario`; none of them names one.
"""

from __future__ import annotations

from dataclasses import dataclass

import mlperf_loadgen as lg

from harness.core.registry import Registry
from scenarios.sut import MultiStreamSUT, OfflineSUT, SingleStreamSUT


@dataclass(frozen=True)
class Metric:
    """One figure of a result record's `metrics`, found by its path."""

    label: str
    path: tuple[str, ...]  # into `metrics`, e.g. ("latency_ms", "p90_early_stopping")
    unit: str
    higher_is_better: bool

    def read(self, metrics: object) -> float | None:
        value = metrics
        for key in self.path:
            value = value.get(key) if isinstance(value, dict) else getattr(value, key, None)
        return value


@dataclass(frozen=True)
class Scenario:
    name: str  # CLI spelling
    loadgen_name: str  # mlperf.conf / TestScenario spelling
    sut: type[SingleStreamSUT]  # the System Under Test that answers its queries
    # MLPerf's own headline: the figure its submission checker reads
    headline: Metric
    quick_min_query_count: int  # the smallest count LoadGen still calls valid
    # Samples in one query, run as one batch; None: Offline's single query of every
    # sample, run in batches of --max-batch.
    samples_per_query: int | None
    # what latencies_ms.npy holds: each query's latency, or (Offline) each sample's
    # time from the start of its one query
    latency_basis: str
    hint: str  # what the backend optimises: "latency" or "throughput"
    expected_setting: str  # the LoadGen setting the pre-run probe sizes
    expected_is_rate: bool = False  # that setting is samples/s, not a latency in ns
    samples_per_query_setting: str | None = None
    # records written before early stopping was the headline: the raw percentile
    raw_headline: Metric | None = None

    def read_headline(self, metrics: object) -> tuple[Metric, float | None]:
        """The headline metric and its value; the raw percentile where a run has no
        early-stopping estimate (a record from before it, or a run too short for it)."""
        value = self.headline.read(metrics)
        if value is None and self.raw_headline is not None:
            return self.raw_headline, self.raw_headline.read(metrics)
        return self.headline, value

    @property
    def loadgen(self) -> lg.TestScenario:
        return getattr(lg.TestScenario, self.loadgen_name)

    @property
    def latencies_per_query(self) -> bool:
        return self.latency_basis == "query"


def _latency(label: str, key: str) -> Metric:
    return Metric(label, ("latency_ms", key), "ms", higher_is_better=False)


SCENARIOS: Registry[Scenario] = Registry("scenario")
for _scenario in (
    # p90 early stopping needs 64 queries at zero overshoot; 100 is LoadGen's default.
    Scenario("single-stream", "SingleStream", SingleStreamSUT,
             _latency("p90 latency (early stopping)", "p90_early_stopping"), 100, 1,
             "query", "latency", "single_stream_expected_latency_ns",
             raw_headline=_latency("p90 latency (raw)", "p90")),
    # p99 early stopping needs at least 662 queries.
    Scenario("multi-stream", "MultiStream", MultiStreamSUT,
             _latency("p99 query latency (early stopping)", "p99_early_stopping"), 662, 8,
             "query", "latency", "multi_stream_expected_latency_ns",
             samples_per_query_setting="multi_stream_samples_per_query",
             raw_headline=_latency("p99 latency (raw)", "p99")),
    Scenario("offline", "Offline", OfflineSUT,
             Metric("throughput", ("throughput_sps",), "samples/s", higher_is_better=True),
             1, None, "sample", "throughput", "offline_expected_qps", expected_is_rate=True),
):
    SCENARIOS.register(_scenario.name, _scenario)


def get_scenario(name: str) -> Scenario:
    return SCENARIOS.get(name)
