"""A small task a reduced-width MobileNetV2 learns in seconds: images whose class is
their dominant colour. Random weights hide calibration, layout and input-quantization
bugs (every input gives nearly the same logits); a model that has learned does not."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from harness.core.preprocess import preprocess_image
from harness.core.zoo import ModelSpec, get_spec, register_model
from harness.core.zoo.mobilenet_v2 import mobilenet_v2

TINY = "tiny_mobilenet_v2"
CLASS_COLOURS = [(220, 40, 40), (40, 200, 40), (40, 40, 220), (220, 200, 40)]


def register_tiny_model() -> None:
    try:
        get_spec(TINY)
    except Exception:
        register_model(ModelSpec(TINY, functools.partial(mobilenet_v2, width_mult=0.25,
                                                         num_classes=4), None))


def learnable_folder(folder: Path, per_class: int, seed: int) -> Path:
    """Noisy, randomly sized images whose class is their dominant colour."""
    rng = np.random.default_rng(seed)
    folder.mkdir()
    lines = []
    for label, colour in enumerate(CLASS_COLOURS):
        for i in range(per_class):
            h, w = rng.integers(60, 140, size=2)
            pixels = np.clip(np.array(colour) * rng.uniform(0.6, 1.1)
                             + rng.normal(0, 40, (h, w, 3)), 0, 255).astype(np.uint8)
            name = f"c{label}_{i}.png"
            Image.fromarray(pixels).save(folder / name)
            lines.append(f"{name} {label}")
    rng.shuffle(lines)
    (folder / "val_map.txt").write_text("\n".join(lines) + "\n")
    return folder


def tensors(folder: Path) -> tuple[torch.Tensor, torch.Tensor]:
    entries = [line.split() for line in (folder / "val_map.txt").read_text().split("\n") if line]
    config = get_spec(TINY).input
    x = torch.from_numpy(np.stack([preprocess_image(folder / name, config)
                                   for name, _ in entries]))
    return x, torch.tensor([int(label) for _, label in entries])


def train_tiny_model(train_dir: Path, steps: int = 60) -> torch.nn.Module:
    train_x, train_y = tensors(train_dir)
    torch.manual_seed(0)
    model = get_spec(TINY).builder_function()()
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        batch = torch.randint(0, len(train_x), (16,))
        loss = torch.nn.functional.cross_entropy(model(train_x[batch]), train_y[batch])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model.eval()
