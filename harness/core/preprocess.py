"""The standard ImageNet evaluation transform, done once per image.

Same steps and order as torchvision's ``Resize(256) + CenterCrop(224) + ToTensor +
Normalize`` so that official checkpoints score what they are published to score.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from harness.core.errors import DatasetError

RESIZE_SHORTER_PX = 256
CROP_PX = 224
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(3, 1, 1)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(3, 1, 1)
# Bump when the transform changes: it is part of the preprocessed-sample cache key.
PREPROCESS_VERSION = 1


def load_rgb(path: Path) -> Image.Image:
    try:
        with Image.open(path) as image:
            # Grayscale, CMYK and palette files exist in ImageNet: the model wants RGB.
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DatasetError(f"cannot read image {path}: {exc}") from None


def resize_and_crop(image: Image.Image, shorter_px: int = RESIZE_SHORTER_PX,
                    crop_px: int = CROP_PX) -> Image.Image:
    width, height = image.size
    # torchvision truncates the long side: int(shorter * long / short)
    if width <= height:
        size = (shorter_px, int(shorter_px * height / width))
    else:
        size = (int(shorter_px * width / height), shorter_px)
    image = image.resize(size, Image.Resampling.BILINEAR)
    left = int(round((size[0] - crop_px) / 2.0))
    top = int(round((size[1] - crop_px) / 2.0))
    return image.crop((left, top, left + crop_px, top + crop_px))


def preprocess_image(path: Path) -> np.ndarray:
    """(3, 224, 224) float32, ImageNet-normalised, channels first."""
    image = resize_and_crop(load_rgb(path))
    chw = np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255.0
    return np.ascontiguousarray((chw - IMAGENET_MEAN) / IMAGENET_STD, dtype=np.float32)


def to_layout(chw: np.ndarray, layout: str) -> np.ndarray:
    """A preprocessed (3, H, W) sample in a backend's batch layout ("NCHW" or "NHWC").

    Done once when LoadGen loads a sample, never on the timed path.
    """
    if layout == "NCHW":
        return chw
    if layout == "NHWC":
        return np.ascontiguousarray(chw.transpose(1, 2, 0))
    raise ValueError(f"unknown input layout {layout!r}")
