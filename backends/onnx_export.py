"""The one source artifact: the PyTorch model exported to ONNX with a dynamic batch."""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import logging
import warnings
from pathlib import Path

from backends.recipes import BuildContext, Cost, Recipe
from harness.core.digests import source_digest
from harness.core.weights import WeightsSource
from harness.core.zoo import get_spec

ONNX_OPSET = 18
INPUT_NAME = "input"
OUTPUT_NAME = "logits"


def export_onnx(
    model_name: str, weights: WeightsSource, target: Path
) -> Path:
    import torch  # here, not at the top: loading a built artifact needs no torch

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
        # torch.__version__, read from the package's metadata without importing torch
        "torch": importlib.metadata.version("torch"),
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


# ONNX Runtime runs this file at fp32, its quantizers start from it, and OpenVINO's
# converter reads it: one export, described once, serves them all.
ONNX_EXPORT = Recipe(
    "fp32", f"the FP32 ONNX export itself (torch.onnx, opset {ONNX_OPSET})",
    key_fields=lambda ctx: onnx_key_fields(ctx.model_name, ctx.weights),
    build=lambda ctx, staging: export_onnx(ctx.model_name, ctx.weights, staging / "model.onnx"),
    artifact_runtime="onnx", cost=Cost(build_s=8))


def onnx_artifact(ctx: BuildContext) -> Path:
    """The fp32 ONNX export's file, built on first use."""
    return ONNX_EXPORT.artifact("onnx", ctx)
