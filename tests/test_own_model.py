"""A user's own model: a small residual network at 160x160 (not a zoo architecture),
made here, given as an ONNX file, a torch.export program (.pt2), a Python callable, a
.tflite file and an OpenVINO IR. Each runs on the backends its kind reaches, agrees with
PyTorch eager, quantizes to int8, is refused by the others with the reason, and is known
by its bytes, never its path."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from harness.core.errors import UsageError
from harness.core.user_models import resolve_model
from harness.measure.config import RunConfig
from harness.measure.plan import RunPlan
from harness.measure.runner import run_benchmark
from tests.conftest import ROOT, building, needs_tflite_converter, run_cli, scaled
from tests.paired import INT8_ACCUMULATES_IN_32_BITS

SIZE_PX = 160
CLASSES = 10
MAX_ABS_DIFF_OF_RANGE = 1e-3


class TinyResNet(torch.nn.Module):
    """Two residual blocks and a classifier: enough layers for int8 to matter."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.stem = torch.nn.Sequential(
            torch.nn.Conv2d(3, width, 3, stride=2, padding=1), torch.nn.BatchNorm2d(width),
            torch.nn.ReLU())
        self.blocks = torch.nn.ModuleList(torch.nn.Sequential(
            torch.nn.Conv2d(width, width, 3, padding=1), torch.nn.BatchNorm2d(width),
            torch.nn.ReLU(), torch.nn.Conv2d(width, width, 3, padding=1),
            torch.nn.BatchNorm2d(width)) for _ in range(2))
        self.head = torch.nn.Linear(width, CLASSES)

    def forward(self, x):
        x = self.stem(x)
        for block in self.blocks:
            x = torch.relu(x + block(x))
        return self.head(x.mean(dim=(2, 3)))


def export(model: torch.nn.Module, path) -> None:
    torch.onnx.export(model, (torch.randn(2, 3, SIZE_PX, SIZE_PX),), str(path), dynamo=True,
                      input_names=["pixels"], output_names=["scores"],
                      dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1, max=64)}},
                      opset_version=18, external_data=False, verbose=False)


def tiny_resnet() -> torch.nn.Module:
    """The callable a user passes as --model tests.test_own_model:tiny_resnet."""
    torch.manual_seed(1)
    return TinyResNet().eval()


@pytest.fixture(scope="module")
def own_onnx(tmp_path_factory):
    """(the ONNX file, its eager module, inputs, eager logits)."""
    model = tiny_resnet()
    inputs = np.random.default_rng(0).standard_normal((8, 3, SIZE_PX, SIZE_PX), np.float32)
    with torch.inference_mode():
        expected = model(torch.from_numpy(inputs)).numpy()
    path = tmp_path_factory.mktemp("own") / "model.onnx"
    export(model, path)
    return path, model, inputs, expected


def config(path, backend: str, tmp_path, **values) -> RunConfig:
    return RunConfig.from_options({"model": str(path), "backend": backend, "quick": True,
                                   "threads": 2, "results_dir": tmp_path / "results",
                                   **values})


def test_inspect_reads_the_file_and_marks_what_it_assumed(own_onnx):
    path = own_onnx[0]
    spec = resolve_model(str(path))
    (image,) = spec.card.inputs
    assert (image.name, image.shape[1:], image.dtype) == ("pixels", (3, SIZE_PX, SIZE_PX),
                                                          "float32")
    assert spec.input.size_px == SIZE_PX and spec.input.layout == "NCHW"
    assert {"inputs.pixels.layout", "task", "mean", "std"} <= set(spec.card.defaults)
    assert spec.source_kind == "onnx" and spec.name.startswith("model@")

    result = run_cli("inspect", str(path), timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"shape = [1, 3, {SIZE_PX}, {SIZE_PX}]" in result.stdout
    assert 'layout = "NCHW"  # default' in result.stdout
    assert "#   onnxruntime: fp32, fp16, int8-static, int8-dynamic" in result.stdout
    assert "#   pytorch: fp32, fp16" in result.stdout  # through onnx2torch
    assert "#     bf16: ONNX Runtime's quantization tools make no bfloat16" in result.stdout
    # what inspect prints is a card: saved beside the model, it is read back as given
    card = path.with_suffix(".toml")
    card.write_text(result.stdout)
    try:
        again = resolve_model(str(path))
        assert again.card.inputs == spec.card.inputs
        assert "inputs.pixels.layout" not in again.card.defaults
    finally:
        card.unlink()


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_fp32_agrees_with_eager(own_onnx, backend, tmp_path):
    path, _, inputs, expected = own_onnx
    plan = RunPlan.of(config(path, backend, tmp_path))
    runtime, artifact, _ = plan.backend("fp32", len(inputs), threads=2)
    got = runtime.predict(np.stack([runtime.to_input(x) for x in inputs]))
    assert np.abs(got - expected).max() <= MAX_ABS_DIFF_OF_RANGE * np.ptp(expected)
    assert runtime.executed().precision == "fp32"


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_int8_static_executes_int8(own_onnx, backend, tmp_path):
    path = own_onnx[0]
    plan = RunPlan.of(config(path, backend, tmp_path, precision="int8-static",
                             calibration="synthetic", calibration_count=16))
    runtime, _, _ = plan.backend("int8-static", 1, threads=2)
    assert runtime.executed().precision == "int8"


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_a_users_onnx_model_is_profiled_by_its_own_layers(own_onnx, backend, tmp_path):
    """--profile on a model the zoo does not know: its layers by the names its exporter
    gave its weights (the module paths of the user's PyTorch program)."""
    _, record = run_benchmark(config(own_onnx[0], backend, tmp_path, profile=True,
                                     duration=1))
    profile = record.metrics.profile
    assert profile.mapped_share >= 0.9
    convolutions = {op.layer for op in profile.operators if op.layer_class == "conv kxk"}
    assert convolutions == {"stem.0", "blocks.0.0", "blocks.0.3", "blocks.1.0", "blocks.1.3"}
    assert {op.layer for op in profile.operators
            if op.layer_class == "fully connected"} == {"head"}


@pytest.mark.parametrize("backend", ["tflite", "pytorch"])
def test_runtimes_it_reaches_through_onnx2torch_say_why_not_in_its_words(own_onnx, backend,
                                                                         tmp_path):
    """An ONNX file reaches PyTorch and LiteRT as onnx2torch's module; this one's opset-18
    ReduceMean (its axes an input) is an operator onnx2torch (1.5.15) does not convert
    (test_model_shapes: a model it converts, proven)."""
    from harness.core.onnx_to_torch import tool_version

    _, record = run_benchmark(config(own_onnx[0], backend, tmp_path))
    assert record.unsupported.reason.startswith(
        f"onnx2torch {tool_version()} could not convert the model: NotImplementedError: "
        "Converter is not implemented (OperationDescription(domain='', "
        "operation_type='ReduceMean', version=18))"), record.unsupported
    assert record.model.startswith("model@")


def test_a_run_records_the_source_and_card(own_onnx, tmp_path):
    path = own_onnx[0]
    run_dir, record = run_benchmark(config(path, "onnxruntime", tmp_path))
    assert record.valid is not None and record.unsupported is None
    assert record.model == resolve_model(str(path)).name
    assert record.model_source.kind == "onnx" and record.model_source.file_name == "model.onnx"
    assert record.model_source.card["inputs"][0]["shape"][1:] == [3, SIZE_PX, SIZE_PX]
    assert "task" in record.model_source.defaults
    assert record.weights.startswith("embedded:")
    assert str(path.parent) not in run_dir.name and "model@" in run_dir.name


def test_known_by_its_bytes_not_its_path(own_onnx, tmp_path):
    path, model, _, _ = own_onnx
    moved = tmp_path / "elsewhere" / "model.onnx"
    moved.parent.mkdir()
    shutil.copyfile(path, moved)
    assert resolve_model(str(moved)).name == resolve_model(str(path)).name
    other = tmp_path / "other" / "model.onnx"  # same name, other weights
    other.parent.mkdir()
    torch.manual_seed(2)
    export(TinyResNet().eval(), other)
    assert resolve_model(str(other)).name != resolve_model(str(path)).name


def open_dims_model(path) -> None:
    """An ONNX model whose height and width are left open."""
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["x"], ["y"])], "open",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, 1, 1])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_an_nhwc_onnx_model_is_fed_in_its_own_layout(backend, tmp_path):
    """A channels-last ONNX input (as TensorFlow exports make): its layout read from its
    shape, its samples fed NHWC, its outputs those of the same network fed NCHW."""
    path = tmp_path / "nhwc.onnx"
    rng = np.random.default_rng(4)
    weight = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Transpose", ["x"], ["nchw"], perm=[0, 3, 1, 2]),
         helper.make_node("Conv", ["nchw", "w"], ["conv"], pads=[1, 1, 1, 1]),
         helper.make_node("GlobalAveragePool", ["conv"], ["pooled"]),
         helper.make_node("Flatten", ["pooled"], ["y"])], "nhwc",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 32, 32, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor("w", TensorProto.FLOAT, weight.shape, weight.ravel())])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)
    assert resolve_model(str(path)).card.inputs[0].layout == "NHWC"
    plan = RunPlan.of(config(path, backend, tmp_path))
    runtime, _, _ = plan.backend("fp32", 2, threads=2)
    images = rng.standard_normal((2, 3, 32, 32)).astype(np.float32)  # as the QSL gives them
    fed = np.stack([runtime.to_input(image) for image in images])
    assert fed.shape == (2, 32, 32, 3)
    expected = torch.nn.functional.conv2d(torch.from_numpy(images), torch.from_numpy(weight),
                                          padding=1).mean(dim=(2, 3)).numpy()
    got = runtime.predict(fed)
    assert np.abs(got - expected).max() <= MAX_ABS_DIFF_OF_RANGE * np.ptp(expected)


def test_open_dimensions_need_the_card(tmp_path):
    path = tmp_path / "open.onnx"
    open_dims_model(path)
    with pytest.raises(UsageError, match=r"open dimensions with no size: input 'x' "
                                         r"\[\?, 3, \?, \?\] dimensions 2, 3"):
        resolve_model(str(path))
    card = tmp_path / "card.toml"
    card.write_text('task = "none"\n[[inputs]]\nshape = [1, 3, 96, 96]\n')
    spec = resolve_model(str(path), card)
    assert spec.card.inputs[0].shape[1:] == (3, 96, 96)
    card.write_text('[[inputs]]\nshape = [1, 3, 96, 96]\ncolour = "rgb"\n')
    with pytest.raises(UsageError, match="unknown key 'colour'"):
        resolve_model(str(path), card)
    card.write_text('task = "none"\n[[inputs]]\nshape = [1, 4, 96, 96]\n')
    with pytest.raises(UsageError, match="dimension 1 is fixed at 3 in the model"):
        resolve_model(str(path), card)


def test_a_conversion_the_runtime_refuses_is_unsupported_in_its_words(own_onnx, tmp_path,
                                                                      monkeypatch):
    """For a user's model, a runtime's converter that refuses it (an operator it lacks) is
    a verdict about this model on this runtime: recorded as unsupported with the tool's
    message, nothing half-built cached. (A zoo model's failure stays an error: ours.)"""
    import openvino as ov

    def refuses(_path):
        raise RuntimeError("Check 'false' failed: Unsupported operation FancyOp")

    monkeypatch.setattr(ov, "convert_model", refuses)
    _, record = run_benchmark(config(own_onnx[0], "openvino", tmp_path,
                                     cache_dir=tmp_path / "cache"))
    reason = record.unsupported.reason
    assert "openvino's toolchain refused the model" in reason and "FancyOp" in reason
    assert not list((tmp_path / "cache" / "artifacts").glob("*openvino*"))


class FlattensToALinear(torch.nn.Module):
    """Takes 3x32x32 only: its linear layer is sized for that."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.head = torch.nn.Linear(4 * 32 * 32, CLASSES)

    def forward(self, x):
        return self.head(torch.relu(self.conv(x)).flatten(1))


def flattens_to_a_linear() -> torch.nn.Module:
    return FlattensToALinear().eval()


def test_a_card_shape_the_model_rejects_is_one_line_naming_both(tmp_path):
    """The card fixes what the file leaves open; a shape the model cannot take is an
    error before anything runs, in the model's (or ONNX's) own words."""
    path = tmp_path / "flat.onnx"  # its height and width open, its Gemm sized for 32x32
    weight = helper.make_tensor("w", TensorProto.FLOAT, [CLASSES, 3 * 32 * 32],
                                np.zeros(CLASSES * 3 * 32 * 32, np.float32))
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["x"], ["flat"]),
         helper.make_node("Gemm", ["flat", "w"], ["y"], transB=1)], "flat",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", CLASSES])], [weight])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)
    card = tmp_path / "card.toml"
    for model in (str(path), "tests.test_own_model:flattens_to_a_linear"):
        card.write_text("[[inputs]]\nshape = [1, 3, 32, 32]\n")
        assert resolve_model(model, card).card.inputs[0].shape[1:] == (3, 32, 32)
        card.write_text("[[inputs]]\nshape = [1, 3, 64, 64]\n")
        with pytest.raises(UsageError, match=r"rejects inputs of the shapes its card \(or "
                                             r"--shape\) gives \(\w+ \[1, 3, 64, 64\]\)"
                                             r".*(3072|4096)"):
            resolve_model(model, card)


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "not found"),
    (lambda p: p.write_text("not a model"), "could not be read as an ONNX model"),
])
def test_bad_model_files_are_one_line_and_exit_2(tmp_path, make, message):
    path = tmp_path / "broken.onnx"
    make(path)
    result = run_cli("run", "--model", str(path), "--quick", "--results",
                     str(tmp_path / "results"), timeout=120)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "results").exists()


@pytest.fixture(scope="module")
def own_program(own_onnx, tmp_path_factory):
    """The same network as a torch.export program with a dynamic batch."""
    _, model, _, _ = own_onnx
    program = torch.export.export(model, (torch.randn(2, 3, SIZE_PX, SIZE_PX),),
                                  dynamic_shapes=({0: torch.export.Dim("batch", max=64)},))
    path = tmp_path_factory.mktemp("program") / "tiny.pt2"
    torch.export.save(program, str(path))
    return path


@pytest.fixture(scope="module")
def own_callable_card(tmp_path_factory):
    card = tmp_path_factory.mktemp("card") / "tiny.toml"
    card.write_text(f"[[inputs]]\nshape = [1, 3, {SIZE_PX}, {SIZE_PX}]\n")
    return card


def pytorch_source(kind, own_program, own_callable_card) -> dict:
    if kind == "program":
        return {"model": str(own_program)}
    return {"model": "tests.test_own_model:tiny_resnet", "model_card": own_callable_card}


# the program on every backend; the callable takes the zoo's own path (a callable that
# returns a module), checked on two of them (test time)
@pytest.mark.parametrize("kind, backend", [
    *(("program", backend) for backend in ["onnxruntime", "openvino", "pytorch"]),
    pytest.param("program", "tflite", marks=needs_tflite_converter),
    ("callable", "onnxruntime"), ("callable", "pytorch")])
def test_pytorch_sources_agree_with_eager_everywhere(own_onnx, own_program, own_callable_card,
                                                      kind, backend, tmp_path):
    _, _, inputs, expected = own_onnx
    values = pytorch_source(kind, own_program, own_callable_card)
    plan = RunPlan.of(config(values.pop("model"), backend, tmp_path, **values))
    assert plan.weights.id.startswith("embedded:")
    runtime, _, _ = plan.backend("fp32", 1, threads=2)
    got = np.concatenate([runtime.predict(runtime.to_input(x)[None]) for x in inputs[:4]])
    assert np.abs(got - expected[:4]).max() <= MAX_ABS_DIFF_OF_RANGE * np.ptp(expected[:4])
    assert runtime.executed().precision == "fp32"  # read back (a program: its aten graph)


# the callable on every backend; the program on one ONNX runtime (test time), and on
# PyTorch, where its path differs from the callable's, in the test after this one
@pytest.mark.parametrize("kind, backend", [
    ("callable", "onnxruntime"), ("callable", "openvino"), ("callable", "pytorch"),
    pytest.param("callable", "tflite", marks=needs_tflite_converter),
    ("program", "onnxruntime")])
def test_pytorch_sources_quantize_to_int8_everywhere(own_program, own_callable_card, kind,
                                                     backend, tmp_path):
    values = pytorch_source(kind, own_program, own_callable_card)
    plan = RunPlan.of(config(values.pop("model"), backend, tmp_path, precision="int8-static",
                             calibration="synthetic", calibration_count=8, **values))
    runtime, _, _ = plan.backend("int8-static", 1, threads=2)
    assert runtime.executed().precision == "int8"


def test_a_program_quantizes_on_pytorch_through_pt2e_and_torch_compile(own_onnx, own_program,
                                                                       tmp_path):
    """No Python module to trace: PT2E annotates the program's graph, and what ran is
    read from the code inductor generated: every convolution and the linear in int8
    (static); only the linear (dynamic), as quantize_dynamic does for a module."""
    _, _, inputs, expected = own_onnx
    kernels = {}
    for precision in ("int8-static", "int8-dynamic"):
        plan = RunPlan.of(config(own_program, "pytorch", tmp_path, precision=precision,
                                 calibration="synthetic", calibration_count=8))
        runtime, artifact, _ = plan.backend(precision, 4, threads=2)
        kernels[precision] = runtime.executed()
        got = runtime.predict(np.ascontiguousarray(inputs[:4].transpose(0, 2, 3, 1)))
        # int8 on random weights: close to eager, far closer than the logits' spread
        assert np.abs(got - expected[:4]).max() <= 0.1 * np.ptp(expected[:4]), precision
        if precision == "int8-static":  # simulated: the same program, eager, in float
            twin, how = runtime.simulation(artifact)
            simulated = twin.predict(np.ascontiguousarray(inputs[:4].transpose(0, 2, 3, 1)))
            assert twin.executed().precision == "fp32" and "eagerly" in how
            # the simulation follows the deployed kernels closely where the CPU's int8 dot
            # product accumulates in 32 bits; on x86 without VNNI oneDNN's int8 kernels
            # round otherwise (measured on AVX2: 5.4% of the range, as far as fp32 is),
            # and are held to int8's own bound against the float model
            bound = 0.05 if INT8_ACCUMULATES_IN_32_BITS else 0.1
            assert np.abs(simulated - got).max() <= bound * np.ptp(got)
    static, dynamic = kernels["int8-static"], kernels["int8-dynamic"]
    assert static.precision == "int8"
    # 5 convolutions, 1 linear: the code generated for batch 4
    assert sum(static.detail["kernels_by_batch"]["4"]["int8_kernels"].values()) == 6
    assert dynamic.precision == "fp32 (5 ops), int8 (1 op)"
    assert "torchao.quantization.pt2e" in runtime.quantization()["tool"]


def test_a_programs_int8_is_refused_off_x86_with_the_reason(monkeypatch):
    """PT2E here lowers to oneDNN's x86 kernels: on ARM a program's int8 is refused with
    the reason, while a callable's (FX, qnnpack there) is not."""
    from backends.pytorch.backend import PyTorchBackend

    monkeypatch.setattr("platform.machine", lambda: "aarch64")
    for precision in ("int8-static", "int8-dynamic"):
        reason = PyTorchBackend.unsupported_reason(precision, "pytorch-program")
        assert "X86InductorQuantizer" in reason and "aarch64" in reason
        assert PyTorchBackend.unsupported_reason(precision, "pytorch-callable") is None


@pytest.fixture(scope="module")
def own_runtime_files(own_program, tmp_path_factory):
    """A .tflite and an IR of the network, as a user would bring them (here: what
    edgebench built from the program, copied out of its cache)."""
    folder = tmp_path_factory.mktemp("runtime-files")
    files = {}
    for backend, name in (("tflite", "tiny.tflite"), ("openvino", "tiny.xml")):
        plan = RunPlan.of(config(own_program, backend, folder))
        _, artifact, _ = plan.backend("fp32", 1, threads=2)
        shutil.copyfile(artifact, folder / name)
        if name.endswith(".xml"):
            shutil.copyfile(artifact.with_suffix(".bin"), folder / "tiny.bin")
        files[backend] = folder / name
    return files


@pytest.mark.parametrize("backend", building(["tflite"]) + ["openvino"])
def test_runtime_files_run_on_their_runtime_only(own_onnx, own_runtime_files, backend,
                                                 tmp_path):
    _, _, inputs, expected = own_onnx
    path = own_runtime_files[backend]
    plan = RunPlan.of(config(path, backend, tmp_path))
    runtime, _, _ = plan.backend("fp32", 1, threads=2)
    got = np.concatenate([runtime.predict(runtime.to_input(x)[None]) for x in inputs[:4]])
    assert np.abs(got - expected[:4]).max() <= MAX_ABS_DIFF_OF_RANGE * np.ptp(expected[:4])
    quantized = RunPlan.of(config(path, backend, tmp_path, precision="int8-static",
                                  calibration="synthetic", calibration_count=8))
    runtime, _, _ = quantized.backend("int8-static", 1, threads=2)
    assert runtime.executed().precision == "int8"
    for other in {"onnxruntime", "openvino", "tflite", "pytorch"} - {backend}:
        reason = RunPlan.of(config(path, other, tmp_path)).unsupported_reason
        assert reason and f"the model is {resolve_model(str(path)).source.kind.description}" \
            in reason


def test_a_matrix_names_the_file_and_prepare_ships_it_to_the_board(own_onnx, tmp_path):
    """A matrix beside the model names it by a relative path; `prepare` ships the model
    and its card with the artifacts; the board runs the shipped file on them."""
    folder = tmp_path / "study"
    folder.mkdir()
    shutil.copyfile(own_onnx[0], folder / "model.onnx")
    (folder / "mine.toml").write_text("""
[axes]
model = ["model.onnx"]
backend = ["onnxruntime"]
precision = ["int8-static"]
scenario = ["single-stream"]
mode = ["performance"]

[options]
quick = true
calibration = "synthetic"
calibration_count = 8
""")
    out = tmp_path / "for-the-board"
    proc = run_cli("prepare", str(folder / "mine.toml"), "--out", str(out), timeout=300)
    assert proc.returncode == 0, proc.stderr
    (shipped,) = json.loads((out / "prepared.json").read_text())["models"]
    assert shipped["name"] == resolve_model(str(own_onnx[0])).name
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--model", str(out / shipped["model"]),
         "--backend", "onnxruntime", "--precision", "int8-static", "--quick",
         "--artifacts", str(out), "--results", str(tmp_path / "results")],
        capture_output=True, text=True, cwd=ROOT, timeout=scaled(300),
        env={**os.environ, "EDGEBENCH_CACHE": str(tmp_path / "board-cache")})
    assert proc.returncode == 0, proc.stderr
    (result,) = (tmp_path / "results").glob("*/result.json")
    record = json.loads(result.read_text())
    assert record["model"] == shipped["name"] and record["precision_executed"] == "int8"
    assert Path(record["artifact"]).is_relative_to(out)
    assert not (tmp_path / "board-cache" / "artifacts").exists()  # nothing was built


class TwoInputs(torch.nn.Module):
    """A token sequence and a feature vector: no image anywhere."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(100, 16)
        self.project = torch.nn.Linear(20, 16)
        self.head = torch.nn.Linear(16, CLASSES)

    def forward(self, tokens, features):
        return self.head(torch.relu(self.embed(tokens).mean(dim=1) + self.project(features)))


TWO_INPUTS_CARD = """task = "none"
[[inputs]]
name = "tokens"
range = [0, 100]
[[inputs]]
name = "features"
"""


@pytest.fixture(scope="module")
def two_inputs(tmp_path_factory):
    """The model as .pt2 and .onnx, each with its card beside it."""
    torch.manual_seed(3)
    model = TwoInputs().eval()
    example = (torch.randint(0, 100, (2, 12)), torch.randn(2, 20))
    batch = torch.export.Dim("batch", min=1, max=64)
    folder = tmp_path_factory.mktemp("two-inputs")
    program = torch.export.export(model, example, dynamic_shapes=({0: batch}, {0: batch}))
    torch.export.save(program, str(folder / "two.pt2"))
    torch.onnx.export(model, example, str(folder / "two.onnx"), dynamo=True,
                      input_names=["tokens", "features"], output_names=["scores"],
                      dynamic_shapes=({0: batch}, {0: batch}), opset_version=18,
                      external_data=False, verbose=False)
    for name in ("two.pt2", "two.onnx"):
        (folder / name).with_suffix(".toml").write_text(TWO_INPUTS_CARD)
    return folder, model


def records_and_expected(plan, model, count=4):
    from harness.core.datasets import SyntheticRecords

    records = SyntheticRecords(count, plan.tensor_inputs)
    batch = np.stack([records.sample(i) for i in range(count)])
    assert batch["tokens"].max() < 100 and batch["tokens"].dtype == np.int64
    with torch.inference_mode():
        expected = model(torch.from_numpy(batch["tokens"].copy()),
                         torch.from_numpy(batch["features"].copy())).numpy()
    return batch, expected


@pytest.mark.parametrize("source, backend", [
    ("two.onnx", "onnxruntime"), ("two.onnx", "openvino"), ("two.pt2", "onnxruntime"),
    ("two.pt2", "openvino"), pytest.param("two.pt2", "tflite", marks=needs_tflite_converter),
    ("two.pt2", "pytorch")])
def test_two_inputs_agree_with_eager(two_inputs, source, backend, tmp_path):
    folder, model = two_inputs
    plan = RunPlan.of(config(folder / source, backend, tmp_path))
    assert [spec.name for spec in plan.tensor_inputs] == ["tokens", "features"]
    runtime, _, _ = plan.backend("fp32", 4, threads=2)
    batch, expected = records_and_expected(plan, model)
    got = runtime.predict(np.stack([runtime.to_input(record) for record in batch]))
    assert np.abs(got - expected).max() <= MAX_ABS_DIFF_OF_RANGE * np.ptp(expected)


@pytest.mark.parametrize("source, backend", [
    ("two.onnx", "onnxruntime"), ("two.onnx", "openvino"), ("two.pt2", "pytorch")])
def test_two_inputs_quantize_on_calibration_files(two_inputs, source, backend, tmp_path):
    folder, _ = two_inputs
    calibration = tmp_path / "calibration"
    calibration.mkdir()
    rng = np.random.default_rng(5)
    for number in range(6):
        np.savez(calibration / f"{number}.npz", tokens=rng.integers(0, 100, 12),
                 features=rng.standard_normal(20).astype(np.float32))
    plan = RunPlan.of(config(folder / source, backend, tmp_path,
                             precision="int8-static", calibration=str(calibration)))
    assert len(plan.calibration) == 6 and not plan.calibration.synthetic
    runtime, _, _ = plan.backend("int8-static", 1, threads=2)
    assert "int8" in runtime.executed().precision


def test_two_inputs_measure_speed_and_refuse_accuracy_with_the_reason(two_inputs, tmp_path):
    folder, _ = two_inputs
    for backend in ("onnxruntime", "openvino"):  # OpenVINO: records on its async queue
        _, record = run_benchmark(config(folder / "two.onnx", backend, tmp_path,
                                         scenario="offline", max_batch=4, duration=1))
        assert record.valid is not None and record.metrics.throughput_sps > 0
        assert record.dataset.name == "synthetic"
    _, record = run_benchmark(config(folder / "two.onnx", "onnxruntime", tmp_path,
                                     mode="accuracy", dataset=str(tmp_path)))
    assert record.unsupported is not None and "task = \"none\"" in record.unsupported.reason
    with pytest.raises(UsageError, match="not one image"):
        run_benchmark(config(folder / "two.onnx", "onnxruntime", tmp_path,
                             dataset=str(tmp_path)))


def test_a_callable_takes_its_inputs_from_its_card(tmp_path):
    card = tmp_path / "card.toml"
    card.write_text('task = "none"\n'
                    '[[inputs]]\nname = "tokens"\nshape = [1, 12]\ndtype = "int64"\n'
                    'range = [0, 100]\n'
                    '[[inputs]]\nname = "features"\nshape = [1, 20]\n')
    spec = resolve_model("tests.test_own_model:TwoInputs", card)
    assert [(s.name, s.shape, s.dtype) for s in spec.card.inputs] == [
        ("tokens", (None, 12), "int64"), ("features", (None, 20), "float32")]
    assert spec.card.tensor_inputs == spec.card.inputs


def test_external_data_travels_with_the_model(own_onnx, tmp_path):
    path, _, inputs, expected = own_onnx
    model = onnx.load(str(path))
    folder = tmp_path / "external"
    folder.mkdir()
    onnx.save(model, str(folder / "big.onnx"), save_as_external_data=True,
              all_tensors_to_one_file=True, location="big.weights", size_threshold=1024)
    spec = resolve_model(str(folder / "big.onnx"))
    assert [p.name for p in spec.source.kind.companions(spec.source.path)] == ["big.weights"]
    plan = RunPlan.of(config(folder / "big.onnx", "onnxruntime", tmp_path))
    runtime, artifact, _ = plan.backend("fp32", len(inputs), threads=2)
    assert (artifact.parent / "big.weights").is_file()  # copied into the cache with it
    got = runtime.predict(np.stack([runtime.to_input(x) for x in inputs]))
    assert np.abs(got - expected).max() <= MAX_ABS_DIFF_OF_RANGE * np.ptp(expected)
    (folder / "big.weights").unlink()
    with pytest.raises(UsageError, match="needs big.weights beside it"):
        resolve_model(str(folder / "big.onnx"))


def broken_callable():
    raise RuntimeError("no weights here")


@pytest.mark.parametrize("model, message", [
    ("tests.test_own_model:broken_callable", "raised RuntimeError: no weights here"),
    ("tests.no_such_module:make", "cannot import 'tests.no_such_module'"),
    ("tests.test_own_model:nothing_here", "has no callable 'nothing_here'"),
])
def test_bad_callables_are_one_line_and_exit_2(tmp_path, model, message):
    result = run_cli("run", "--model", model, "--backend", "pytorch", "--quick",
                     "--results", str(tmp_path / "results"), timeout=120)
    assert result.returncode == 2, result.stderr
    # one line (after the progress lines of a run that got as far as loading the model)
    (error,) = [line for line in result.stderr.splitlines() if "error" in line]
    assert message in error and "Traceback" not in result.stderr
    assert not list((tmp_path / "results").glob("*/result.json"))
