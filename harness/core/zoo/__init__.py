"""Model zoo: the three ImageNet classifiers, built by name (the `timm` way).

Parameter names match torchvision exactly, so an official torchvision checkpoint
loads into these modules with ``strict=True``; torchvision itself is not usable
with the pinned torch, which is why the architectures live here.
"""

from harness.core.zoo.registry import (
    IMAGENET_INPUT,
    MODELS,
    InputConfig,
    ModelSpec,
    build_model,
    get_spec,
    register_model,
)

__all__ = ["IMAGENET_INPUT", "MODELS", "InputConfig", "ModelSpec", "build_model", "get_spec",
           "register_model"]
