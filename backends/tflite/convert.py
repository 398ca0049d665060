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
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch

from backends.onnx_export import source_key_fields
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
    _require_converter()
    import litert_torch  # heavy (JAX and TensorFlow's converter): at build time only

    model = litert_torch.to_channel_last_io(weights.build_model(model_name), args=[0]).eval()
    channels, height, width = get_spec(model_name).input.shape
    sample = torch.zeros(batch_size, height, width, channels)  # NHWC: channel-last I/O
    # The converter narrates each pass on stdout; its errors still raise.
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        edge_model = litert_torch.convert(model, (sample,))
        edge_model.export(str(target))
    return target


def tflite_key_fields(model_name: str, weights: WeightsSource) -> dict:
    _require_converter()  # before the key: a board without it says why, not KeyError
    return {
        **source_key_fields(model_name, weights),
        "format": "tflite",
        "layout": "NHWC",
        "litert_torch": version("litert-torch"),
        "recipe": source_digest(convert_to_tflite),
    }
