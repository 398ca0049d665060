"""ONNX Runtime on the CPU execution provider, fed the shared ONNX export or a model
its own quantization tools made from it."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import onnxruntime as ort

from backends.base import Backend, Executed, compute_summary, float_compute, named_inputs
from backends.onnx_layers import source_layers
from backends.onnxruntime.quantize import RECIPES, fp16_weights
from backends.profiling import OperatorProfiler

# Compute ops of an optimized ONNX Runtime graph, by the precision they compute in.
INT8_OPS = {"QLinearConv", "QGemm", "QLinearMatMul", "QAttention"}
INT8_DYNAMIC_OPS = {"ConvInteger", "MatMulInteger", "DynamicQuantizeMatMul",
                    "MatMulIntegerToFloat", "DynamicQuantizeLSTM"}
FLOAT_OPS = {"Conv", "FusedConv", "Gemm", "FusedGemm", "MatMul", "FusedMatMul",
             "ConvTranspose", "LSTM", "GRU", "RNN", "Attention"}
# what a float kernel computes on, by the onnx.TensorProto type its weights are stored in
FLOAT_KERNEL_ON = {"FLOAT16": "fp16", "INT4": float_compute("int4"),
                   "UINT4": float_compute("int4")}


SIMULATION = ("session option session.disable_quant_qdq=1: its Q/DQ nodes around float "
              "kernels, unfused")


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"
    recipes = RECIPES
    profiling_unsupported = None  # `profiler`
    native_sources = ("onnx",)
    graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    simulate_qdq = False  # a simulation twin (`simulation`) sets it

    @staticmethod
    def runtime_version() -> str:
        return ort.__version__

    def load(self, path: Path | None) -> ort.InferenceSession:
        self.model_path = path
        self.session = ort.InferenceSession(str(path), self._options(),
                                            providers=["CPUExecutionProvider"])
        self._input = self.session.get_inputs()[0].name
        self._output = self.session.get_outputs()[0].name
        # every output, as a deployed app asks: asking for the first alone would let
        # ONNX Runtime skip the work of the others (a detector's heads, a state)
        self._outputs = [output.name for output in self.session.get_outputs()]
        return self.session

    def _options(self) -> ort.SessionOptions:
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        # One model, one request at a time per session: a second pool only adds noise.
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = self.graph_optimization_level
        # errors only as the exceptions they raise (a model's rejection is one line of
        # edgebench's), not also as log lines on stderr
        options.log_severity_level = 3
        if self.simulate_qdq:
            # no QDQ fusion: each DequantizeLinear -> float kernel -> QuantizeLinear runs
            # as the file writes it, which is what the quantizer's scales simulate
            options.add_session_config_entry("session.disable_quant_qdq", "1")
        return options

    def simulation(self, path: Path | None) -> tuple[Backend, str]:
        return self._twin(path, simulate_qdq=True), f"the same QDQ model, {SIMULATION}"

    def profiler(self) -> OperatorProfiler:
        from backends.onnxruntime.profile import OnnxRuntimeProfiler

        return OnnxRuntimeProfiler(self._options(), self.model_path, self._input, self._output,
                                   source_layers(self.context))

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(self._outputs, named_inputs(batch) or {self._input: batch})[0]

    isa_unsupported = ("ONNX Runtime does not say which instruction set its kernels ran "
                       "on: its profiler names operators and the execution provider only, "
                       "and MLAS picks its kernels from cpuid inside the library without "
                       "reporting the choice (see system.isa_flags for what the CPU offers)")

    def executed(self) -> Executed:
        """The operator types of the graph ONNX Runtime optimized for this CPU (a second
        session writes it out; the timed one is untouched)."""
        import onnx

        with tempfile.TemporaryDirectory() as folder:
            options = self._options()
            options.optimized_model_filepath = str(Path(folder) / "optimized.onnx")
            options.log_severity_level = 3  # its "hardware-specific file" warning is expected
            # weights written beside it, not inside: a model over protobuf's 2 GB limit
            # (a large quantized artifact) can be written out too
            options.add_session_config_entry(
                "session.optimized_model_external_initializers_file_name", "optimized.data")
            ort.InferenceSession(str(self.model_path), options,
                                 providers=["CPUExecutionProvider"])
            # the operators and the weights' types are in the graph; a model with external
            # data has its weights beside the source, not in this folder: not loaded
            graph = onnx.load(options.optimized_model_filepath, load_external_data=False).graph
        nodes = list(_all_nodes(graph))  # a recurrent model's layers sit inside If branches
        weights = {t.name: t.data_type for g in _all_graphs(graph) for t in g.initializer}
        producers = {output: node for node in nodes for output in node.output}

        def stored_as(name: str) -> int | None:
            """A weight's type as stored: the initializer's, or the one a DequantizeLinear
            left unfused in front of a float kernel reads (int4: no 4-bit kernel here)."""
            producer = producers.get(name)
            if name not in weights and producer is not None and \
                    producer.op_type == "DequantizeLinear":
                return weights.get(producer.input[0])
            return weights.get(name)

        ops = Counter(node.op_type for node in nodes)
        by_precision: Counter = Counter()
        for node in nodes:
            if node.op_type in INT8_OPS:
                by_precision["int8"] += 1
            elif node.op_type in INT8_DYNAMIC_OPS:
                by_precision["int8 (activations quantized per query)"] += 1
            elif node.op_type in FLOAT_OPS:
                weight = stored_as(node.input[1]) if len(node.input) > 1 else None
                stored = onnx.TensorProto.DataType.Name(weight) if weight else "FLOAT"
                by_precision[FLOAT_KERNEL_ON.get(stored, "fp32")] += 1
        summary = compute_summary(by_precision)
        if summary == "fp32" and fp16_weights(self.model_path):
            # no fp16 kernels here: the runtime inserted Casts and computes in fp32
            summary = float_compute("fp16")
        return Executed(summary, {"optimized_graph_ops": dict(sorted(ops.items()))})

    def threads_read_back(self) -> int:
        return self.session.get_session_options().intra_op_num_threads

    def settings(self) -> dict:
        options = self.session.get_session_options()  # read back from the session
        return {
            **super().settings(),
            "intra_op_num_threads": options.intra_op_num_threads,
            "inter_op_num_threads": options.inter_op_num_threads,
            "graph_optimization_level": self.graph_optimization_level.name,
            "execution_provider": "CPUExecutionProvider",
            **({"session.disable_quant_qdq": "1"} if self.simulate_qdq else {}),
        }


def _all_graphs(graph):
    """The graph and every subgraph of its nodes (If branches, Loop and Scan bodies)."""
    yield graph
    for node in graph.node:
        for attribute in node.attribute:
            for sub in ([attribute.g] if attribute.HasField("g") else []) + list(attribute.graphs):
                yield from _all_graphs(sub)


def _all_nodes(graph):
    for each in _all_graphs(graph):
        yield from each.node
