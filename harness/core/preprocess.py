"""The evaluation transform a model's input configuration describes, done once per image.

For the zoo's ImageNet classifiers that is torchvision's ``Resize + CenterCrop + ToTensor
+ Normalize`` at the sizes their spec gives, same steps and order, so that official
checkpoints score what they are published to score.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from harness.core.errors import DatasetError
from harness.core.zoo import InputConfig

# Bump when the transform changes: it is part of the preprocessed-sample cache key.
PREPROCESS_VERSION = 1
RESAMPLING = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}


def load_rgb(path: Path) -> Image.Image:
    try:
        with Image.open(path) as image:
            # Grayscale, CMYK and palette files exist in ImageNet: the model wants RGB.
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DatasetError(f"cannot read image {path}: {exc}") from None


def resize_and_crop(image: Image.Image, shorter_px: int, crop_px: int,
                    interpolation: str = "bilinear") -> Image.Image:
    width, height = image.size
    # torchvision truncates the long side: int(shorter * long / short)
    if width <= height:
        size = (shorter_px, int(shorter_px * height / width))
    else:
        size = (int(shorter_px * width / height), shorter_px)
    image = image.resize(size, RESAMPLING[interpolation])
    left = int(round((size[0] - crop_px) / 2.0))
    top = int(round((size[1] - crop_px) / 2.0))
    return image.crop((left, top, left + crop_px, top + crop_px))


def resize_and_crop_to(image: Image.Image, height_px: int, width_px: int,
                       shorter_px: int, interpolation: str = "bilinear") -> Image.Image:
    """A non-square crop, as the square one: scaled so that the crop box grown by
    `shorter_px` over its shorter side just fits, then the centre `width_px` x
    `height_px` cut out (the image's own aspect kept; nothing stretched)."""
    grow = shorter_px / min(height_px, width_px)
    scale = max(height_px * grow / image.height, width_px * grow / image.width)
    size = (max(width_px, round(image.width * scale)), max(height_px, round(image.height * scale)))
    image = image.resize(size, RESAMPLING[interpolation])
    left = int(round((size[0] - width_px) / 2.0))
    top = int(round((size[1] - height_px) / 2.0))
    return image.crop((left, top, left + width_px, top + height_px))


def preprocess_image(path: Path, config: InputConfig) -> np.ndarray:
    """`config.shape` float32, normalised by its mean and std, channels first."""
    if config.width == config.size_px:  # square: torchvision's own steps
        image = resize_and_crop(load_rgb(path), config.resize_shorter_px, config.size_px,
                                config.interpolation)
    else:
        image = resize_and_crop_to(load_rgb(path), config.size_px, config.width,
                                   config.resize_shorter_px, config.interpolation)
    chw = np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255.0
    mean = np.array(config.mean, dtype=np.float32).reshape(-1, 1, 1)
    std = np.array(config.std, dtype=np.float32).reshape(-1, 1, 1)
    return np.ascontiguousarray((chw - mean) / std, dtype=np.float32)


def preprocess_key(config: InputConfig) -> str:
    """What the preprocessed-sample cache is keyed on: the transform and its settings."""
    settings = (config.resize_shorter_px, config.size_px, config.interpolation, config.mean,
                config.std) + ((config.width_px,) if config.width_px else ())
    size = f"{config.size_px}x{config.width_px}" if config.width_px else f"{config.size_px}"
    return f"v{PREPROCESS_VERSION}-{size}-" + \
        hashlib.sha256(repr(settings).encode()).hexdigest()[:8]


def to_layout(chw: np.ndarray, layout: str) -> np.ndarray:
    """A preprocessed (3, H, W) sample in a backend's batch layout ("NCHW" or "NHWC").

    Done once when LoadGen loads a sample, never on the timed path.
    """
    if layout == "NCHW":
        return chw
    if layout == "NHWC":
        return np.ascontiguousarray(chw.transpose(1, 2, 0))
    raise ValueError(f"unknown input layout {layout!r}")
