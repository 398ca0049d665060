"""OpenVINO at benchmark_app's speed? MobileNetV2 Offline, FP32 and INT8, with the two
causes of a gap measured apart.

In each round, every measurement in a fresh process, on the same IRs and threads, each
side at the faster of batch 1 and edgebench's batch (each tool at its own best):
- benchmark_app -hint throughput on the FP32 IR at -infer_precision f32, and on the
  NNCF INT8 IR twice: at its default inference precision (bf16 for the layers NNCF left
  in float, on a CPU with AVX512_BF16 or AMX) and at -infer_precision f32;
- benchmark_app on the FP32 IR with -nireq at edgebench's queue depth (edgebench keeps
  two requests per stream in flight; benchmark_app's default is one);
- edgebench Offline on the FP32 IR, and on the INT8 IR with --ov-float-precision f32
  (its default: int8-static means int8 plus f32) and runtime-default (as benchmark_app).

Figures (medians over rounds of per-round ratios):
- FP32 parity: edgebench / benchmark_app throughput (goal >= 0.97), also against
  benchmark_app at edgebench's queue depth;
- the Python path per batch at INT8: edgebench f32 / benchmark_app f32 (same precision);
- the precision choice: benchmark_app default / benchmark_app f32 (no edgebench in it);
- INT8 over FP32 speed-up, like with like: edgebench's (runtime-default) over
  benchmark_app's (default), and pinned f32 against benchmark_app at f32 (goal >= 0.95).

    .venv/bin/python benchmarks/openvino_parity.py [--rounds 3] [--batch 8]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from quantization_speedup import CALIBRATION, CALIBRATION_COUNT  # noqa: E402
from quantization_speedup import prepared as quantized_prepared  # noqa: E402
from runtime_parity import in_child as parity_in_child  # noqa: E402
from runtime_parity import run_benchmark_app  # noqa: E402

import scenarios.settings  # noqa: E402
from backends import installed_version  # noqa: E402
from harness.core.system_info import describe_system, physical_cores  # noqa: E402
from harness.measure.config import RunConfig  # noqa: E402
from harness.measure.runner import run_benchmark  # noqa: E402

SECONDS = 5
MODEL = "mobilenet_v2"
FP32_GOAL = 0.97
SPEEDUP_GOAL = 0.95


def in_child(*args: str) -> str:
    return parity_in_child(*args, script=__file__)


def benchmark_app_best(precision: str, threads: int, batches: list[int],
                       infer_precision: str | None, requests: int | None = None) -> float:
    """benchmark_app's throughput on edgebench's IR, at the faster of `batches`."""
    artifact = in_child("--artifact", "--precision", precision, "--threads", str(threads))
    extra = ["-infer_precision", infer_precision] if infer_precision else []
    extra += ["-nireq", str(requests)] if requests else []
    return max(run_benchmark_app(artifact, threads, batch, SECONDS, "throughput",
                                 extra)["throughput_sps"] for batch in batches)


def edgebench_best(precision: str, threads: int, batches: list[int],
                   float_precision: str) -> dict:
    """edgebench's Offline run at the faster of `batches`."""
    runs = [json.loads(in_child("--edgebench", "--precision", precision, "--threads",
                                str(threads), "--batch", str(batch), "--float-precision",
                                float_precision)) for batch in batches]
    return max(runs, key=lambda run: run["throughput_sps"])


def edgebench_in_this_process(precision: str, threads: int, batch: int,
                              float_precision: str) -> dict:
    scenarios.settings.QUICK_MIN_DURATION_MS = SECONDS * 1000
    scenarios.settings.QUICK_MAX_DURATION_MS = 4 * SECONDS * 1000
    with tempfile.TemporaryDirectory() as results:
        _, record = run_benchmark(RunConfig.from_options({
            "model": MODEL, "backend": "openvino", "precision": precision,
            "scenario": "offline", "quick": True, "threads": threads, "max_batch": batch,
            "weights": "random", "results_dir": Path(results), "calibration": CALIBRATION,
            "calibration_count": CALIBRATION_COUNT, "ov_float_precision": float_precision}))
    assert record.valid, record.loadgen_verdict
    return {"throughput_sps": record.metrics.throughput_sps,
            "executed": record.precision_executed,
            "inference_precision": record.backend_settings.inference_precision,
            "requests": record.backend_settings.infer_requests_in_flight}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=physical_cores())
    parser.add_argument("--precision", help=argparse.SUPPRESS)
    parser.add_argument("--float-precision", default="f32", help=argparse.SUPPRESS)
    parser.add_argument("--artifact", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--edgebench", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.edgebench:  # child: one edgebench run, one JSON line
        print(json.dumps(edgebench_in_this_process(args.precision, args.threads, args.batch,
                                                   args.float_precision)))
        return
    if args.artifact:  # child: where the IR is (built with the same calibration)
        print(quantized_prepared("openvino", MODEL, args.precision, args.threads,
                                 "latency", 1)[1])
        return

    batches = sorted({1, args.batch})
    figures: dict[str, list[float]] = {}
    executed = {}
    for round_number in range(1, args.rounds + 1):
        ba_fp32 = benchmark_app_best("fp32", args.threads, batches, "f32")
        fp32 = edgebench_best("fp32", args.threads, batches, "f32")
        eb_fp32 = fp32["throughput_sps"]
        ba_fp32_deep = benchmark_app_best("fp32", args.threads, batches, "f32",
                                          fp32["requests"])
        ba_int8 = benchmark_app_best("int8-static", args.threads, batches, None)
        ba_int8_f32 = benchmark_app_best("int8-static", args.threads, batches, "f32")
        pinned = edgebench_best("int8-static", args.threads, batches, "f32")
        default = edgebench_best("int8-static", args.threads, batches, "runtime-default")
        executed = {"f32": (pinned["executed"], pinned["inference_precision"]),
                    "runtime-default": (default["executed"],
                                        default["inference_precision"])}
        eb_int8_f32, eb_int8 = pinned["throughput_sps"], default["throughput_sps"]
        for name, value in (
                ("FP32 parity", eb_fp32 / ba_fp32),
                (f"FP32 parity against benchmark_app -nireq {fp32['requests']}",
                 eb_fp32 / ba_fp32_deep),
                ("INT8 f32, edgebench / benchmark_app (the Python path)",
                 eb_int8_f32 / ba_int8_f32),
                ("INT8 runtime default, edgebench / benchmark_app", eb_int8 / ba_int8),
                ("benchmark_app INT8 default / f32 (the precision choice)",
                 ba_int8 / ba_int8_f32),
                ("INT8 speed-up ratio, like with like (runtime default)",
                 (eb_int8 / eb_fp32) / (ba_int8 / ba_fp32)),
                ("INT8 speed-up ratio, like with like (f32 pinned)",
                 (eb_int8_f32 / eb_fp32) / (ba_int8_f32 / ba_fp32)),
                ("INT8 speed-up ratio, edgebench pinned vs benchmark_app default (before)",
                 (eb_int8_f32 / eb_fp32) / (ba_int8 / ba_fp32))):
            figures.setdefault(name, []).append(value)
        print(f"round {round_number}: samples/s benchmark_app fp32 {ba_fp32:.0f}, int8 "
              f"{ba_int8:.0f} (f32 {ba_int8_f32:.0f}); edgebench fp32 {eb_fp32:.0f}, int8 "
              f"{eb_int8:.0f} (f32 {eb_int8_f32:.0f})", flush=True)

    system = describe_system()
    print(f"\n{MODEL} Offline, {args.threads} threads, each side the best of batch "
          f"{batches}, OpenVINO {installed_version('openvino')}, "
          f"{system['cpu']} ({' '.join(system['isa_flags'])}), {args.rounds} rounds, "
          f"{SECONDS} s each, medians of per-round ratios")
    goals = {"FP32 parity": FP32_GOAL,
             "INT8 speed-up ratio, like with like (runtime default)": SPEEDUP_GOAL,
             "INT8 speed-up ratio, like with like (f32 pinned)": SPEEDUP_GOAL}
    for name, values in figures.items():
        goal = goals.get(name)
        verdict = "" if goal is None else (
            f" (goal >= {goal}: {'OK' if statistics.median(values) >= goal else 'MISSED'})")
        print(f"{name}: {statistics.median(values):.3f}{verdict}  "
              f"[{', '.join(f'{v:.3f}' for v in values)}]")
    for choice, (ran, hint) in executed.items():
        print(f"edgebench int8-static --ov-float-precision {choice}: executed {ran}, "
              f"INFERENCE_PRECISION_HINT read back {hint}")


if __name__ == "__main__":
    main()
