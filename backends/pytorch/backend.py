"""PyTorch eager on the CPU: the source model itself, or a precision made from it in
memory (int8-static from its cached calibration)."""

from __future__ import annotations

import functools
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from backends.base import Backend, Executed, compute_summary, named_inputs
from backends.profiling import OperatorProfiler
from backends.pytorch import pt2e
from backends.pytorch.quantize import RECIPES, quantized_engine, route
from backends.recipes import BuildContext
from backends.torch_inputs import example_inputs
from harness.core.errors import Unsupported
from harness.core.preprocess import to_layout
from harness.core.zoo import get_spec

# fp32 GEMM rounding is ~1e-6 of the output range; a wrong kernel is off by far more.
LINEAR_TOLERANCE_OF_RANGE = 1e-4


@functools.cache
def linear_self_check() -> str | None:
    """Why this torch build's linear layer cannot be trusted on this CPU, or None.

    Seen under qemu-user emulation of aarch64: torch 2.13's `F.linear` (its BLAS) was off
    by 18% of the output range while `matmul` was exact, so every classifier head was
    wrong and nothing said so. A known answer, once per process, costs ~15 ms.
    """
    generator = torch.Generator().manual_seed(0)
    # a classifier head's shape (MobileNetV2's): smaller ones took a right kernel there
    inputs = torch.randn(4, 1280, generator=generator)
    weight = torch.randn(1000, 1280, generator=generator)
    bias = torch.randn(1000, generator=generator)
    with torch.inference_mode():
        actual = torch.nn.functional.linear(inputs, weight, bias).numpy().astype(np.float64)
    expected = inputs.double().numpy() @ weight.double().numpy().T + bias.double().numpy()
    error = float(np.abs(actual - expected).max() / np.ptp(expected))
    if error <= LINEAR_TOLERANCE_OF_RANGE:
        return None
    return (f"torch {torch.__version__}'s linear layer computes wrong results on this CPU "
            f"({error:.1e} of the output range off a float64 reference; tolerance "
            f"{LINEAR_TOLERANCE_OF_RANGE:.0e}), so its logits cannot be trusted")

FLOAT_DTYPES = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}


class PyTorchBackend(Backend):
    name = "pytorch"
    simulating = False  # a simulation twin (`simulation`) sets it
    recipes = RECIPES
    profiling_unsupported = None  # `profiler`
    # Measured on all three models here (AVX-512, 2 threads): channels-last oneDNN
    # convolutions are 1.1-1.7x faster than NCHW, at batch 1 and batch 8 alike. The QSL
    # lays samples out NHWC once, so a batch is already channels-last: no copy per query.
    input_layout = "NHWC"

    @staticmethod
    def runtime_version() -> str:
        return torch.__version__

    def source_path(self, ctx: BuildContext) -> Path | None:
        return ctx.weights.path  # eager runs the checkpoint itself; None for random weights

    def load(self, path: Path | None) -> torch.nn.Module:
        torch.set_num_threads(self.threads)
        reason = linear_self_check()
        if reason:
            raise Unsupported(reason)
        ctx = self.context
        self.compiled: dict | None = None  # what torch.compile generated, when it ran
        int8 = route(ctx)
        if self.precision == "int8-static":
            model = (int8.simulate_static if self.simulating else int8.load_static)(ctx, path)
        elif self.precision == "int8-dynamic":
            model = int8.dynamic(ctx)
        else:
            model = ctx.weights.build_model(ctx.model_name)
        self.dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(self.precision)
        if self.dtype is not None:
            model = model.to(self.dtype)
        if self.precision.startswith("int8") and int8.compiles and not self.simulating:
            self.model, self.compiled = pt2e.compile_int8(model, self._warm_up_inputs())
            self.compile_s = self.compiled["compile_s"]
        else:
            # channels-last is for image convolutions; a model of other tensors (its
            # weights of any rank: onnx2torch's module of a text model) stays as it is
            images = get_spec(ctx.model_name).tensor_inputs is None
            self.model = model.to(memory_format=torch.channels_last) if images else model
        return model

    def simulation(self, path: Path | None) -> tuple[Backend, str]:
        return self._twin(path, simulating=True), route(self.context).simulation

    def profiler(self) -> OperatorProfiler:
        from backends.pytorch.profile import PyTorchProfiler

        return PyTorchProfiler(self.model, self.predict,
                               FLOAT_DTYPES.get(self.dtype or torch.float32, "fp32"))

    def _warm_up_inputs(self) -> dict[int, tuple]:
        """Inputs per batch shape a run will see, laid out as `predict` passes them: the
        batch size asked, and 1 (torch.compile specializes a batch of 1; a short last
        batch may hold one sample)."""
        spec = get_spec(self.context.model_name)
        sizes = [spec.fixed_batch] if spec.fixed_batch else sorted({self.batch_size, 1, 2})
        if spec.tensor_inputs is not None:  # records: each input as it is
            return {size: example_inputs(spec.name, size) for size in sizes}
        # an image batch arrives NHWC, seen as NCHW with channels-last strides
        return {size: tuple(t.contiguous(memory_format=torch.channels_last)
                            for t in example_inputs(spec.name, size)) for size in sizes}

    def to_input(self, chw: np.ndarray) -> np.ndarray:
        if chw.dtype.names:  # a record (several or non-image inputs): cast in predict
            return chw
        sample = to_layout(chw, self.input_layout)
        # numpy has float16 but no bfloat16: bf16 inputs are cast per batch in predict
        return sample.astype(np.float16) if self.dtype == torch.float16 else sample

    def predict(self, batch: np.ndarray) -> np.ndarray:
        named = named_inputs(batch)
        if named is not None:  # the model's inputs, in its order; floats in its precision
            tensors = [torch.from_numpy(a) for a in named.values()]
            tensors = [t.to(self.dtype) if self.dtype is not None and t.is_floating_point()
                       else t for t in tensors]
            with torch.inference_mode():
                return _first_output(self.model(*tensors)).float().numpy()
        # NHWC memory seen as an NCHW tensor with channels-last strides: a view
        inputs = torch.from_numpy(batch).permute(0, 3, 1, 2)
        if self.dtype == torch.bfloat16:
            inputs = inputs.to(torch.bfloat16)  # keeps the channels-last strides
        with torch.inference_mode():
            return _first_output(self.model(inputs)).float().numpy()

    isa_unsupported = None

    def executed_isa(self, batch: np.ndarray) -> dict:
        """oneDNN's verbose output over one inference of `batch`, with ATen's (and for a
        compiled program inductor's) ISA (`backends.pytorch.isa`)."""
        from backends.pytorch.isa import pytorch_isa

        return pytorch_isa(lambda: self.predict(batch), compiled=self.compiled is not None)

    def executed(self) -> Executed:
        """The module types that compute, and the dtype of their weights; for a compiled
        program, the kernels in the code inductor generated."""
        if self.compiled is not None:  # the code generated for this backend's batch size
            by_batch = self.compiled["kernels_by_batch"]
            ran = by_batch.get(self.batch_size) or next(iter(by_batch.values()))
            by_precision = Counter({"int8": sum(ran["int8_kernels"].values()),
                                    "fp32": sum(ran["float_kernels"].values())})
            return Executed(compute_summary(+by_precision),
                            {**self.compiled, "kernels_by_batch": {
                                str(size): found for size, found in by_batch.items()}})
        by_precision: Counter = Counter()
        modules: Counter = Counter()
        for module in self.model.modules():
            kind = f"{type(module).__module__}.{type(module).__name__}"
            if _quantized(module):
                by_precision["int8"] += 1
                modules[kind] += 1
            elif isinstance(module, torch.nn.Conv2d | torch.nn.Linear):
                by_precision[FLOAT_DTYPES.get(module.weight.dtype, str(module.weight.dtype))] += 1
                modules[kind] += 1
        if not by_precision and any(isinstance(m, torch.fx.GraphModule)
                                    for m in self.model.modules()):
            return _graph_operators(self.model)  # a program run eagerly: aten operators
        detail = {"compute_modules": dict(modules)}
        if by_precision["int8"]:  # quantized modules ran on this engine
            detail["quantized_engine"] = torch.backends.quantized.engine
        return Executed(compute_summary(by_precision), detail)

    def threads_read_back(self) -> int:
        return torch.get_num_threads()

    def settings(self) -> dict:
        settings = {
            **super().settings(),
            "torch_num_threads": torch.get_num_threads(),
            "mode": "eager, torch.inference_mode()",
            "memory_format": "channels_last (NHWC samples)"
            if get_spec(self.context.model_name).tensor_inputs is None else "as the inputs",
        }
        if self.compiled is not None:
            settings["mode"] = self.compiled["mode"]
            settings["quantized_engine"] = "onednn (inductor)"
        elif any(_quantized(module) for module in self.model.modules()):
            settings["quantized_engine"] = quantized_engine()
        return settings


def _first_output(outputs):
    """A model of several outputs (onnx2torch's module of one) answers a tuple: the first
    is what LoadGen is answered with, all of them were computed."""
    return outputs[0] if isinstance(outputs, (tuple, list)) else outputs


def _quantized(module: torch.nn.Module) -> bool:
    """A module that computes in int8 (torch.ao's quantized kernels; its reference
    modules, which simulate them, compute in float)."""
    kind = type(module).__module__
    return kind.startswith("torch.ao.nn.quantized") and ".reference" not in kind \
        and hasattr(module, "weight")


COMPUTE_OPERATOR = ("conv", "linear", "mm", "attention")


def _graph_operators(model: torch.nn.Module) -> Executed:
    """An exported program run eagerly: its aten compute operators, in the float type of
    its tensors (a quantized one is a dequantize in front of a float operator)."""
    operators = Counter(str(node.target) for graph in model.modules()
                        if isinstance(graph, torch.fx.GraphModule)
                        for node in graph.graph.nodes if node.op == "call_function"
                        and any(word in str(node.target) for word in COMPUTE_OPERATOR))
    floats = {t.dtype for t in (*model.parameters(), *model.buffers()) if t.is_floating_point()}
    precision = FLOAT_DTYPES.get(floats.pop(), "fp32") if len(floats) == 1 else "fp32"
    return Executed(compute_summary(+Counter({precision: sum(operators.values())})),
                    {"graph_operators": dict(operators)})
