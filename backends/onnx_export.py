"""The one source artifact: the PyTorch model exported to ONNX with a dynamic batch."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from harness.core.artifacts import ArtifactCache, source_digest
from harness.core.weights import WeightsSource
from harness.core.zoo import get_spec

ONNX_OPSET = 18
INPUT_NAME = "input"
OUTPUT_NAME = "logits"


def export_onnx(
    model_name: str, weights: WeightsSource, target: Path
) -> Path:
    model = weights.build_model(model_name)
    example = torch.randn(2, *get_spec(model_name).input.shape)  # (C, H, W) from the spec
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


def source_key_fields(model_name: str, weights: WeightsSource) -> dict:
    """What determines the source model: architecture code, weights, torch."""
    builder, call = get_spec(model_name).architecture_code
    return {
        "model": model_name,
        "architecture": f"{call} {source_digest(builder)}",
        "weights": weights.cache_key,
        "torch": torch.__version__,
    }


def onnx_key_fields(model_name: str, weights: WeightsSource) -> dict:
    import onnx

    return {
        **source_key_fields(model_name, weights),
        "format": "onnx",
        "opset": ONNX_OPSET,
        "onnx": onnx.__version__,
        "recipe": source_digest(export_onnx),
    }


def onnx_recipe(
    model_name: str, weights: WeightsSource
) -> tuple[str, dict, Callable[[Path], Path]]:
    """(label, key fields, build) of the fp32 ONNX export, for `ArtifactCache`.

    ONNX Runtime runs this file and OpenVINO converts it: one export serves both.
    """
    return (
        f"{model_name}-onnx-fp32",
        {**onnx_key_fields(model_name, weights), "precision": "fp32"},
        lambda staging: export_onnx(model_name, weights, staging / "model.onnx"),
    )


def onnx_artifact(cache: ArtifactCache, model_name: str, weights: WeightsSource) -> Path:
    """The fp32 ONNX export's file, built on first use: what ONNX Runtime's quantizers and
    OpenVINO's converter start from."""
    return cache.main_file(cache.get_or_build(*onnx_recipe(model_name, weights)))
