"""The ONNX artifact: opset, dynamic batch, same logits as PyTorch, cached once built.

(All three models at 224 on every runtime: test_backend_agreement.py.)"""

from __future__ import annotations

import numpy as np
import onnx
import torch

from backends.onnx_export import ONNX_OPSET
from backends.onnxruntime.backend import OnnxRuntimeBackend
from backends.recipes import BuildContext
from harness.core.artifacts import ArtifactCache
from harness.core.weights import resolve_weights
from tests.test_backend_agreement import calibrated_checkpoint


def _check_against_pytorch(model_name: str, checkpoint_dir, batch_sizes=(1, 3)):
    """On BatchNorm-calibrated weights (random ones give logits ~1e-9 wide, which any
    tolerance passes), within 1e-3 of the logit range, same top-1."""
    rng = np.random.default_rng(0)
    inputs = rng.standard_normal((8, 3, 224, 224), dtype=np.float32)
    checkpoint = checkpoint_dir / f"{model_name}.pth"
    calibrated_checkpoint(model_name, inputs, checkpoint)
    weights = resolve_weights(str(checkpoint), model_name)
    backend = OnnxRuntimeBackend(threads=2)
    path = backend.prepare(BuildContext(model_name, weights, ArtifactCache()), "fp32")
    graph = onnx.load(str(path), load_external_data=False).graph
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param  # symbolic batch
    reference = weights.build_model(model_name)
    for batch in batch_sizes:
        x = inputs[:batch]
        with torch.inference_mode():
            expected = reference(torch.from_numpy(x)).numpy()
        actual = backend.predict(x)
        assert actual.shape == expected.shape
        assert np.ptp(expected) > 1e-2  # logits that tell inputs apart
        assert np.abs(actual - expected).max() <= 1e-3 * np.ptp(expected)
        assert (actual.argmax(1) == expected.argmax(1)).all()
    return path, weights


def test_mobilenet_v2_export_and_cache(tmp_path):
    path, weights = _check_against_pytorch("mobilenet_v2", tmp_path)
    opset = {o.domain: o.version for o in onnx.load(str(path)).opset_import}[""]
    assert opset >= 17 and opset == ONNX_OPSET
    mtime = path.stat().st_mtime_ns
    again = OnnxRuntimeBackend(1).prepare(BuildContext("mobilenet_v2", weights,
                                                       ArtifactCache()), "fp32")
    assert again == path and path.stat().st_mtime_ns == mtime  # reused, not rebuilt
