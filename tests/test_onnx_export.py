"""The ONNX artifact: opset, dynamic batch, same logits as PyTorch, cached once built.

(All three models at 224 on every runtime: test_backend_agreement.py.)"""

from __future__ import annotations

import numpy as np
import onnx
import torch

from backends.onnx_export import ONNX_OPSET
from backends.onnxruntime.backend import OnnxRuntimeBackend
from backends.recipes import BuildContext
from harness.artifacts import ArtifactCache
from harness.weights import resolve_weights


def _check_against_pytorch(model_name: str, batch_sizes=(1, 3)):
    weights = resolve_weights("random", model_name)
    backend = OnnxRuntimeBackend(threads=2)
    path = backend.prepare(BuildContext(model_name, weights, ArtifactCache()), "fp32")
    graph = onnx.load(str(path), load_external_data=False).graph
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param  # symbolic batch
    reference = weights.build_model(model_name)
    rng = np.random.default_rng(0)
    for batch in batch_sizes:
        x = rng.standard_normal((batch, 3, 224, 224), dtype=np.float32)
        with torch.inference_mode():
            expected = reference(torch.from_numpy(x)).numpy()
        actual = backend.predict(x)
        assert actual.shape == expected.shape
        assert np.abs(actual - expected).max() <= 1e-3 * np.ptp(expected)
        assert (actual.argmax(1) == expected.argmax(1)).all()
    return path


def test_mobilenet_v2_export_and_cache():
    path = _check_against_pytorch("mobilenet_v2")
    opset = {o.domain: o.version for o in onnx.load(str(path)).opset_import}[""]
    assert opset >= 17 and opset == ONNX_OPSET
    mtime = path.stat().st_mtime_ns
    again = OnnxRuntimeBackend(1).prepare(BuildContext("mobilenet_v2", resolve_weights("random",
                                          "mobilenet_v2"), ArtifactCache()), "fp32")
    assert again == path and path.stat().st_mtime_ns == mtime  # reused, not rebuilt
