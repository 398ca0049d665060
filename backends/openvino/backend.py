"""OpenVINO on the CPU plugin, run as `benchmark_app` runs it (a performance hint per
scenario, an async queue for Offline), at the inference precision its recipe asks for."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from backends.base import Backend, Executed, Tag, compute_summary, float_compute, named_inputs
from backends.onnx_layers import source_layers
from backends.openvino.ov_import import ov
from backends.openvino.quantize import INFERENCE_PRECISION, RECIPES, RUNTIME_DEFAULT
from backends.profiling import OperatorProfiler
from harness.core.errors import EdgebenchError, Unsupported
from harness.core.isa import isa_counts
from harness.core.zoo import get_spec

# Requests kept in flight per stream in throughput mode. With one request per stream (the
# plugin's OPTIMAL_NUMBER_OF_INFER_REQUESTS), a stream idles from the end of its request
# until Python has answered it and started the next; a second request queued behind it
# hides that gap. Measured on MobileNetV2 FP32 Offline at batch 1, 2 cores: 0.91 of
# benchmark_app's throughput with one request per stream, 0.99 with two
# (benchmarks/openvino_parity.py).
REQUESTS_PER_STREAM = 2
COMPUTE_LAYERS = {"Convolution", "FullyConnected", "MatMul", "Deconvolution", "GroupConvolution"}
# The CPU plugin's internal switch for its low-precision transformations (not in
# OpenVINO's public API; read from its plugin): off, each FakeQuantize runs in float
LP_TRANSFORMS_OFF = ("LP_TRANSFORMS_MODE", False)
# i4/u4: a FullyConnected that decompresses 4-bit weights inside its kernel
RUNTIME_PRECISION = {"u8": "int8", "i8": "int8", "f32": "fp32", "bf16": "bf16", "f16": "fp16",
                     "i4": float_compute("int4"), "u4": float_compute("int4")}


class OpenVinoBackend(Backend):
    name = "openvino"
    # a simulation twin (`simulation`) sets it: the CPU plugin's low-precision
    # transformations off, so that each FakeQuantize runs as it is written, in float
    fake_quant_in_float = False
    profiling = False  # a profiling twin (`profiler`) sets it: PERF_COUNT on
    recipes = RECIPES
    profiling_unsupported = None  # `profiler`
    native_sources = ("onnx", "openvino-ir")

    @staticmethod
    def runtime_version() -> str:
        return ov.__version__

    def load(self, path: Path | None) -> ov.CompiledModel:
        self._path = path
        core = ov.Core()
        asked = INFERENCE_PRECISION[self.precision]
        if "ov_float_precision" in self.made_by().options and \
                self.context.options.get("ov_float_precision") == RUNTIME_DEFAULT:
            asked = None  # the plugin's own choice for the float layers, read back below
        properties = {"PERFORMANCE_HINT": self.hint.upper(),
                      "INFERENCE_NUM_THREADS": self.threads}
        if asked is not None:
            # Pinned: the plugin silently runs bf16 on CPUs with AVX-512 BF16 or AMX.
            properties["INFERENCE_PRECISION_HINT"] = asked
        if self.fake_quant_in_float:
            properties[LP_TRANSFORMS_OFF[0]] = LP_TRANSFORMS_OFF[1]
        if self.profiling:
            properties["PERF_COUNT"] = True
        self.compiled = core.compile_model(self._shaped(core.read_model(path)), "CPU",
                                           properties)
        ran = self.compiled.get_property("INFERENCE_PRECISION_HINT").to_string()
        if asked is not None and ran != asked:
            capabilities = ", ".join(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
            message = (f"OpenVINO's CPU plugin compiled with INFERENCE_PRECISION_HINT={ran} "
                       f"when asked for {asked} (OPTIMIZATION_CAPABILITIES: {capabilities})")
            if self.precision in ("fp16", "bf16"):
                raise Unsupported(message)
            raise EdgebenchError(f"{message}; refusing to report it as a {self.precision} run")
        self.request = self.compiled.create_infer_request()
        return self.compiled

    def _shaped(self, model: ov.Model) -> ov.Model:
        """The model with the dimensions its file leaves open but its card (or --shape)
        fixes set, as benchmark_app's -shape does: the CPU plugin then compiles for those
        sizes instead of any. The batch axis stays as the file has it (an Offline run's
        last batch is smaller)."""
        if self.context is None:
            return model
        specs = {spec.name: spec for spec in get_spec(self.context.model_name).card.inputs}
        shapes = {}
        for port in model.inputs:
            spec = specs.get(port.get_any_name())
            have = port.get_partial_shape()
            if spec is None or have.rank.is_dynamic or len(have) != len(spec.shape):
                continue
            wanted = [-1 if dim is None else dim for dim in spec.shape]
            if any(have[axis].is_dynamic and wanted[axis] != -1 for axis in range(len(have))):
                shapes[port] = ov.PartialShape(wanted)
        if shapes:
            model.reshape(shapes)
        return model

    def simulation(self, path: Path | None) -> tuple[Backend, str]:
        """An IR converted from a QDQ ONNX model: that model under ONNX Runtime's
        simulation (the same scales and zero points; OpenVINO's converter keeps them).
        Any other (NNCF's): the same IR with the CPU plugin's low-precision
        transformations off, an internal property."""
        made = self.made_by()
        if made.qdq_source is None:
            try:
                twin = self._twin(path, fake_quant_in_float=True)
            except RuntimeError as exc:  # an OpenVINO without the internal property
                raise Unsupported(f"openvino: its CPU plugin refused the internal property "
                                  f"{LP_TRANSFORMS_OFF[0]} ({exc})") from None
            return twin, (
                f"the same IR, CPU plugin property {LP_TRANSFORMS_OFF[0]}="
                f"{LP_TRANSFORMS_OFF[1]}: its FakeQuantize nodes run in float instead of "
                "being lowered to integer kernels. The property is internal to OpenVINO "
                f"{ov.__version__} (not public API) and may change")
        try:
            from backends.onnxruntime.backend import SIMULATION, OnnxRuntimeBackend, ort
        except ModuleNotFoundError as exc:
            raise Unsupported(f"openvino: simulating the QDQ ONNX model it was converted "
                              f"from needs ONNX Runtime ({exc.name} is not installed)") from None
        twin = OnnxRuntimeBackend.twin_of(self, made.qdq_source(self.context), simulate_qdq=True)
        return twin, ("not OpenVINO: the QDQ ONNX model its IR was converted from, ONNX "
                      f"Runtime {ort.__version__} with {SIMULATION}")

    def profiler(self) -> OperatorProfiler:
        """The same IR compiled again with PERF_COUNT, with this one's settings."""
        from backends.openvino.profile import OpenVinoProfiler

        twin = self._twin(self._path, profiling=True, hint=self.hint)
        return OpenVinoProfiler(twin.compiled, source_layers(self.context))

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return self.request.infer(named_inputs(batch) or batch, share_inputs=True)[0]

    def predict_stream(
        self,
        batches: Iterable[tuple[Tag, np.ndarray]],
        on_logits: Callable[[Tag, np.ndarray], None],
    ) -> None:
        # benchmark_app's throughput mode: keep every stream busy, with
        # REQUESTS_PER_STREAM requests in flight for each. Inputs are shared, not
        # copied: the QSL keeps `batches_in_flight + 1` buffers, so none is refilled
        # while a request reads it.
        # Outputs are handed over as a view of the request's tensor, valid during the
        # callback (the request is not reused before it returns).
        queue = ov.AsyncInferQueue(self.compiled, self.batches_in_flight)
        # a record batch's per-input arrays are made here, and shared: kept alive until
        # their request's callback (the QSL keeps only the record buffer)
        alive: dict[int, dict] = {}

        def done(request, slot: tuple[Tag, int]) -> None:
            tag, number = slot
            try:
                on_logits(tag, request.get_output_tensor(0).data)
            finally:
                alive.pop(number, None)

        queue.set_callback(done)
        try:
            for number, (tag, batch) in enumerate(batches):
                named = named_inputs(batch)
                if named is not None:
                    alive[number] = named
                queue.start_async(batch if named is None else named, userdata=(tag, number),
                                  share_inputs=True)
        finally:  # even on error: no callback may outlive this call
            queue.wait_all()

    def executed(self) -> Executed:
        """The runtime precision of every compute layer of the compiled model."""
        by_precision: Counter = Counter()
        layers: Counter = Counter()
        float_note = self.made_by().float_compute_note
        for layer, runtime, _ in self._runtime_layers():
            layers[f"{layer}:{runtime}"] += 1
            if layer in COMPUTE_LAYERS:
                precision = RUNTIME_PRECISION.get(runtime, runtime)
                if precision == "fp32" and float_note:  # weights stored otherwise
                    precision = float_note
                by_precision[precision] += 1
        return Executed(compute_summary(by_precision), {
            "inference_precision_hint": self.compiled.get_property(
                "INFERENCE_PRECISION_HINT").to_string(),
            "runtime_layers": dict(sorted(layers.items()))})

    def _runtime_layers(self) -> Iterator[tuple[str, str, str]]:
        """(layer type, runtime precision, primitive) of each layer the plugin compiled."""
        for op in self.compiled.get_runtime_model().get_ordered_ops():
            info = op.get_rt_info()
            yield (info["layerType"].astype(str) if "layerType" in info else op.get_type_name(),
                   info["runtimePrecision"].astype(str) if "runtimePrecision" in info else "?",
                   info["primitiveType"].astype(str) if "primitiveType" in info else "?")

    isa_unsupported = None

    def executed_isa(self, batch: np.ndarray) -> dict:
        """Each compute layer's primitive as the CPU plugin names it (`jit_avx2_I8`,
        `brgconv_avx512_amx_1x1_I8`), as benchmark_app's per-layer `exec_type`; read from
        the compiled model, after the run (`batch` unused)."""
        kernels = Counter(primitive for layer, _, primitive in self._runtime_layers()
                          if layer in COMPUTE_LAYERS)
        return {"counts": isa_counts(kernels), "kernels": dict(kernels.most_common()),
                "source": "OpenVINO's runtime model: each compute layer's primitiveType "
                          "(benchmark_app's exec_type)"}

    @property
    def batches_in_flight(self) -> int:
        return REQUESTS_PER_STREAM * self.optimal_requests if self.hint == "throughput" else 1

    @property
    def optimal_requests(self) -> int:
        return int(self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))

    def threads_read_back(self) -> int:
        return int(self.compiled.get_property("INFERENCE_NUM_THREADS"))

    def settings(self) -> dict:
        read = self.compiled.get_property
        return {
            **super().settings(),
            "device": "CPU",
            "performance_hint": str(read("PERFORMANCE_HINT")),
            "inference_precision": read("INFERENCE_PRECISION_HINT").to_string(),
            "inference_precision_asked": self.context.options.get("ov_float_precision")
            if "ov_float_precision" in self.made_by().options else
            INFERENCE_PRECISION[self.precision],
            "inference_num_threads": int(read("INFERENCE_NUM_THREADS")),
            "num_streams": int(read("NUM_STREAMS")),
            "optimal_number_of_infer_requests": self.optimal_requests,
            "infer_requests_in_flight": self.batches_in_flight,
            "async_queue": self.hint == "throughput",
        }
