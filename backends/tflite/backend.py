"""TensorFlow Lite (LiteRT) interpreter with its default XNNPACK delegate, on a .tflite
file made by LiteRT's PyTorch converter, or quantized from it by LiteRT Quantizer."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from backends.base import Backend, Executed, compute_summary, float_compute, named_inputs
from backends.tflite.convert import converter_unavailable_reason
from backends.tflite.quantize import RECIPES
from harness.core.preprocess import to_layout

try:
    from ai_edge_litert import __version__ as _RUNTIME_VERSION
    from ai_edge_litert.interpreter import Interpreter

    RUNTIME = "ai-edge-litert"
except ModuleNotFoundError:
    try:  # older Raspberry Pi OS images only have the standalone interpreter
        from tflite_runtime import __version__ as _RUNTIME_VERSION
        from tflite_runtime.interpreter import Interpreter

        RUNTIME = "tflite-runtime"
    except ModuleNotFoundError:
        raise ModuleNotFoundError("no TFLite interpreter", name="ai_edge_litert") from None

COMPUTE_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "BATCH_MATMUL"}


class TfliteBackend(Backend):
    name = "tflite"
    simulation_unsupported = ("LiteRT's interpreter runs a quantized model in integer "
                              "kernels only, and LiteRT Quantizer 0.11 has no float "
                              "(fake-quant) evaluation of its recipe: its validation "
                              "compares the quantized model's outputs with the float model's")
    recipes = RECIPES
    # looked for in ai-edge-litert 2.3: its Interpreter takes
    # experimental_force_delegate_node_profiling but returns no timings; the profiling
    # protos it ships serve the C++ tools
    profiling_unsupported = (
        "LiteRT's Python interpreter (ai-edge-litert 2.3) exposes no per-operator timings; "
        "its C++ benchmark_model --enable_op_profiling=true does (run it on the .tflite "
        "file this run records)")
    input_layout = "NHWC"
    native_sources = ("tflite",)

    @staticmethod
    def runtime_version() -> str:
        return _RUNTIME_VERSION

    @staticmethod
    def cannot_build_reason() -> str | None:
        return converter_unavailable_reason()

    def load(self, path: Path | None) -> Interpreter:
        # The default op resolver applies the XNNPACK delegate to every op it supports.
        self.interpreter = Interpreter(model_path=str(path), num_threads=self.threads)
        self.interpreter.allocate_tensors()
        self._inputs = self.interpreter.get_input_details()
        self._input = self._inputs[0]
        self._output = self.interpreter.get_output_details()[0]
        return self.interpreter

    def to_input(self, chw: np.ndarray) -> np.ndarray:
        if chw.dtype.names:  # a record (several or non-image inputs): each field as its
            fields = [(name, detail["dtype"], chw[name].shape)  # input takes it
                      for name, detail in zip(chw.dtype.names, self._inputs, strict=True)]
            record = np.zeros((), fields)
            for name, detail in zip(chw.dtype.names, self._inputs, strict=True):
                record[name] = _quantized(chw[name], detail)
            return record
        return _quantized(to_layout(chw, self.sample_layout), self._input)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        rows = len(batch)
        if rows != self.batch_size:
            # Static shapes: a short batch (the last of an Offline query) is padded.
            # Its latency is that of a full batch, which is what the device would pay.
            if rows > self.batch_size:
                return np.concatenate([
                    self.predict(batch[i:i + self.batch_size])
                    for i in range(0, rows, self.batch_size)
                ])
            padded = np.zeros((self.batch_size, *batch.shape[1:]), batch.dtype)
            padded[:rows] = batch
            batch = padded
        named = named_inputs(batch)
        if named is None:
            self.interpreter.set_tensor(self._input["index"], batch)
        else:  # the model's inputs in its order, as its records hold them
            for detail, array in zip(self._inputs, named.values(), strict=True):
                self.interpreter.set_tensor(detail["index"], array)
        self.interpreter.invoke()
        logits = self.interpreter.get_tensor(self._output["index"])[:rows]
        if self._output["dtype"] != np.float32:
            scale, zero_point = self._output["quantization"]
            logits = (logits.astype(np.float32) - zero_point) * scale
        return logits

    isa_unsupported = ("LiteRT does not say which instruction set its kernels ran on: "
                       "XNNPACK picks its microkernels from cpuinfo inside the library and "
                       "its op table names the delegate only (see system.isa_flags for what "
                       "the CPU offers)")

    def executed(self) -> Executed:
        """The types of the tensors each compute op reads (activation, weights)."""
        tensors = {t["index"]: np.dtype(t["dtype"]).name
                   for t in self.interpreter.get_tensor_details()}
        by_precision: Counter = Counter()
        ops: Counter = Counter()
        for op in self.interpreter._get_ops_details():  # the interpreter's own op table
            ops[op["op_name"]] += 1
            if op["op_name"] not in COMPUTE_OPS:
                continue
            activation, weights = (tensors.get(i, "?") for i in op["inputs"][:2])
            if activation == "int8":
                by_precision["int8"] += 1
            elif weights == "int8":
                by_precision["int8 dynamic (float activations quantized per op)"] += 1
            else:
                by_precision["fp32" if activation == "float32" else activation] += 1
        types = Counter(tensors.values())
        summary = compute_summary(by_precision)
        if summary == "fp32" and types.get("float16"):
            summary = float_compute("fp16")  # DEQUANTIZE ops widen them at load
        return Executed(summary, {"tensor_types": dict(types), "ops": dict(ops),
                                  "input_type": np.dtype(self._input["dtype"]).name,
                                  "output_type": np.dtype(self._output["dtype"]).name})

    def threads_read_back(self) -> str:
        return "not reported: the LiteRT interpreter has no getter for num_threads"

    def settings(self) -> dict:
        return {
            **super().settings(),
            "interpreter": RUNTIME,
            "num_threads_requested": self.threads,
            "delegate": "XNNPACK (default op resolver)",
            "shapes": "static: one file per batch_size",
            "input_layout": self.input_layout,
            "input_type": np.dtype(self._input["dtype"]).name,
        }


def _quantized(sample: np.ndarray, detail: dict) -> np.ndarray:
    """A float sample as the input `detail` takes it: a full-integer model's input is
    quantized once, at sample load, with the model's own scale and zero point."""
    if detail["dtype"] == np.float32 or not np.issubdtype(sample.dtype, np.floating):
        return sample.astype(detail["dtype"], copy=False)
    scale, zero_point = detail["quantization"]
    info = np.iinfo(detail["dtype"])
    return np.clip(np.round(sample / scale) + zero_point, info.min, info.max).astype(
        detail["dtype"])
