"""OpenVINO's precisions: IRs converted from the shared ONNX export, quantized by NNCF,
and the inference precision the CPU plugin is asked to run them in.

- fp32: fp32-weight IR, run at INFERENCE_PRECISION_HINT=f32;
- fp16: fp16-weight IR, run at f16 (a CPU without FP16 arithmetic refuses it: the
  backend reads the hint back and records the refusal);
- bf16: the fp32 IR run at bf16 (OpenVINO's own default on AVX512_BF16/AMX CPUs);
- int8-static: `nncf.quantize` post-training quantization, calibrated, with its fast
  bias correction (default) or without; or aimet-onnx's QDQ model (AdaRound, CLE,
  `backends.aimet_quantize`) converted, its FakeQuantize nodes run by the CPU plugin;
- w4a8: aimet-onnx's int4-weight QDQ model converted;
- int8-dynamic: what OpenVINO really offers instead: NNCF int8 weight compression,
  activations in float (the CPU plugin may quantize FullyConnected inputs per query).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from backends.aimet_quantize import (
    AIMET_QUANTIZERS,
    WEIGHT_BITS,
    aimet_precision,
    aimet_recipe,
    qdq_artifact,
)
from backends.base import float_compute, named_inputs
from backends.onnx_export import onnx_artifact
from backends.openvino.ov_import import ov
from backends.recipes import FROM_ONNX, BuildContext, Cost, Recipe
from harness.core.artifacts import tool_version
from harness.core.digests import source_digest
from harness.core.zoo import get_spec

# What the CPU plugin is asked to compute in, per precision (read back after compiling).
INFERENCE_PRECISION = {"fp32": "f32", "fp16": "f16", "bf16": "bf16",
                       "int8-static": "f32", "int8-dynamic": "f32", "w4a8": "f32"}
# --ov-float-precision runtime-default: the int8 recipes' float layers are left to the
# plugin (no hint asked), as benchmark_app leaves them.
RUNTIME_DEFAULT = "runtime-default"


def capability_missing(capability: str) -> Callable[[], str | None]:
    """The CPU plugin's own list of what this CPU computes natively decides."""
    def reason() -> str | None:
        listed = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
        if capability in listed:
            return None
        return (f"OpenVINO's CPU plugin lists no {capability} among this CPU's "
                f"OPTIMIZATION_CAPABILITIES ({', '.join(listed)}); asked for "
                f"{capability.lower()}, it would run another precision")
    return reason


def _onnx(ctx: BuildContext) -> tuple[Path, str]:
    """The ONNX export's file and its cache folder's name (which hashes its whole key)."""
    path = onnx_artifact(ctx)
    return path, path.parent.name


def _key(ctx: BuildContext, **settings) -> dict:
    # The ONNX artifact's own key (its folder name hashes every field of it), so that
    # anything rebuilding the ONNX file rebuilds the IR made from it too; a user's IR by
    # its digest.
    spec = get_spec(ctx.model_name)
    source = f"openvino-ir:{spec.source.digest}" if spec.source_kind == "openvino-ir" \
        else _onnx(ctx)[1]
    return {"source": source, "format": "openvino-ir", "openvino": ov.__version__,
            "recipe": source_digest(float_model), **settings}


def float_model(ctx: BuildContext) -> ov.Model:
    """The model every precision starts from: a user's IR as given, or OpenVINO's
    conversion of the ONNX model."""
    spec = get_spec(ctx.model_name)
    if spec.source_kind == "openvino-ir":
        return ov.Core().read_model(str(spec.source.path))
    return ov.convert_model(_onnx(ctx)[0])


def build_fp32(ctx: BuildContext, staging: Path) -> Path:
    # save_model stores fp16 weights by default; only the fp16 artifact keeps them so.
    ov.save_model(float_model(ctx), staging / "model.xml", compress_to_fp16=False)
    return staging / "model.xml"


def build_fp16(ctx: BuildContext, staging: Path) -> Path:
    ov.save_model(float_model(ctx), staging / "model.xml", compress_to_fp16=True)
    return staging / "model.xml"


def build_int8_static(ctx: BuildContext, staging: Path, bias_correction: bool) -> Path:
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters

    calibration = [named_inputs(batch) or batch for batch in
                   ctx.calibration.batches(get_spec(ctx.model_name).input.layout)]
    model = nncf.quantize(float_model(ctx), nncf.Dataset(calibration),
                          subset_size=len(calibration),
                          advanced_parameters=AdvancedQuantizationParameters(
                              disable_bias_correction=not bias_correction))
    ov.save_model(model, staging / "model.xml", compress_to_fp16=False)
    return staging / "model.xml"


def build_from_qdq(ctx: BuildContext, staging: Path, precision: str, quantizer: str) -> Path:
    """aimet-onnx's QDQ model converted: its Q/DQ pairs become FakeQuantize nodes, which
    the CPU plugin runs in integer kernels where it has them."""
    ov.save_model(ov.convert_model(qdq_artifact(ctx, precision, quantizer)),
                  staging / "model.xml", compress_to_fp16=False)
    return staging / "model.xml"


def _from_aimet(precision: str, quantizer: str) -> Recipe:
    made, bits = aimet_recipe(precision, quantizer), WEIGHT_BITS[precision]
    return replace(
        made, summary=f"{made.summary}, converted to IR (convert_model), hint f32 for the "
        "layers left in float",
        key_fields=lambda ctx: {"source": qdq_artifact(ctx, precision, quantizer).parent.name,
                                "format": "openvino-ir", "openvino": ov.__version__,
                                "recipe": source_digest(build_from_qdq)},
        build=lambda ctx, staging: build_from_qdq(ctx, staging, precision, quantizer),
        artifact_runtime=None, options=(*made.options, "ov_float_precision"),
        quantization=lambda ctx: {**made.quantization(ctx),
                                  "converted": f"openvino.convert_model {ov.__version__}"},
        qdq_source=lambda ctx: qdq_artifact(ctx, precision, quantizer),
        # the CPU plugin has no 4-bit convolution: it decompresses int4 weights to fp32
        float_compute_note=float_compute(f"int{bits}") if bits < 8 else None)


def _nncf_quantize(bias_correction: bool) -> Recipe:
    quantizer = "nncf" if bias_correction else "nncf-no-bias-correction"
    corrected = "fast bias correction" if bias_correction else "no bias correction"
    return Recipe(
        "int8-static", f"nncf.quantize post-training quantization (calibrated, {corrected}), "
        "hint f32 for the layers left in float",
        lambda ctx: _key(ctx, nncf=_nncf_version(), preset="performance",
                         bias_correction=bias_correction),
        lambda ctx, staging: build_int8_static(ctx, staging, bias_correction),
        needs_calibration=True, options=("ov_float_precision",), quantizer=quantizer,
        cost=Cost(time_vs_fp32=0.38, build_s=4, build_s_per_fp32_ms=0.34),
        quantization=lambda ctx: {
            "tool": f"nncf.quantize {tool_version('nncf')} (preset PERFORMANCE)",
            "format": "FakeQuantize IR", "activations": "uint8/int8 (chosen by NNCF per op)",
            "weights": "int8", "activation_symmetric": True, "weight_symmetric": True,
            "weight_granularity": "per-channel", "activation_granularity": "per-tensor",
            "calibration_method": f"min-max (NNCF default statistics, {corrected})"})


def build_int8_weights(ctx: BuildContext, staging: Path) -> Path:
    import nncf

    model = nncf.compress_weights(float_model(ctx),
                                  mode=nncf.CompressWeightsMode.INT8_ASYM)
    ov.save_model(model, staging / "model.xml", compress_to_fp16=False)
    return staging / "model.xml"


def _nncf_version() -> str:
    from importlib.metadata import version

    return version("nncf")


RECIPES: dict[str, Recipe] = {
    "fp32": Recipe("fp32", "IR with fp32 weights (convert_model), hint f32",
                   lambda ctx: _key(ctx), build_fp32,
                   cost=Cost(time_vs_fp32=1.02, build_s_per_fp32_ms=0.02)),
    "fp16": Recipe("fp16", "IR with fp16 weights, hint f16 (refused on CPUs without FP16)",
                   lambda ctx: _key(ctx, weights="fp16"), build_fp16,
                   unsupported_reason=capability_missing("FP16"),
                   quantization=lambda _ctx: {"tool": "openvino.save_model(compress_to_fp16)",
                                              "weights": "float16", "activations": "float16"}),
    "bf16": Recipe("bf16", "the fp32 IR, hint bf16 (CPUs with AVX512_BF16 or AMX)",
                   lambda ctx: _key(ctx), build_fp32, artifact_precision="fp32",
                   cost=Cost(time_vs_fp32=0.54, build_s_per_fp32_ms=0.02),
                   unsupported_reason=capability_missing("BF16"),
                   quantization=lambda _ctx: {"tool": "CPU plugin INFERENCE_PRECISION_HINT",
                                              "weights": "bfloat16 at compile time",
                                              "activations": "bfloat16"}),
    "int8-static": replace(_nncf_quantize(bias_correction=True), alternatives={
        "nncf-no-bias-correction": _nncf_quantize(bias_correction=False),
        **{name: _from_aimet("int8-static", name) for name in AIMET_QUANTIZERS}}),
    "int8-dynamic": Recipe(
        "int8-dynamic", "int8 weight compression (nncf.compress_weights INT8_ASYM), float "
        "activations: OpenVINO has no dynamic quantization of convolutions",
        lambda ctx: _key(ctx, nncf=_nncf_version(), mode="INT8_ASYM"), build_int8_weights,
        options=("ov_float_precision",),
        cost=Cost(time_vs_fp32=0.97, build_s=1, build_s_per_fp32_ms=0.02),
        quantization=lambda _ctx: {
            "tool": f"nncf.compress_weights {tool_version('nncf')} (INT8_ASYM)",
            "what": "int8 weight compression; OpenVINO's closest thing to dynamic "
                    "quantization (activations stay float)",
            "weights": "uint8 with zero point", "activations": "float",
            "weight_symmetric": False, "weight_granularity": "per-channel",
            "calibration_method": None},
        # the CPU plugin decompresses the int8 weights and computes in fp32
        float_compute_note=float_compute("int8")),
    "w4a8": aimet_precision("w4a8", _from_aimet),
}
# Every OpenVINO precision starts from an ONNX model (a PyTorch model's export or a
# user's ONNX file) or a user's IR.
# (aimet's start from ONNX only: they keep their own sources)
RECIPES = {precision: recipe if recipe.quantizer in AIMET_QUANTIZERS else
           replace(recipe, sources=(*FROM_ONNX, "openvino-ir"))
           for precision, recipe in RECIPES.items()}
