"""What INT8 static buys over FP32, and does edgebench show what the runtime's own tools
show?

For MobileNetV2 and VGG-19 on each backend, Offline and SingleStream, measured side by
side in one run: edgebench's INT8-static speed-up over FP32 against the runtime's own
reference speed-up on the same machine, in the same round:
- OpenVINO: `benchmark_app` on the NNCF INT8 IR with default settings, against the
  FP32 IR with `-infer_precision f32`;
- ONNX Runtime: a bare `session.run` loop, on the better of U8S8 and S8S8;
- TFLite: a bare `Interpreter.invoke` loop (int8 input, as edgebench feeds it);
- PyTorch: a bare forward loop on the FX int8 model.
Speed-up is throughput ratio (Offline) or p50 latency ratio (SingleStream). Every
measurement runs in a fresh process; a round measures FP32 and INT8 back to back, and
the figure reported is the median over rounds. Goals:
- edgebench's speed-up >= 0.95x the reference's, per backend, model and scenario;
- ONNX Runtime INT8 faster than its FP32;
- on this machine, Offline INT8 >= 2x FP32 on ONNX Runtime and OpenVINO for MobileNetV2.

    .venv/bin/python benchmarks/quantization_speedup.py [--rounds 2] [--models mobilenet_v2]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from runtime_parity import (  # noqa: E402
    SAMPLES,
    onnxruntime_call,
    run_benchmark_app,
    tflite_call,
    timed_loop,
)
from runtime_parity import in_child as parity_in_child  # noqa: E402
from runtime_parity import prepared as parity_prepared  # noqa: E402

import scenarios.settings  # noqa: E402
from backends import installed_version  # noqa: E402
from backends.options import resolve as resolve_recipe_options  # noqa: E402
from harness.core.artifacts import ArtifactCache  # noqa: E402
from harness.core.calibration import resolve_calibration  # noqa: E402
from harness.core.datasets import SyntheticDataset  # noqa: E402
from harness.core.system_info import describe_system, physical_cores  # noqa: E402
from harness.measure.config import RunConfig  # noqa: E402
from harness.measure.runner import run_benchmark  # noqa: E402

SECONDS = 5
BACKENDS = ("onnxruntime", "openvino", "tflite", "pytorch")
MODELS = ("mobilenet_v2", "vgg19")
SAMPLE = ROOT.parent / "shared" / "data" / "imagenet-sample"
CALIBRATION = str(SAMPLE) if (SAMPLE / "val_map.txt").is_file() else "synthetic"
CALIBRATION_COUNT = 100  # speed does not depend on it; build time does
PARITY_GOAL = 0.95
MIN_OFFLINE_SPEEDUP = {("onnxruntime", "mobilenet_v2"): 2.0,
                       ("openvino", "mobilenet_v2"): 2.0}
SCENARIOS = (("offline", "throughput", "throughput_sps"), ("single-stream", "latency", "p50_ms"))


def prepared(backend_name: str, model: str, precision: str, threads: int, hint: str,
             batch: int, quant_format: str | None = None):
    cache = ArtifactCache()
    return parity_prepared(
        backend_name, model, threads, hint, batch, precision, cache=cache,
        calibration=resolve_calibration(CALIBRATION, CALIBRATION_COUNT, None, cache.root),
        options=resolve_recipe_options({"quant_format": quant_format}))


def bare_loop(backend_name: str, model: str, precision: str, threads: int, batch: int,
              quant_format: str | None) -> list[float]:
    """The runtime called directly on the artifact edgebench built, no harness."""
    backend, artifact = prepared(backend_name, model, precision, threads, "latency", batch,
                                 quant_format)
    dataset = SyntheticDataset(SAMPLES)
    batches = [
        np.stack([backend.to_input(dataset.sample((b * batch + i) % SAMPLES))
                  for i in range(batch)])
        for b in range(max(1, SAMPLES // batch))]
    if backend_name == "onnxruntime":
        return timed_loop(onnxruntime_call(artifact, threads), batches, SECONDS)
    if backend_name == "tflite":
        return timed_loop(tflite_call(backend.interpreter), batches, SECONDS)
    import torch

    network = backend.model

    def forward(x):
        with torch.inference_mode():
            return network(torch.from_numpy(x).contiguous(memory_format=torch.channels_last))

    return timed_loop(forward, batches, SECONDS)


def in_child(*args: str) -> str:
    return parity_in_child(*args, script=__file__)


def benchmark_app(model: str, precision: str, threads: int, batch: int, hint: str) -> dict:
    artifact = in_child("--artifact", "--model", model, "--precision", precision,
                        "--threads", str(threads), "--batch", str(batch))
    # FP32 pinned to f32; the INT8 IR at benchmark_app's defaults, as a user runs it
    return run_benchmark_app(artifact, threads, batch, SECONDS, hint,
                             ["-infer_precision", "f32"] if precision == "fp32" else [])


def reference(backend: str, model: str, precision: str, threads: int, batch: int,
              hint: str) -> dict:
    if backend == "openvino":
        return benchmark_app(model, precision, threads, batch, hint)
    formats = ["u8s8", "s8s8"] if backend == "onnxruntime" and precision != "fp32" else [None]
    runs = [json.loads(in_child("--bare", backend, "--model", model, "--precision", precision,
                                "--threads", str(threads), "--batch", str(batch),
                                *(["--quant-format", f] if f else [])))
            for f in formats]
    return max(runs, key=lambda r: r["throughput_sps"])  # the better of U8S8 and S8S8


def edgebench_in_this_process(backend: str, model: str, precision: str, scenario: str,
                              threads: int, batch: int) -> dict:
    scenarios.settings.QUICK_MIN_DURATION_MS = SECONDS * 1000
    with tempfile.TemporaryDirectory() as results:
        _, record = run_benchmark(RunConfig(
            model=model, backend=backend, precision=precision, scenario=scenario, quick=True,
            threads=threads, max_batch=batch, weights="random", results_dir=Path(results),
            calibration=CALIBRATION, calibration_count=CALIBRATION_COUNT))
    assert record.valid, record.loadgen_verdict
    latency = record.metrics.latency_ms
    return {"throughput_sps": record.metrics.throughput_sps,
            "p50_ms": latency.p50 if latency else None,
            "executed": record.precision_executed}


def speedup(fp32: dict, int8: dict, metric: str) -> float:
    return int8[metric] / fp32[metric] if metric == "throughput_sps" \
        else fp32[metric] / int8[metric]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--threads", type=int, default=physical_cores())
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--precision", help=argparse.SUPPRESS)
    parser.add_argument("--quant-format", help=argparse.SUPPRESS)
    parser.add_argument("--bare", choices=BACKENDS, help=argparse.SUPPRESS)
    parser.add_argument("--artifact", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--edgebench", choices=BACKENDS, help=argparse.SUPPRESS)
    parser.add_argument("--scenario", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.edgebench:  # child: one edgebench run, one JSON line
        print(json.dumps(edgebench_in_this_process(
            args.edgebench, args.model, args.precision, args.scenario, args.threads,
            args.batch)))
        return
    if args.artifact:  # child: where the OpenVINO IR is
        print(prepared("openvino", args.model, args.precision, args.threads, "latency",
                       args.batch)[1])
        return
    if args.bare:  # child: one bare loop on a worker thread, as edgebench runs a backend
        with concurrent.futures.ThreadPoolExecutor(1) as worker:
            latencies = worker.submit(bare_loop, args.bare, args.model, args.precision,
                                      args.threads, args.batch, args.quant_format).result()
        print(json.dumps({"throughput_sps": args.batch / statistics.mean(latencies),
                          "p50_ms": statistics.median(latencies) * 1000}))
        return

    ours: dict[tuple, list[float]] = {}
    theirs: dict[tuple, list[float]] = {}
    executed: dict[tuple, str] = {}
    for round_number in range(1, args.rounds + 1):
        for model in args.models.split(","):
            for backend in args.backends.split(","):
                for scenario, hint, metric in SCENARIOS:
                    batch = args.batch if scenario == "offline" else 1
                    key = (model, backend, scenario)
                    runs = {}
                    for precision in ("fp32", "int8-static"):
                        runs["ref", precision] = reference(backend, model, precision,
                                                           args.threads, batch, hint)
                        runs["eb", precision] = json.loads(in_child(
                            "--edgebench", backend, "--model", model, "--precision",
                            precision, "--scenario", scenario, "--threads",
                            str(args.threads), "--batch", str(args.batch)))
                    executed[key] = runs["eb", "int8-static"]["executed"]
                    ours.setdefault(key, []).append(
                        speedup(runs["eb", "fp32"], runs["eb", "int8-static"], metric))
                    theirs.setdefault(key, []).append(
                        speedup(runs["ref", "fp32"], runs["ref", "int8-static"], metric))
                    unit = "samples/s" if metric == "throughput_sps" else "ms p50"
                    print(f"round {round_number}: {model:<12} {backend:<11} {scenario:<13} "
                          f"edgebench {runs['eb', 'fp32'][metric]:8.2f} -> "
                          f"{runs['eb', 'int8-static'][metric]:8.2f}, reference "
                          f"{runs['ref', 'fp32'][metric]:8.2f} -> "
                          f"{runs['ref', 'int8-static'][metric]:8.2f} {unit}", flush=True)

    system = describe_system()
    print(f"\nINT8 static over FP32, {args.threads} threads, Offline batch {args.batch}, "
          f"{system['cpu']} ({system['arch']}; {' '.join(system['isa_flags'])}), "
          f"{args.rounds} rounds, {SECONDS} s per measurement, medians; calibration "
          f"{CALIBRATION} ({CALIBRATION_COUNT} images)")
    print("| model | backend | scenario | edgebench speed-up | reference speed-up | "
          "ratio (goal >= 0.95) | executed |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for key, values in ours.items():
        model, backend, scenario = key
        mine, ref = statistics.median(values), statistics.median(theirs[key])
        verdicts = ["OK" if mine / ref >= PARITY_GOAL else "MISSED"]
        if backend == "onnxruntime" and mine <= 1:
            verdicts.append("INT8 NOT FASTER")
        floor = MIN_OFFLINE_SPEEDUP.get((backend, model))
        if scenario == "offline" and floor is not None:
            verdicts.append(f"{'>=' if mine >= floor else 'BELOW'} {floor}x goal")
        print(f"| {model} | {backend} {installed_version(backend)} | {scenario} | "
              f"{mine:.2f}x | {ref:.2f}x | {mine / ref:.3f} {' '.join(verdicts)} | "
              f"{executed[key]} |")


if __name__ == "__main__":
    main()
