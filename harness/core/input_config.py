"""What an image classifier takes and how an ImageNet photo becomes that: the zoo's
models state it, a user's model card gives it."""

from __future__ import annotations

from dataclasses import dataclass

# torchvision's ImageNet normalisation, which its checkpoints are published under
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class InputConfig:
    """What a model takes and how an image becomes that, as `timm`'s `pretrained_cfg`
    says it: preprocessing, the ONNX export and the TFLite conversion all read it."""

    channels: int = 3
    size_px: int = 224  # the height after the centre crop (and the width: square)
    resize_shorter_px: int = 256  # the crop's shorter side, scaled so, before the crop
    width_px: int | None = None  # a non-square input's width; None: size_px
    interpolation: str = "bilinear"
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    layout: str = "NCHW"  # of the source model's input
    num_classes: int = 1000
    label_offset: int = 0  # 1 for a model with a background class at index 0

    @property
    def width(self) -> int:
        return self.width_px or self.size_px

    @property
    def shape(self) -> tuple[int, int, int]:
        """One sample, channels first: (C, H, W)."""
        return (self.channels, self.size_px, self.width)


# what the zoo's ImageNet classifiers take, torchvision's way
IMAGENET_INPUT = InputConfig()
