"""A user's ONNX model as a PyTorch module, by onnx2torch, proven before it is used: the
module and ONNX Runtime run the same seeded inputs, and the largest difference over the
output range must stay within `AGREEMENT_OF_RANGE`. A conversion that fails or disagrees
is `Unsupported`, with the tool's message or the figure, never run as if it were the
model. From the module, PyTorch runs it (and quantizes it with torch.ao) and litert-torch
makes its .tflite, as for any PyTorch model.
"""

from __future__ import annotations

import functools
import importlib.metadata
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.core.errors import Unsupported
from harness.core.model_card import ModelCard, feed_arrays, record_dtype

# fp32 reassociation between two runtimes' kernels is ~1e-6 of the range; a wrong
# operator conversion is off by far more
AGREEMENT_OF_RANGE = 1e-3
PROOF_SAMPLES = 2
TOOL = "onnx2torch"


@dataclass(frozen=True)
class ConversionProof:
    """How a converted model was checked against ONNX Runtime, as result.json says it."""

    tool: str
    compared_with: str
    samples: int
    max_abs_diff_of_range: float
    tolerance_of_range: float = AGREEMENT_OF_RANGE

    def to_json(self) -> dict:
        return dict(self.__dict__)


def tool_version() -> str | None:
    try:
        return importlib.metadata.version(TOOL)
    except importlib.metadata.PackageNotFoundError:
        return None


def convert(path: Path, card: ModelCard):
    """The proven module of the ONNX model at `path`, and its proof."""
    return _converted(str(path.resolve()), path.stat().st_mtime_ns, card)


@functools.cache
def _converted(path: str, _mtime_ns: int, card: ModelCard):
    if tool_version() is None:
        raise Unsupported(f"converting an ONNX model for PyTorch needs {TOOL}: make install "
                          "puts it in, --no-deps, at the pin pyproject.toml's [tool.edgebench] "
                          "onnx2torch-no-deps gives")
    image = card.image_input
    if image is not None and image.layout != "NCHW":
        raise Unsupported(f"the model's image input is {image.layout}; edgebench feeds "
                          "PyTorch images NCHW (ONNX Runtime and OpenVINO run it as it is)")
    onnx2torch = _import_onnx2torch()
    import onnx

    model = onnx.load(path)
    # weights listed as graph inputs too (IR version 3 and paddle2onnx do): constants, not
    # inputs the module would take
    weights = {tensor.name for tensor in model.graph.initializer}
    kept = [value for value in model.graph.input if value.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(kept)
    _constants_as_initializers(model.graph)
    try:
        module = onnx2torch.convert(model).eval()
    except Exception as exc:  # the converter's verdict on this model: its own words
        raise Unsupported(f"{TOOL} {tool_version()} could not convert the model: "
                          f"{type(exc).__name__}: {' '.join(str(exc).split())[:400]}") from None
    return module, _prove(path, module, card)


def _constants_as_initializers(graph) -> None:
    """Weights held in Constant nodes (as paddle2onnx writes them) as initializers, where
    onnx2torch's converters look for a convolution's or a matmul's weights."""
    kept = []
    for node in graph.node:
        tensors = [a.t for a in node.attribute if a.name == "value"]
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx") and tensors:
            tensor = tensors[0]
            tensor.name = node.output[0]
            graph.initializer.append(tensor)
        else:
            kept.append(node)
    del graph.node[:]
    graph.node.extend(kept)


def _prove(path: str, module, card: ModelCard) -> ConversionProof:
    try:
        import onnxruntime as ort
    except ModuleNotFoundError:
        raise Unsupported(f"proving {TOOL}'s conversion needs ONNX Runtime to compare with "
                          "(pip install 'edgebench[onnxruntime]')") from None
    import torch

    feeds = _seeded_inputs(card)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    expected = session.run(None, feeds)
    try:
        with torch.inference_mode():
            got = module(*[torch.from_numpy(np.array(a)) for a in feeds.values()])
    except Exception as exc:  # the converted module fails to run: the converter's limit
        raise Unsupported(f"{TOOL} {tool_version()}'s module of the model does not run: "
                          f"{type(exc).__name__}: {' '.join(str(exc).split())[:400]}") from None
    got = [got] if isinstance(got, torch.Tensor) else list(got)
    worst = 0.0
    for want, have in zip(expected, got, strict=False):
        want = np.asarray(want, np.float64)
        have = have.detach().double().numpy()
        if have.shape != want.shape:
            raise Unsupported(f"{TOOL} {tool_version()}'s module answers shape "
                              f"{list(have.shape)} where ONNX Runtime answers "
                              f"{list(want.shape)}")
        span = float(np.ptp(want)) or float(np.abs(want).max()) or 1.0
        worst = max(worst, float(np.abs(have - want).max()) / span if want.size else 0.0)
    proof = ConversionProof(
        tool=f"{TOOL} {tool_version()}",
        compared_with=f"onnxruntime {ort.__version__}, {len(expected)} output(s), "
                      f"{PROOF_SAMPLES} seeded samples", samples=PROOF_SAMPLES,
        max_abs_diff_of_range=worst)
    if len(got) != len(expected) or worst > AGREEMENT_OF_RANGE:
        raise Unsupported(f"{TOOL} {tool_version()}'s module disagrees with ONNX Runtime: "
                          f"largest difference {worst:.2e} of the output range (tolerance "
                          f"{AGREEMENT_OF_RANGE:.0e}), {len(got)} outputs against "
                          f"{len(expected)}")
    return proof


def _seeded_inputs(card: ModelCard) -> dict[str, np.ndarray]:
    """A batch of seeded synthetic samples, laid out as fed (batch axes, scalars)."""
    from harness.core.datasets import synthetic_values

    rng = np.random.default_rng(0)
    size = card.fixed_batch or PROOF_SAMPLES
    records = np.zeros(size, record_dtype(card.inputs))
    for index in range(size):
        for spec in card.inputs:
            records[spec.name][index] = synthetic_values(rng, spec)
    return feed_arrays(records)


def _import_onnx2torch():
    """onnx2torch imports torchvision for its NMS and RoiAlign converters; PyPI's
    torchvision does not import beside our torch (README), so it is not installed. A
    stand-in lets the rest import; a model with those operators fails its proof, in
    words that say why."""
    if "torchvision" not in sys.modules:
        try:
            import torchvision  # noqa: F401 - where a working one is installed, use it
        except Exception:
            sys.modules["torchvision"] = _missing_torchvision()
            sys.modules["torchvision.ops"] = sys.modules["torchvision"].ops
    import onnx2torch

    return onnx2torch


def _missing_torchvision() -> types.ModuleType:
    def missing(*_args, **_kwargs):
        raise RuntimeError("torchvision is not installed (its PyPI wheel does not import "
                           "with edgebench's torch): onnx2torch's NMS and RoiAlign need it")

    package = types.ModuleType("torchvision")
    package.ops = types.ModuleType("torchvision.ops")
    for name in ("nms", "batched_nms", "roi_align", "box_convert"):
        setattr(package.ops, name, missing)
    return package
