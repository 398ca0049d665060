"""Precisions: every backend x precision runs or says why not, in the runtime's words;
quantization keeps what a trained model learned; calibration sets are explicit,
disjoint from the evaluation and part of the artifact key; failures are one line."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from backends import BACKENDS, get_backend_class
from backends.recipes import BuildContext
from harness.core.artifacts import MANIFEST, ArtifactCache
from harness.core.calibration import resolve_calibration
from harness.core.datasets import open_dataset
from harness.core.precisions import PRECISIONS
from harness.core.record_parts import Metrics
from harness.core.statistics import SIGNIFICANCE
from harness.core.weights import resolve_weights
from harness.measure.config import RunConfig
from harness.measure.fidelity import fidelity
from harness.measure.runner import run_benchmark
from tests.conftest import ROOT, building, needs_tflite_converter, run_cli, scaled
from tests.learnable import TINY, learnable_folder
from tests.paired import INT8_ACCUMULATES_IN_32_BITS, assert_same_top1, saved

# What "executed" must say for each precision asked: nothing falls back silently.
EXECUTED_MATCHES = {
    "fp32": lambda executed: executed == "fp32",
    "fp16": lambda executed: "fp16" in executed,
    "bf16": lambda executed: executed == "bf16",
    "int8-static": lambda executed: executed == "int8",
    "int8-dynamic": lambda executed: "int8" in executed,
    # no 4-bit kernel on either runtime that runs it: float compute on int4 weights, said
    "w4a8": lambda executed: "fp32 compute, int4 weights" in executed,
}
# Where a runtime has no recipe at all for a precision; the rest depends on the CPU.
NEVER_SUPPORTED = {("onnxruntime", "bf16"), ("tflite", "bf16"), ("tflite", "w4a8"),
                   ("pytorch", "w4a8")}
CPU_DEPENDENT = {("openvino", "fp16"), ("openvino", "bf16"), ("pytorch", "bf16")}


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """MobileNetV2, every backend x precision, SingleStream quick with the quick cap
    lifted to 120 s and LoadGen's minimums at the least that can be VALID: 64 queries
    (early stopping's minimum for SingleStream) and half a second. PyTorch fp16 is
    emulated where the CPU has no fp16 arithmetic: 220 ms a query on a Zen 4, 1.25 s on a
    busy CI machine, so its 64 queries take 14 s to 80 s. Synthetic calibration."""
    results = tmp_path_factory.mktemp("grid")
    records = {}
    for backend in BACKENDS.names():
        for precision in PRECISIONS.names():
            _, records[backend, precision] = run_benchmark(RunConfig(
                model="mobilenet_v2", backend=backend, precision=precision,
                scenario="single-stream", quick=True, max_duration=120, duration=0.5,
                min_queries=64, weights="random",
                results_dir=results, calibration="synthetic", calibration_count=16))
    return records


@pytest.mark.parametrize("precision", PRECISIONS.names())
@pytest.mark.parametrize("backend", building(BACKENDS.names()))
def test_every_backend_and_precision_runs_or_says_why_not(grid, backend, precision):
    record = grid[backend, precision]
    assert record.precision == precision and record.backend == backend
    if record.unsupported:
        assert (backend, precision) in NEVER_SUPPORTED | CPU_DEPENDENT, record.unsupported
        assert len(record.unsupported.reason) > 20
        assert record.precision_executed is None and record.metrics == Metrics()
        return
    assert (backend, precision) not in NEVER_SUPPORTED
    assert record.valid is True, record.loadgen_verdict
    executed = record.precision_executed
    assert EXECUTED_MATCHES[precision](executed), f"{backend} {precision} ran {executed!r}"
    if precision == "fp32":
        assert record.quantization is None
        return
    quantization = record.quantization
    assert quantization.tool
    if record.artifact is not None:
        assert quantization.artifact_size_bytes == record.artifact_size_bytes > 0
    if precision == "int8-static":
        assert quantization.calibration_set.synthetic is True
        assert quantization.calibration_set.count == 16
        assert any("SYNTHETIC CALIBRATION" in w for w in record.warnings)
        assert {"activations", "weights", "weight_symmetric",
                "weight_granularity"} <= {k for k, v in quantization.model_dump().items()
                                          if v is not None}


def test_cpu_dependent_precisions_follow_what_the_runtime_reports(grid):
    from backends.openvino.ov_import import ov

    capabilities = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    for capability in ("FP16", "BF16"):
        record = grid["openvino", capability.lower()]
        assert bool(record.unsupported) == (capability not in capabilities)
        if record.unsupported:
            assert "OPTIMIZATION_CAPABILITIES" in record.unsupported.reason


@needs_tflite_converter
def test_sizes_shrink_with_int8_and_dynamic_pytorch_says_linear_only(grid):
    for backend in ("onnxruntime", "openvino", "tflite"):
        fp32 = grid[backend, "fp32"].artifact_size_bytes
        int8 = grid[backend, "int8-static"].artifact_size_bytes
        assert int8 < 0.4 * fp32, (backend, int8, fp32)
    # int4 weights, two to a byte in the QDQ file: smaller than int8's, yet computed in
    # float (EXECUTED_MATCHES): smaller, not faster
    w4, int8 = (grid["onnxruntime", p].artifact_size_bytes for p in ("w4a8", "int8-static"))
    assert w4 < 0.7 * int8, (w4, int8)
    dynamic = grid["pytorch", "int8-dynamic"]
    assert "Linear layers only" in dynamic.quantization.to_json()["what"]  # its own key
    assert dynamic.precision_executed == "fp32 (52 ops), int8 (1 op)"


def test_unsupported_precision_exits_0_with_the_reason(tmp_path):
    proc = run_cli("run", "--model", "mobilenet_v2", "--backend", "tflite", "--precision",
                   "bf16", "--quick", "--results", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "unsupported on this machine: LiteRT Quantizer has no bfloat16 recipe" in proc.stdout
    (result,) = tmp_path.glob("*/result.json")
    assert '"reason": "LiteRT Quantizer has no bfloat16 recipe' in result.read_text()


# ---- accuracy on a model that has learned something ----

@pytest.mark.parametrize("backend", building(BACKENDS.names()))
def test_int8_static_keeps_the_trained_models_accuracy(trained, backend, tmp_path):
    checkpoint, calibration_dir, eval_dir = trained
    runs = {precision: run_benchmark(RunConfig(
        model=TINY, backend=backend, precision=precision, mode="accuracy",
        weights=str(checkpoint), dataset=str(eval_dir), calibration=str(calibration_dir),
        calibration_count=48, results_dir=tmp_path)) for precision in ("fp32", "int8-static")}
    fp32 = runs["fp32"][1].metrics.accuracy.top1
    assert fp32 >= 0.6, f"the tiny model did not learn ({fp32})"
    assert_same_top1(runs["fp32"], runs["int8-static"])  # McNemar, on the same images
    run_dir, record = runs["int8-static"]
    fid = record.metrics.accuracy.fidelity
    # agreement with fp32 computed in the run, recomputed from both runs' saved classes
    assert fid.agreement == np.mean(saved(*runs["fp32"])["predicted"]
                                    == saved(run_dir, record)["predicted"]), fid
    assert fid.samples == 100 and fid.reference.backend == backend
    assert record.precision_executed == "int8"
    assert record.calibration.count == 48
    simulated = record.metrics.accuracy.simulated
    if backend == "tflite":  # it says why it cannot
        assert simulated.unsupported.startswith(f"{backend}: ") and simulated.top1 is None
        return
    # ONNX Runtime: the same QDQ model, unfused; PyTorch: FX's reference model; OpenVINO:
    # the same IR with its low-precision transformations off. Each computes its
    # convolutions in float between quantize and dequantize
    assert simulated.executed.startswith("fp32"), simulated
    assert {"onnxruntime": "disable_quant_qdq", "pytorch": "convert_to_reference_fx",
            "openvino": "LP_TRANSFORMS_MODE=False"}[backend] in simulated.how
    # the integer kernels follow their simulation: on >= 99% of samples where the CPU's
    # int8 dot product accumulates in 32 bits; elsewhere (x86 without VNNI) with no top-1
    # gap these images can show
    if INT8_ACCUMULATES_IN_32_BITS:
        assert simulated.agreement_with_deployed >= 0.99, simulated
    assert simulated.gap_p_value >= SIGNIFICANCE, simulated
    # the record's numbers, recomputed from the saved per-sample classes
    classes = saved(run_dir, record)
    assert simulated.samples == len(classes["label"]) == 100
    assert simulated.top1 == np.mean(classes["simulated"] == classes["label"])
    assert simulated.agreement_with_deployed == np.mean(
        classes["simulated"] == classes["predicted"])
    assert simulated.gap_deployed_minus_simulated == pytest.approx(
        record.metrics.accuracy.top1 - simulated.top1, abs=1e-12)
    low, high = simulated.top1_ci95
    assert low <= simulated.top1 <= high and high - low < 0.25


# ---- calibration ----

def test_calibration_and_evaluation_from_one_folder_are_disjoint(tmp_path):
    folder = learnable_folder(tmp_path / "images", 5, seed=3)  # 20 images
    cache = tmp_path / "cache"
    first = resolve_calibration(str(folder), 6, folder, cache)
    again = resolve_calibration(str(folder), 6, folder, cache)
    assert [f.name for f in first.files] == [f.name for f in again.files]  # deterministic
    assert first.digest == again.digest
    evaluation = open_dataset(str(folder), None, cache, 0,
                              exclude=frozenset(f.resolve() for f in first.files))
    calibrated = {f.name for f in first.files}
    evaluated = {f.name for f in evaluation.files}
    assert len(calibrated) == 6 and len(evaluated) == 14 and not calibrated & evaluated
    description = evaluation.describe()
    assert description["excluded_for_calibration"] == 6 and description["samples"] == 14


def test_the_run_records_both_sets(tmp_path):
    folder = learnable_folder(tmp_path / "images", 3, seed=4)  # 12 images
    _, record = run_benchmark(RunConfig(
        model="mobilenet_v2", backend="onnxruntime", mode="accuracy", weights="random",
        dataset=str(folder), calibration=str(folder), calibration_count=5,
        results_dir=tmp_path / "results"))
    assert record.samples == 7 and record.dataset.excluded_for_calibration == 5
    assert record.dataset.files_digest
    assert record.calibration.count == 5 and len(record.calibration.digest) == 16


def test_a_changed_calibration_set_rebuilds_the_artifact(tmp_path):
    folder = learnable_folder(tmp_path / "images", 2, seed=5)
    cache = ArtifactCache(tmp_path / "cache")
    weights = resolve_weights("random", "mobilenet_v2")

    def artifact(count: int):
        calibration = resolve_calibration(str(folder), count, None, cache.root)
        backend = get_backend_class("onnxruntime")(threads=1)
        return backend.prepare(BuildContext("mobilenet_v2", weights, cache,
                                            calibration=calibration), "int8-static")

    three = artifact(3)
    assert artifact(3) == three  # the same set: served from the cache
    assert artifact(4) != three


def test_int8_static_without_calibration_data_is_refused(tmp_path):
    proc = run_cli("run", "--model", "mobilenet_v2", "--backend", "openvino", "--precision",
                   "int8-static", "--quick", "--results", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "--calibration" in proc.stderr and "synthetic" in proc.stderr
    assert not list(tmp_path.iterdir())


def test_quantizer_failure_is_one_line_and_caches_nothing(tmp_path):
    code = ("import sys, backends.onnxruntime.quantize as q\n"
            "def broken(*a, **k): raise RuntimeError('Calibration failed: no tensor range')\n"
            "q.quantize_static = broken\n"
            "from harness.cli import main; sys.exit(main())")
    proc = subprocess.run(
        [sys.executable, "-c", code, "run", "--model", "mobilenet_v2", "--backend",
         "onnxruntime", "--precision", "int8-static", "--calibration", "synthetic",
         "--calibration-count", "2", "--quick", "--results", str(tmp_path / "results"),
         "--cache-dir", str(tmp_path / "cache")],
        capture_output=True, text=True, cwd=ROOT, timeout=scaled(300))
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("edgebench: error: building mobilenet_v2-onnxruntime-int8-static")
    assert "Calibration failed: no tensor range" in last
    artifacts = tmp_path / "cache" / "artifacts"
    assert not list(artifacts.glob("mobilenet_v2-onnxruntime-int8-static-*"))
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").iterdir())


@needs_tflite_converter
def test_converter_noise_goes_to_the_build_log(tmp_path):
    proc = run_cli("run", "--model", "mobilenet_v2", "--backend", "tflite", "--precision",
                   "int8-dynamic", "--scenario", "single-stream", "--quick",
                   "--results", str(tmp_path / "results"), "--cache-dir", str(tmp_path / "c"))
    assert proc.returncode == 0, proc.stderr
    (log,) = (tmp_path / "c" / "artifacts").glob("mobilenet_v2-tflite-int8-dynamic-*/build.log")
    assert "Quantized model size" in log.read_text()  # LiteRT Quantizer's own report
    assert "Quantized model size" not in proc.stderr + proc.stdout
    builds = [line for line in proc.stderr.splitlines() if "building" in line]
    assert len(builds) == 2, builds  # the fp32 conversion, then the quantization


# ---- the choices made per CPU ----

@pytest.mark.parametrize(("arm", "flags", "expected", "reduce_range"), [
    (False, {"avx512f", "avx512_vnni"}, "u8s8", False),
    (False, {"avx2"}, "u8s8", True),
    (True, {"asimddp"}, "s8s8", False),
])
def test_onnxruntime_int8_format_follows_the_isa(monkeypatch, arm, flags, expected,
                                                 reduce_range):
    import backends.onnxruntime.quantize as q

    monkeypatch.setattr(q, "is_arm", lambda: arm)
    monkeypatch.setattr(q, "cpu_features", lambda: frozenset(flags))
    chosen = q.int8_format()
    assert chosen["format"] == expected and chosen["reduce_range"] is reduce_range
    assert chosen["chosen_because"]
    assert q.int8_format("s8s8")["format"] == "s8s8"  # --quant-format wins


@pytest.mark.parametrize(("arm", "engine"), [(False, "x86"), (True, "qnnpack")])
def test_pytorch_quantized_engine_follows_the_architecture(monkeypatch, arm, engine):
    import backends.pytorch.quantize as q

    monkeypatch.setattr(q, "is_arm", lambda: arm)
    assert q.quantized_engine() == engine


def test_pytorch_bf16_needs_a_bf16_isa(monkeypatch):
    import backends.pytorch.quantize as q

    monkeypatch.setattr(q, "cpu_features", lambda: frozenset({"avx512f", "avx2"}))
    assert "no bf16 arithmetic" in q.bf16_unsupported()
    monkeypatch.setattr(q, "cpu_features", lambda: frozenset({"avx512_bf16"}))
    assert q.bf16_unsupported() is None


# ---- fidelity ----

def test_fidelity_on_constructed_logits():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(200, 10))
    quantized = reference + 0.1  # a shift: top-1 unchanged, noise power 10 x 0.01 per row
    quantized[:20] = -reference[:20]  # 20 rows whose top-1 surely changes
    result = fidelity(quantized, reference)
    noise = np.sum((2 * reference[:20]) ** 2) + 180 * 10 * 0.1 ** 2
    assert result["sqnr_db"] == pytest.approx(
        10 * math.log10(np.sum(reference ** 2) / noise), abs=0.01)
    assert result["agreement"] == 0.9 and result["samples"] == 200


def test_fidelity_ignores_unanswered_rows():
    reference = np.eye(4, dtype=np.float32)
    logits = reference.copy()
    logits[3] = np.nan
    assert fidelity(logits, reference) == {"agreement": 1.0, "sqnr_db": None, "samples": 3}


# ---- costs besides speed ----

def test_costs_are_recorded_build_apart_from_load(tmp_path):
    def run():
        return run_benchmark(RunConfig(
            model="mobilenet_v2", backend="onnxruntime", precision="int8-dynamic",
            scenario="single-stream", quick=True, weights="random",
            results_dir=tmp_path / "results", cache_dir=tmp_path / "cache"))

    first_dir, first = run()
    _, second = run()
    assert first.costs.build_s > 0 and second.costs.build_s == 0
    assert second.costs.load_s > 0 and second.costs.first_inference_ms > 0
    artifact = Path(first.artifact)
    on_disk = sum(p.stat().st_size for p in artifact.parent.iterdir()
                  if p.name not in ("artifact.json", "build.log"))
    assert first.artifact_size_bytes == first.costs.artifact_size_bytes == on_disk
    # the kernel's high-water mark only grows: this process's now bounds the run's
    status = Path("/proc/self/status").read_text()
    hwm_mb = int(next(line for line in status.splitlines()
                      if line.startswith("VmHWM:")).split()[1]) / 1024
    assert 100 < second.costs.peak_rss_mb <= hwm_mb + 0.1


def test_calibration_from_a_list_file_like_mlperfs(tmp_path):
    folder = learnable_folder(tmp_path / "images", 2, seed=6)  # 8 images
    names = sorted(p.name for p in folder.glob("*.png"))[:3]
    listing = tmp_path / "cal_list.txt"
    listing.write_text("# MLPerf-style: names relative to the dataset folder\n"
                       + "\n".join(names) + "\n")
    calibration = resolve_calibration(str(listing), 300, folder, tmp_path / "cache")
    assert [f.name for f in calibration.files] == names and len(calibration) == 3
    listing.write_text("no_such_image.png\n")
    with pytest.raises(Exception, match="no image 'no_such_image.png'"):
        resolve_calibration(str(listing), 300, folder, tmp_path / "cache")


def test_calibration_shows_progress_when_not_on_a_terminal(tmp_path, capfd):
    calibration = resolve_calibration("synthetic", 5, None, tmp_path)
    assert len(list(calibration.batches("NCHW"))) == 5
    err = capfd.readouterr().err
    assert "calibrating: 5 images ..." in err and "calibrating: 5 images done" in err


def test_info_lists_each_backends_precisions_and_why_not():
    proc = run_cli("info")
    assert proc.returncode == 0, proc.stderr
    assert "runs:        fp32, fp16, int8-static, int8-dynamic, w4a8" in proc.stdout  # onnxruntime
    assert "unsupported: bf16: ONNX Runtime's quantization tools make no bfloat16" in proc.stdout
    # each runtime's quantizers, its default first
    assert "quantizers of int8-static: minmax (default), entropy, percentile, adaround, cle, " \
        "cle-adaround\n" in proc.stdout
    assert "quantizers of int8-static: nncf (default), nncf-no-bias-correction, minmax, " \
        "adaround" in proc.stdout


# ---- ONNX Runtime's recipe options, end to end ----

@pytest.mark.parametrize("options, quantized_as", [
    (["--quant-format", "s8s8"], {"format": "QDQ S8S8", "activations": "int8",
                                  "calibration_method": "minmax", "quantizer": "minmax"}),
    (["--quantizer", "entropy"], {"calibration_method": "entropy", "quantizer": "entropy"}),
    (["--quantizer", "percentile"], {"calibration_method": "percentile",
                                     "quantizer": "percentile"}),
])
def test_onnxruntime_recipe_options_reach_the_build_the_key_and_the_record(
        tmp_path, options, quantized_as):
    proc = run_cli("run", "--model", "mobilenet_v2", "--precision", "int8-static",
                   "--scenario", "offline", "--max-batch", "2", "--quick", "--weights",
                   "random", "--calibration", "synthetic", "--calibration-count", "4",
                   "--threads", "1", "--results", str(tmp_path), *options)
    assert proc.returncode == 0, proc.stderr
    (path,) = tmp_path.glob("*/result.json")
    record = json.loads(path.read_text())
    quantization = record["quantization"]
    for key, value in quantized_as.items():
        assert quantization[key] == value, (key, quantization)
    name, value = options[0].removeprefix("--").replace("-", "_"), options[1]
    assert quantization["options"][name] == value
    assert record["precision_executed"].startswith("int8")
    # the option is part of the artifact's key: each choice is its own file
    manifest = json.loads((Path(record["artifact"]).parent / MANIFEST).read_text())
    assert manifest["key"]["options"][name] == value
