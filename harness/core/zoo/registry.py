"""Registry of model names -> builder, input configuration and official checkpoint."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.core.input_config import IMAGENET_INPUT, InputConfig
from harness.core.model_card import ModelCard
from harness.core.registry import Registry

if TYPE_CHECKING:  # a user's model (harness.core.user_models); the zoo has none
    from harness.core.model_source import ModelSource

@dataclass(frozen=True)
class ModelSpec:
    name: str
    # the function that builds the architecture, or "module:function" to import it on
    # first use (so listing the zoo imports no torch)
    builder: Callable[..., object] | str
    # torchvision's IMAGENET1K_V1 checkpoint; the 8 hex digits after the last '-'
    # in the file name are the sha256 prefix torch.hub checks. None: no official one.
    checkpoint_url: str | None
    input: InputConfig = IMAGENET_INPUT
    # FP32 ms per image at batch 1 (ONNX Runtime, SingleStream p50) on the project's
    # 2-core x86, from a study-quick sweep (2026-11-30): where a sweep's time estimate
    # starts before this device has measured the model itself
    reference_fp32_ms: float | None = None
    # a user's model: the file or callable it came from (None: the zoo's code)
    source: ModelSource | None = None
    # what the model takes and answers: a user's card as used; made from `input` for a
    # zoo model, so every model has one
    card: ModelCard = None  # type: ignore[assignment]

    def __post_init__(self):
        if self.card is None:
            object.__setattr__(self, "card", ModelCard.of_image_classifier(self.name, self.input))

    @property
    def num_classes(self) -> int:
        return self.input.num_classes

    @property
    def source_kind(self) -> str:
        """What the model is made from (`harness.core.model_source`); the zoo's
        architectures are Python callables that return an nn.Module."""
        return self.source.kind.name if self.source else "pytorch-callable"

    @property
    def tensor_inputs(self):
        """A model that takes no single image: its inputs (fed synthetic records); None
        for an image model, the zoo's included."""
        return self.card.tensor_inputs

    @property
    def fixed_batch(self) -> int | None:
        """The batch size the model file fixes (None: any, as the zoo's exports)."""
        return self.card.fixed_batch

    @property
    def input_name(self) -> str | None:
        """The model's first input as its source (or its card) names it."""
        return self.card.inputs[0].name

    def builder_function(self) -> Callable[..., object]:
        if callable(self.builder):
            return self.builder
        module, _, name = self.builder.partition(":")
        return getattr(importlib.import_module(module), name)

    @property
    def architecture_code(self) -> tuple[Callable, str]:
        """(the function that builds the model, its fixed arguments): with the source of
        that function, what decides the architecture; part of artifact cache keys."""
        function, arguments = self.builder_function(), ""
        while isinstance(function, functools.partial):
            arguments = f"{function.args}{sorted(function.keywords.items())}{arguments}"
            function = function.func
        return function, f"{function.__module__}.{function.__qualname__}{arguments}"


MODELS: Registry[ModelSpec] = Registry("model")
for _spec in (
    ModelSpec("mobilenet_v2", "harness.core.zoo.mobilenet_v2:mobilenet_v2",
              "https://download.pytorch.org/models/mobilenet_v2-b0353104.pth",
              reference_fp32_ms=2.2),
    ModelSpec("vgg19", "harness.core.zoo.vgg:vgg19",
              "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
              reference_fp32_ms=100.0),
    ModelSpec("densenet121", "harness.core.zoo.densenet:densenet121",
              "https://download.pytorch.org/models/densenet121-a639ec97.pth",
              reference_fp32_ms=15.0),
):
    MODELS.register(_spec.name, _spec)


def register_model(spec: ModelSpec) -> None:
    """Add a model (e.g. a reduced-width variant in tests); names stay unique."""
    MODELS.register(spec.name, spec)


def get_spec(name: str) -> ModelSpec:
    return MODELS.get(name)


def build_model(name: str, **overrides):
    """Build the architecture `name` with freshly initialised weights, in eval mode.

    `overrides` reach the builder (e.g. ``width_mult`` or ``num_classes``); tests use
    them for small models, the CLI never does.
    """
    return get_spec(name).builder_function()(**overrides).eval()
