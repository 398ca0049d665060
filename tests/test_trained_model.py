"""End to end on a model that has learned something: the harness (ONNX export, ONNX
Runtime, LoadGen accuracy mode, accuracy-log scoring) must reproduce the top-1 that
plain PyTorch measures on the same images."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.measure.config import RunConfig
from harness.measure.runner import run_benchmark
from tests.learnable import TINY, learnable_folder, register_tiny_model, tensors, train_tiny_model


@pytest.fixture(scope="module", autouse=True)
def tiny_model():
    register_tiny_model()


def test_harness_top1_equals_pytorch_top1(tmp_path):
    model = train_tiny_model(learnable_folder(tmp_path / "train", 12, seed=0))
    eval_dir = learnable_folder(tmp_path / "eval", 10, seed=1)
    eval_x, eval_y = tensors(eval_dir)
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

    assert record.weights.startswith("file:") and record.weights_pretrained
    assert record.metrics.accuracy.top1 == pytest.approx(torch_top1)
    harness_logits = np.load(run_dir / "outputs.npy")
    np.testing.assert_array_equal(harness_logits.argmax(1), torch_logits.argmax(1))
    np.testing.assert_allclose(harness_logits, torch_logits, atol=1e-3 * np.ptp(torch_logits))
