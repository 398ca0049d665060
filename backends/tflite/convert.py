"""PyTorch -> .tflite with LiteRT's own PyTorch converter (`litert-torch`).

The model gets an NHWC input, the layout TFLite kernels use: the transpose to the
PyTorch layout is folded into the graph instead of being paid for on every query.
Shapes are static (LiteRT's converter does not lower a symbolic batch here, and a
fixed-batch VGG cannot be resized at run time), so each batch size is its own file.
"""

from __future__ import annotations

import contextlib
import io
import platform
import shutil
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch

from backends.onnx_export import source_key_fields
from backends.torch_inputs import example_inputs
from harness.core.digests import source_digest
from harness.core.errors import Unsupported, UsageError
from harness.core.system_info import is_arm
from harness.core.weights import WeightsSource
from harness.core.zoo import get_spec


def _converter_installed() -> bool:
    try:
        version("litert-torch")
        return True
    except PackageNotFoundError:
        return False


def _on_linux_aarch64() -> bool:
    return platform.system() == "Linux" and is_arm()


def converter_unavailable_reason() -> str | None:
    """Why no install can give this machine a .tflite converter (None: it has one, or
    `pip install` would give it one).

    litert-torch's converter (litert-converter) ships wheels for Linux x86-64 and macOS
    only, so on Linux aarch64 a build is a verdict about the machine (`Unsupported`):
    the artifacts come from `edgebench prepare` on a host.
    """
    if _converter_installed() or not _on_linux_aarch64():
        return None
    return ("building .tflite models needs litert-torch, whose converter has no Linux "
            "aarch64 wheel: build them on an x86-64 host with `edgebench prepare MATRIX "
            "--out DIR` and run here with --artifacts DIR")


def _require_converter() -> None:
    reason = converter_unavailable_reason()
    if reason:
        raise Unsupported(reason)
    if not _converter_installed():
        raise UsageError(
            "converting to .tflite needs LiteRT's converter: pip install 'edgebench[tflite]'")


def convert_to_tflite(
    model_name: str, weights: WeightsSource, target: Path, batch_size: int,
) -> Path:
    source = get_spec(model_name).source
    if source is not None and source.kind.name == "tflite":  # a user's file: used as given
        shutil.copyfile(source.path, target)
        return target
    _require_converter()
    import litert_torch  # heavy (JAX and TensorFlow's converter): at build time only

    spec = get_spec(model_name)
    if spec.tensor_inputs is not None:
        # no image: the inputs as the model takes them
        model, sample = weights.build_model(model_name), example_inputs(model_name, batch_size)
    else:
        model = litert_torch.to_channel_last_io(weights.build_model(model_name), args=[0])
        channels, height, width = spec.input.shape
        sample = (torch.zeros(batch_size, height, width, channels),)  # channel-last I/O
    # The converter narrates each pass on stdout; its errors still raise.
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        edge_model = litert_torch.convert(model.eval(), sample)
        edge_model.export(str(target))
    return target


def tflite_key_fields(model_name: str, weights: WeightsSource) -> dict:
    if get_spec(model_name).source_kind == "tflite":  # its bytes decide it all
        return {**source_key_fields(model_name, weights), "format": "tflite"}
    _require_converter()  # before the key: a board without it says why, not KeyError
    return {
        **source_key_fields(model_name, weights),
        "format": "tflite",
        "layout": "NHWC",
        "litert_torch": version("litert-torch"),
        "recipe": source_digest(convert_to_tflite),
    }
