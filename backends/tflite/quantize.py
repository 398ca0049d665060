"""LiteRT's precisions, made by LiteRT Quantizer (`litert-quantizer`) from the FP32
.tflite that litert-torch converted.

Why this route: LiteRT's documentation points PyTorch users at litert-torch for
conversion and at LiteRT Quantizer (the renamed AI Edge Quantizer, whose old name is
no longer maintained) for post-training quantization of a converted model; it works
on the .tflite file, so every precision starts from the same FP32 artifact.

- fp16: fp16 weights (FLOAT_CASTING, weight-only), dequantized to fp32 at load;
- int8-dynamic: `dynamic_wi8_afp32`: int8 per-channel weights, activations
  quantized at run time (dynamic range quantization);
- int8-static: `static_wi8_ai8`: full-integer int8, calibrated; the model's input
  and output become int8, so the QSL quantizes each sample once, at load, with the
  model's own scale and zero point (as a deployed app would) and the outputs are
  dequantized to float logits.
"""

from __future__ import annotations

from dataclasses import replace
from importlib.metadata import version
from pathlib import Path

from backends.base import named_inputs
from backends.recipes import FROM_ONNX, BuildContext, Cost, Recipe, unsupported
from backends.tflite.convert import convert_to_tflite, tflite_key_fields
from harness.core.artifacts import tool_version
from harness.core.digests import source_digest
from harness.core.errors import UsageError
from harness.core.zoo import get_spec


def _quantizer():
    try:  # pulls in LiteRT's model utilities: imported at build time only
        from litert_quantizer import quantizer, recipe
    except ModuleNotFoundError:
        raise UsageError("quantizing .tflite models needs LiteRT Quantizer: "
                         "pip install 'edgebench[tflite]'") from None
    return quantizer, recipe


def _fp32(ctx: BuildContext) -> Path:
    return RECIPES["fp32"].artifact("tflite", ctx)


def _key(ctx: BuildContext, **settings) -> dict:
    return {"source": _fp32(ctx).parent.name, "format": "tflite",
            "litert_quantizer": version("litert-quantizer"),
            "recipe": source_digest(_quantizer), **settings}


def _quantize(ctx: BuildContext, staging: Path, recipe, calibration=None) -> Path:
    quantizer, _ = _quantizer()
    tool = quantizer.Quantizer(str(_fp32(ctx)))
    tool.load_quantization_recipe(recipe)
    result = tool.quantize(tool.calibrate(calibration) if calibration else None)
    result.export_model(str(staging / "model.tflite"), overwrite=True)
    return staging / "model.tflite"


def build_fp16(ctx: BuildContext, staging: Path) -> Path:
    from litert_quantizer import algorithm_manager, recipe_manager
    from litert_quantizer.qtyping import TFLOperationName

    manager = recipe_manager.RecipeManager()
    manager.add_weight_only_config(
        regex=".*", operation_name=TFLOperationName.ALL_SUPPORTED, num_bits=16,
        algorithm_key=algorithm_manager.AlgorithmName.FLOAT_CASTING)
    return _quantize(ctx, staging, manager.get_quantization_recipe())


def build_int8_dynamic(ctx: BuildContext, staging: Path) -> Path:
    return _quantize(ctx, staging, _quantizer()[1].dynamic_wi8_afp32())


def build_int8_static(ctx: BuildContext, staging: Path) -> Path:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(_fp32(ctx)))
    ((signature, io),) = interpreter.get_signature_list().items()
    details = interpreter.get_signature_runner(signature).get_input_details()
    dtypes = [details[name]["dtype"] for name in io["inputs"]]
    spec = get_spec(ctx.model_name)  # a user's .tflite is fed in its own layout
    layout = spec.input.layout if spec.source_kind == "tflite" else "NHWC"
    # a record batch (several or non-image inputs): its fields, in the model's order, in
    # the types the converter gave them (int64 ids become int32)
    samples = [{name: array.astype(dtype, copy=False) for name, array, dtype in zip(
                   io["inputs"], (named_inputs(batch) or {"": batch}).values(), dtypes,
                   strict=True)}
               for batch in ctx.calibration.batches(layout, ctx.batch_size)]
    return _quantize(ctx, staging, _quantizer()[1].static_wi8_ai8(), {signature: samples})


def _record(tool: str, **fields) -> dict:
    return {"tool": f"litert-quantizer {tool_version('litert-quantizer')} {tool}", **fields}


RECIPES: dict[str, Recipe] = {
    "fp32": Recipe("fp32", "litert-torch conversion, NHWC input, one file per batch size",
                   lambda ctx: tflite_key_fields(ctx.model_name, ctx.weights),
                   lambda ctx, staging: convert_to_tflite(
                       ctx.model_name, ctx.weights, staging / "model.tflite", ctx.batch_size),
                   per_batch_size=True,
                   cost=Cost(time_vs_fp32=0.97, build_s=10, build_s_per_fp32_ms=0.3)),
    "fp16": Recipe("fp16", "LiteRT Quantizer fp16 weights (FLOAT_CASTING), fp32 compute",
                   lambda ctx: _key(ctx, recipe_name="weight_only fp16"), build_fp16,
                   per_batch_size=True,
                   cost=Cost(time_vs_fp32=0.98, build_s_per_fp32_ms=0.02),
                   quantization=lambda _ctx: _record(
                       "weight-only FLOAT_CASTING 16 bit", weights="float16",
                       activations="float32 (weights dequantized at load)")),
    "bf16": Recipe("bf16", "unsupported: no bf16 in LiteRT's CPU path",
                   unsupported_reason=unsupported(
                       "LiteRT Quantizer has no bfloat16 recipe and LiteRT's CPU kernels "
                       "(XNNPACK) run no bfloat16 model")),
    "int8-static": Recipe(
        "int8-static", "LiteRT Quantizer static_wi8_ai8: full-integer int8, calibrated; "
        "int8 input quantized once at sample load",
        lambda ctx: _key(ctx, recipe_name="static_wi8_ai8"), build_int8_static,
        needs_calibration=True, per_batch_size=True, quantizer="minmax",
        cost=Cost(time_vs_fp32=0.38, build_s=10, build_s_per_fp32_ms=1.2),
        quantization=lambda _ctx: _record(
            "static_wi8_ai8", activations="int8", weights="int8",
            activation_symmetric=False, weight_symmetric=True,
            weight_granularity="per-channel", activation_granularity="per-tensor",
            calibration_method="min-max",
            model_io="int8: samples quantized at load with the model's input scale and "
                     "zero point; outputs dequantized to float logits")),
    "int8-dynamic": Recipe(
        "int8-dynamic", "LiteRT Quantizer dynamic_wi8_afp32: int8 weights, activations "
        "quantized at run time",
        lambda ctx: _key(ctx, recipe_name="dynamic_wi8_afp32"), build_int8_dynamic,
        per_batch_size=True, cost=Cost(time_vs_fp32=0.5, build_s_per_fp32_ms=0.02),
        quantization=lambda _ctx: _record(
            "dynamic_wi8_afp32", weights="int8", activations="float32, quantized per op "
            "at run time", weight_symmetric=True, weight_granularity="per-channel",
            calibration_method=None)),
    "w4a8": Recipe("w4a8", "unsupported: no 4-bit-weight, 8-bit-activation recipe in LiteRT "
                   "Quantizer", unsupported_reason=unsupported(
                       "LiteRT Quantizer's recipes put int4 weights with float activations "
                       "only (dynamic_wi4_afp32, weight_only_wi4_afp32; no static wi4/ai8), "
                       "and edgebench's w4a8 is aimet-onnx's QDQ ONNX model, which LiteRT "
                       "cannot read")),
}
# A user's .tflite file is the fp32 artifact itself; LiteRT Quantizer starts from it.
RECIPES = {precision: replace(recipe, sources=(*FROM_ONNX, "tflite"))
           for precision, recipe in RECIPES.items()}
