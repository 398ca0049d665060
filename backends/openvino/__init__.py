"""OpenVINO: the adapter (`backend`), ONNX -> IR conversion and NNCF quantization
(`quantize`), side by side. Import openvino itself through `ov_import`."""

from backends.options import RecipeOption, declare
from harness.core.model_source import SourceKind, register_source_kind

declare(
    RecipeOption("ov_float_precision", str, "f32",
                 "OpenVINO int8: what the layers NNCF left in float run in: f32 (pinned, so "
                 "that int8 means int8 plus f32) or runtime-default (the CPU plugin's own "
                 "choice, bf16 on AVX512_BF16/AMX CPUs, as benchmark_app runs it); the "
                 "precision that ran is read back", ("f32", "runtime-default")),
)


def _ir_inputs(path):
    from backends.openvino.ov_import import ov
    from harness.core.model_card import InputSpec

    model = ov.Core().read_model(str(path))
    return [InputSpec(port.get_any_name(), tuple(
        dim.get_length() if dim.is_static else None for dim in port.get_partial_shape()),
        port.get_element_type().to_dtype().name) for port in model.inputs]


register_source_kind(SourceKind("openvino-ir", "an OpenVINO IR (.xml with its .bin)",
                                (".xml",), _ir_inputs, lambda path: [path.with_suffix(".bin")]))
