"""Registry of model names -> builder, input configuration and official checkpoint."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.core.registry import Registry

if TYPE_CHECKING:  # a user's model (harness.core.user_models); the zoo has neither
    from harness.core.model_card import ModelCard
    from harness.core.model_source import ModelSource

# torchvision's ImageNet normalisation, which its checkpoints are published under
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class InputConfig:
    """What a model takes and how an image becomes that, as `timm`'s `pretrained_cfg`
    says it: preprocessing, the ONNX export and the TFLite conversion all read it."""

    channels: int = 3
    size_px: int = 224  # square input, after the centre crop
    resize_shorter_px: int = 256  # the shorter side before the crop
    interpolation: str = "bilinear"
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    layout: str = "NCHW"  # of the source model's input
    num_classes: int = 1000
    label_offset: int = 0  # 1 for a model with a background class at index 0

    @property
    def shape(self) -> tuple[int, int, int]:
        """One sample, channels first: (C, H, W)."""
        return (self.channels, self.size_px, self.size_px)


# what the zoo's ImageNet classifiers take, torchvision's way
IMAGENET_INPUT = InputConfig()


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
    # a user's model: the file or callable it came from and its card (as used)
    source: ModelSource | None = None
    card: ModelCard | None = None

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
        return self.card.tensor_inputs if self.card is not None else None

    @property
    def fixed_batch(self) -> int | None:
        """The batch size the model file fixes (None: any, as the zoo's exports)."""
        return self.card.inputs[0].shape[0] if self.card and self.card.inputs else None

    @property
    def input_name(self) -> str | None:
        """The model's input as its source names it (None: a zoo model)."""
        return self.card.inputs[0].name if self.card and self.card.inputs else None

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
