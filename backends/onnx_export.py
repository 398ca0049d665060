"""The one source artifact: the PyTorch model exported to ONNX with a dynamic batch."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path

import torch

from harness.weights import WeightsSource

ONNX_OPSET = 18
INPUT_NAME = "input"
OUTPUT_NAME = "logits"


def export_onnx(
    model_name: str, weights: WeightsSource, target: Path, input_size: int = 224
) -> Path:
    model = weights.build_model(model_name)
    example = torch.randn(2, 3, input_size, input_size)
    batch = torch.export.Dim("batch", min=1, max=1024)
    # The exporter narrates its passes on stdout and warns about torchvision ops it
    # cannot register; none of it concerns our models. Its errors still raise.
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (example,),
                str(target),
                dynamo=True,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_shapes={"x": {0: batch}},
                opset_version=ONNX_OPSET,
                external_data=False,  # every model here is far below protobuf's 2 GB limit
                verbose=False,
            )
    finally:
        exporter_log.setLevel(level)
    return target


def onnx_key_fields(model_name: str, weights: WeightsSource) -> dict:
    import onnx

    return {
        "model": model_name,
        "weights": weights.cache_key,
        "format": "onnx",
        "opset": ONNX_OPSET,
        "torch": torch.__version__,
        "onnx": onnx.__version__,
    }
