"""Where a user's model comes from: a file of one of the kinds below, or a Python callable.

Each kind is a registry entry (the PyTorch and ONNX kinds here; a runtime's own format
in its backend's package): how it is recognised, which files belong to it (an IR's
`.bin`, an ONNX model's external data), and how its inputs are read from it (names,
shapes, dtypes). Its identity is the digest of its bytes, never its path: two different
files named `model.onnx` are two models, and the same file moved is the same one.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.core.digests import sha256_of
from harness.core.errors import UsageError
from harness.core.model_card import InputSpec
from harness.core.registry import Registry

CALLABLE_PATTERN = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@dataclass(frozen=True)
class SourceKind:
    name: str
    description: str  # for `info`, `inspect` and errors
    suffixes: tuple[str, ...]  # how a file of this kind is named; () for a callable
    # the model's inputs as the file states them (a dimension None: open); None: the
    # source states none (a callable)
    read_inputs: Callable[[Path], list[InputSpec] | None]
    # files besides the main one that belong to the model (their names matter: the main
    # file refers to them)
    companions: Callable[[Path], list[Path]] = lambda path: []
    # why the file's model cannot take inputs of these shapes (dimensions it leaves open,
    # fixed by a card), or None; where the kind has no cheap way to tell, None
    rejects: Callable[[Path, tuple[InputSpec, ...]], str | None] = lambda path, inputs: None


@dataclass(frozen=True)
class ModelSource:
    kind: SourceKind
    location: str  # the path as given, or "package.module:callable"
    digest: str  # sha256 of the model's bytes (and companions), or of the callable's code

    @property
    def path(self) -> Path | None:
        return None if not self.kind.suffixes else Path(self.location)

    @property
    def file_name(self) -> str:
        return self.path.name if self.path else self.location

    @property
    def stem(self) -> str:
        """A name for tables when the card gives none."""
        return self.path.stem if self.path else self.location.rpartition(":")[2]

    @property
    def short_id(self) -> str:
        """`<stem>@<8 hex digits>`: a model's name in results, unique by content."""
        return f"{self.stem}@{self.digest[:8]}"

    def read_inputs(self) -> list[InputSpec] | None:
        return _reading(self.kind, Path(self.location), self.kind.read_inputs)


def _reading(kind: SourceKind, path: Path, reader: Callable):
    """`reader(path)`, its failure one line: what the file is not, in the reader's words."""
    try:
        return reader(path)
    except UsageError:
        raise
    except Exception as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else \
            type(exc).__name__
        raise UsageError(f"{path.name} could not be read as {kind.description} ({message}); "
                         "check the file, or name its kind by its suffix "
                         f"({', '.join(_all_suffixes())})") from None


SOURCE_KINDS: Registry[SourceKind] = Registry("model source kind")


def register_source_kind(kind: SourceKind) -> SourceKind:
    return SOURCE_KINDS.register(kind.name, kind)


def _all_suffixes() -> list[str]:
    return [suffix for _, kind in SOURCE_KINDS.items() for suffix in kind.suffixes]


def looks_like_source(value: str) -> bool:
    """A model given as a file or a callable, not a zoo name."""
    return bool(CALLABLE_PATTERN.match(value)) or any(
        value.lower().endswith(suffix) for suffix in _all_suffixes()) or "/" in value


def open_source(value: str) -> ModelSource:
    """The model source `value` names; one line naming the problem and the fix if none."""
    if CALLABLE_PATTERN.match(value) and not Path(value).exists():
        kind = SOURCE_KINDS.get("pytorch-callable")
        return ModelSource(kind, value, _callable_digest(value))
    path = Path(value)
    kind = next((k for _, k in SOURCE_KINDS.items()
                 if any(value.lower().endswith(s) for s in k.suffixes)), None)
    if kind is None:
        raise UsageError(f"{value!r} is not a model edgebench knows: give a zoo name, a "
                         f"file ending in {', '.join(_all_suffixes())}, or "
                         "package.module:callable")
    if not path.is_file():
        raise UsageError(f"model file {value} not found; give the path of {kind.description}")
    files = [path, *_reading(kind, path, kind.companions)]
    missing = [f for f in files if not f.is_file()]
    if missing:
        raise UsageError(f"{path.name} needs {missing[0].name} beside it (not found in "
                         f"{missing[0].parent}); copy it there")
    digest = hashlib.sha256(bytes.fromhex(sha256_of(path)))
    for companion in files[1:]:
        digest.update(companion.name.encode() + b"\0" + bytes.fromhex(sha256_of(companion)))
    return ModelSource(kind, value, digest.hexdigest())


def load_callable(location: str) -> Callable:
    module_name, _, attribute = location.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise UsageError(f"cannot import {module_name!r} for --model {location} ({exc}); "
                         "check the module is on PYTHONPATH (or installed)") from None
    function = getattr(module, attribute, None)
    if not callable(function):
        raise UsageError(f"{module_name} has no callable {attribute!r}; --model takes "
                         "package.module:callable returning an nn.Module")
    return function


def _callable_digest(location: str) -> str:
    """Of the module that defines the callable: editing it is another model."""
    function = load_callable(location)
    try:
        code = Path(inspect.getfile(function)).read_bytes()
    except (OSError, TypeError):
        code = location.encode()
    return hashlib.sha256(location.encode() + b"\0" + code).hexdigest()


# --- the kinds -------------------------------------------------------------------

def _onnx_inputs(path: Path) -> list[InputSpec]:
    import onnx
    from onnx import helper

    model = onnx.load(str(path), load_external_data=False)
    initializers = {init.name for init in model.graph.initializer}
    inputs = []
    for value in model.graph.input:
        if value.name in initializers:
            continue
        tensor = value.type.tensor_type
        # a dimension named, unset, or -1 (as paddle2onnx writes an open one) is open
        shape = tuple(dim.dim_value if dim.HasField("dim_value") and dim.dim_value > 0
                      else None for dim in tensor.shape.dim)
        dtype = str(helper.tensor_dtype_to_np_dtype(tensor.elem_type))
        inputs.append(InputSpec(value.name, shape, dtype))
    return inputs


def _onnx_rejects(path: Path, inputs: tuple[InputSpec, ...]) -> str | None:
    """ONNX's strict shape inference with the inputs' open dimensions fixed: a card's
    shape the graph cannot take (a flatten into a fixed-size layer) fails here, in
    ONNX's words, rather than in a runtime mid-run."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    shapes = {spec.name: spec.shape for spec in inputs}
    for value in model.graph.input:
        shape = shapes.get(value.name)
        if shape is None:
            continue
        for dim, size in zip(value.type.tensor_type.shape.dim, shape, strict=False):
            dim.dim_value = size or 1  # an open batch: 1
    try:
        onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    except onnx.shape_inference.InferenceError as exc:
        message = " ".join(str(exc).split())
        # only a shape conflict is the card's fault (an operator onnx does not know is not)
        return message if "mismatch" in message.lower() or "incompatible" in message.lower() \
            else None
    return None


def _onnx_companions(path: Path) -> list[Path]:
    import onnx
    from onnx.external_data_helper import _get_all_tensors, uses_external_data

    model = onnx.load(str(path), load_external_data=False)
    locations = []
    # onnx's own walk over every tensor, subgraphs' included (it has no public one)
    for tensor in _get_all_tensors(model):
        if uses_external_data(tensor):
            entry = {e.key: e.value for e in tensor.external_data}
            if entry.get("location") and entry["location"] not in locations:
                locations.append(entry["location"])
    return [path.parent / location for location in locations]


def _program_inputs(path: Path) -> list[InputSpec]:
    import torch

    program = torch.export.load(str(path))
    user_inputs = set(program.graph_signature.user_inputs)
    inputs = []
    for node in program.graph.nodes:
        if node.op != "placeholder" or node.name not in user_inputs:
            continue
        value = node.meta.get("val")
        if not isinstance(value, torch.Tensor):
            raise UsageError(f"{path.name}: input {node.name!r} is not a tensor; edgebench "
                             "feeds tensors only")
        shape = tuple(int(d) if isinstance(d, int) else None for d in value.shape)
        inputs.append(InputSpec(node.name, shape, str(value.dtype).removeprefix("torch.")))
    return inputs


def _callable_inputs(location: Path) -> None:
    return None  # a callable states no input: its card gives them (or ImageNet's applies)


for _kind in (
    SourceKind("pytorch-program", "a PyTorch ExportedProgram (torch.export.save)",
               (".pt2",), _program_inputs),
    SourceKind("pytorch-callable", "package.module:callable returning an nn.Module", (),
               _callable_inputs),
    SourceKind("onnx", "an ONNX model", (".onnx",), _onnx_inputs, _onnx_companions,
               _onnx_rejects),
):  # a runtime's own format is registered by its backend (backends/tflite, backends/openvino)
    register_source_kind(_kind)
