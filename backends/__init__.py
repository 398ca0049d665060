"""One subpackage per runtime behind the `Backend` interface (the `optimum` way): its
adapter, its conversion and its precisions (recipes) side by side.

Adapters are imported lazily so that a runtime which is not installed costs nothing
until it is asked for, and then fails with the pip extra that installs it.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from dataclasses import dataclass

from backends.base import Backend
from harness.core.errors import UsageError


@dataclass(frozen=True)
class Adapter:
    module: str
    class_name: str
    extra: str  # `pip install edgebench[<extra>]` installs the runtime
    distributions: tuple[str, ...]  # packages that provide the runtime, preferred first


ADAPTERS: dict[str, Adapter] = {
    "onnxruntime": Adapter("backends.onnxruntime.backend", "OnnxRuntimeBackend",
                           "onnxruntime", ("onnxruntime",)),
    "openvino": Adapter("backends.openvino.backend", "OpenVinoBackend",
                        "openvino", ("openvino",)),
    "tflite": Adapter("backends.tflite.backend", "TfliteBackend",
                      "tflite", ("ai-edge-litert", "tflite-runtime")),
    "pytorch": Adapter("backends.pytorch.backend", "PyTorchBackend",
                       "pytorch", ("torch",)),
}
BACKEND_NAMES: tuple[str, ...] = tuple(ADAPTERS)


def get_backend_class(name: str) -> type[Backend]:
    try:
        adapter = ADAPTERS[name]
    except KeyError:
        raise UsageError(
            f"unknown backend {name!r}; choose one of: {', '.join(BACKEND_NAMES)}"
        ) from None
    try:
        module = importlib.import_module(adapter.module)
    except ModuleNotFoundError as exc:
        raise UsageError(
            f"backend {name!r} needs the package {exc.name!r}: "
            f"pip install 'edgebench[{adapter.extra}]'"
        ) from None
    return getattr(module, adapter.class_name)


def installed_version(name: str) -> str | None:
    """The runtime's version if its package is installed, without importing it."""
    for distribution in ADAPTERS[name].distributions:
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


__all__ = ["ADAPTERS", "BACKEND_NAMES", "Backend", "get_backend_class", "installed_version"]
