"""How much does edgebench itself cost? Harness vs a bare InferenceSession.run loop.

Same ONNX file, batch and threads. A shared machine drifts by tens of percent within
a minute, so each harness run is sandwiched between two bare runs and compared with
their mean; the figure reported is the median of those ratios over the rounds.
Goals: Offline throughput ratio >= 0.97 and SingleStream p50 overhead <= 5%.

    make bench     (or: .venv/bin/python benchmarks/overhead_onnxruntime.py --rounds 5)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import scenarios.settings  # noqa: E402
from backends.onnxruntime_backend import OnnxRuntimeBackend  # noqa: E402
from harness.artifacts import ArtifactCache  # noqa: E402
from harness.datasets import SyntheticDataset  # noqa: E402
from harness.runner import RunConfig, run_benchmark  # noqa: E402
from harness.system_info import describe_system, physical_cores  # noqa: E402
from harness.weights import resolve_weights  # noqa: E402

SECONDS = 5.0
SAMPLES = 128  # what a --quick run holds in memory


def bare_loop(path: Path, threads: int, batch: int, seconds: float) -> list[float]:
    """Per-call latencies (s) of session.run over prepared batches.

    The batches are distinct (the harness's own synthetic samples, rotated): re-feeding
    one cache-hot batch would flatter the bare loop with an effect no real workload has.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    dataset = SyntheticDataset(SAMPLES)
    batches = [np.stack([dataset.sample((b * batch + i) % SAMPLES) for i in range(batch)])
               for b in range(max(1, SAMPLES // batch))]
    for x in batches[:3]:
        session.run(None, {name: x})
    latencies, end, call = [], time.perf_counter() + seconds, 0
    while time.perf_counter() < end:
        x = batches[call % len(batches)]
        start = time.perf_counter()
        session.run(None, {name: x})
        latencies.append(time.perf_counter() - start)
        call += 1
    return latencies


def harness_run(model: str, scenario: str, threads: int, batch: int, results: Path) -> dict:
    _, record = run_benchmark(RunConfig(model=model, scenario=scenario, quick=True,
                                        threads=threads, max_batch=batch, weights="random",
                                        results_dir=results))
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mobilenet_v2")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    threads = physical_cores()
    # Long enough for stable medians, short of a full 10-minute MLPerf run.
    scenarios.settings.QUICK_MIN_DURATION_MS = int(SECONDS * 1000)
    path = OnnxRuntimeBackend(threads).prepare(
        args.model, resolve_weights("random", args.model), "fp32", ArtifactCache())

    offline_ratio, p50_overhead = [], []

    def bare_offline() -> float:
        return args.batch / statistics.mean(bare_loop(path, threads, args.batch, SECONDS))

    def bare_p50() -> float:
        return statistics.median(bare_loop(path, threads, 1, SECONDS)) * 1000

    with tempfile.TemporaryDirectory() as results:
        for round_number in range(1, args.rounds + 1):
            before = bare_offline()
            eb_offline = harness_run(args.model, "offline", threads, args.batch,
                                     Path(results))["metrics"]["throughput_sps"]
            bare_sps = (before + bare_offline()) / 2
            before = bare_p50()
            eb_p50 = harness_run(args.model, "single-stream", threads, 1,
                                 Path(results))["metrics"]["latency_ms"]["p50"]
            bare_ms = (before + bare_p50()) / 2
            offline_ratio.append(eb_offline / bare_sps)
            p50_overhead.append(eb_p50 / bare_ms - 1)
            print(f"round {round_number}: offline {eb_offline:.1f} vs bare {bare_sps:.1f} "
                  f"samples/s; single-stream p50 {eb_p50:.3f} vs bare {bare_ms:.3f} ms",
                  flush=True)

    system = describe_system()
    print(f"\n{args.model}, onnxruntime {ort.__version__}, {threads} threads, batch "
          f"{args.batch}, {system['cpu']} ({system['arch']}), {args.rounds} rounds, "
          f"{SECONDS:.0f} s per measurement, median of per-round ratios")
    ratio, overhead = statistics.median(offline_ratio), statistics.median(p50_overhead)
    print(f"Offline throughput, edgebench / bare loop: {ratio:.3f}  (goal >= 0.97) "
          f"{'OK' if ratio >= 0.97 else 'MISSED'}")
    print(f"SingleStream p50 overhead over bare loop: {overhead * 100:+.1f}%  (goal <= 5%) "
          f"{'OK' if overhead <= 0.05 else 'MISSED'}")


if __name__ == "__main__":
    main()
