"""AdaRound, cross-layer equalization and min-max at 4 or 8 bits, by Qualcomm's aimet-onnx:
a QDQ ONNX model made from the FP32 ONNX export, which ONNX Runtime runs as it is and
OpenVINO converts. One artifact, described once, serves both (like the export itself).

The flow is aimet-onnx's own: fold batch norms into the weights (or equalize, which
folds them first), `QuantizationSimModel` with per-channel (or per-tensor) symmetric
weights and 8-bit activations, `Adaround.apply_adaround` on calibration data where the
quantizer learns the rounding, `compute_encodings` over the calibration set, and
`to_onnx_qdq` with the weights stored as integers (int4 initializers at 4 bits).

aimet-onnx 2.42 has wheels for Linux x86-64 only. It is installed without its dependency
graph (pyproject.toml, the `aimet` extra, says why); importing this module imports none
of it.
"""

from __future__ import annotations

import importlib.metadata
import logging
import platform
from dataclasses import dataclass, replace
from pathlib import Path

from backends.base import named_inputs
from backends.onnx_export import input_name, onnx_artifact
from backends.options import RecipeOption, declare
from backends.recipes import FROM_ONNX, BuildContext, Cost, Recipe
from harness.core.digests import source_digest
from harness.core.progress import say
from harness.core.zoo import get_spec

AIMET = "aimet-onnx"
# aimet-onnx's default quantsim configuration with per-channel weights for Conv, Gemm
# and MatMul (what ONNX Runtime's and OpenVINO's int8 kernels take); per-tensor is
# aimet's plain default
AIMET_CONFIGS = {"per-channel": "default_config_per_channel.json",
                 "per-tensor": "default_config.json"}
WEIGHT_BITS = {"int8-static": 8, "w4a8": 4}

declare(
    RecipeOption("weight_granularity", str, "per-channel", "aimet-onnx quantizers: one weight "
                 "scale per output channel or per tensor", tuple(AIMET_CONFIGS)),
    # AdaRound's paper and aimet's guide use 10,000 iterations per layer (15,000 below 8
    # bits); 1,000 builds MobileNetV2 in minutes on 2 cores (the build time is recorded)
    RecipeOption("adaround_iterations", int, 1000, "AdaRound: optimisation steps per layer "
                 "(aimet's guide: 10000)"),
    RecipeOption("adaround_samples", int, 64, "AdaRound: calibration images it learns the "
                 "rounding on (the first of the calibration set)"),
)


@dataclass(frozen=True)
class AimetQuantizer:
    """What one aimet-onnx quantizer does before computing its encodings."""

    equalize: bool  # cross-layer equalization (scales weights across layer pairs) first
    adaround: bool  # learned rounding instead of round-to-nearest


AIMET_QUANTIZERS = {
    "minmax": AimetQuantizer(equalize=False, adaround=False),
    "adaround": AimetQuantizer(equalize=False, adaround=True),
    "cle": AimetQuantizer(equalize=True, adaround=False),
    "cle-adaround": AimetQuantizer(equalize=True, adaround=True),
}
DEFAULT = "minmax"  # what makes a precision made by aimet alone (w4a8)
OPTIONS = ("weight_granularity", "adaround_iterations", "adaround_samples")


def _version() -> str:
    try:
        return importlib.metadata.version(AIMET)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def cannot_build_reason() -> str | None:
    """Why this machine cannot build with aimet-onnx (it can still run what it made)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return (f"{AIMET} has wheels for Linux x86-64 only (none for {platform.machine()}): "
                "build on an x86-64 host with `edgebench prepare`, then run here with "
                "--artifacts (ONNX Runtime here runs the QDQ model it makes)")
    if _version() == "not installed":
        return (f"{AIMET} is not installed: `make install` installs it on x86-64 (with "
                "--no-deps, as pyproject.toml's `aimet` extra says)")
    return None


def key_fields(ctx: BuildContext, precision: str, quantizer: str) -> dict:
    # (the options it reads join the key through `Recipe.options`)
    return {"source": onnx_artifact(ctx).parent.name, "format": "onnx-qdq",
            AIMET: _version(), "weight_bits": WEIGHT_BITS[precision],
            "recipe": source_digest(build)}  # (this file's digest: every function in it)


class _LayerProgress(logging.Handler):
    """AdaRound logs each layer it starts; people see a count of them."""

    def __init__(self, layers: int):
        super().__init__()
        self.done, self.layers = 0, layers

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Started Optimizing weight rounding"):
            self.done += 1
            if self.done == 1 or self.done % 10 == 0 or self.done == self.layers:
                say(f"  AdaRound: layer {self.done}/{self.layers}")


def _fusable_as_deployed(sim) -> None:
    """Quantize as ONNX Runtime's and OpenVINO's kernels fuse: no quantizer between a
    convolution and the ReLU6 (Clip) after it, and Clip's bounds left float. aimet's
    config groups a Conv with its Clip, but not a depthwise one, and quantizes the
    bounds as parameters; ONNX Runtime then keeps 35 float Clips between DequantizeLinear
    and QuantizeLinear in MobileNetV2, and ran it at 2.5 ms against 1.0 ms for the same
    model fused (its own quantize_static's layout), measured here."""
    graph = sim.model.model.graph
    producer = {output: node for node in graph.node for output in node.output}

    def quantizer_of(tensor: str):
        node = producer.get(tensor)
        return sim.qc_quantize_op_dict.get(node.input[0]) \
            if node is not None and node.op_type == "QcQuantizeOp" else None

    for node in graph.node:
        if node.op_type not in ("Clip", "Relu"):
            continue
        before = producer.get(node.input[0])
        if before is not None and before.op_type == "QcQuantizeOp" and \
                getattr(producer.get(before.input[0]), "op_type", None) in ("Conv", "Gemm"):
            quantizer_of(node.input[0]).enabled = False
        for bound in node.input[1:]:
            if (quantizer := quantizer_of(bound)) is not None:
                quantizer.enabled = False


def build(ctx: BuildContext, staging: Path, precision: str, quantizer: str) -> Path:
    import onnx
    from aimet_onnx import __file__ as aimet_root
    from aimet_onnx.adaround.adaround_weight import Adaround
    from aimet_onnx.batch_norm_fold import fold_all_batch_norms_to_weight
    from aimet_onnx.cross_layer_equalization import equalize_model
    from aimet_onnx.quantsim import QuantizationSimModel
    from onnxruntime.quantization.shape_inference import quant_pre_process

    does = AIMET_QUANTIZERS[quantizer]
    # the same start as ONNX Runtime's own quantize_static: shapes inferred, constants
    # folded (a Clip's bounds as initializers, not the export's shared Casts)
    quant_pre_process(str(onnx_artifact(ctx)), str(staging / "preprocessed.onnx"))
    model = onnx.load(str(staging / "preprocessed.onnx"))
    (staging / "preprocessed.onnx").unlink()
    if does.equalize:
        equalize_model(model)  # folds the batch norms itself
    else:
        fold_all_batch_norms_to_weight(model)
    name, layout = input_name(ctx.model_name), get_spec(ctx.model_name).input.layout
    inputs = [named_inputs(batch) or {name: batch} for batch in ctx.calibration.batches(layout)]
    config = Path(aimet_root).parent / "common" / "quantsim_config" / AIMET_CONFIGS[
        ctx.options["weight_granularity"]]
    sim = QuantizationSimModel(model, param_type=f"int{WEIGHT_BITS[precision]}",
                               activation_type="int8", quant_scheme="min_max",
                               config_file=str(config))
    _fusable_as_deployed(sim)
    if does.adaround:
        layers = sum(node.op_type in ("Conv", "Gemm", "MatMul") for node in model.graph.node)
        progress = _LayerProgress(layers)
        logger = logging.getLogger("Quant")
        logger.addHandler(progress)
        try:
            Adaround.apply_adaround(sim, inputs[:ctx.options["adaround_samples"]],
                                    num_iterations=ctx.options["adaround_iterations"])
        finally:
            logger.removeHandler(progress)
    sim.compute_encodings(inputs)
    # weights stored as integers (int4 initializers at 4 bits), activations uint8 as
    # ONNX Runtime's U8S8 kernels take them
    onnx.save(sim.to_onnx_qdq(prequantize_constants=True), str(staging / "model.onnx"))
    return staging / "model.onnx"


def record(ctx: BuildContext, precision: str, quantizer: str) -> dict:
    bits = WEIGHT_BITS[precision]
    return {"tool": f"{AIMET} {_version()} QuantizationSimModel"
                    + (" + Adaround" if AIMET_QUANTIZERS[quantizer].adaround else "")
                    + (" after equalize_model" if AIMET_QUANTIZERS[quantizer].equalize else ""),
            "format": "QDQ ONNX (to_onnx_qdq)", "weights": f"int{bits}",
            "activations": "uint8 (8-bit, exported unsigned)", "weight_symmetric": True,
            "activation_symmetric": False,
            "weight_granularity": ctx.options["weight_granularity"],
            "activation_granularity": "per-tensor", "calibration_method": "min-max",
            **({"adaround": {"iterations_per_layer": ctx.options["adaround_iterations"],
                             "samples": ctx.options["adaround_samples"]}}
               if AIMET_QUANTIZERS[quantizer].adaround else {})}


def aimet_recipe(precision: str, quantizer: str) -> Recipe:
    """The QDQ ONNX model `quantizer` makes at `precision` (ONNX Runtime's artifact, and
    what OpenVINO converts)."""
    does = AIMET_QUANTIZERS[quantizer]
    return Recipe(
        precision, f"{AIMET} {quantizer}: QDQ ONNX, int{WEIGHT_BITS[precision]} symmetric "
        "weights, uint8 activations, calibrated",
        lambda ctx: key_fields(ctx, precision, quantizer),
        lambda ctx, staging: build(ctx, staging, precision, quantizer),
        needs_calibration=True, build_refusal=cannot_build_reason,
        quantization=lambda ctx: record(ctx, precision, quantizer),
        artifact_runtime="onnx", quantizer=quantizer, sources=FROM_ONNX,
        options=OPTIONS if does.adaround else OPTIONS[:1],
        # AdaRound at its default 1000 iterations: 281 s for MobileNetV2 (2.2 ms at FP32)
        # here; the others are one calibration pass (about 10 s for it)
        cost=Cost(time_vs_fp32=0.66, build_s=5,
                  build_s_per_fp32_ms=128.0 if does.adaround else 2.3))


def aimet_precision(precision: str, make=aimet_recipe) -> Recipe:
    """A precision aimet-onnx alone makes: `make`'s recipe of the default quantizer, the
    others as its alternatives (`make`: a runtime's own recipe from aimet's model)."""
    return replace(make(precision, DEFAULT), alternatives={
        name: make(precision, name) for name in AIMET_QUANTIZERS if name != DEFAULT})


def qdq_artifact(ctx: BuildContext, precision: str, quantizer: str) -> Path:
    """The QDQ ONNX model, built on first use."""
    return aimet_recipe(precision, quantizer).artifact("onnx", ctx)
