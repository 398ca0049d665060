"""Registry of model names -> builder and the official checkpoint that fits it."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch

from harness.core.errors import UsageError
from harness.core.zoo.densenet import densenet121
from harness.core.zoo.mobilenet_v2 import mobilenet_v2
from harness.core.zoo.vgg import vgg19


@dataclass(frozen=True)
class ModelSpec:
    name: str
    builder: Callable[..., torch.nn.Module]
    # torchvision's IMAGENET1K_V1 checkpoint; the 8 hex digits after the last '-'
    # in the file name are the sha256 prefix torch.hub checks. None: no official one.
    checkpoint_url: str | None
    input_size: int = 224
    num_classes: int = 1000

    @property
    def architecture_code(self) -> tuple[Callable, str]:
        """(the function that builds the model, its fixed arguments): with the source of
        that function, what decides the architecture; part of artifact cache keys."""
        function, arguments = self.builder, ""
        while isinstance(function, functools.partial):
            arguments = f"{function.args}{sorted(function.keywords.items())}{arguments}"
            function = function.func
        return function, f"{function.__module__}.{function.__qualname__}{arguments}"


_REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "mobilenet_v2",
            mobilenet_v2,
            "https://download.pytorch.org/models/mobilenet_v2-b0353104.pth",
        ),
        ModelSpec("vgg19", vgg19, "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"),
        ModelSpec(
            "densenet121",
            densenet121,
            "https://download.pytorch.org/models/densenet121-a639ec97.pth",
        ),
    )
}

MODEL_NAMES: tuple[str, ...] = tuple(_REGISTRY)


def register_model(spec: ModelSpec) -> None:
    """Add a model (e.g. a reduced-width variant in tests); names stay unique."""
    if spec.name in _REGISTRY:
        raise ValueError(f"model {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec


def get_spec(name: str) -> ModelSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UsageError(
            f"unknown model {name!r}; choose one of: {', '.join(_REGISTRY)}"
        ) from None


def build_model(name: str, **overrides) -> torch.nn.Module:
    """Build the architecture `name` with freshly initialised weights, in eval mode.

    `overrides` reach the builder (e.g. ``width_mult`` or ``num_classes``); tests use
    them for small models, the CLI never does.
    """
    return get_spec(name).builder(**overrides).eval()
