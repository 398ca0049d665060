"""OpenVINO: the adapter (`backend`), ONNX -> IR conversion and NNCF quantization
(`quantize`), side by side. Import openvino itself through `ov_import`."""

from backends.options import RecipeOption, declare

declare(
    RecipeOption("ov_float_precision", str, "f32",
                 "OpenVINO int8: what the layers NNCF left in float run in: f32 (pinned, so "
                 "that int8 means int8 plus f32) or runtime-default (the CPU plugin's own "
                 "choice, bf16 on AVX512_BF16/AMX CPUs, as benchmark_app runs it); the "
                 "precision that ran is read back", ("f32", "runtime-default")),
)
