"""ONNX Runtime: the adapter (`backend`) and its precisions (`quantize`), side by side.

Importing this package imports no ONNX Runtime: it declares the options its recipes take.
"""

from backends.options import RecipeOption, declare

declare(
    RecipeOption("quant_format", str, None, "ONNX Runtime int8's activation and weight types "
                 "(default: from the CPU's ISA: U8S8 on x86-64, S8S8 on ARM64)",
                 ("u8s8", "s8s8")),
)
