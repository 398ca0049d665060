"""The source ONNX graph as a map from names a runtime reports (node names, the tensors
they write) to the model's layers: ONNX Runtime and OpenVINO both run graphs made from
it and keep its node names, decorated (`node_Conv_811_token_1`, `hardtanh_nchwc`).

A layer is the PyTorch module path: a convolution's or linear layer's weight is named
after its module (`features.0.0.weight`), and torch's exporter records every node's
module scopes (`pkg.torch.onnx.name_scopes`). A model with neither (a user's ONNX file)
names its layers by weight or node name."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from backends.onnx_export import onnx_artifact
from backends.recipes import FROM_ONNX, BuildContext
from harness.core.layer_classes import (
    CONV_CLASSES,
    CONVOLUTION,
    ELEMENT_WISE,
    FULLY_CONNECTED,
    OVERHEAD,
    UNMAPPED,
    conv_class,
    operator_class,
)
from harness.core.zoo import get_spec

NAME_SCOPES = "pkg.torch.onnx.name_scopes"
# how far a fused operator named after its activation's output is followed back to
# the convolution it absorbed (Conv -> Clip, Conv -> Add -> Relu)
FUSION_DEPTH = 3


@dataclass(frozen=True)
class SourceNode:
    name: str
    op_type: str
    inputs: tuple[str, ...]
    layer: str | None
    layer_class: str  # the class its own op type and geometry say


class OnnxLayers:
    """Node and tensor names of the source graph, each to its layer."""

    def __init__(self, model_path: Path | None) -> None:
        """`model_path` None: a model with no ONNX form (an IR or .tflite file given as
        it is); every name then stays unplaced, and is shown so."""
        import onnx

        self.nodes: dict[str, SourceNode] = {}
        self.producer: dict[str, str] = {}  # tensor -> the node that writes it
        if model_path is None:
            return
        graph = onnx.load(str(model_path), load_external_data=False).graph
        shapes = {init.name: tuple(init.dims) for init in graph.initializer}
        for node in graph.node:
            attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            weight = node.input[1] if len(node.input) > 1 else None
            kind = operator_class(node.op_type)
            if kind == CONVOLUTION and weight in shapes:
                dims = shapes[weight]
                groups = int(attributes.get("group", 1))
                kind = conv_class(tuple(attributes.get("kernel_shape", dims[2:])), groups,
                                  dims[1] * groups)
            # a convolution's or linear layer's weight names its module; another node's
            # second input is no weight (ReduceMean's axes)
            computes = kind in (*CONV_CLASSES, FULLY_CONNECTED) and weight in shapes
            layer = _layer_of_weight(weight) if computes else _scope(node)
            self.nodes[node.name] = SourceNode(node.name, node.op_type, tuple(node.input),
                                               layer or node.name, kind)
            for output in node.output:
                self.producer[output] = node.name

    def find(self, name: str, suffixes: tuple[str, ...] = ()) -> SourceNode | None:
        """The source node a runtime's operator name points at: the name itself, the
        name less a runtime's decoration (`suffixes`, regular expressions at its end),
        or the node writing a tensor of that name."""
        for candidate in _undecorated(name, suffixes):
            if candidate in self.nodes:
                return self.nodes[candidate]
            if candidate in self.producer:
                return self.nodes[self.producer[candidate]]
        return None

    def computing(self, node: SourceNode) -> SourceNode | None:
        """The convolution or linear node an operator named after `node` computes:
        `node` itself, or the nearest one feeding it through element-wise nodes (a
        runtime that fuses Conv -> Clip names the fused operator after the Clip's
        output; Conv -> Add -> Relu after the Relu's, the Add's other input being the
        residual)."""
        level = [node]
        for _ in range(FUSION_DEPTH + 1):
            for candidate in level:
                if candidate.layer_class in (*CONV_CLASSES, FULLY_CONNECTED):
                    return candidate
            level = [self.nodes[self.producer[name]] for candidate in level
                     if candidate.layer_class == ELEMENT_WISE
                     for name in candidate.inputs if name in self.producer]
        return None

    def place(self, name: str, runtime_class: str,
              suffixes: tuple[str, ...] = ()) -> tuple[str | None, str]:
        """An operator's layer and class. A convolution gets the geometry of the source
        convolution it computes, or the class of the other node it stands for (unmapped
        if neither is found); any other operator keeps the class its runtime's type says
        (a runtime's Add is element-wise wherever it came from)."""
        node = self.find(name, suffixes)
        computed = self.computing(node) if node is not None and runtime_class in (
            CONVOLUTION, FULLY_CONNECTED) else None
        if computed is not None:
            node = computed
        if runtime_class == CONVOLUTION:
            if computed is None and node is not None and node.layer_class != CONVOLUTION:
                # a runtime computing another node as a convolution (ONNX Runtime's NCHWc
                # BatchNormalization): the class of what it computes
                return node.layer, node.layer_class
            return (node.layer if node else None), \
                (computed.layer_class if computed and computed.layer_class in CONV_CLASSES
                 else UNMAPPED)
        if node is None and runtime_class == OVERHEAD:
            return self._fed_layer(_undecorated(name, suffixes)[-1]), runtime_class
        return (node.layer if node else None), runtime_class

    def _fed_layer(self, name: str) -> str | None:
        """The layer an inserted reorder feeds, where the runtime names it so
        (OpenVINO: `input_f32_abcd_bf16_acdb_node_Conv_811`)."""
        ends = [node for node in self.nodes if name.endswith("_" + node)]
        return self.nodes[max(ends, key=len)].layer if ends else None

    def place_all(self, operators: list[dict], suffixes: tuple[str, ...]) -> list[dict]:
        """Each operator (`name`, `type` in its runtime's words) with its layer and class."""
        placed = []
        for op in operators:
            layer, layer_class = self.place(op["name"], operator_class(op["type"]), suffixes)
            placed.append({**op, "layer": layer, "layer_class": layer_class})
        return placed


def source_layers(ctx: BuildContext) -> OnnxLayers:
    """The layers of the ONNX model every ONNX-fed runtime's artifact is made from (the
    FP32 export, or a user's ONNX file), built on first use."""
    if get_spec(ctx.model_name).source_kind not in FROM_ONNX:
        return OnnxLayers(None)
    return OnnxLayers(onnx_artifact(ctx))


def _undecorated(name: str, suffixes: tuple[str, ...]) -> list[str]:
    """`name`, then `name` less each decoration found at its end, one at a time."""
    candidates = [name]
    stripped = True
    while stripped:
        stripped = False
        for suffix in suffixes:
            shorter = re.sub(f"(?:{suffix})$", "", candidates[-1])
            if shorter and shorter != candidates[-1]:
                candidates.append(shorter)
                stripped = True
    return candidates


def _layer_of_weight(weight: str) -> str:
    """`features.0.0.weight` -> `features.0.0`; a weight named otherwise, as it is."""
    return weight[: -len(".weight")] if weight.endswith(".weight") else weight


def _scope(node) -> str | None:
    """The innermost module scope torch's exporter recorded for `node` (its last entry
    names the traced operation itself)."""
    for prop in node.metadata_props:
        if prop.key == NAME_SCOPES:
            try:
                scopes = ast.literal_eval(prop.value)
            except (ValueError, SyntaxError):
                return None
            modules = [s for s in scopes[:-1] if s]
            return modules[-1] if modules else None
    return None
