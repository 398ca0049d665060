"""ONNX Runtime on the CPU execution provider, fed the shared ONNX export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from backends.base import Backend
from backends.onnx_export import onnx_recipe
from harness.artifacts import ArtifactCache
from harness.weights import WeightsSource


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"
    precisions = ("fp32",)
    graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL

    @staticmethod
    def runtime_version() -> str:
        return ort.__version__

    def prepare(
        self, model_name: str, weights: WeightsSource, precision: str, cache: ArtifactCache
    ) -> Path:
        path, self.session = cache.load(*onnx_recipe(model_name, weights), self._open_session)
        self._input = self.session.get_inputs()[0].name
        self._output = self.session.get_outputs()[0].name
        return path

    def _open_session(self, path: Path) -> ort.InferenceSession:
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        # One model, one request at a time per session: a second pool only adds noise.
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = self.graph_optimization_level
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run([self._output], {self._input: batch})[0]

    def settings(self) -> dict:
        return {
            **super().settings(),
            "intra_op_num_threads": self.threads,
            "inter_op_num_threads": 1,
            "graph_optimization_level": self.graph_optimization_level.name,
            "execution_provider": "CPUExecutionProvider",
        }
