"""OpenVINO on the CPU plugin: the shared ONNX export converted to IR, run as
`benchmark_app` runs it (a performance hint per scenario, an async queue for Offline)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from backends.base import Backend, Tag
from backends.onnx_export import onnx_recipe
from backends.openvino_import import ov
from harness.artifacts import ArtifactCache, source_digest
from harness.errors import EdgebenchError
from harness.weights import WeightsSource

# The CPU plugin silently executes in bf16 on CPUs with AVX-512 BF16 or AMX unless
# the inference precision is pinned: "fp32" must mean f32.
INFERENCE_PRECISION = {"fp32": ov.Type.f32}


def convert_to_ir(onnx_path: Path, target: Path) -> Path:
    model = ov.convert_model(onnx_path)
    # save_model stores weights in fp16 by default; an fp32 artifact keeps fp32 weights.
    ov.save_model(model, target, compress_to_fp16=False)
    return target


class OpenVinoBackend(Backend):
    name = "openvino"
    precisions = tuple(INFERENCE_PRECISION)

    @staticmethod
    def runtime_version() -> str:
        return ov.__version__

    def prepare(
        self, model_name: str, weights: WeightsSource, precision: str, cache: ArtifactCache
    ) -> Path:
        onnx_dir = cache.get_or_build(*onnx_recipe(model_name, weights))
        onnx_path = cache.main_file(onnx_dir)
        key_fields = {
            # The ONNX artifact's own key (its folder name hashes every field of it), so
            # that anything rebuilding the ONNX file rebuilds the IR made from it too.
            "source": onnx_dir.name,
            "format": "openvino-ir",
            "precision": precision,
            "openvino": ov.__version__,
            "recipe": source_digest(convert_to_ir),
        }
        self.precision = precision
        path, self.compiled = cache.load(
            f"{model_name}-openvino-{precision}", key_fields,
            lambda staging: convert_to_ir(onnx_path, staging / "model.xml"),
            self._compile,
        )
        ran = self.compiled.get_property("INFERENCE_PRECISION_HINT")
        if ran != INFERENCE_PRECISION[precision]:
            raise EdgebenchError(
                f"OpenVINO compiled {model_name} to run in {ran.to_string()}, not {precision}; "
                f"refusing to report it as a {precision} run"
            )
        self.request = self.compiled.create_infer_request()
        return path

    def _compile(self, path: Path) -> ov.CompiledModel:
        core = ov.Core()
        return core.compile_model(core.read_model(path), "CPU", {
            "PERFORMANCE_HINT": self.hint.upper(),
            "INFERENCE_NUM_THREADS": self.threads,
            "INFERENCE_PRECISION_HINT": INFERENCE_PRECISION[self.precision],
        })

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return self.request.infer(batch, share_inputs=True)[0]

    def predict_stream(
        self,
        batches: Iterable[tuple[Tag, np.ndarray]],
        on_logits: Callable[[Tag, np.ndarray], None],
    ) -> None:
        # benchmark_app's throughput mode: keep the plugin's optimal number of requests
        # in flight, each on its own stream.
        queue = ov.AsyncInferQueue(self.compiled, self.optimal_requests)
        queue.set_callback(
            lambda request, tag: on_logits(tag, request.get_output_tensor(0).data.copy())
        )
        try:
            for tag, batch in batches:
                queue.start_async(batch, userdata=tag)  # copies `batch`: it may go after
        finally:  # even on error: no callback may outlive this call
            queue.wait_all()

    @property
    def optimal_requests(self) -> int:
        return int(self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))

    def settings(self) -> dict:
        read = self.compiled.get_property
        return {
            **super().settings(),
            "device": "CPU",
            "performance_hint": str(read("PERFORMANCE_HINT")),
            "inference_precision": read("INFERENCE_PRECISION_HINT").to_string(),
            "inference_num_threads": int(read("INFERENCE_NUM_THREADS")),
            "num_streams": int(read("NUM_STREAMS")),
            "optimal_number_of_infer_requests": self.optimal_requests,
            "async_queue": self.hint == "throughput",
        }
