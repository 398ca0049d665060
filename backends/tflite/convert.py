"""PyTorch -> .tflite with LiteRT's own PyTorch converter (`litert-torch`).

The model gets an NHWC input, the layout TFLite kernels use: the transpose to the
PyTorch layout is folded into the graph instead of being paid for on every query.
Shapes are static (LiteRT's converter does not lower a symbolic batch here, and a
fixed-batch VGG cannot be resized at run time), so each batch size is its own file.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import torch

from backends.onnx_export import source_key_fields
from harness.artifacts import source_digest
from harness.errors import UsageError
from harness.weights import WeightsSource


def convert_to_tflite(
    model_name: str, weights: WeightsSource, target: Path, batch_size: int,
    input_size: int = 224,
) -> Path:
    try:  # heavy (pulls in JAX and TensorFlow's converter): imported at build time only
        import litert_torch
    except ModuleNotFoundError:
        raise UsageError(
            "converting to .tflite needs LiteRT's converter: pip install 'edgebench[tflite]'"
        ) from None

    model = litert_torch.to_channel_last_io(weights.build_model(model_name), args=[0]).eval()
    sample = torch.zeros(batch_size, input_size, input_size, 3)
    # The converter narrates each pass on stdout; its errors still raise.
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        edge_model = litert_torch.convert(model, (sample,))
        edge_model.export(str(target))
    return target


def tflite_key_fields(model_name: str, weights: WeightsSource) -> dict:
    from importlib.metadata import version

    return {
        **source_key_fields(model_name, weights),
        "format": "tflite",
        "layout": "NHWC",
        "litert_torch": version("litert-torch"),
        "recipe": source_digest(convert_to_tflite),
    }
