"""ONNX Runtime's precisions, each made by its own toolchain from the FP32 ONNX export.

- fp16: ONNX's float16 converter (the copy ONNX Runtime ships), float32 graph inputs
  and outputs kept;
- int8-static: `quant_pre_process`, then `quantize_static`: QDQ, per-channel int8
  weights, activations calibrated by its MinMax (default), Entropy or Percentile
  calibrator; or aimet-onnx's QDQ model (AdaRound, CLE: `backends.aimet_quantize`);
- w4a8: aimet-onnx's QDQ model with int4 weights (min-max, AdaRound, CLE); ONNX Runtime
  dequantizes them and computes in float (no 4-bit convolution kernel);
- int8-dynamic: `quantize_dynamic`: int8 weights, activations quantized per query;
- bf16: no ONNX Runtime tool makes it and its CPU provider has no bf16 convolution.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import replace
from importlib.metadata import version
from pathlib import Path

from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_dynamic,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from backends.aimet_quantize import AIMET_QUANTIZERS, aimet_precision, aimet_recipe
from backends.base import named_inputs
from backends.onnx_export import ONNX_EXPORT, input_name, onnx_artifact, onnx_key_fields
from backends.recipes import FROM_ONNX, BuildContext, Cost, Recipe, unsupported
from harness.core.digests import source_digest
from harness.core.model_card import FROM_CARD, FROM_COMMAND_LINE
from harness.core.system_info import cpu_features, is_arm
from harness.core.zoo import get_spec


def int8_format(override: str | None = None) -> dict:
    """Activation/weight types for this CPU, following ONNX Runtime's quantization guide:
    U8S8 on x86-64 (its VPMADDUBSW / VNNI kernels take uint8 activations; int8
    activations take slow paths there, 0.99x of FP32 measured here against 2.1x for
    U8S8), S8S8 on ARM64 (the QDQ default, run by its SDOT kernels). Without VNNI,
    x86 quantizes weights to 7 bits (reduce_range), against VPMADDUBSW's saturation."""
    x86_vnni = bool({"avx512_vnni", "avx_vnni"} & cpu_features())
    if override:
        choice, reason = override, "--quant-format"
    elif is_arm():
        choice, reason = "s8s8", "ARM64: ONNX Runtime's S8S8 QDQ default"
    else:
        choice, reason = "u8s8", ("x86-64: ONNX Runtime's fast U8S8 kernels"
                                  + (" (VNNI)" if x86_vnni else ", without VNNI"))
    reduce_range = choice == "u8s8" and not is_arm() and not x86_vnni
    return {"format": choice, "activation_type": "uint8" if choice == "u8s8" else "int8",
            "weight_type": "int8", "reduce_range": reduce_range, "chosen_because": reason}


def _fp32(ctx: BuildContext) -> Path:
    return onnx_artifact(ctx)


def _key(ctx: BuildContext, **settings) -> dict:
    return {**onnx_key_fields(ctx.model_name, ctx.weights), "onnxruntime": version("onnxruntime"),
            "recipe": source_digest(int8_format), **settings}


# ---- fp16 ----

# Past this size a model is written with its weights in an external data file beside it:
# protobuf cannot hold a message over 2 GB (a large model, or its int8 artifact on the way)
EXTERNAL_DATA_ABOVE_BYTES = 1_500_000_000


def needs_external_data(model_path: Path) -> bool:
    """Whether a model of this size (with the external data it refers to) must be written
    with external data."""
    from harness.core.model_source import SOURCE_KINDS

    files = [model_path, *SOURCE_KINDS.get("onnx").companions(model_path)]
    return sum(f.stat().st_size for f in files if f.is_file()) > EXTERNAL_DATA_ABOVE_BYTES


def build_fp16(ctx: BuildContext, staging: Path) -> Path:
    import onnx
    import onnx.numpy_helper
    from onnxruntime.transformers.float16 import convert_float_to_float16

    source = _fp32(ctx)
    model = convert_float_to_float16(onnx.load(str(source)), keep_io_types=True)
    large = needs_external_data(source)
    if large:  # the converter keeps fp16 values in int32_data, which onnx never writes
        # out of the model file: as raw bytes, they go to the external data file
        for tensor in model.graph.initializer:
            tensor.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(tensor),
                                                         tensor.name))
    onnx.save(model, str(staging / "model.onnx"), save_as_external_data=large,
              all_tensors_to_one_file=True, location="model.onnx.data" if large else None)
    return staging / "model.onnx"


# ---- int8 ----

class _CalibrationReader(CalibrationDataReader):
    """onnxruntime.quantization's CalibrationDataReader over the calibration set."""

    def __init__(self, ctx: BuildContext):
        name, layout = input_name(ctx.model_name), get_spec(ctx.model_name).input.layout
        self.batches = (named_inputs(batch) or {name: batch}
                        for batch in ctx.calibration.batches(layout))

    def get_next(self) -> dict | None:
        return next(self.batches, None)

    def rewind(self) -> None:  # called by some calibrators; a second pass is not needed
        pass


CALIBRATORS = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}


def build_int8_static(ctx: BuildContext, staging: Path, calibrator: str) -> Path:
    chosen = int8_format(ctx.options["quant_format"])
    prepared, large = _pre_processed(ctx, staging)
    reader = _CalibrationReader(ctx)
    quantize_static(
        str(prepared), str(staging / "model.onnx"), reader,
        quant_format=QuantFormat.QDQ, per_channel=True,
        activation_type=QuantType.QUInt8 if chosen["activation_type"] == "uint8"
        else QuantType.QInt8,
        weight_type=QuantType.QInt8, reduce_range=chosen["reduce_range"],
        calibrate_method=CALIBRATORS[calibrator], use_external_data_format=large,
    )
    _remove_pre_processed(prepared)
    return staging / "model.onnx"


def build_int8_dynamic(ctx: BuildContext, staging: Path) -> Path:
    prepared, large = _pre_processed(ctx, staging)
    quantize_dynamic(str(prepared), str(staging / "model.onnx"), weight_type=QuantType.QInt8,
                     use_external_data_format=large)
    _remove_pre_processed(prepared)
    return staging / "model.onnx"


def _pre_processed(ctx: BuildContext, staging: Path) -> tuple[Path, bool]:
    """quant_pre_process's model, and whether it (and so the artifact) has external data.

    Its symbolic shape inference stops at dimensions the file leaves open (a detector's
    height and width): the model goes in with the sizes its card gives them (the batch
    axis left open), as it will run. Where the inference still fails (it asserts on some
    graphs), the pre-processing runs without it, as ONNX Runtime's quantization guide
    advises, and the build log says so."""
    source, staging = _fp32(ctx).resolve(), staging.resolve()  # absolute: see _scratch_cwd
    large = needs_external_data(source)
    prepared = staging / "preprocessed.onnx"
    model, card = str(source), get_spec(ctx.model_name).card
    filled = any(origin in (FROM_CARD, FROM_COMMAND_LINE)
                 for spec in card.inputs for origin in spec.dim_sources)
    if filled and not large:  # (quant_pre_process mishandles a ModelProto's weights: a file)
        import onnx

        model = str(staging / "shaped.onnx")
        onnx.save(_with_card_shapes(source, card), model)
    options = {"save_as_external_data": large, "all_tensors_to_one_file": True,
               "external_data_location": "preprocessed.onnx.data"}
    try:
        with _scratch_cwd():
            quant_pre_process(model, str(prepared), **options)
    except Exception as exc:  # its symbolic shape inference's assertions and its giving up
        print(f"edgebench: quant_pre_process failed ({type(exc).__name__}: {exc}); "
              "pre-processing again without symbolic shape inference "
              "(skip_symbolic_shape=True)")
        quant_pre_process(model, str(prepared), skip_symbolic_shape=True, **options)
    if model != str(source):
        Path(model).unlink()
    return prepared, large


@contextlib.contextmanager
def _scratch_cwd():
    """A scratch folder as the working directory: ONNX Runtime's symbolic shape inference
    dumps the model it gave up on (sym_shape_infer_temp.onnx and its external data) into
    the working directory, which would otherwise be the user's (their checkout, their
    results folder). Builds run one at a time, before any timing starts."""
    previous = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="edgebench-ort-") as scratch:
        os.chdir(scratch)
        try:
            yield
        finally:
            os.chdir(previous)


def _with_card_shapes(path: Path, card):
    """The ONNX model with the input dimensions its file leaves open set as its card
    fixes them (its batch axes left open)."""
    import onnx

    model = onnx.load(str(path))
    sizes = {spec.name: spec.shape for spec in card.inputs}
    for value in model.graph.input:
        shape = sizes.get(value.name)
        dims = value.type.tensor_type.shape.dim
        if shape is None or len(shape) != len(dims):
            continue
        for dim, size in zip(dims, shape, strict=True):
            if size is not None and not (dim.HasField("dim_value") and dim.dim_value > 0):
                dim.Clear()
                dim.dim_value = size
    return model


def _remove_pre_processed(prepared: Path) -> None:
    prepared.unlink()
    prepared.with_name(prepared.name + ".data").unlink(missing_ok=True)


def _static_record(ctx: BuildContext, calibrator: str) -> dict:
    chosen = int8_format(ctx.options["quant_format"])
    return {"tool": f"onnxruntime.quantization.quantize_static {version('onnxruntime')}",
            "format": f"QDQ {chosen['format'].upper()}", "quant_format_choice": chosen,
            "activations": chosen["activation_type"], "weights": "int8",
            "activation_symmetric": chosen["activation_type"] == "int8",
            "weight_symmetric": True, "weight_granularity": "per-channel",
            "activation_granularity": "per-tensor",
            "calibration_method": calibrator}


def _dynamic_record(_ctx: BuildContext) -> dict:
    return {"tool": f"onnxruntime.quantization.quantize_dynamic {version('onnxruntime')}",
            "format": "QOperator (ConvInteger, MatMulInteger)",
            "activations": "uint8, quantized per query at run time", "weights": "int8",
            "weight_symmetric": True, "weight_granularity": "per-tensor",
            "calibration_method": None}


def _quantize_static(calibrator: str) -> Recipe:
    return Recipe(
        "int8-static", f"quant_pre_process + quantize_static ({calibrator} calibrator): QDQ, "
        "per-channel int8 weights, calibrated activations (U8S8 on x86, S8S8 on ARM)",
        lambda ctx: _key(ctx, settings=int8_format(ctx.options["quant_format"])),
        lambda ctx, staging: build_int8_static(ctx, staging, calibrator),
        needs_calibration=True, quantization=lambda ctx: _static_record(ctx, calibrator),
        options=("quant_format",), quantizer=calibrator, sources=FROM_ONNX,
        cost=Cost(time_vs_fp32=0.66, build_s=3, build_s_per_fp32_ms=0.56))


RECIPES: dict[str, Recipe] = {
    "fp32": ONNX_EXPORT,
    "fp16": Recipe("fp16", "ONNX float16 converter, float32 inputs/outputs kept",
                   lambda ctx: _key(ctx, converter="float16 keep_io_types"), build_fp16,
                   cost=Cost(time_vs_fp32=1.25, build_s_per_fp32_ms=0.04),
                   quantization=lambda _ctx: {
                       "tool": "onnxruntime.transformers.float16", "weights": "float16",
                       "activations": "float16 inside, float32 graph inputs and outputs"}),
    "bf16": Recipe("bf16", "unsupported: no ONNX Runtime tool or CPU kernel for bf16",
                   unsupported_reason=unsupported(
                       "ONNX Runtime's quantization tools make no bfloat16 model and its CPU "
                       "execution provider has no bfloat16 Conv kernel")),
    "int8-static": _quantize_static("minmax"),
    "int8-dynamic": Recipe(
        "int8-dynamic", "quantize_dynamic: int8 weights, activations quantized per query",
        lambda ctx: _key(ctx, settings="dynamic QInt8"), build_int8_dynamic,
        # ConvInteger: 6x FP32 (15x for MobileNetV2's depthwise layers)
        quantization=_dynamic_record,
        cost=Cost(time_vs_fp32=6.0, build_s_per_fp32_ms=0.23)),
}
# int8-static's other quantizers: the histogram calibrators, and aimet-onnx's (min-max
# round-to-nearest from aimet is ONNX Runtime's own calibrator's namesake: left out)
RECIPES["int8-static"] = replace(RECIPES["int8-static"], alternatives={
    **{name: _quantize_static(name) for name in CALIBRATORS if name != "minmax"},
    **{name: aimet_recipe("int8-static", name) for name in AIMET_QUANTIZERS if name != "minmax"}})
RECIPES["w4a8"] = aimet_precision("w4a8")
# Every ONNX Runtime precision starts from an ONNX model: a PyTorch model's export or a
# user's ONNX file.
# (alternatives are made from ONNX already)
RECIPES = {precision: replace(recipe, sources=FROM_ONNX) for precision, recipe in RECIPES.items()}


def fp16_weights(model_path: Path) -> bool:
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    return any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer)

