"""Per-layer profiles (`--profile`): each runtime's own profiler, every operator placed in
MobileNetV2's own modules and layer classes, integer kernels where INT8 ran, the
quantizer's Q/DQ nodes as overhead, and a profiled run never a headline."""

from __future__ import annotations

import json

import pytest

from harness.core import layer_classes as lc
from harness.core.zoo import build_model
from harness.measure.config import RunConfig
from harness.measure.runner import run_benchmark
from reports.collect import collect, newest_per_configuration
from reports.report import write_report
from tests.conftest import run_cli

# what each runtime's quantizer puts in front of and behind integer kernels
QDQ_TYPES = {"onnxruntime": {"QuantizeLinear", "DequantizeLinear"},
             "openvino": {"FakeQuantize"}}


@pytest.fixture(scope="module")
def modules() -> set[str]:
    return {name for name, _ in build_model("mobilenet_v2").named_modules() if name}


def _profiled(tmp_path, backend: str, precision: str, **more):
    return run_benchmark(RunConfig(
        model="mobilenet_v2", backend=backend, precision=precision, quick=True, profile=True,
        duration=1, calibration="synthetic" if precision == "int8-static" else None,
        calibration_count=16, results_dir=tmp_path, **more))


@pytest.mark.parametrize("name, expected", [
    ("QLinearConv", lc.CONVOLUTION), ("GroupConvolution", lc.CONVOLUTION),
    ("quantized::conv2d_relu", lc.CONVOLUTION), ("aten::conv2d", lc.CONVOLUTION),
    ("QuantizeLinear", lc.OVERHEAD), ("DequantizeLinear", lc.OVERHEAD),
    ("FakeQuantize", lc.OVERHEAD), ("aten::quantize_per_tensor", lc.OVERHEAD),
    ("Reorder", lc.OVERHEAD), ("QGemm", lc.FULLY_CONNECTED),
    ("FullyConnectedQuantizedLegacy", lc.FULLY_CONNECTED),
    ("quantized::linear", lc.FULLY_CONNECTED),
    ("QLinearAdd", lc.ELEMENT_WISE), ("quantized::add", lc.ELEMENT_WISE),
    ("aten::hardtanh_", lc.ELEMENT_WISE), ("ReduceMean", lc.POOLING),
    ("aten::adaptive_avg_pool2d", lc.POOLING), ("SomethingNew", lc.UNMAPPED)])
def test_one_vocabulary_for_every_runtime(name, expected):
    assert lc.operator_class(name) == expected


def test_a_convolution_is_classed_by_its_geometry():
    assert lc.conv_class((3, 3), 32, 32) == lc.DEPTHWISE
    assert lc.conv_class((1, 1), 1, 32) == lc.POINTWISE
    assert lc.conv_class((3, 3), 1, 3) == lc.CONV_KXK
    assert lc.conv_class((3, 3), 2, 64) == lc.CONV_KXK  # grouped, not depthwise


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_int8_profile_shows_integer_kernels_and_the_quantizers_nodes_as_overhead(
        backend, tmp_path, modules):
    run_dir, record = _profiled(tmp_path, backend, "int8-static")
    assert record.precision_executed == "int8"
    profile = record.metrics.profile
    assert profile.mapped_share >= 0.9
    assert 0.5 <= profile.sum_over_latency <= 1.1, profile.sum_over_latency
    operators = [op.model_dump() for op in profile.operators]
    convolutions = [op for op in operators if op["layer_class"] in lc.CONV_CLASSES]
    # 52 convolutions in MobileNetV2; each one ran an integer kernel, and each is a module
    assert len({op["layer"] for op in convolutions}) == 52
    assert {op["precision"] for op in convolutions} == {"int8"}
    assert {op["layer"] for op in convolutions} <= modules
    overhead = {op["type"] for op in operators if op["layer_class"] == lc.OVERHEAD}
    assert overhead & QDQ_TYPES[backend], overhead
    assert not {op["type"] for op in operators if op["layer_class"] != lc.OVERHEAD} \
        & QDQ_TYPES[backend]
    # the classes hold every operator's time, and the depthwise layers are MobileNetV2's 17
    assert sum(profile.by_class_ms.values()) == pytest.approx(profile.operators_ms, rel=1e-3)
    assert len({op["layer"] for op in operators if op["layer_class"] == lc.DEPTHWISE}) == 17
    # the profiler's cost is measured: profiled and unprofiled inferences, both timed
    assert profile.profiled_ms > 0 and profile.unprofiled_ms > 0
    assert profile.overhead == pytest.approx(profile.profiled_ms / profile.unprofiled_ms - 1,
                                             abs=1e-3)
    assert "profile" in run_dir.name


def test_pytorch_profile_charges_operators_to_modules(tmp_path, modules):
    _, record = _profiled(tmp_path, "pytorch", "fp32")
    profile = record.metrics.profile
    assert profile.mapped_share >= 0.9
    placed = {op.layer for op in profile.operators if op.layer}
    assert placed <= modules and len(placed) > 100  # convolutions, norms, activations
    by_class = profile.by_class_ms
    assert by_class[lc.DEPTHWISE] > 0 and by_class[lc.POINTWISE] > 0
    assert by_class[lc.ELEMENT_WISE] > 0  # eager runs its BatchNorms and ReLU6es apart


def test_tflite_profile_is_unsupported_with_the_reason(tmp_path):
    _, record = _profiled(tmp_path, "tflite", "fp32")
    assert "no per-operator timings" in record.unsupported.reason
    assert record.metrics.profile is None


def test_profile_wants_a_performance_run(tmp_path, small_folder):
    results = tmp_path / "results"
    proc = run_cli("run", "--model", "mobilenet_v2", "--mode", "accuracy", "--dataset",
                   str(small_folder), "--profile", "--results", str(results), timeout=60)
    assert proc.returncode == 2
    assert "--profile times operators in a performance run" in proc.stderr
    assert not results.exists()


def test_profiled_runs_are_reported_apart_and_never_as_headline(tmp_path):
    plain_dir, _ = run_benchmark(RunConfig(
        model="mobilenet_v2", backend="openvino", precision="fp32", quick=True, duration=1,
        results_dir=tmp_path))
    profiled_dir, _ = _profiled(tmp_path, "openvino", "fp32")
    _profiled(tmp_path, "openvino", "int8-static")
    _profiled(tmp_path, "tflite", "fp32")  # refused for --profile: said, never a headline
    collected = collect([tmp_path])
    newest = newest_per_configuration(collected.runs)
    assert list(newest["run_dir"]) == [str(plain_dir)]
    assert len([p for p in collected.profiles if p["profile"] is not None]) == 2
    report = write_report([tmp_path], tmp_path / "report")
    text = report.markdown.read_text()
    assert "## Per-layer profiles" in text and "Speed-up over fp32 per layer class" in text
    assert "openvino int8-static (nncf)" in text and "features.0.0" in text
    assert "not profiled: mobilenet_v2" in text and "no per-operator timings" in text
    assert [series for name, series in report.figures.items()
            if name.endswith("_mobilenet_v2_profile.png")] == [2]
    # the terminal view of one run, and a run without a profile refused in one line
    shown = run_cli("profile", str(profiled_dir), timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "top 10 layers" in shown.stdout and "pointwise conv" in shown.stdout
    refused = run_cli("profile", str(plain_dir), timeout=60)
    assert refused.returncode == 2 and "holds no profile" in refused.stderr
    assert json.loads((profiled_dir / "result.json").read_text())["configuration"][
        "profile"] == "True"
