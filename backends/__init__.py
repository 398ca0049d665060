"""One subpackage per runtime behind the `Backend` interface (the `optimum` way): its
adapter, its conversion and its precisions (recipes) side by side.

Adapters are imported lazily so that a runtime which is not installed costs nothing
until it is asked for, and then fails with the pip extra that installs it.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from dataclasses import dataclass

# each runtime's subpackage declares its recipe options on import (no runtime imported)
import backends.aimet_quantize  # noqa: F401
import backends.onnxruntime  # noqa: F401
import backends.openvino  # noqa: F401
import backends.pytorch  # noqa: F401
import backends.tflite  # noqa: F401
from backends.base import Backend
from harness.core.errors import UsageError
from harness.core.registry import Registry


@dataclass(frozen=True)
class Adapter:
    module: str
    class_name: str
    extra: str  # `pip install edgebench[<extra>]` installs the runtime
    distributions: tuple[str, ...]  # packages that provide the runtime, preferred first


BACKENDS: Registry[Adapter] = Registry("backend")
for _name, _adapter in (
    ("onnxruntime", Adapter("backends.onnxruntime.backend", "OnnxRuntimeBackend",
                            "onnxruntime", ("onnxruntime",))),
    ("openvino", Adapter("backends.openvino.backend", "OpenVinoBackend",
                         "openvino", ("openvino",))),
    ("tflite", Adapter("backends.tflite.backend", "TfliteBackend",
                       "tflite", ("ai-edge-litert", "tflite-runtime"))),
    ("pytorch", Adapter("backends.pytorch.backend", "PyTorchBackend",
                        "pytorch", ("torch",))),
):
    BACKENDS.register(_name, _adapter)


def get_backend_class(name: str) -> type[Backend]:
    adapter = BACKENDS.get(name)
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
    for distribution in BACKENDS.get(name).distributions:
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


__all__ = ["BACKENDS", "Backend", "get_backend_class", "installed_version"]
