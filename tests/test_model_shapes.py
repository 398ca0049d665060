"""Models of every shape people ship, each a small ONNX graph made here: open height and
width filled from the command line, a recurrent state whose batch is dimension 1, a 0-d
sample rate, int64 token ids, several outputs, a batch the file fixes at 1, a non-square
image classifier, external data; and every way a card or --shape can be wrong, in one
line. (`benchmarks/real_models.py` runs the real ones.)"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from PIL import Image

from harness.core.model_card import parse_shapes
from harness.core.preprocess import preprocess_image
from harness.core.user_models import resolve_model
from harness.measure.config import RunConfig
from harness.measure.plan import RunPlan
from harness.measure.runner import run_benchmark
from tests.conftest import needs_tflite_converter, run_cli

HIDDEN = 8
OPSET = [helper.make_opsetid("", 18)]


def save(path, nodes, inputs, outputs, initializers=()):
    graph = helper.make_graph(nodes, path.stem, inputs, outputs, list(initializers))
    onnx.save(helper.make_model(graph, opset_imports=OPSET), path)
    return path


def open_image_model(path):
    """[?, 3, ?, ?] -> [?, 3] (a detector's open height and width)."""
    return save(path, [helper.make_node("ReduceMean", ["x", "axes"], ["y"], keepdims=0)],
                [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
                [helper.make_tensor("axes", TensorProto.INT64, [2], [2, 3])])


def recurrent_model(path):
    """silero-vad's signature: audio [?, 8], state [2, ?, 8] (batch on dimension 1), a 0-d
    int64 sample rate; two outputs, the new state's batch on dimension 1 too. The
    runtime checks the state's fixed dimensions, so a state fed [N, 2, 8] fails."""
    nodes = [helper.make_node("ReduceSum", ["state", "axis0"], ["summed"], keepdims=0),
             helper.make_node("Cast", ["sr"], ["rate"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["input", "rate"], ["scaled"]),
             helper.make_node("Add", ["scaled", "summed"], ["output"]),
             helper.make_node("Add", ["state", "state"], ["stateN"])]
    return save(path, nodes,
                [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", HIDDEN]),
                 helper.make_tensor_value_info("state", TensorProto.FLOAT, [2, "N", HIDDEN]),
                 helper.make_tensor_value_info("sr", TensorProto.INT64, [])],
                [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", HIDDEN]),
                 helper.make_tensor_value_info("stateN", TensorProto.FLOAT,
                                               [2, "N", HIDDEN])],
                [helper.make_tensor("axis0", TensorProto.INT64, [1], [0])])


def token_model(path, batch="N"):
    """int64 token ids [batch, 6] into an embedding table of 200, averaged."""
    table = np.random.default_rng(0).standard_normal((200, HIDDEN)).astype(np.float32)
    return save(path, [helper.make_node("Gather", ["table", "ids"], ["embedded"]),
                       helper.make_node("ReduceMean", ["embedded", "axis1"], ["y"],
                                        keepdims=0)],
                [helper.make_tensor_value_info("ids", TensorProto.INT64, [batch, 6])],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, HIDDEN])],
                [helper.make_tensor("table", TensorProto.FLOAT, table.shape, table.ravel()),
                 helper.make_tensor("axis1", TensorProto.INT64, [1], [1])])


def config(path, tmp_path, **values) -> RunConfig:
    return RunConfig.from_options({"model": str(path), "quick": True, "threads": 2,
                                   "results_dir": tmp_path / "results", **values})


def test_inspect_writes_the_card_of_a_model_with_open_dimensions_and_run_refuses_it(
        tmp_path):
    path = open_image_model(tmp_path / "det.onnx")
    shown = run_cli("inspect", str(path), timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "shape = [1, 3, -1, -1]  # FILL IN: dimensions 2, 3 open" in shown.stdout
    results = tmp_path / "results"
    refused = run_cli("run", "--model", str(path), "--quick", "--results", str(results),
                      timeout=120)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "edgebench: error: det.onnx: open dimensions with no size: input 'x' [?, 3, ?, ?] "
        "dimensions 2, 3; give them in the model card's [[inputs]] shape or as --shape "
        "x=1x3xNxN"]
    assert not results.exists()
    # what inspect printed, filled in and saved beside the model, is the card it reads
    path.with_suffix(".toml").write_text(shown.stdout.replace("-1, -1", "64, 96"))
    assert resolve_model(str(path)).card.inputs[0].shape == (None, 3, 64, 96)


def test_a_shape_from_the_command_line_fills_the_open_dimensions_and_says_so(tmp_path):
    path = open_image_model(tmp_path / "det.onnx")
    _, record = run_benchmark(config(path, tmp_path, shape="x=1x3x40x72", scenario="offline",
                                     max_batch=2, duration=1))
    assert record.unsupported is None and record.metrics.throughput_sps > 0
    (spec,) = record.model_source.card["inputs"]
    assert spec["shape"] == [None, 3, 40, 72]
    assert spec["dim_sources"] == ["batch", "file", "command line", "command line"]
    assert record.model_source.inputs_fed == {"2": {"x": [2, 3, 40, 72]}}
    # --shape over a card: the command line wins where the file leaves a dimension open
    path.with_suffix(".toml").write_text("[[inputs]]\nshape = [1, 3, 32, 32]\n")
    spec = resolve_model(str(path), shapes="x=1x3x40x72").card.inputs[0]
    assert spec.shape == (None, 3, 40, 72) and spec.dim_sources[2] == "command line"
    assert resolve_model(str(path)).card.inputs[0].dim_sources[2] == "card"


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_a_state_batched_on_dimension_1_and_a_scalar_are_fed_as_the_file_says(
        backend, tmp_path):
    path = recurrent_model(tmp_path / "vad.onnx")
    card = resolve_model(str(path)).card
    state, sr = card.inputs[1], card.inputs[2]
    assert (state.batch_axis, state.sample_shape) == (1, (2, HIDDEN))
    assert (sr.batch_axis, sr.shape) == (None, ())
    assert card.fed_shapes(4) == {"input": [4, HIDDEN], "state": [2, 4, HIDDEN], "sr": []}
    plan = RunPlan.of(config(path, tmp_path, backend=backend))
    runtime, _, _ = plan.backend("fp32", 4, threads=2)
    from harness.core.datasets import SyntheticRecords

    records = SyntheticRecords(4, plan.tensor_inputs)
    batch = np.stack([records.sample(i) for i in range(4)])
    got = runtime.predict(np.stack([runtime.to_input(r) for r in batch]))
    # the state summed over its fixed dimension 0, per sample; the rate the first sample's
    expected = batch["input"] * float(batch["sr"][0]) + batch["state"].sum(axis=1)
    assert got.shape == (4, HIDDEN)
    assert np.allclose(got, expected, rtol=1e-5, atol=1e-5)
    _, record = run_benchmark(config(path, tmp_path, backend=backend, scenario="offline",
                                     max_batch=4, duration=1))
    assert record.unsupported is None and record.metrics.throughput_sps > 0
    assert record.model_source.inputs_fed["4"] == {"input": [4, HIDDEN],
                                                   "state": [2, 4, HIDDEN], "sr": []}


@pytest.mark.parametrize("precision", ["fp32", "int8-static", "int8-dynamic"])
@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_int64_token_ids_run_and_quantize(backend, precision, tmp_path):
    path = token_model(tmp_path / "tokens.onnx")
    path.with_suffix(".toml").write_text(
        '[[inputs]]\nname = "ids"\nshape = [1, 6]\nrange = [0, 10]\n')
    _, record = run_benchmark(config(path, tmp_path, backend=backend, precision=precision,
                                     calibration="synthetic", calibration_count=8,
                                     duration=1))
    assert record.unsupported is None, record.unsupported
    assert record.model_source.card["task"] == "none"  # not an image: a speed-only model
    assert record.valid is not None and record.precision_executed


def test_a_batch_the_file_fixes_at_1_runs_offline_one_sample_a_time(tmp_path):
    path = token_model(tmp_path / "fixed.onnx", batch=1)
    assert resolve_model(str(path)).fixed_batch == 1
    _, record = run_benchmark(config(path, tmp_path, scenario="offline", duration=1))
    assert record.max_batch == 1 and record.batch_choice.method == \
        "the model's batch dimension is fixed"


def test_a_non_square_classifier_is_preprocessed_to_its_own_height_and_width(tmp_path):
    path = save(tmp_path / "lines.onnx",
                [helper.make_node("ReduceMean", ["x", "axes"], ["y"], keepdims=0)],
                [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 48, 192])],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
                [helper.make_tensor("axes", TensorProto.INT64, [2], [2, 3])])
    spec = resolve_model(str(path))
    assert spec.card.classifies_images and spec.input.shape == (3, 48, 192)
    # a 300x200 photo: scaled until the 48x192 box (grown by the resize ratio) fits, the
    # centre cut out; its left and right thirds are red and blue, its middle green
    image = np.zeros((200, 300, 3), np.uint8)
    image[:, :100, 0], image[:, 100:200, 1], image[:, 200:, 2] = 255, 255, 255
    Image.fromarray(image).save(tmp_path / "photo.png")
    chw = preprocess_image(tmp_path / "photo.png", spec.input)
    assert chw.shape == (3, 48, 192)
    mean, std = np.array(spec.input.mean), np.array(spec.input.std)
    centre = chw[:, 24, 96] * std + mean
    assert np.allclose(centre, [0, 1, 0], atol=0.02)  # the green middle, not stretched


def test_external_data_runs_at_every_precision_with_external_artifacts(tmp_path, monkeypatch):
    """What `torch.onnx.export(dynamo=True)` writes for a real network: weights beside the
    model. Every precision runs and reads back what executed (it used to fail at the end
    of the run, losing it); with the size past which artifacts are written with external
    data set to 0, the quantized artifacts are written so too, as a model over 2 GB is."""
    from backends.onnxruntime import quantize

    model = onnx.load(str(token_model(tmp_path / "inline.onnx")))
    folder = tmp_path / "external"
    folder.mkdir()
    onnx.save(model, str(folder / "big.onnx"), save_as_external_data=True,
              all_tensors_to_one_file=True, location="big.onnx.data", size_threshold=0)
    (folder / "big.toml").write_text('[[inputs]]\nname = "ids"\nshape = [1, 6]\n'
                                     'range = [0, 10]\n')
    monkeypatch.setattr(quantize, "EXTERNAL_DATA_ABOVE_BYTES", 0)
    for backend, precision in (("onnxruntime", "fp32"), ("onnxruntime", "fp16"),
                               ("onnxruntime", "int8-static"), ("onnxruntime", "int8-dynamic"),
                               ("openvino", "fp32"), ("openvino", "int8-static")):
        _, record = run_benchmark(config(folder / "big.onnx", tmp_path, backend=backend,
                                         precision=precision, calibration="synthetic",
                                         calibration_count=8, duration=0.5))
        assert record.unsupported is None, (backend, precision, record.unsupported)
        assert "read_back_failed" not in record.executed, record.executed
        if backend == "onnxruntime" and precision != "fp32":
            artifact_files = {p.name for p in Path(record.artifact).parent.iterdir()}
            assert "model.onnx.data" in artifact_files, (precision, artifact_files)


def test_a_read_back_that_fails_after_the_measurement_keeps_the_run(tmp_path, monkeypatch):
    from backends.onnxruntime.backend import OnnxRuntimeBackend

    def fails(self):
        raise RuntimeError("the optimized model could not be written")

    monkeypatch.setattr(OnnxRuntimeBackend, "executed", fails)
    path = token_model(tmp_path / "tokens.onnx")
    run_dir, record = run_benchmark(config(path, tmp_path, duration=0.5))
    assert record.metrics.latency_ms.p50 > 0  # measured, and kept
    assert record.executed == {"read_back_failed": "RuntimeError: the optimized model could "
                                                   "not be written"}
    assert record.precision_executed.startswith("unknown: the read-back failed")
    assert any("reading back what executed failed" in w for w in record.warnings)
    assert json.loads((run_dir / "result.json").read_text())["executed"]["read_back_failed"]


@pytest.mark.parametrize("card, shape, message", [
    ("[[inputs]]\nshape = [1, 3, 32]\n", None,
     "input 'x' has rank 4 ([?, 3, ?, ?]) in the model, 3 ([1, 3, 32]) in the card"),
    ("[[inputs]]\nshape = [1, 4, 32, 32]\n", None,
     "input 'x' dimension 1 is fixed at 3 in the model ([?, 3, ?, ?]), 4 in the card"),
    ('[[inputs]]\nshape = [1, 3, 32, 32]\ndtype = "int64"\n', None,
     "input 'x' is float32 in the model, int64 in the card"),
    ('[[inputs]]\nname = "pixels"\nshape = [1, 3, 32, 32]\n', None,
     "input 1 is 'x' in the model, 'pixels' in the card"),
    ("[[inputs]]\nshape = [1, 3, 32, 32]\n[[inputs]]\nshape = [1]\n", None,
     "the card lists 2 inputs, the model has 1"),
    ("[[inputs]]\nshape = [1, 3, 32, 32]\nbatch_axis = 4\n", None,
     "input 'x' batch_axis 4 is out of range for its rank-4 shape [?, 3, ?, ?]"),
    ("[[inputs]]\nshape = [8, 3, 32, 32]\n", None,
     "input 'x' dimension 0 is its batch axis, 8 in the card; give 1 there"),
    (None, "y=1x3x32x32", "--shape y=...: the model has no input 'y'"),
    (None, "x=1x3xbigx32", "--shape 'x=1x3xbigx32': give NAME=DIMS"),
    (None, "x:1x3x32x32", "--shape 'x:1x3x32x32': give NAME=DIMS"),
])
def test_a_card_or_shape_that_contradicts_the_model_is_one_line_exit_2_nothing_written(
        tmp_path, card, shape, message):
    path = open_image_model(tmp_path / "det.onnx")
    if card:
        path.with_suffix(".toml").write_text(card)
    results = tmp_path / "results"
    proc = run_cli("run", "--model", str(path), "--quick", "--results", str(results),
                   *(["--shape", shape] if shape else []), timeout=120)
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert message in line, line
    assert not results.exists()


def test_a_model_the_runtime_rejects_at_its_first_inference_is_its_words_and_the_shapes(
        tmp_path):
    """The file's types are the law, but a graph can still refuse a value at run time: an
    index out of its table (the card's range says 400 to 500, the table has 200 rows)."""
    path = token_model(tmp_path / "tokens.onnx")
    path.with_suffix(".toml").write_text(
        '[[inputs]]\nname = "ids"\nshape = [1, 6]\nrange = [400, 500]\n')
    results = tmp_path / "results"
    proc = run_cli("run", "--model", str(path), "--quick", "--results", str(results),
                   timeout=120)
    assert proc.returncode == 2, proc.stderr
    (error,) = [line for line in proc.stderr.splitlines() if "error" in line]
    assert "onnxruntime rejected the model at its first inference:" in error
    assert "indices" in error.lower() and "(inputs fed: ids [1, 6] int64)" in error
    assert "internal error" not in proc.stderr
    assert not list(results.glob("*/result.json"))


def test_shapes_parse_as_benchmark_app_writes_them():
    assert parse_shapes("x=1x3x640x640, state=2x1x128,sr=") == {
        "x": (1, 3, 640, 640), "state": (2, 1, 128), "sr": ()}
    assert parse_shapes(None) == {}


def small_cnn(path, opset: int = 13):
    """Conv, Relu, pooling and a Gemm at an opset onnx2torch converts."""
    rng = np.random.default_rng(7)
    weights = [helper.make_tensor("w", TensorProto.FLOAT, [8, 3, 3, 3],
                                  rng.standard_normal(8 * 27).astype(np.float32)),
               helper.make_tensor("fc", TensorProto.FLOAT, [5, 8],
                                  rng.standard_normal(40).astype(np.float32))]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["p"]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "fc"], ["y"], transB=1)]
    graph = helper.make_graph(
        nodes, "cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 32, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])], weights)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)
    return path


@pytest.mark.parametrize("precision", ["fp32", "int8-static", "int8-dynamic"])
def test_an_onnx_file_reaches_pytorch_through_onnx2torch_proven_against_onnx_runtime(
        precision, tmp_path):
    path = small_cnn(tmp_path / "cnn.onnx")
    _, record = run_benchmark(config(path, tmp_path, backend="pytorch", precision=precision,
                                     calibration="synthetic", calibration_count=8,
                                     duration=0.5))
    assert record.unsupported is None, record.unsupported
    proof = record.model_source.conversion
    assert proof["tool"].startswith("onnx2torch ") and proof["compared_with"].startswith(
        "onnxruntime ")
    assert proof["max_abs_diff_of_range"] <= proof["tolerance_of_range"] == 1e-3
    expected = {"fp32": "fp32", "int8-static": "int8", "int8-dynamic": "int8"}[precision]
    assert expected in record.precision_executed, record.precision_executed


def test_a_conversion_that_disagrees_or_fails_is_unsupported_with_the_figure_or_its_words(
        tmp_path, monkeypatch):
    import torch

    from harness.core import onnx_to_torch

    path = small_cnn(tmp_path / "cnn.onnx")
    onnx2torch = onnx_to_torch._import_onnx2torch()
    real = onnx2torch.convert

    def off_by_one(model):
        return _Shifted(real(model))

    class _Shifted(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x) + 1.0

    monkeypatch.setattr(onnx2torch, "convert", off_by_one)
    _, record = run_benchmark(config(path, tmp_path, backend="pytorch", duration=0.5))
    assert "module disagrees with ONNX Runtime: largest difference" in record.unsupported.reason
    assert "tolerance 1e-03" in record.unsupported.reason
    # an operator onnx2torch lacks: its own words
    unknown = small_cnn(tmp_path / "cnn18.onnx", opset=18)
    model = onnx.load(str(unknown))
    model.graph.node.append(helper.make_node("ReduceMean", ["y", "axes"], ["z"], keepdims=0))
    model.graph.initializer.append(helper.make_tensor("axes", TensorProto.INT64, [1], [1]))
    del model.graph.output[:]
    model.graph.output.append(helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N"]))
    onnx.save(model, str(unknown))
    monkeypatch.setattr(onnx2torch, "convert", real)
    _, record = run_benchmark(config(unknown, tmp_path, backend="pytorch", duration=0.5))
    assert record.unsupported.reason.startswith(
        f"onnx2torch {onnx_to_torch.tool_version()} could not convert the model: "
        "NotImplementedError"), record.unsupported


@needs_tflite_converter
def test_an_onnx_file_reaches_litert_through_the_same_proven_module(tmp_path):
    """litert-torch converts onnx2torch's module: the .tflite answers as ONNX Runtime does
    on the same images, and its int8 is LiteRT Quantizer's."""
    import onnxruntime as ort

    path = small_cnn(tmp_path / "cnn.onnx")
    plan = RunPlan.of(config(path, tmp_path, backend="tflite"))
    runtime, _, _ = plan.backend("fp32", 2, threads=2)
    images = np.random.default_rng(1).standard_normal((2, 3, 32, 32)).astype(np.float32)
    got = runtime.predict(np.stack([runtime.to_input(image) for image in images]))
    (expected,) = ort.InferenceSession(str(path)).run(None, {"x": images})
    assert np.abs(got - expected).max() <= 1e-3 * np.ptp(expected)
    _, record = run_benchmark(config(path, tmp_path, backend="tflite", precision="int8-static",
                                     calibration="synthetic", calibration_count=8,
                                     duration=0.5))
    assert record.precision_executed == "int8" and record.model_source.conversion


def test_onnx_runtimes_shape_inference_dumps_nothing_into_the_working_directory(
        tmp_path, monkeypatch):
    """quant_pre_process's symbolic shape inference writes the model it gave up on
    (sym_shape_infer_temp.onnx and a <uuid>.data) into the working directory: a build
    runs it in a scratch folder, so a user's checkout or results folder gets none."""
    from backends.onnxruntime import quantize

    real = quantize.quant_pre_process

    def dumps_like_ort(*args, **kwargs):
        Path("sym_shape_infer_temp.onnx").write_bytes(b"dump")  # relative: the cwd
        return real(*args, **kwargs)

    monkeypatch.setattr(quantize, "quant_pre_process", dumps_like_ort)
    path = token_model(tmp_path / "tokens.onnx")
    working = tmp_path / "working"
    working.mkdir()
    monkeypatch.chdir(working)
    _, record = run_benchmark(config(path, tmp_path, precision="int8-dynamic", duration=0.5))
    assert record.unsupported is None, record.unsupported
    assert list(working.iterdir()) == []


def test_a_matrix_gives_the_shape_and_its_cells_run_with_it(tmp_path):
    from harness.study.matrix import load_matrix

    open_image_model(tmp_path / "det.onnx")
    matrix = tmp_path / "m.toml"
    matrix.write_text('[axes]\nmodel = ["det.onnx"]\nbackend = ["onnxruntime"]\n'
                      'precision = ["fp32"]\nscenario = ["single-stream"]\n'
                      'mode = ["performance"]\n[options]\nshape = "x=1x3x24x40"\n')
    (cell,) = load_matrix(str(matrix)).cells
    config = RunConfig.from_options(cell.run_options())
    spec = resolve_model(config.model, shapes=config.shape)
    assert spec.card.inputs[0].shape == (None, 3, 24, 40)
    assert config.model_name == spec.name  # the shape is part of the model's identity


def test_external_data_reaches_pytorch_through_onnx2torch(tmp_path):
    model = onnx.load(str(small_cnn(tmp_path / "inline.onnx")))
    folder = tmp_path / "external"
    folder.mkdir()
    onnx.save(model, str(folder / "cnn.onnx"), save_as_external_data=True,
              all_tensors_to_one_file=True, location="cnn.onnx.data", size_threshold=0)
    _, record = run_benchmark(config(folder / "cnn.onnx", tmp_path, backend="pytorch",
                                     duration=0.5))
    assert record.unsupported is None, record.unsupported
    assert record.model_source.conversion["max_abs_diff_of_range"] <= 1e-3


def test_a_state_batched_on_dimension_1_calibrates_on_npz_samples_saved_as_fed(tmp_path):
    path = recurrent_model(tmp_path / "vad.onnx")
    calibration = tmp_path / "calibration"
    calibration.mkdir()
    rng = np.random.default_rng(2)
    for number in range(4):  # each as the model takes it at batch 1: state [2, 1, 8]
        np.savez(calibration / f"{number}.npz",
                 input=rng.standard_normal((1, HIDDEN)).astype(np.float32),
                 state=rng.standard_normal((2, 1, HIDDEN)).astype(np.float32),
                 sr=np.array(16000, np.int64))
    plan = RunPlan.of(config(path, tmp_path, precision="int8-static",
                             calibration=str(calibration)))
    assert len(plan.calibration) == 4 and not plan.calibration.synthetic
    sample = plan.calibration.dataset.sample(0)  # one sample: the batch axis taken out
    assert sample["state"].shape == (2, HIDDEN) and int(sample["sr"]) == 16000
    runtime, _, _ = plan.backend("int8-static", 1, threads=2)
    assert runtime.executed().detail["optimized_graph_ops"]
