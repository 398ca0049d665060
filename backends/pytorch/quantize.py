"""PyTorch's precisions, made in memory from the source model (int8-static is cached:
its calibration is the slow part).

- fp16 / bf16: the model's parameters cast to half / bfloat16 (bf16 only on CPUs with
  bf16 arithmetic: AVX512_BF16, AMX or Arm BF16);
- int8-static: FX graph-mode post-training quantization (`torch.ao.quantization.
  quantize_fx`), which runs real int8 kernels in eager mode: the `x86` qconfig mapping
  and quantized engine on x86, `qnnpack` on ARM;
- int8-dynamic: `torch.ao.quantization.quantize_dynamic`, which quantizes only the
  Linear layers (the classifier here): the convolutions stay fp32.

Both need the Python module (the zoo's, a user's callable). A torch.export program has
none: its int8 takes PT2E and torch.compile (`backends.pytorch.pt2e`). `ROUTES` says
which source kind takes which.
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch.ao.quantization import get_default_qconfig_mapping, quantize_dynamic
from torch.ao.quantization.quantize_fx import convert_fx, convert_to_reference_fx, prepare_fx

from backends.base import named_inputs
from backends.onnx_export import source_key_fields
from backends.pytorch import pt2e
from backends.recipes import FROM_ONNX, BuildContext, Cost, Recipe, unsupported
from backends.torch_inputs import example_inputs
from harness.core.digests import source_digest
from harness.core.errors import Unsupported
from harness.core.system_info import cpu_features, is_arm
from harness.core.zoo import get_spec

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


def fx_observed(model: torch.nn.Module, example: tuple[torch.Tensor, ...],
                calibration_batches=None) -> torch.fx.GraphModule:
    """prepare_fx -> observe the calibration batches, at this CPU's engine; `example`:
    the model's inputs (`backends.torch_inputs`)."""
    engine = quantized_engine()
    torch.backends.quantized.engine = engine
    with _quiet():
        prepared = prepare_fx(model.eval(), get_default_qconfig_mapping(engine), example)
        with torch.inference_mode():
            for batch in calibration_batches or ():
                named = named_inputs(batch)  # a record batch: one tensor per input
                prepared(*(torch.from_numpy(a) for a in (named or {"": batch}).values()))
    return prepared


def fx_int8(model: torch.nn.Module, example: tuple[torch.Tensor, ...],
            calibration_batches=None) -> torch.nn.Module:
    """The observed model converted to torch.ao's int8 modules."""
    prepared = fx_observed(model, example, calibration_batches)
    with _quiet():
        return convert_fx(prepared)


def _fx_build_static(ctx: BuildContext, staging: Path) -> Path:
    model = fx_int8(ctx.weights.build_model(ctx.model_name), example_inputs(ctx.model_name, 1),
                    ctx.calibration.batches("NCHW"))
    torch.save(model.state_dict(), staging / "model.pt")
    return staging / "model.pt"


def _fx_load_static(ctx: BuildContext, path: Path) -> torch.nn.Module:
    """The same FX graph, uncalibrated, then the calibrated scales and int8 weights."""
    model = fx_int8(ctx.weights.build_model(ctx.model_name), example_inputs(ctx.model_name, 1))
    with _quiet():
        model.load_state_dict(torch.load(path, weights_only=True))
    return model


def _fx_simulate_static(ctx: BuildContext, path: Path) -> torch.nn.Module:
    """FX's reference model (`convert_to_reference_fx`): the int8 model simulated in float,
    quantize -> dequantize around float modules. The artifact keeps no observers, so the
    model is calibrated again on the same set; observers are deterministic, and that the
    scales came out the same is checked against the artifact, not assumed."""
    prepared = fx_observed(ctx.weights.build_model(ctx.model_name),
                           example_inputs(ctx.model_name, 1), ctx.calibration.batches("NCHW"))
    with _quiet():
        again = convert_fx(copy.deepcopy(prepared)).state_dict()
        deployed = torch.load(path, weights_only=True)
        if not _same_tensors(again, deployed):
            raise Unsupported("calibrating again did not reproduce the artifact's scales and "
                              "weights, so a reference model would not simulate it")
        return convert_to_reference_fx(prepared)


def _same_tensors(first: dict, second: dict) -> bool:
    def plain(value):
        return value.dequantize() if getattr(value, "is_quantized", False) else value

    return first.keys() == second.keys() and all(
        not isinstance(first[key], torch.Tensor) or torch.equal(plain(first[key]),
                                                                plain(second[key]))
        for key in first)


def _fx_dynamic(ctx: BuildContext) -> torch.nn.Module:
    torch.backends.quantized.engine = quantized_engine()
    with _quiet():
        return quantize_dynamic(ctx.weights.build_model(ctx.model_name), {torch.nn.Linear},
                                dtype=torch.qint8)


def _program_example(ctx: BuildContext) -> tuple:
    # a batch of 2: exporting at 1 would pin an open batch dimension to 1
    return example_inputs(ctx.model_name, get_spec(ctx.model_name).fixed_batch or 2)


def _program(ctx: BuildContext) -> torch.nn.Module:
    return ctx.weights.build_model(ctx.model_name).program  # the program's own module


def _pt2e_build_static(ctx: BuildContext, staging: Path) -> Path:
    batch, example = get_spec(ctx.model_name).fixed_batch or 1, _program_example(ctx)
    converted = pt2e.quantize(_program(ctx), example, ctx.calibration.batches("NCHW", batch))
    return pt2e.save(converted, example, staging / "model.pt2")


def _pt2e_dynamic(ctx: BuildContext) -> torch.nn.Module:
    return pt2e.quantize(_program(ctx), _program_example(ctx), dynamic=True)


@dataclass(frozen=True)
class Int8Route:
    """How one kind of PyTorch source becomes int8 on this backend."""

    key_fields: dict  # what the static artifact's cache key adds for this route
    build_static: Callable[[BuildContext, Path], Path]
    load_static: Callable[[BuildContext, Path], torch.nn.Module]
    dynamic: Callable[[BuildContext], torch.nn.Module]
    record: Callable[[bool], dict]  # result.json's `quantization` (dynamic or not)
    # the static artifact simulated in float (fake-quant), and how, for `simulated` accuracy
    simulate_static: Callable[[BuildContext, Path], torch.nn.Module]
    simulation: str
    compiles: bool = False  # the module runs through torch.compile (`pt2e.compile_int8`)
    unsupported_reason: Callable[[], str | None] = lambda: None


def _fx_record(dynamic: bool) -> dict:
    return _dynamic_record() if dynamic else _qconfig_record()


ROUTES: dict[str, Int8Route] = {
    "pytorch-callable": Int8Route(
        {"format": "torch-fx", "recipe": source_digest(fx_int8)},
        _fx_build_static, _fx_load_static, _fx_dynamic, _fx_record, _fx_simulate_static,
        "FX's reference model (convert_to_reference_fx) of the same model, calibrated again "
        "on the same set (its scales checked equal to the artifact's): quantize-dequantize "
        "around float modules"),
    "pytorch-program": Int8Route(
        {"format": "torch-pt2e", "recipe": source_digest(pt2e)},
        _pt2e_build_static, lambda _ctx, path: pt2e.load(path), _pt2e_dynamic, pt2e.record,
        lambda _ctx, path: pt2e.load(path),
        "the same converted program run eagerly, not compiled: its quantize-dequantize "
        "patterns around float aten operators",
        compiles=True, unsupported_reason=pt2e.unsupported_reason),
}


# a user's ONNX file reaches PyTorch as onnx2torch's module (proven against ONNX Runtime,
# harness.core.onnx_to_torch): a Python module, quantized as a callable's is
ROUTES["onnx"] = ROUTES["pytorch-callable"]
# what this machine lacks for one source kind's route (the program's needs x86 and a compiler)
ROUTE_CONDITIONS = {kind: route.unsupported_reason for kind, route in ROUTES.items()}


def route(ctx: BuildContext) -> Int8Route:
    return ROUTES[get_spec(ctx.model_name).source_kind]


def bf16_unsupported() -> str | None:
    if set(BF16_FLAGS) & cpu_features():
        return None
    return ("this CPU reports no bf16 arithmetic (none of the ISA flags "
            f"{', '.join(BF16_FLAGS)}); PyTorch would emulate bf16 in fp32, slower")


def _qconfig_record() -> dict:
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


def _dynamic_record() -> dict:
    return {"tool": f"torch.ao.quantization.quantize_dynamic {torch.__version__}",
            "what": "Linear layers only; every convolution stays fp32",
            "weights": "qint8 (Linear)", "activations": "float, quantized per call inside "
            "Linear", "weight_symmetric": True, "weight_granularity": "per-tensor",
            "calibration_method": None}


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
        "int8-static", "FX graph mode PTQ (x86 engine on x86, qnnpack on ARM), calibrated; "
        "an exported program: PT2E (X86InductorQuantizer) through torch.compile",
        lambda ctx: {**source_key_fields(ctx.model_name, ctx.weights), **route(ctx).key_fields,
                     "engine": quantized_engine()},
        lambda ctx, staging: route(ctx).build_static(ctx, staging), needs_calibration=True,
        quantization=lambda ctx: route(ctx).record(False),
        cost=Cost(time_vs_fp32=0.83, build_s=12, build_s_per_fp32_ms=0.75),
        sources=FROM_ONNX, unsupported_for=ROUTE_CONDITIONS,
        # both routes observe activations with torch's HistogramObserver
        quantizer="histogram"),
    "int8-dynamic": Recipe(
        "int8-dynamic", "quantize_dynamic: Linear layers only (convolutions stay fp32); an "
        "exported program: PT2E's dynamic config, the same layers, through torch.compile",
        cost=Cost(time_vs_fp32=1.72), sources=FROM_ONNX,
        unsupported_for=ROUTE_CONDITIONS,
        quantization=lambda ctx: route(ctx).record(True)),
    "w4a8": Recipe("w4a8", "unsupported: no 4-bit weights in torch.ao's or PT2E's CPU "
                   "quantizers", unsupported_reason=unsupported(
                       "torch.ao's and PT2E's CPU quantizers (x86, qnnpack, "
                       "X86InductorQuantizer) have no 4-bit weight type for convolutions; "
                       "edgebench makes w4a8 with aimet-onnx for ONNX Runtime and OpenVINO")),
}
# every precision reaches a PyTorch model, a program, and an ONNX file through onnx2torch
RECIPES = {precision: replace(recipe, sources=FROM_ONNX) for precision, recipe in RECIPES.items()}
