"""End to end on a model that has learned something: the harness (ONNX export, ONNX
Runtime, LoadGen accuracy mode, accuracy-log scoring) must reproduce the top-1 that
plain PyTorch measures on the same images."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from PIL import Image

from harness.preprocess import preprocess_image
from harness.runner import RunConfig, run_benchmark
from harness.zoo import ModelSpec, get_spec, register_model
from harness.zoo.mobilenet_v2 import mobilenet_v2

TINY = "tiny_mobilenet_v2"
CLASS_COLOURS = [(220, 40, 40), (40, 200, 40), (40, 40, 220), (220, 200, 40)]


@pytest.fixture(scope="module", autouse=True)
def tiny_model():
    try:
        get_spec(TINY)
    except Exception:
        register_model(ModelSpec(TINY, functools.partial(mobilenet_v2, width_mult=0.25,
                                                         num_classes=4), None))


def _learnable_folder(folder, per_class, seed):
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


def _tensors(folder):
    entries = [line.split() for line in (folder / "val_map.txt").read_text().split("\n") if line]
    x = torch.from_numpy(np.stack([preprocess_image(folder / name) for name, _ in entries]))
    return x, torch.tensor([int(label) for _, label in entries])


def test_harness_top1_equals_pytorch_top1(tmp_path):
    train_x, train_y = _tensors(_learnable_folder(tmp_path / "train", 12, seed=0))
    eval_dir = _learnable_folder(tmp_path / "eval", 10, seed=1)
    eval_x, eval_y = _tensors(eval_dir)

    torch.manual_seed(0)
    model = get_spec(TINY).builder()
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(60):
        batch = torch.randint(0, len(train_x), (16,))
        loss = torch.nn.functional.cross_entropy(model(train_x[batch]), train_y[batch])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    with torch.inference_mode():
        torch_logits = model(eval_x).numpy()
    torch_top1 = float(np.mean(torch_logits.argmax(1) == eval_y.numpy()))
    assert torch_top1 >= 0.5, f"the tiny model did not learn (top-1 {torch_top1})"

    checkpoint = tmp_path / "tiny.pth"
    torch.save(model.state_dict(), checkpoint)
    run_dir, record = run_benchmark(RunConfig(
        model=TINY, scenario="single-stream", mode="accuracy", weights=str(checkpoint),
        dataset=str(eval_dir), save_outputs=True, results_dir=tmp_path / "results",
        cache_dir=tmp_path / "cache"))

    assert record["weights"].startswith("file:") and record["weights_pretrained"]
    assert record["metrics"]["accuracy"]["top1"] == pytest.approx(torch_top1)
    harness_logits = np.load(run_dir / "outputs.npy")
    np.testing.assert_array_equal(harness_logits.argmax(1), torch_logits.argmax(1))
    np.testing.assert_allclose(harness_logits, torch_logits, atol=1e-3 * np.ptp(torch_logits))
