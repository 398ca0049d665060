"""Does edgebench run each runtime as fast as the runtime's own tools do?

Same artifact, batch and threads, measured in one run:
- ONNX Runtime: a bare `InferenceSession.run` loop;
- OpenVINO: `benchmark_app -hint throughput` (Offline) and `-hint latency` (SingleStream);
- TFLite:   a bare `Interpreter.invoke` loop;
- PyTorch:  a bare `model(x)` loop under `torch.inference_mode()`, channels-last, fed
  NHWC memory as edgebench feeds it (no per-call layout copy on either side).
Offline runs edgebench at `--max-batch auto`; each reference runs at batch 1 and at the
batch edgebench chose, and the faster counts (the runtime at its own best).
Every reference runs in a fresh process, as benchmark_app does (a PyTorch loop in this
process would leave an OpenMP pool that slows any later thread's pool). A shared
machine drifts by tens of percent within a minute, so each edgebench run is sandwiched
between two reference runs and compared with their mean; the figure reported is the
median of those ratios. Goals: Offline >= 0.97 of the reference throughput,
SingleStream p50 <= 5% over the reference median latency. Also measured: what
assembling a batch costs, the old way (np.stack per query) against the QSL's np.take
into a reused buffer.

    .venv/bin/python benchmarks/runtime_parity.py [--rounds 3] [--backends openvino,tflite]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import scenarios.settings  # noqa: E402
from backends import get_backend_class, installed_version  # noqa: E402
from backends.recipes import BuildContext  # noqa: E402
from harness.core.artifacts import ArtifactCache  # noqa: E402
from harness.core.datasets import SyntheticDataset  # noqa: E402
from harness.core.preprocess import to_layout  # noqa: E402
from harness.core.system_info import describe_system, physical_cores  # noqa: E402
from harness.core.weights import resolve_weights  # noqa: E402
from harness.measure.config import RunConfig  # noqa: E402
from harness.measure.runner import run_benchmark  # noqa: E402

SECONDS = 5
SAMPLES = 128  # what a --quick run holds in memory
BACKENDS = ("onnxruntime", "openvino", "tflite", "pytorch")
OFFLINE_GOAL = 0.97
P50_GOAL = 0.05


def prepared(backend_name: str, model: str, threads: int, hint: str, batch: int,
             precision: str = "fp32", **context):
    """A backend loaded with edgebench's own artifact (built on first use); `context`:
    BuildContext fields such as a calibration set or recipe options."""
    backend = get_backend_class(backend_name)(threads, hint, batch)
    cache = context.pop("cache", None) or ArtifactCache()
    artifact = backend.prepare(
        BuildContext(model, resolve_weights("random", model), cache, **context), precision)
    return backend, artifact


def distinct_batches(layout: str, batch: int) -> list[np.ndarray]:
    """The harness's own synthetic samples, rotated: re-feeding one cache-hot batch
    would flatter the bare loop with an effect no real workload has."""
    dataset = SyntheticDataset(SAMPLES)
    return [np.stack([to_layout(dataset.sample((b * batch + i) % SAMPLES), layout)
                      for i in range(batch)]) for b in range(max(1, SAMPLES // batch))]


def timed_loop(call, batches: list[np.ndarray], seconds: float) -> list[float]:
    for x in batches[:3]:
        call(x)
    latencies, end, n = [], time.perf_counter() + seconds, 0
    while time.perf_counter() < end:
        x = batches[n % len(batches)]
        start = time.perf_counter()
        call(x)
        latencies.append(time.perf_counter() - start)
        n += 1
    return latencies


def onnxruntime_call(artifact: Path, threads: int):
    """`session.run` on `artifact`, set up as edgebench sets it up."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(artifact), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})


def tflite_call(interpreter):
    """set_tensor + invoke + get_tensor: one inference, as a bare app does it."""
    index = interpreter.get_input_details()[0]["index"]
    output = interpreter.get_output_details()[0]["index"]

    def call(x):
        interpreter.set_tensor(index, x)
        interpreter.invoke()
        return interpreter.get_tensor(output)

    return call


def bare_onnxruntime(model: str, threads: int, batch: int, seconds: float) -> list[float]:
    _, artifact = prepared("onnxruntime", model, threads, "latency", batch)
    return timed_loop(onnxruntime_call(artifact, threads), distinct_batches("NCHW", batch),
                      seconds)


def bare_tflite(model: str, threads: int, batch: int, seconds: float) -> list[float]:
    from backends.tflite.backend import Interpreter

    _, artifact = prepared("tflite", model, threads, "latency", batch)
    interpreter = Interpreter(model_path=str(artifact), num_threads=threads)
    interpreter.allocate_tensors()
    return timed_loop(tflite_call(interpreter), distinct_batches("NHWC", batch), seconds)


def bare_pytorch(model: str, threads: int, batch: int, seconds: float) -> list[float]:
    import torch

    torch.set_num_threads(threads)
    network = resolve_weights("random", model).build_model(model)
    network = network.to(memory_format=torch.channels_last)

    def call(x):
        with torch.inference_mode():
            # NHWC memory as an NCHW tensor with channels-last strides: no copy
            return network(torch.from_numpy(x).permute(0, 3, 1, 2)).numpy()

    return timed_loop(call, distinct_batches("NHWC", batch), seconds)


def in_child(*args: str, script: str = __file__) -> str:
    """Last stdout line of `script` (this one by default) run with `args` in a fresh
    process."""
    out = subprocess.run([sys.executable, script, *args], capture_output=True, text=True,
                         check=True).stdout
    return out.strip().splitlines()[-1]


def run_benchmark_app(artifact: Path | str, threads: int, batch: int, seconds: float,
                      hint: str, extra: list[str]) -> dict:
    """OpenVINO's own `benchmark_app` on an IR: its throughput and median latency."""
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "config.json"
        # benchmark_app refuses -nthreads beside -hint; the plugin config sets it instead
        config.write_text(json.dumps({"CPU": {"INFERENCE_NUM_THREADS": str(threads)}}))
        # benchmark_app from the openvino wheel, imported as edgebench imports OpenVINO
        # (without its telemetry's forked process)
        launcher = ("import sys, backends.openvino.ov_import; "
                    "from openvino.tools.benchmark.main import main; "
                    "sys.argv[0] = 'benchmark_app'; sys.exit(main())")
        out = subprocess.run(
            [sys.executable, "-c", launcher, "-m", str(artifact), "-d", "CPU", "-hint", hint,
             "-load_config", str(config), "-data_shape", f"[{batch},3,224,224]",
             *extra, "-t", str(int(seconds))],
            capture_output=True, text=True, check=True, cwd=ROOT).stdout
    median = re.search(r"Median:\s+([\d.]+) (ms|us)", out)  # under 1 ms it says "us"
    return {"throughput_sps": float(re.search(r"Throughput:\s+([\d.]+) FPS", out)[1]),
            "p50_ms": float(median[1]) / (1000 if median[2] == "us" else 1)}


def benchmark_app(model: str, threads: int, batch: int, seconds: float, hint: str) -> dict:
    # The IR edgebench runs, looked up (or built) in a child: building it here would
    # start torch's OpenMP pool in this process.
    artifact = in_child("--artifact", "--model", model, "--threads", str(threads),
                        "--batch", str(batch))
    return run_benchmark_app(artifact, threads, batch, seconds, hint,
                             ["-infer_precision", "f32"])


def reference(backend: str, model: str, threads: int, batch: int, hint: str) -> dict:
    """The runtime's own figure, measured in a fresh process."""
    if backend == "openvino":
        return benchmark_app(model, threads, batch, SECONDS, hint)
    return json.loads(in_child("--bare", backend, "--model", model, "--threads", str(threads),
                               "--batch", str(batch)))


def best_reference(backend: str, model: str, threads: int, batches: set[int],
                   hint: str, metric: str) -> float:
    """The runtime at its best over `batches`: highest throughput, or lowest p50."""
    values = [reference(backend, model, threads, batch, hint)[metric] for batch in batches]
    return max(values) if metric == "throughput_sps" else min(values)


def batch_assembly_us(batch: int, samples: int = 1024, rounds: int = 2000) -> dict:
    """Microseconds to assemble one batch of MobileNetV2 inputs from the QSL's samples:
    the old way (np.stack of per-sample arrays) and the QSL's (np.take into a buffer)."""
    from scenarios.qsl import QuerySampleLibrary

    class Inputs:  # the QSL's dataset interface, without image decoding
        def __len__(self):
            return samples

        def sample(self, index):
            return np.full((3, 224, 224), index % 251, np.float32)

    qsl = QuerySampleLibrary(Inputs(), samples)
    qsl.load_samples(list(range(samples)))
    old = {i: qsl.to_input(Inputs().sample(i)) for i in range(samples)}
    rng = np.random.default_rng(0)
    queries = [list(rng.integers(0, samples, batch)) for _ in range(64)]
    timings = {}
    for name, assemble in (("np.stack (before)", lambda q: np.stack([old[i] for i in q])),
                           ("np.take into buffer (now)", qsl.batch)):
        started = time.perf_counter()
        for n in range(rounds):
            assemble(queries[n % len(queries)])
        timings[name] = (time.perf_counter() - started) / rounds * 1e6
    qsl.destroy()
    return timings


def edgebench(backend: str, model: str, scenario: str, threads: int, batch: int) -> dict:
    """One edgebench run in a fresh process, like the references (and like `sweep`)."""
    return json.loads(in_child("--edgebench", backend, "--scenario", scenario, "--model",
                               model, "--threads", str(threads), "--batch", str(batch)))


def edgebench_in_this_process(backend: str, model: str, scenario: str, threads: int,
                              batch: int | str) -> dict:
    # Long enough for stable medians, short of a full 10-minute MLPerf run.
    scenarios.settings.QUICK_MIN_DURATION_MS = SECONDS * 1000
    with tempfile.TemporaryDirectory() as results:
        _, record = run_benchmark(RunConfig(
            model=model, backend=backend, scenario=scenario, quick=True, threads=threads,
            max_batch=batch, weights="random", results_dir=Path(results)))
    assert record.valid, record.loadgen_verdict
    latency = record.metrics.latency_ms
    return {"throughput_sps": record.metrics.throughput_sps,
            "p50_ms": latency.p50 if latency else None,
            "batch_size": record.batch_size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mobilenet_v2")
    parser.add_argument("--batch", default="auto",
                        help="edgebench's Offline --max-batch (default auto)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--threads", type=int, default=physical_cores())
    parser.add_argument("--bare", choices=("onnxruntime", "tflite", "pytorch"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--artifact", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--edgebench", choices=BACKENDS, help=argparse.SUPPRESS)
    parser.add_argument("--scenario", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.edgebench:  # child process: one edgebench run, one JSON line
        print(json.dumps(edgebench_in_this_process(
            args.edgebench, args.model, args.scenario, args.threads, args.batch)))
        return

    if args.artifact:  # child process: where the OpenVINO IR is
        print(prepared("openvino", args.model, args.threads, "latency", int(args.batch))[1])
        return

    if args.bare:  # child process: one bare loop, one JSON line
        loop = {"onnxruntime": bare_onnxruntime, "tflite": bare_tflite,
                "pytorch": bare_pytorch}[args.bare]
        # On a worker thread, as edgebench runs a backend: PyTorch eager alone runs ~20%
        # faster on a sole worker thread than on the main thread here (likely glibc's
        # per-thread malloc arena), an effect that is not the harness's.
        with concurrent.futures.ThreadPoolExecutor(1) as worker:
            latencies = worker.submit(loop, args.model, args.threads, int(args.batch),
                                      SECONDS).result()
        print(json.dumps({"throughput_sps": int(args.batch) / statistics.mean(latencies),
                          "p50_ms": statistics.median(latencies) * 1000}))
        return

    ratios: dict[tuple[str, str], list[float]] = {}
    chosen: dict[str, set[int]] = {}
    for round_number in range(1, args.rounds + 1):
        for backend in args.backends.split(","):
            for scenario, hint, metric in (("offline", "throughput", "throughput_sps"),
                                           ("single-stream", "latency", "p50_ms")):
                # Offline: the reference at batch 1 and at the batch edgebench chose
                # (known after its first run), whichever is faster
                batches = chosen.get(backend, {1}) if scenario == "offline" else {1}
                before = best_reference(backend, args.model, args.threads, batches, hint,
                                        metric)
                ours = edgebench(backend, args.model, scenario, args.threads, args.batch)
                if scenario == "offline":
                    chosen.setdefault(backend, {1}).add(ours["batch_size"])
                    batches = chosen[backend]
                after = best_reference(backend, args.model, args.threads, batches, hint,
                                       metric)
                ratios.setdefault((backend, scenario), []).append(
                    ours[metric] / ((before + after) / 2))
                print(f"round {round_number}: {backend:<11} {scenario:<13} edgebench "
                      f"{ours[metric]:8.2f} (batch {ours['batch_size']}) vs reference "
                      f"{before:8.2f} / {after:8.2f} (best of batch "
                      f"{', '.join(map(str, sorted(batches)))}) "
                      f"{'samples/s' if metric == 'throughput_sps' else 'ms p50'}",
                      flush=True)

    system = describe_system()
    print(f"\n{args.model} fp32, {args.threads} threads, Offline --max-batch {args.batch}, "
          f"{system['cpu']} ({system['arch']}), {args.rounds} rounds, {SECONDS} s per "
          "measurement, median of per-round ratios")
    for (backend, scenario), values in ratios.items():
        ratio = statistics.median(values)
        version = installed_version(backend)
        if scenario == "offline":
            goal = OFFLINE_GOAL
            verdict = "OK" if ratio >= goal else "MISSED"
            print(f"{backend} {version}: Offline throughput, edgebench / reference: "
                  f"{ratio:.3f} (goal >= {goal}) {verdict}")
        else:
            verdict = "OK" if ratio - 1 <= P50_GOAL else "MISSED"
            print(f"{backend} {version}: SingleStream p50 over reference: "
                  f"{(ratio - 1) * 100:+.1f}% (goal <= {P50_GOAL:.0%}) {verdict}")
    for batch in (8, 32):
        timings = batch_assembly_us(batch)
        print(f"assembling an Offline batch of {batch}: " + ", ".join(
            f"{name} {us:.0f} us" for name, us in timings.items()))


if __name__ == "__main__":
    main()
