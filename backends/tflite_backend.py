"""TensorFlow Lite (LiteRT) interpreter with its default XNNPACK delegate, on a
.tflite file made by LiteRT's PyTorch converter."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from backends.base import Backend
from backends.litert_convert import convert_to_tflite, tflite_key_fields
from harness.artifacts import ArtifactCache
from harness.weights import WeightsSource

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


class TfliteBackend(Backend):
    name = "tflite"
    precisions = ("fp32",)
    input_layout = "NHWC"

    @staticmethod
    def runtime_version() -> str:
        return _RUNTIME_VERSION

    def prepare(
        self, model_name: str, weights: WeightsSource, precision: str, cache: ArtifactCache
    ) -> Path:
        path, self.interpreter = cache.load(
            f"{model_name}-tflite-{precision}-b{self.batch_size}",
            {**tflite_key_fields(model_name, weights, self.batch_size), "precision": precision},
            lambda staging: convert_to_tflite(
                model_name, weights, staging / "model.tflite", self.batch_size),
            self._open,
        )
        self._input = self.interpreter.get_input_details()[0]["index"]
        self._output = self.interpreter.get_output_details()[0]["index"]
        return path

    def _open(self, path: Path) -> Interpreter:
        # The default op resolver applies the XNNPACK delegate to every op it supports.
        interpreter = Interpreter(model_path=str(path), num_threads=self.threads)
        interpreter.allocate_tensors()
        return interpreter

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
        self.interpreter.set_tensor(self._input, batch)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self._output)[:rows]

    def settings(self) -> dict:
        return {
            **super().settings(),
            "interpreter": RUNTIME,
            "num_threads": self.threads,
            "delegate": "XNNPACK (default op resolver)",
            "shapes": "static: one file per batch_size",
            "input_layout": self.input_layout,
        }
