"""Quantizers as an axis: each runtime's quantizers by name, AdaRound (aimet-onnx) against
round-to-nearest at 4 bits on a model that has learned something, w4a8 recorded as what
executed, simulated beside deployed, and the cells a matrix varies by quantizer."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binomtest

from backends import get_backend_class
from harness.core.artifacts import MANIFEST
from harness.core.errors import UsageError
from harness.core.statistics import SIGNIFICANCE
from harness.measure.config import RunConfig
from harness.measure.runner import run_benchmark
from harness.study.matrix import load_matrix
from reports.collect import collect, newest_per_configuration
from reports.report import write_report
from reports.study import quantizers
from reports.tables import device_matrix
from tests.conftest import run_cli
from tests.learnable import TINY, learnable_folder
from tests.paired import INT8_ACCUMULATES_IN_32_BITS, assert_same_top1, compare

# A quick AdaRound: enough steps and images for the tiny model to learn its rounding
# (W4 per tensor: 0.99 top-1 at these, 0.94 at 300 steps on 48 images; the defaults,
# 1000 steps on 64 images, are for real models)
ADAROUND = {"adaround_iterations": 100, "adaround_samples": 16}


def _accuracy_run(trained, tmp_path, backend: str, precision: str, dataset: Path | None = None,
                  **options):
    checkpoint, calibration_dir, eval_dir = trained
    return run_benchmark(RunConfig(
        model=TINY, backend=backend, precision=precision, mode="accuracy",
        weights=str(checkpoint), dataset=str(dataset or eval_dir),
        calibration=str(calibration_dir), calibration_count=48, results_dir=tmp_path,
        recipe_options=options))


# The claim "AdaRound is better than round-to-nearest" is a paired one: on the same
# images, AdaRound right where round-to-nearest is wrong more often than the reverse.
# McNemar's exact test (a binomial test on the discordant pairs) says whether the
# held-out set is large enough to tell; at 200 images and this level the smallest
# difference it can show is 3.5 points (7 discordant pairs, all one way), so no margin
# tuned on one CPU's result is needed.
ADAROUND_BETTER_P = 0.01


def _saved(run_dir: Path, record) -> dict[str, np.ndarray]:
    return dict(np.load(run_dir / record.predictions_file.path))


@pytest.mark.slow
def test_adaround_beats_round_to_nearest_at_4_bits_and_both_keep_fp32_at_8(trained, tmp_path):
    """MQBench's and AdaRound's finding, on a model trained here: with one weight scale per
    tensor, where round-to-nearest at 4 bits loses what the model learned, AdaRound's
    learned rounding wins it back (where it loses nothing these images can show, AdaRound
    keeps that); at 8 bits both keep FP32's top-1."""
    fp32_run = _accuracy_run(trained, tmp_path, "onnxruntime", "fp32")
    fp32 = fp32_run[1]
    assert fp32.metrics.accuracy.top1 >= 0.8, "the tiny model did not learn"
    # 4 bits are compared on images neither training (seed 0), calibration (its draw of
    # those) nor the 8-bit checks below (seed 1) saw: 50 a class, seed 2
    held_out = learnable_folder(tmp_path / "held-out", 50, seed=2)
    w4 = {quantizer: _accuracy_run(trained, tmp_path, "onnxruntime", "w4a8", held_out,
                                   quantizer=quantizer, weight_granularity="per-tensor",
                                   **(ADAROUND if quantizer == "adaround" else {}))
          for quantizer in ("minmax", "adaround")}
    (minmax_dir, minmax), (adaround_dir, adaround) = w4["minmax"], w4["adaround"]
    # paired on the same 200 samples: McNemar's exact p, recomputed from the saved
    # per-sample classes (independently of the record)
    label = _saved(minmax_dir, minmax)["label"]
    assert len(label) == 200 and np.array_equal(label, _saved(adaround_dir, adaround)["label"])
    right_rtn = _saved(minmax_dir, minmax)["predicted"] == label
    right_ada = _saved(adaround_dir, adaround)["predicted"] == label
    only_ada, only_rtn = int(np.sum(right_ada & ~right_rtn)), int(np.sum(right_rtn & ~right_ada))
    # What round-to-nearest lost against FP32 on these images decides what AdaRound can
    # win back. The tiny model trains to another optimum on another CPU's arithmetic: on
    # the AVX2 machines round-to-nearest kept it (FP32 0.85, RTN 0.82, AdaRound 0.82), on
    # the AMX ones it lost much of it (RTN 0.86, AdaRound 0.96).
    rtn_lost = compare(_accuracy_run(trained, tmp_path, "onnxruntime", "fp32", held_out),
                       w4["minmax"])
    if rtn_lost.significant and rtn_lost.difference < 0:
        better = binomtest(only_ada, only_ada + only_rtn, 0.5, alternative="greater")
        assert right_ada.mean() > right_rtn.mean() and better.pvalue < ADAROUND_BETTER_P, (
            right_ada.mean(), right_rtn.mean(), only_ada, only_rtn, better.pvalue)
    else:  # nothing to win back: AdaRound keeps round-to-nearest's top-1
        assert not compare(w4["minmax"], w4["adaround"]).significant, (
            rtn_lost, right_ada.mean(), right_rtn.mean(), only_ada, only_rtn)
    for record in (minmax, adaround):  # the record says what it is and what ran
        assert record.metrics.accuracy.top1 == np.mean(
            _saved(*w4[record.quantization.quantizer])["predicted"] == label)
        assert record.quantization.weights == "int4"
        assert record.quantization.weight_granularity == "per-tensor"
        assert record.precision_executed == "fp32 compute, int4 weights"
    assert adaround.quantization.adaround == {"iterations_per_layer": 100, "samples": 16}
    assert adaround.costs.build_s > minmax.costs.build_s  # the learning is the build's
    # 8 bits: ONNX Runtime's own calibrator and AdaRound both keep the FP32 top-1 (no
    # difference these images can show), and ONNX Runtime's integer kernels follow the
    # simulated model: on >= 99% of samples where the CPU's int8 dot product accumulates
    # in 32 bits, else with no top-1 gap these images can show
    for quantizer, options in (("minmax", {}), ("adaround", ADAROUND)):
        run_dir, int8 = _accuracy_run(trained, tmp_path, "onnxruntime", "int8-static",
                                      quantizer=quantizer, **options)
        accuracy = int8.metrics.accuracy
        assert_same_top1(fp32_run, (run_dir, int8))
        assert int8.precision_executed == "int8" and int8.quantization.quantizer == quantizer
        if INT8_ACCUMULATES_IN_32_BITS:
            assert accuracy.simulated.agreement_with_deployed >= 0.99, accuracy.simulated
        assert accuracy.simulated.gap_p_value >= SIGNIFICANCE, accuracy.simulated
        saved = _saved(run_dir, int8)
        assert accuracy.simulated.top1 == np.mean(saved["simulated"] == saved["label"])
    # the report's quantizer section, with a quick SingleStream run of each for its speed
    checkpoint, calibration_dir, _ = trained
    for precision, options in (("fp32", {}), ("w4a8", {"weight_granularity": "per-tensor"}),
                               ("w4a8", {"weight_granularity": "per-tensor",
                                         "quantizer": "adaround", **ADAROUND})):
        run_benchmark(RunConfig(
            model=TINY, backend="onnxruntime", precision=precision, scenario="single-stream",
            quick=True, weights=str(checkpoint), calibration=str(calibration_dir),
            calibration_count=48, results_dir=tmp_path, recipe_options=options))
    matrix = device_matrix(newest_per_configuration(collect([tmp_path]).runs))
    section = quantizers(matrix).set_index(["precision", "quantizer"])
    for quantizer, record in (("minmax", minmax), ("adaround", adaround)):
        row = section.loc["w4a8", quantizer]
        assert row["deployed top-1 (95% CI)"].startswith(f"{record.metrics.accuracy.top1:.3f}")
        assert row["simulated top-1"] == record.metrics.accuracy.simulated.top1
        assert row["speed-up over fp32"].endswith("x (single-stream)")
    drawn = write_report([tmp_path], tmp_path / "report").figures
    # a point for each quantizer with a speed and a top-1: w4a8's two
    assert [v for k, v in drawn.items() if k.endswith("_quantizers.png")] == [2]


@pytest.mark.slow
def test_openvino_runs_aimets_model_and_simulates_it_through_onnx_runtime(trained, tmp_path):
    # (per tensor: the QDQ model the test above made for ONNX Runtime, from the cache)
    run_dir, record = _accuracy_run(trained, tmp_path, "openvino", "w4a8",
                                    weight_granularity="per-tensor")
    assert record.quantization.quantizer == "minmax"  # w4a8's default, by name
    assert "openvino.convert_model" in record.quantization.converted
    # OpenVINO's CPU plugin has no 4-bit convolution either: it decompresses the weights
    assert "fp32 compute, int4 weights" in record.precision_executed
    simulated = record.metrics.accuracy.simulated
    assert simulated.how.startswith("not OpenVINO: the QDQ ONNX model its IR was converted "
                                    "from, ONNX Runtime"), simulated.how
    saved = _saved(run_dir, record)
    assert simulated.agreement_with_deployed == np.mean(saved["simulated"] == saved["predicted"])


@pytest.mark.parametrize("backend, quantizer, made_with", [
    # (OpenVINO's default, NNCF with its bias correction: test_precisions' trained test)
    ("openvino", "nncf-no-bias-correction", "no bias correction"),
    ("onnxruntime", "cle", "after equalize_model"),
])
def test_each_quantizer_is_its_own_artifact_recorded_and_keeps_fp32(
        trained, tmp_path, backend, quantizer, made_with):
    fp32_run = _accuracy_run(trained, tmp_path, backend, "fp32")
    run_dir, record = _accuracy_run(trained, tmp_path, backend, "int8-static",
                                    quantizer=quantizer)
    assert record.quantization.quantizer == quantizer
    assert made_with in json.dumps(record.quantization.to_json())
    assert record.precision_executed == "int8"
    assert_same_top1(fp32_run, (run_dir, record))  # McNemar, on the same images
    # the quantizer is in the artifact's key: its own folder in the cache
    manifest = json.loads((Path(record.artifact).parent / MANIFEST).read_text())
    assert manifest["key"]["options"]["quantizer"] == quantizer


def test_a_quantizer_the_runtime_lacks_is_unsupported_naming_those_it_has(tmp_path):
    proc = run_cli("run", "--model", "mobilenet_v2", "--backend", "onnxruntime", "--precision",
                   "int8-static", "--quantizer", "nncf", "--quick", "--calibration",
                   "synthetic", "--results", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    (path,) = tmp_path.glob("*/result.json")
    assert path.parent.name.endswith("_nncf")  # the run's folder names its quantizer
    reason = json.loads(path.read_text())["unsupported"]["reason"]
    assert reason == ("onnxruntime int8-static has no quantizer 'nncf'; its quantizers: "
                      "minmax, entropy, percentile, adaround, cle, cle-adaround (the first is "
                      "its default)")


@pytest.mark.parametrize("args, message", [
    (["--precision", "fp32", "--quantizer", "adaround"],
     "--quantizer adaround: onnxruntime fp32 does not read it"),
    (["--precision", "int8-static", "--adaround-iterations", "5"],
     "--adaround-iterations 5: onnxruntime int8-static does not read it"),
    (["--precision", "int8-static", "--quantizer", "rounding"],
     "unknown --quantizer 'rounding'; choose one of: minmax, entropy"),
])
def test_a_quantizer_option_that_changes_nothing_is_one_line_exit_2(tmp_path, args, message):
    proc = run_cli("run", "--model", "mobilenet_v2", "--backend", "onnxruntime", "--quick",
                   "--calibration", "synthetic", "--results", str(tmp_path), *args)
    assert proc.returncode == 2, proc.stdout
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.glob("*/result.json"))


def test_aimet_on_arm_is_unsupported_to_build_with_the_fix_and_runs_prepared(
        monkeypatch, tmp_path):
    from harness.measure.plan import RunPlan

    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    (tmp_path / "prepared.json").write_text('{"artifacts": [], "models": []}')

    def plan(backend: str, **values) -> RunPlan:
        return RunPlan.of(RunConfig(model="mobilenet_v2", backend=backend, precision="w4a8",
                                    calibration="synthetic", calibration_count=2,
                                    cache_dir=tmp_path / "cache", **values,
                                    recipe_options={"quantizer": "adaround"}))

    for backend in ("onnxruntime", "openvino"):
        assert plan(backend).unsupported_reason.startswith(
            "aimet-onnx has wheels for Linux x86-64 only (none for aarch64): build on an "
            "x86-64 host with `edgebench prepare`, then run here with --artifacts")
        # what was built elsewhere runs here: only the runtime's verdict counts then
        assert plan(backend, artifacts=str(tmp_path)).unsupported_reason is None
    # the runtime's own quantizers stay available there
    assert get_backend_class("onnxruntime").unsupported_reason(
        "int8-static", "pytorch-callable", {"quantizer": "entropy"}) is None


def test_a_matrix_varies_the_cells_it_selects_by_quantizer(tmp_path):
    matrix = tmp_path / "q.toml"
    matrix.write_text("""
[axes]
model = ["mobilenet_v2"]
backend = ["onnxruntime", "tflite"]
precision = ["fp32", "int8-static"]
scenario = ["offline"]
mode = ["performance"]

[[vary]]
backend = "onnxruntime"
precision = "int8-static"
quantizer = ["entropy", "adaround"]
adaround_iterations = [200]
""")
    with pytest.raises(UsageError, match="does not read it"):  # entropy reads no iterations
        from harness.measure.plan import check

        for cell in load_matrix(str(matrix)).cells:
            check(RunConfig.from_options({**cell.run_options(), "calibration": "synthetic"}))
    matrix.write_text(matrix.read_text().replace('"entropy", ', ""))
    cells = load_matrix(str(matrix)).cells
    assert [cell.label for cell in cells] == [
        "mobilenet_v2 onnxruntime fp32 offline performance",
        "mobilenet_v2 onnxruntime int8-static offline performance",
        "mobilenet_v2 tflite fp32 offline performance",
        "mobilenet_v2 tflite int8-static offline performance",
        "mobilenet_v2 onnxruntime int8-static offline performance adaround_iterations=200 "
        "quantizer=adaround"]
    matrix.write_text(matrix.read_text().replace('quantizer = ["adaround"]',
                                                 'quantizer = "adaround"'))
    with pytest.raises(UsageError, match=r"q.toml:\d+: a \[\[vary\]\] table needs an option "
                                         "with a list of values"):
        load_matrix(str(matrix))


def test_the_shipped_studies_vary_int8_and_w4a8_by_quantizer():
    for name in ("study", "study-quick"):
        varied = {(cell.backend, cell.precision, dict(cell.options)["quantizer"])
                  for cell in load_matrix(name).cells if "quantizer" in dict(cell.options)}
        assert {("onnxruntime", "int8-static", "adaround"), ("openvino", "w4a8", "adaround"),
                ("openvino", "int8-static", "nncf-no-bias-correction")} <= varied, name


@pytest.mark.skipif(platform.machine() != "x86_64", reason="aimet-onnx: x86-64 wheels only")
def test_aimet_is_installed_beside_the_pinned_torch_without_torchvision():
    """`make install` puts aimet-onnx in with --no-deps: its onnx2torch would pull a
    torchvision that replaces the pinned torch."""
    import importlib.metadata
    import re
    import sys

    toml = __import__("tomllib" if sys.version_info >= (3, 11) else "tomli")
    project = toml.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    pinned = next(re.sub(r"^torch==", "", d) for d in project["project"]["dependencies"]
                  if d.startswith("torch=="))
    assert importlib.metadata.version("torch").split("+")[0] == pinned
    assert importlib.metadata.version("aimet-onnx") == \
        project["tool"]["edgebench"]["aimet-onnx-no-deps"].split("==")[1]
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.version("torchvision")
