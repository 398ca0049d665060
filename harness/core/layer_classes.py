"""One vocabulary for the four runtimes' per-operator profiles: the class of layer an
operator computes, whatever the runtime calls it (`QLinearConv`, `GroupConvolution`,
`quantized::conv2d`), and the sums a profile is read by."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

CONV_KXK = "conv kxk"
DEPTHWISE = "depthwise conv"
POINTWISE = "pointwise conv"
FULLY_CONNECTED = "fully connected"
POOLING = "pooling"
ELEMENT_WISE = "element-wise"  # add, concat, activation, normalisation
OVERHEAD = "overhead"  # quantize, dequantize, requantize, layout reorder, copy
UNMAPPED = "unmapped"  # time the mapping could not place: shown, never dropped
LAYER_CLASSES = (CONV_KXK, DEPTHWISE, POINTWISE, FULLY_CONNECTED, POOLING, ELEMENT_WISE,
                 OVERHEAD, UNMAPPED)
CONV_CLASSES = (CONV_KXK, DEPTHWISE, POINTWISE)
CONVOLUTION = "convolution"  # an operator that convolves: its geometry picks the class

# Matched in order on the lower-cased operator type; the first match wins. Overhead
# comes first and is spelled exactly, because `quantized::conv2d` computes a convolution
# while `QuantizeLinear` (which ends in "linear") only converts.
_OPERATOR_PATTERNS = (
    (OVERHEAD, r"quantizelinear|quantize_per|dequantize|requantize|fakequantize|reorder|"
               r"transpose|reshape|flatten|squeeze|permute|copy|contiguous|clone|convert|"
               r"^aten::view|^aten::to$|^aten::_to|memoryformat"),
    (CONVOLUTION, r"conv"),
    (FULLY_CONNECTED, r"gemm|matmul|fullyconnected|linear|addmm|::mm$"),
    (POOLING, r"pool|reducemean|::mean$"),
    (ELEMENT_WISE, r"add|mul|sub|div|concat|::cat$|relu|clip|clamp|hardtanh|sigmoid|swish|"
                   r"gelu|norm|eltwise|softmax|dropout|subgraph|maximum|minimum"),
)


def operator_class(operator_type: str) -> str:
    """The layer class of a runtime's operator type; `CONVOLUTION` when only the layer's
    geometry can say which convolution; `UNMAPPED` when nothing here knows the type."""
    # ONNX Runtime's QLinear<Op> is <Op> on quantized tensors (QLinearAdd adds)
    lowered = re.sub(r"^qlinear", "", operator_type.lower())
    for layer_class, pattern in _OPERATOR_PATTERNS:
        if re.search(pattern, lowered):
            return layer_class
    return UNMAPPED


def conv_class(kernel: tuple[int, ...], groups: int, in_channels: int) -> str:
    """Depthwise (one group per input channel), pointwise (1x1) or kxk."""
    if groups > 1 and groups == in_channels:
        return DEPTHWISE
    if all(k == 1 for k in kernel):
        return POINTWISE
    return CONV_KXK


def time_by_class(operators: Iterable[dict]) -> dict[str, float]:
    """Milliseconds per inference per layer class, in `LAYER_CLASSES` order."""
    totals: dict[str, float] = defaultdict(float)
    for op in operators:
        totals[op["layer_class"]] += op["time_ms"]
    return {c: round(totals[c], 4) for c in LAYER_CLASSES if c in totals}


def time_by_layer(operators: Iterable[dict]) -> list[dict]:
    """Each layer's time per inference with the kernels and precisions its operators ran,
    slowest first. A layer is named by the class where most of its time went outside
    overhead (a convolution, not the reorder in front of it). Operators no layer claimed
    stay apart, each under its own name."""
    layers: dict[str, dict] = {}
    for op in operators:
        name = op.get("layer") or f"({op['name']})"
        layer = layers.setdefault(name, {"layer": name, "time_ms": 0.0, "by_class": {},
                                         "kernels": [], "precisions": []})
        layer["time_ms"] += op["time_ms"]
        layer["by_class"][op["layer_class"]] = \
            layer["by_class"].get(op["layer_class"], 0.0) + op["time_ms"]
        for field, value in (("kernels", op.get("kernel")), ("precisions", op.get("precision"))):
            if value and value not in layer[field]:
                layer[field].append(value)
    for layer in layers.values():
        by_class = layer.pop("by_class")
        computing = {c: t for c, t in by_class.items() if c not in (OVERHEAD, UNMAPPED)}
        layer["layer_class"] = max(computing or by_class, key=(computing or by_class).get)
        layer["time_ms"] = round(layer["time_ms"], 4)
    return sorted(layers.values(), key=lambda layer: -layer["time_ms"])


def mapped_share(operators: Iterable[dict]) -> float:
    """The share of profiled time placed in a layer class (0 to 1)."""
    operators = list(operators)
    total = sum(op["time_ms"] for op in operators)
    unmapped = sum(op["time_ms"] for op in operators if op["layer_class"] == UNMAPPED)
    return 0.0 if total == 0 else round(1 - unmapped / total, 4)
