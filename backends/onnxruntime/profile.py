"""ONNX Runtime's own profiler (`SessionOptions.enable_profiling`): its Chrome trace,
one `<node>_kernel_time` event per node run, read back per inference."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort

from backends.onnx_layers import OnnxLayers
from backends.profiling import OperatorProfiler, merge_by_name

# How ONNX Runtime renames the nodes it rewrites: QDQ fusion adds `_token_<n>`, the
# NCHWc layout transformer names a node after its output plus `_nchwc` (and a
# BatchNormalization it turns into a convolution plus `_bn`), the quantizer names Q/DQ
# nodes after their tensor.
NODE_DECORATIONS = (r"_kernel_time", r"_token_\d+", r"_nchwc", r"_bn", r"_QuantizeLinear",
                    r"_DequantizeLinear", r"_output_0")
TENSOR_TYPES = {"float": "fp32", "float16": "fp16", "bfloat16": "bf16", "uint8": "int8",
                "int8": "int8", "int32": "int32", "int64": "int64"}


class OnnxRuntimeProfiler(OperatorProfiler):
    source = "onnxruntime SessionOptions.enable_profiling (per-node kernel_time events)"
    notes = ("ONNX Runtime runs one node at a time here (ORT_SEQUENTIAL), each on the "
             "intra-op threads: node times add up to the inference less the session's "
             "own work between nodes",)

    def __init__(self, options: ort.SessionOptions, model_path: Path, input_name: str,
                 output_name: str, layers: OnnxLayers) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="edgebench-ort-profile-")
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(self._folder.name) / "ort")
        self.session = ort.InferenceSession(str(model_path), options,
                                            providers=["CPUExecutionProvider"])
        self._input, self._output, self.layers = input_name, output_name, layers

    def predict(self, batch: np.ndarray) -> None:
        feeds = ({n: np.ascontiguousarray(batch[n]) for n in batch.dtype.names}
                 if batch.dtype.names else {self._input: batch})
        self.session.run(None, feeds)  # every output, as the timed run

    def operators(self, last: int) -> list[dict]:
        try:
            events = json.loads(Path(self.session.end_profiling()).read_text())
        finally:
            self._folder.cleanup()
        runs = [e for e in events if e.get("name") == "model_run"][-last:]
        nodes = [e for e in events if e.get("cat") == "Node"
                 and e["name"].endswith("_kernel_time")]
        return self.layers.place_all(merge_by_name(
            [[_operator(e) for e in nodes if run["ts"] <= e["ts"] <= run["ts"] + run["dur"]]
             for run in runs]), NODE_DECORATIONS)


def _operator(event: dict) -> dict:
    """One `<node>_kernel_time` event: the node, its type, and what it computed on."""
    args = event.get("args", {})
    op_type = args.get("op_name", "?")
    inputs = args.get("input_type_shape") or [{}]
    first_type = next(iter(inputs[0]), None)
    provider = args.get("provider", "").replace("ExecutionProvider", "")
    return {"name": event["name"][: -len("_kernel_time")], "type": op_type,
            "kernel": f"{op_type} ({provider})",
            "precision": TENSOR_TYPES.get(first_type, first_type),
            "time_ms": event["dur"] / 1000}
