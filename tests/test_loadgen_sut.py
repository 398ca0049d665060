"""The SUT/QSL layer against the real LoadGen, with a toy backend so it runs in seconds."""

import json
import threading
import time

import numpy as np
import pytest

from backends.base import Backend, Executed
from harness.core.datasets import SyntheticDataset
from harness.core.zoo import InputConfig
from harness.measure.runner import run_loadgen
from scenarios import loadgen_logs
from scenarios.qsl import QuerySampleLibrary
from scenarios.scenario import get_scenario
from scenarios.settings import RunLength, build_test_settings
from scenarios.sut import MultiStreamSUT, OfflineSUT, OutputRecorder, SingleStreamSUT

TINY_INPUT = InputConfig(size_px=4)  # 3x4x4 samples: these tests time LoadGen, not a model


def tiny(count: int) -> SyntheticDataset:
    return SyntheticDataset(count, input_config=TINY_INPUT)

CLASSES = 10


class ToyBackend(Backend):
    """Predicts class = (sample's first value rank) deterministically; records batches."""

    name, recipes = "toy", {}

    def __init__(self, seconds_per_sample=0.0005, fail_after=None):
        super().__init__(threads=1)
        self.batch_sizes, self.seconds = [], seconds_per_sample
        self.fail_after = fail_after

    @staticmethod
    def runtime_version():
        return "0"

    def load(self, path):
        raise NotImplementedError

    def executed(self):
        return Executed("fp32")

    def predict(self, batch):
        if self.fail_after is not None and len(self.batch_sizes) >= self.fail_after:
            raise RuntimeError("device lost")
        self.batch_sizes.append(len(batch))
        time.sleep(self.seconds * len(batch))
        logits = np.zeros((len(batch), CLASSES), np.float32)
        logits[np.arange(len(batch)), toy_class(batch)] = 1.0
        return logits


class AsyncToyBackend(ToyBackend):
    """Like OpenVINO's async queue: answers Offline batches from its own threads, out of
    order (each batch waits a random while)."""

    def predict_stream(self, batches, on_logits):
        rng = np.random.default_rng(0)
        workers = []
        try:
            for tag, batch in batches:
                logits = self.predict(batch)
                delay = rng.uniform(0, 0.01)
                workers.append(threading.Timer(delay, on_logits, (tag, logits)))
                workers[-1].start()
        finally:
            for worker in workers:
                worker.join()


def toy_class(batch):
    return (np.abs(batch[:, 0, 0, 0]) * 1000).astype(int) % CLASSES


class CountingDataset(SyntheticDataset):
    def __init__(self, count):
        super().__init__(count, input_config=TINY_INPUT)
        self.loads = 0

    def sample(self, index):
        self.loads += 1
        return super().sample(index)


def run(scenario_name, mode, backend, dataset, tmp_path, perf_count=16, outputs=None,
        expected_latency_s=None, batch=8):
    scenario = get_scenario(scenario_name)
    qsl = QuerySampleLibrary(dataset, perf_count)
    sut_class = {"single-stream": SingleStreamSUT, "multi-stream": MultiStreamSUT}.get(
        scenario_name)
    sut = sut_class(backend, qsl, outputs) if sut_class else OfflineSUT(
        backend, qsl, outputs, max_batch=batch)
    probe_batch = {"single-stream": 1, "multi-stream": 8}.get(scenario_name, batch)
    latency = expected_latency_s or probe_batch * backend.seconds
    settings = build_test_settings(scenario, mode, RunLength(quick=True), perf_count, latency,
                                   probe_batch)
    settings.min_duration_ms = 300  # shorter still than --quick: these test the plumbing
    run_loadgen(sut, qsl, settings, tmp_path)
    return sut, qsl


def test_single_stream_issues_one_sample_per_query(tmp_path):
    backend = ToyBackend()
    run("single-stream", "performance", backend, tiny(32), tmp_path)
    assert set(backend.batch_sizes) == {1} and len(backend.batch_sizes) >= 100
    assert loadgen_logs.read_detail(tmp_path)["result_validity"] == "VALID"


def test_multi_stream_runs_each_query_as_one_batch_of_8(tmp_path):
    backend = ToyBackend(seconds_per_sample=0.00005)
    run("multi-stream", "performance", backend, tiny(32), tmp_path)
    assert set(backend.batch_sizes) == {8} and len(backend.batch_sizes) >= 662


def test_offline_splits_its_query_into_max_batch(tmp_path):
    backend = ToyBackend()
    run("offline", "performance", backend, tiny(32), tmp_path, batch=5)
    assert max(backend.batch_sizes) == 5 and backend.batch_sizes.count(5) >= len(
        backend.batch_sizes) - 1


def test_qsl_holds_only_what_loadgen_asks_for(tmp_path):
    dataset = CountingDataset(40)
    sut, qsl = run("single-stream", "accuracy", ToyBackend(0), dataset, tmp_path, perf_count=8)
    # Accuracy mode walks all 40 samples, in sets of the performance count.
    assert dataset.loads == 40 and qsl.loaded_count == 0


def test_accuracy_log_carries_predicted_class_as_float32(tmp_path):
    dataset = SyntheticDataset(20, input_config=TINY_INPUT)
    outputs = OutputRecorder(len(dataset))
    run("offline", "accuracy", ToyBackend(0), dataset, tmp_path, outputs=outputs)
    predictions = loadgen_logs.read_accuracy_log(tmp_path)
    expected = toy_class(np.stack([dataset.sample(i) for i in range(20)]))
    assert predictions == {i: int(expected[i]) for i in range(20)}
    assert not np.isnan(outputs.logits).any()  # every sample answered
    assert np.array_equal(outputs.logits.argmax(1), expected)


def test_invalid_verdict_is_reported_verbatim(tmp_path):
    # Claim the system is 100x faster than it is: the Offline query is then far too
    # short for the minimum duration, and LoadGen must say so.
    backend = ToyBackend(0.001)
    scenario = get_scenario("offline")
    dataset = SyntheticDataset(16, input_config=TINY_INPUT)
    qsl = QuerySampleLibrary(dataset, 16)
    sut = OfflineSUT(backend, qsl, max_batch=8)
    settings = build_test_settings(scenario, "performance", RunLength(quick=True), 16, 100.0, 8)
    run_loadgen(sut, qsl, settings, tmp_path)
    verdict = loadgen_logs.read_verdict(tmp_path)
    assert verdict.startswith("Result is : INVALID")
    assert "Min duration satisfied : NO" in verdict
    assert loadgen_logs.read_detail(tmp_path)["result_validity"] == "INVALID"


def test_offline_accepts_answers_from_runtime_threads_out_of_order(tmp_path):
    dataset = SyntheticDataset(40, input_config=TINY_INPUT)
    outputs = OutputRecorder(len(dataset))
    sut, _ = run("offline", "accuracy", AsyncToyBackend(0), dataset, tmp_path,
                 outputs=outputs, batch=3)
    assert sut.error is None and sut.answered_samples == 40
    expected = toy_class(np.stack([dataset.sample(i) for i in range(40)]))
    assert loadgen_logs.read_accuracy_log(tmp_path) == {i: int(expected[i]) for i in range(40)}


def test_offline_failure_mid_stream_answers_every_sample(tmp_path):
    dataset = SyntheticDataset(40, input_config=TINY_INPUT)
    sut, _ = run("offline", "accuracy", AsyncToyBackend(0, fail_after=4), dataset, tmp_path,
                 batch=3)
    assert isinstance(sut.error, RuntimeError) and "device lost" in str(sut.error)
    # LoadGen finished (we got here) and logged every sample: 4 batches answered with
    # classes, the rest with empty responses
    logged = json.loads((tmp_path / loadgen_logs.ACCURACY).read_text())
    assert len(logged) == 40 and sum(1 for entry in logged if entry["data"]) == 12
    assert sut.answered_samples == 12


def test_backend_failure_is_kept_not_crashing_loadgen(tmp_path):
    backend = ToyBackend(fail_after=3)
    sut, _ = run("single-stream", "performance", backend, tiny(8),
                 tmp_path)
    assert isinstance(sut.error, RuntimeError) and "device lost" in str(sut.error)


@pytest.mark.parametrize("per_query", [True, False])
def test_latencies_come_from_loadgen_trace(tmp_path, per_query):
    scenario = "multi-stream" if per_query else "offline"
    backend = ToyBackend(0.0002)
    run(scenario, "performance", backend, SyntheticDataset(16, input_config=TINY_INPUT), tmp_path)
    latencies = loadgen_logs.latencies_from_trace(tmp_path, per_query=per_query)
    detail = loadgen_logs.read_detail(tmp_path)
    if per_query:
        assert len(latencies) == detail["result_query_count"]
        assert latencies.max() == pytest.approx(detail["result_max_latency_ns"] / 1e6)
        assert np.percentile(latencies, 50) == pytest.approx(
            detail["result_50.00_percentile_latency_ns"] / 1e6, rel=0.05)
    else:
        assert len(latencies) == sum(backend.batch_sizes)


def test_qsl_batches_are_taken_into_reused_buffers_without_copies_per_query():
    dataset = SyntheticDataset(20, input_config=TINY_INPUT)
    qsl = QuerySampleLibrary(dataset, 20, batches_in_flight=2)
    qsl.load_samples(list(range(20)))
    indices = [7, 3, 3, 19]
    expected = np.stack([qsl.to_input(dataset.sample(i)) for i in indices])
    buffers = [qsl.batch(indices) for _ in range(4)]
    assert all(np.array_equal(b, expected) for b in buffers[-1:])
    # three buffers in rotation (2 in flight + the one being filled), then reused
    assert buffers[0] is buffers[3] and len({id(b) for b in buffers[:3]}) == 3
    single = qsl.batch([5])
    assert np.shares_memory(single, qsl._store)  # SingleStream: a view, not a copy
    qsl.unload_samples(list(range(20)))
    assert qsl.loaded_count == 0
    qsl.load_samples([1, 2])
    assert np.array_equal(qsl.batch([2, 1]), np.stack([qsl.to_input(dataset.sample(i))
                                                       for i in (2, 1)]))
    qsl.destroy()


class PeakAt8Backend(ToyBackend):
    """Throughput rises to batch 8, then falls: what `--max-batch auto` must find."""

    def __init__(self, batch_size):
        super().__init__()
        self.size = batch_size

    def predict(self, batch):
        time.sleep(0.002 * len(batch) * (1 + abs(np.log2(len(batch)) - 3) / 2))
        return np.zeros((len(batch), CLASSES), np.float32)


def test_max_batch_auto_picks_the_fastest_probed_size():
    from harness.measure.probe import choose_offline_batch

    made = []

    def make(size):
        made.append(size)
        return PeakAt8Backend(size)

    choice = choose_offline_batch(make, tiny(8))
    assert choice["chosen"] == 8
    rates = choice["probe_samples_per_s"]
    assert max(rates, key=rates.get) == "8" and made == [int(k) for k in rates]
    assert made[:4] == [1, 2, 4, 8]
