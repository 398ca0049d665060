"""PyTorch's precisions, made in memory from the source model (int8-static is cached:
its calibration is the slow part).

- fp16 / bf16: the model's parameters cast to half / bfloat16 (bf16 only on CPUs with
  bf16 arithmetic: AVX512_BF16, AMX or Arm BF16);
- int8-static: FX graph-mode post-training quantization (`torch.ao.quantization.
  quantize_fx`), which runs real int8 kernels in eager mode: the `x86` qconfig mapping
  and quantized engine on x86, `qnnpack` on ARM. (PT2E reaches int8 kernels only
  through torch.compile, which edgebench does not offer.)
- int8-dynamic: `torch.ao.quantization.quantize_dynamic`, which quantizes only the
  Linear layers (the classifier here): the convolutions stay fp32.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import torch
from torch.ao.quantization import get_default_qconfig_mapping, quantize_dynamic
from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

from backends.base import named_inputs
from backends.onnx_export import source_key_fields
from backends.recipes import BuildContext, Cost, Recipe
from backends.torch_inputs import example_inputs
from harness.core.digests import source_digest
from harness.core.system_info import cpu_features, is_arm

BF16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")


def quantized_engine() -> str:
    """qnnpack on ARM (its fast int8 kernels there), x86 (fbgemm + oneDNN) elsewhere."""
    return "qnnpack" if is_arm() else "x86"


@contextlib.contextmanager
def _quiet():
    # torch.ao prints a deprecation banner (it points at torchao) on every call.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def fx_int8(model: torch.nn.Module, example: tuple[torch.Tensor, ...],
            calibration_batches=None) -> torch.nn.Module:
    """prepare_fx -> observe the calibration batches -> convert_fx, at this CPU's engine;
    `example`: the model's inputs (`backends.torch_inputs`)."""
    engine = quantized_engine()
    torch.backends.quantized.engine = engine
    with _quiet():
        prepared = prepare_fx(model.eval(), get_default_qconfig_mapping(engine), example)
        with torch.inference_mode():
            for batch in calibration_batches or ():
                named = named_inputs(batch)  # a record batch: one tensor per input
                prepared(*(torch.from_numpy(a) for a in (named or {"": batch}).values()))
        return convert_fx(prepared)


def build_int8_static(ctx: BuildContext, staging: Path) -> Path:
    model = fx_int8(ctx.weights.build_model(ctx.model_name), example_inputs(ctx.model_name, 1),
                    ctx.calibration.batches("NCHW"))
    torch.save(model.state_dict(), staging / "model.pt")
    return staging / "model.pt"


def load_int8_static(ctx: BuildContext, path: Path) -> torch.nn.Module:
    """The same FX graph, uncalibrated, then the calibrated scales and int8 weights."""
    model = fx_int8(ctx.weights.build_model(ctx.model_name), example_inputs(ctx.model_name, 1))
    with _quiet():
        model.load_state_dict(torch.load(path, weights_only=True))
    return model


def int8_dynamic(model: torch.nn.Module) -> torch.nn.Module:
    torch.backends.quantized.engine = quantized_engine()
    with _quiet():
        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def bf16_unsupported() -> str | None:
    if set(BF16_FLAGS) & cpu_features():
        return None
    return ("this CPU reports no bf16 arithmetic (none of the ISA flags "
            f"{', '.join(BF16_FLAGS)}); PyTorch would emulate bf16 in fp32, slower")


def _qconfig_record(_ctx: BuildContext) -> dict:
    engine = quantized_engine()
    qconfig = get_default_qconfig_mapping(engine).global_qconfig
    with _quiet():
        activation, weight = qconfig.activation(), qconfig.weight()
    return {"tool": f"torch.ao.quantization.quantize_fx {torch.__version__}",
            "engine": engine, "format": "FX graph, quantized eager modules",
            "activations": str(activation.dtype).removeprefix("torch."),
            "weights": str(weight.dtype).removeprefix("torch."),
            "activation_symmetric": activation.qscheme in (torch.per_tensor_symmetric,),
            "weight_symmetric": weight.qscheme in (torch.per_channel_symmetric,
                                                   torch.per_tensor_symmetric),
            "weight_granularity": "per-channel" if "channel" in str(weight.qscheme)
            else "per-tensor",
            "activation_granularity": "per-tensor",
            "reduce_range": bool(getattr(activation, "reduce_range", False)),
            "calibration_method": type(activation).__name__}


# torch.ao's eager and FX quantization work on the Python module a callable returns; a
# torch.export program has none (measured: prepare_fx cannot trace its module, "Proxy
# object cannot be iterated")
MODULE_SOURCES = ("pytorch-callable",)
FX_NEEDS_A_MODULE = ("FX graph mode quantization traces the Python module, and an exported "
                     "program's module cannot be traced (torch.fx: \"Proxy object cannot be "
                     "iterated\"); its int8 path is PT2E with torch.compile, not built here")

RECIPES: dict[str, Recipe] = {
    "fp32": Recipe("fp32", "the source model, eager, channels-last",
                   cost=Cost(time_vs_fp32=1.72)),
    "fp16": Recipe("fp16", "model.half(): fp16 parameters and inputs",
                   quantization=lambda _ctx: {"tool": "torch.nn.Module.half",
                                              "weights": "float16", "activations": "float16"},
                   # no FP16 arithmetic on this CPU: 10x FP32 (40x for MobileNetV2)
                   cost=Cost(time_vs_fp32=10.3)),
    "bf16": Recipe("bf16", "bfloat16 parameters and activations (CPUs with bf16)",
                   unsupported_reason=bf16_unsupported, cost=Cost(time_vs_fp32=1.56),
                   quantization=lambda _ctx: {"tool": "torch.nn.Module.to(torch.bfloat16)",
                                              "weights": "bfloat16",
                                              "activations": "bfloat16"}),
    "int8-static": Recipe(
        "int8-static", "FX graph mode PTQ (x86 engine on x86, qnnpack on ARM), calibrated",
        lambda ctx: {**source_key_fields(ctx.model_name, ctx.weights), "format": "torch-fx",
                     "engine": quantized_engine(), "recipe": source_digest(fx_int8)},
        build_int8_static, needs_calibration=True, quantization=_qconfig_record,
        cost=Cost(time_vs_fp32=0.83, build_s=12, build_s_per_fp32_ms=0.75),
        sources=MODULE_SOURCES, sources_note=FX_NEEDS_A_MODULE),
    "int8-dynamic": Recipe(
        "int8-dynamic", "quantize_dynamic: Linear layers only (convolutions stay fp32)",
        cost=Cost(time_vs_fp32=1.72), sources=MODULE_SOURCES,
        sources_note="quantize_dynamic swaps nn.Linear modules, and an exported program "
                     "holds none (its layers are graph operators)",
        quantization=lambda _ctx: {
            "tool": f"torch.ao.quantization.quantize_dynamic {torch.__version__}",
            "what": "Linear layers only; every convolution stays fp32",
            "weights": "qint8 (Linear)", "activations": "float, quantized per call "
            "inside Linear", "weight_symmetric": True, "weight_granularity": "per-tensor",
            "calibration_method": None}),
}
