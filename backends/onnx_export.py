"""The one source artifact: the PyTorch model exported to ONNX with a dynamic batch, or
a user's ONNX model itself (copied into the cache with its external data)."""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import logging
import shutil
import warnings
from pathlib import Path

from backends.recipes import FROM_ONNX, BuildContext, Cost, Recipe
from backends.torch_inputs import example_inputs, input_names
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
    spec = get_spec(model_name)
    # a model whose batch is fixed (a user's program) keeps it
    example = example_inputs(model_name, spec.fixed_batch or 2)
    batch = torch.export.Dim("batch", min=1, max=1024)
    # positional: a user's forward() may name its arguments anything
    dynamic_shapes = None if spec.fixed_batch else tuple({0: batch} for _ in example)
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
                example,
                str(target),
                dynamo=True,
                input_names=input_names(model_name, INPUT_NAME),
                output_names=[OUTPUT_NAME],
                dynamic_shapes=dynamic_shapes,
                opset_version=ONNX_OPSET,
                external_data=False,  # every model here is far below protobuf's 2 GB limit
                verbose=False,
            )
    finally:
        exporter_log.setLevel(level)
    return target


def copy_onnx_source(model_name: str, target: Path) -> Path:
    """A user's ONNX model into the cache, with the external data files it refers to."""
    source = get_spec(model_name).source
    for path in [source.path, *source.kind.companions(source.path)]:
        shutil.copyfile(path, target.parent / path.name)
    return target.parent / source.path.name


def build_onnx(model_name: str, weights: WeightsSource, target: Path) -> Path:
    if get_spec(model_name).source_kind == "onnx":
        return copy_onnx_source(model_name, target)
    return export_onnx(model_name, weights, target)


def input_name(model_name: str) -> str:
    """The ONNX model's input: the name a user's ONNX file gives it, else the export's."""
    spec = get_spec(model_name)
    return spec.input_name if spec.source_kind == "onnx" else INPUT_NAME


def source_key_fields(model_name: str, weights: WeightsSource) -> dict:
    """What determines the source model: a user's file by its digest; a PyTorch model by
    architecture code, weights and torch."""
    spec = get_spec(model_name)
    if spec.source is not None and spec.source.kind.suffixes:  # a file: its bytes say all
        return {"model": model_name, "source": spec.source_kind, "sha256": spec.source.digest}
    if spec.source is not None:  # a user's callable: its module's digest
        architecture = f"{spec.source_kind} {spec.source.digest}"
    else:  # the zoo's builders: their code
        builder, call = spec.architecture_code
        architecture = f"{call} {source_digest(builder)}"
    return {
        "model": model_name,
        "architecture": architecture,
        "weights": weights.cache_key,
        # torch.__version__, read from the package's metadata without importing torch
        "torch": importlib.metadata.version("torch"),
    }


def onnx_key_fields(model_name: str, weights: WeightsSource) -> dict:
    import onnx

    if get_spec(model_name).source_kind == "onnx":  # used as given: nothing else decides it
        return {**source_key_fields(model_name, weights), "format": "onnx",
                "recipe": source_digest(copy_onnx_source)}
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
    build=lambda ctx, staging: build_onnx(ctx.model_name, ctx.weights, staging / "model.onnx"),
    artifact_runtime="onnx", sources=FROM_ONNX, cost=Cost(build_s=8))


def onnx_artifact(ctx: BuildContext) -> Path:
    """The fp32 ONNX export's file, built on first use."""
    return ONNX_EXPORT.artifact("onnx", ctx)
