"""Int8 for a torch.export program (`.pt2`): PT2E quantization, run through torch.compile.

torch.ao's FX quantization traces a Python module; an exported program has none, so its
int8 path is PT2E: torchao's `prepare_pt2e` / `convert_pt2e` with the
`X86InductorQuantizer` annotate and calibrate the program's aten graph. Run eagerly, the
converted graph only *simulates* int8 (quantize -> dequantize -> a float kernel);
torch.compile (inductor, with freezing) fuses those patterns into oneDNN's int8
convolution and linear kernels. What ran is read from the code inductor generated
(measured on a small residual network, 2026-11-30: every convolution and linear became
`onednn.qconv*` / `onednn.qlinear*`: 1.54 ms against fp32 eager's 4.00 ms per batch of
4, 2.6x, one process).

- int8-static: the calibrated program is re-exported and cached (`.pt2`);
- int8-dynamic: the dynamic config quantizes only the linear layers, per call (the
  convolutions stay fp32), as `quantize_dynamic` does for a module; built in memory.
"""

from __future__ import annotations

import contextlib
import logging
import platform
import re
import shutil
import time
import warnings
from collections import Counter
from pathlib import Path

import torch

from backends.base import named_inputs

# inductor's generated code calls these for int8 (oneDNN's quantized kernels) ...
INT8_KERNEL = re.compile(r"torch\.ops\.onednn\.(q\w+)(?:\.\w+)?\(")
# ... and these for float convolutions, matrix products and attention (a ViT's stays
# float): library calls, or a C++ loop inductor wrote (measured: at batch 1 it fuses a
# quantized linear into one, `cpp_fused_addmm_dequantize_per_channel_...`, arithmetic in
# float on dequantized int8)
FLOAT_KERNEL = re.compile(r"(?:torch\.ops\.(?:mkldnn|mkl|aten)\.|extern_kernels\.)"
                          r"(\w*(?:convolution|linear|mm|attention)\w*)(?:\.\w+)?\(")
FUSED_FLOAT_KERNEL = re.compile(r"^\s+(cpp_fused_\w*(?:addmm|bmm|_mm_|convolution)\w*)\(",
                                re.MULTILINE)


@contextlib.contextmanager
def _quiet_import():
    """torchao logs a warning per CUDA kernel library it cannot load on a CPU wheel, and
    torch one about an enum it registers: noise on every run, nothing the user can act on."""
    loggers = [logging.getLogger(name) for name in ("torchao", "torch.utils._pytree")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _x86():
    with _quiet_import():
        from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer
    return x86_inductor_quantizer


def unsupported_reason() -> str | None:
    """Why this machine cannot run the PT2E route, or None."""
    machine = platform.machine().lower()
    if machine not in ("x86_64", "amd64"):
        return (f"the int8 path of an exported program is PT2E with torchao's "
                f"X86InductorQuantizer, lowered to oneDNN's x86 kernels; this CPU is "
                f"{machine}, where edgebench has not proven torchao's ARM quantizer")
    if not any(shutil.which(compiler) for compiler in ("g++", "c++", "clang++")):
        return ("torch.compile (inductor) compiles C++ and finds no C++ compiler on this "
                "machine: install one (apt-get install g++)")
    return None


def _config(dynamic: bool):
    return _x86().get_default_x86_inductor_quantization_config(is_dynamic=dynamic)


def quantize(program_module: torch.nn.Module, example: tuple, calibration_batches=(),
             dynamic: bool = False) -> torch.fx.GraphModule:
    """prepare_pt2e -> observe the calibration batches -> convert_pt2e."""
    with _quiet_import():
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    quantizer = _x86().X86InductorQuantizer()
    if dynamic:  # linear layers only (its global config would quantize convolutions too)
        quantizer.set_module_type_qconfig(torch.nn.Linear, _config(dynamic))
    else:
        quantizer.set_global(_config(dynamic))
    prepared = prepare_pt2e(program_module, quantizer)
    with torch.no_grad():
        observed = False
        for batch in calibration_batches or ():
            named = named_inputs(batch)  # a record batch: one tensor per input
            prepared(*(torch.from_numpy(a) for a in (named or {"": batch}).values()))
            observed = True
        if not observed:
            # the weights' observers see the weights only in a forward pass: without one
            # (dynamic: no calibration), every weight became zero (measured: constant logits)
            prepared(*example)
    return convert_pt2e(prepared)


def save(converted: torch.fx.GraphModule, example: tuple, path: Path) -> Path:
    """The converted graph as a program again; its batch stays as open as the source's."""
    batch = {0: torch.export.Dim.AUTO}
    program = torch.export.export(converted, example,
                                  dynamic_shapes=tuple(batch for _ in example))
    torch.export.save(program, str(path))
    return path


def load(path: Path) -> torch.nn.Module:
    return torch.export.load(str(path)).module()


def kernels(code: str) -> dict:
    """The int8 and float compute kernels a generated module calls."""
    return {"int8_kernels": dict(Counter(f"onednn.{name}" for name in INT8_KERNEL.findall(code))),
            "float_kernels": dict(Counter(FLOAT_KERNEL.findall(code))
                                  + Counter(FUSED_FLOAT_KERNEL.findall(code)))}


def compile_int8(module: torch.nn.Module, warm_up: dict[int, tuple]) -> tuple[object, dict]:
    """torch.compile with freezing (what lowers the int8 patterns), compiled now for each
    batch size in `warm_up` (its inputs) rather than inside a timed run; and what each
    batch size runs, read from the code generated for it."""
    from torch._inductor import config as inductor_config
    from torch._inductor.utils import run_and_get_code

    started = time.perf_counter()
    by_batch = {}
    # inference mode, as `predict` calls it: a different grad mode would compile again
    with torch.inference_mode(), inductor_config.patch(freezing=True), \
            warnings.catch_warnings():
        # inductor's oneDNN lowering warns about its own tensor copy: nothing to act on
        warnings.simplefilter("ignore", UserWarning)
        compiled = torch.compile(module, dynamic=True)
        for batch_size, inputs in warm_up.items():
            _, generated = run_and_get_code(compiled, *inputs)
            by_batch[batch_size] = kernels("\n".join(generated))
    return compiled, {
        "kernels_by_batch": by_batch,
        "compile_s": round(time.perf_counter() - started, 2),
        "read_from": "the code inductor generated (torch._inductor.utils.run_and_get_code)",
        "mode": "torch.compile(dynamic=True), inductor freezing, torch.inference_mode()"}


def record(dynamic: bool) -> dict:
    """result.json's `quantization` for this route, read from the quantizer's config."""
    with _quiet_import():
        from torchao import __version__ as torchao_version

    config = _config(dynamic)
    activation, weight = config.input_activation, config.weight

    def observer(spec) -> str:
        return type(spec.observer_or_fake_quant_ctr()).__name__

    fields = {"tool": f"torchao.quantization.pt2e {torchao_version} (X86InductorQuantizer), "
                      f"torch.compile {torch.__version__}",
              "engine": "onednn (inductor)",
              "format": "torch.export program: q/dq patterns inductor lowers to int8 kernels",
              "weights": str(weight.dtype).removeprefix("torch."),
              "weight_symmetric": "symmetric" in str(weight.qscheme),
              "weight_granularity": "per-channel" if "channel" in str(weight.qscheme)
              else "per-tensor",
              "activations": str(activation.dtype).removeprefix("torch."),
              "activation_symmetric": "symmetric" in str(activation.qscheme),
              "activation_granularity": "per-tensor",
              "calibration_method": observer(activation)}
    if dynamic:
        fields.update(what="linear layers only, activations quantized per call; every "
                           "convolution stays fp32", calibration_method=None)
    return fields
