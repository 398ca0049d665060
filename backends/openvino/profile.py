"""OpenVINO's own profiler: the CPU plugin's PERF_COUNT and `InferRequest.profiling_info`,
one entry per layer of the compiled model, read after every inference."""

from __future__ import annotations

import re

import numpy as np

from backends.base import named_inputs
from backends.onnx_layers import OnnxLayers
from backends.profiling import OperatorProfiler, merge_by_name

# How OpenVINO names what it makes of an ONNX node: a convolution split from its bias
# (`node_Conv_35/WithoutBiases`), NNCF's FakeQuantize on a tensor (`n4/fq_output_0`);
# a reorder is named after the node it feeds (`OnnxLayers.place` finds it).
LAYER_DECORATIONS = (r"/WithoutBiases", r"/fq_output_\d+", r"/fq_weights_\d+",
                     r"/sink_port_\d+")
# the precision at the end of an exec_type: brgconv_avx512_1x1_I8, jit_avx512_bf16
KERNEL_PRECISIONS = {"i8": "int8", "u8": "int8", "bf16": "bf16", "f16": "fp16",
                     "fp16": "fp16", "f32": "fp32", "fp32": "fp32"}


class OpenVinoProfiler(OperatorProfiler):
    source = "openvino enable_profiling (PERF_COUNT) and InferRequest.profiling_info"
    notes = ("one request at a time, its layers one after another; layers the CPU plugin "
             "fused into another (a Clamp into its Convolution) report no time of their own "
             "and are left out",)

    def __init__(self, compiled, layers: OnnxLayers) -> None:
        self.request = compiled.create_infer_request()
        self.layers = layers
        self.runs: list[list[dict]] = []

    def predict(self, batch: np.ndarray) -> None:
        self.request.infer(named_inputs(batch) or batch, share_inputs=True)

    def after_inference(self) -> None:
        self.runs.append([{"name": info.node_name, "type": info.node_type,
                           "kernel": info.exec_type, "precision": kernel_precision(
                               info.exec_type),
                           "time_ms": info.real_time.total_seconds() * 1000}
                          for info in self.request.profiling_info
                          if info.real_time.total_seconds() > 0])

    def operators(self, last: int) -> list[dict]:
        return self.layers.place_all(merge_by_name(self.runs[-last:]), LAYER_DECORATIONS)


def kernel_precision(exec_type: str) -> str | None:
    """The precision an exec_type names at its end (`brgconv_avx512_dw_I8` -> int8)."""
    last = re.split(r"[_\s]", exec_type.lower())[-1]
    return KERNEL_PRECISIONS.get(last)
