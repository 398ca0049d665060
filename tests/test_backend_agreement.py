"""Equal footing: on the same preprocessed inputs, every runtime's FP32 logits agree with
PyTorch eager, for all three models at 224x224."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from backends import get_backend_class
from backends.recipes import BuildContext
from harness.core.artifacts import ArtifactCache
from harness.core.datasets import SyntheticDataset, open_dataset
from harness.core.preprocess import to_layout
from harness.core.weights import resolve_weights
from harness.core.zoo import build_model
from tests.conftest import IMAGENET_SAMPLE, building, needs_tflite_converter

BACKENDS = ["onnxruntime", "openvino", "tflite"]
SAMPLES = {"mobilenet_v2": 48, "densenet121": 32, "vgg19": 16}
BATCH = 8
MAX_ABS_DIFF_OF_RANGE = 1e-3
MIN_TOP1_AGREEMENT = 0.99


def calibrated_checkpoint(model_name: str, inputs: np.ndarray, path) -> None:
    """Random weights whose BatchNorm statistics are set from `inputs`.

    Freshly initialised BatchNorm layers pass activations through unscaled, which makes
    random MobileNetV2 logits ~1e-9 wide and nearly input-independent; a test of top-1
    agreement on such logits would pass vacuously. Re-estimating the statistics (as
    after training) gives logits that vary with the input, like a trained model's.
    """
    torch.manual_seed(0)
    model = build_model(model_name)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the batches below
    model.train()
    with torch.no_grad():
        for start in range(0, len(inputs), BATCH):
            model(torch.from_numpy(inputs[start:start + BATCH]))
    torch.save(model.eval().state_dict(), path)


@pytest.fixture(scope="module", params=[
    "mobilenet_v2",
    pytest.param("densenet121", marks=pytest.mark.slow),
    pytest.param("vgg19", marks=pytest.mark.slow),
])
def reference(request, tmp_path_factory):
    """(model, weights, NCHW inputs, PyTorch eager logits), shared by every backend."""
    return _reference(request.param, tmp_path_factory)


@pytest.fixture(scope="module")
def mobilenet(tmp_path_factory):
    return _reference("mobilenet_v2", tmp_path_factory)


def _reference(model_name, tmp_path_factory):
    from backends.pytorch.backend import linear_self_check

    if wrong := linear_self_check():  # the reference itself is wrong here (seen under qemu)
        pytest.skip(f"PyTorch eager, the reference, cannot be trusted: {wrong}")
    count = SAMPLES[model_name]
    if (IMAGENET_SAMPLE / "val_map.txt").is_file():
        dataset = open_dataset(str(IMAGENET_SAMPLE), count, ArtifactCache().root, count)
        dataset.prepare()
    else:
        dataset = SyntheticDataset(count)
    inputs = np.stack([dataset.sample(i) for i in range(count)])
    checkpoint = tmp_path_factory.mktemp("weights") / f"{model_name}-calibrated.pth"
    calibrated_checkpoint(model_name, inputs, checkpoint)
    weights = resolve_weights(str(checkpoint), model_name)
    model = weights.build_model(model_name)
    with torch.inference_mode():
        expected = model(torch.from_numpy(inputs)).numpy()
    # Guard against a vacuous test: the reference must tell inputs apart (random VGG-19,
    # which has no BatchNorm to calibrate, picks among few classes).
    assert len(set(expected.argmax(1))) >= 3, "reference logits are degenerate"
    return model_name, weights, inputs, expected


@pytest.mark.parametrize("backend_name", building(BACKENDS))
def test_fp32_logits_agree_with_pytorch_eager(reference, backend_name):
    model_name, weights, inputs, expected = reference
    backend = get_backend_class(backend_name)(threads=2, hint="latency", batch_size=BATCH)
    backend.prepare(BuildContext(model_name, weights, ArtifactCache()), "fp32")
    batches = [
        np.stack([to_layout(x, backend.input_layout) for x in inputs[start:start + BATCH]])
        for start in range(0, len(inputs), BATCH)
    ]
    actual = np.concatenate([backend.predict(batch) for batch in batches])

    where = f"{backend_name} on {model_name}"
    assert actual.shape == expected.shape, f"{where}: logits shape {actual.shape}"
    diff = np.abs(actual - expected).max() / np.ptp(expected)
    assert diff <= MAX_ABS_DIFF_OF_RANGE, \
        f"{where}: max |logit difference| is {diff:.2e} of the logit range"
    agreement = (actual.argmax(1) == expected.argmax(1)).mean()
    assert agreement >= MIN_TOP1_AGREEMENT, \
        f"{where}: top-1 agrees with PyTorch eager on only {agreement:.1%} of samples"


def test_pytorch_backend_is_eager_on_the_same_weights(reference):
    model_name, weights, inputs, expected = reference
    backend = get_backend_class("pytorch")(threads=2, hint="latency", batch_size=BATCH)
    context = BuildContext(model_name, weights, ArtifactCache())
    assert backend.prepare(context, "fp32") == weights.path
    # channels-last kernels may sum in another order than the reference's NCHW ones
    actual = np.concatenate([backend.predict(_batch(backend, inputs[s:s + BATCH]))
                             for s in range(0, len(inputs), BATCH)])
    assert_agrees(actual, expected, f"pytorch backend on {model_name}")


def _batch(backend, inputs: np.ndarray) -> np.ndarray:
    return np.stack([backend.to_input(x) for x in inputs])


def assert_agrees(actual: np.ndarray, expected: np.ndarray, where: str,
                  of_range: float = MAX_ABS_DIFF_OF_RANGE) -> None:
    """Equal within `of_range` of the logit range (calibrated weights: a real spread),
    and the same top-1 on every sample."""
    assert actual.shape == expected.shape, where
    diff = np.abs(actual - expected).max() / np.ptp(expected)
    assert diff <= of_range, f"{where}: max |logit difference| is {diff:.2e} of the range"
    assert (actual.argmax(1) == expected.argmax(1)).all(), where


@needs_tflite_converter
def test_tflite_batch_one_artifact_agrees_with_pytorch(mobilenet):
    model_name, weights, inputs, expected = mobilenet
    backend = get_backend_class("tflite")(threads=2, hint="latency", batch_size=1)
    backend.prepare(BuildContext(model_name, weights, ArtifactCache()), "fp32")
    actual = np.concatenate([backend.predict(_batch(backend, inputs[i:i + 1]))
                             for i in range(BATCH)])
    assert_agrees(actual, expected[:BATCH], "tflite batch 1")


@needs_tflite_converter
def test_tflite_short_last_offline_batch_is_padded_and_cut(mobilenet):
    model_name, weights, inputs, expected = mobilenet
    backend = get_backend_class("tflite")(threads=2, hint="throughput", batch_size=BATCH)
    backend.prepare(BuildContext(model_name, weights, ArtifactCache()), "fp32")
    short = backend.predict(_batch(backend, inputs[:3]))  # 3 rows into a batch-8 model
    assert short.shape == (3, expected.shape[1])
    assert_agrees(short, expected[:3], "tflite short batch")
    longer = backend.predict(_batch(backend, inputs[:BATCH + 3]))  # 8, then 3 padded
    assert_agrees(longer, expected[:BATCH + 3], "tflite batch over the artifact's size")


def test_openvino_async_offline_outputs_equal_the_synchronous_ones(mobilenet):
    model_name, weights, inputs, _ = mobilenet
    backend = get_backend_class("openvino")(threads=2, hint="throughput", batch_size=BATCH)
    backend.prepare(BuildContext(model_name, weights, ArtifactCache()), "fp32")
    batches = [_batch(backend, inputs[s:s + BATCH]) for s in range(0, len(inputs), BATCH)]
    synchronous = [backend.predict(b) for b in batches]
    streamed: dict[int, np.ndarray] = {}
    # the callback's logits are the request's own buffer: copied here, as the SUT does
    backend.predict_stream(enumerate(batches),
                           lambda tag, logits: streamed.__setitem__(tag, logits.copy()))
    assert sorted(streamed) == list(range(len(batches)))
    for number, expected in enumerate(synchronous):
        assert_agrees(streamed[number], expected, f"async batch {number}", of_range=1e-6)


def test_openvino_refuses_a_precision_it_would_silently_change(mobilenet, monkeypatch):
    """Asked for f16, this machine's CPU plugin (no AVX512-FP16) compiles bf16 without
    a word: an fp32 run asked that way must be refused, not recorded as fp32."""
    from backends.openvino import backend as openvino_backend
    from harness.core.errors import EdgebenchError, Unsupported
    from harness.core.system_info import cpu_features, is_arm

    if is_arm():  # ARM's CPU plugin runs f16 where the core has it, or says so
        pytest.skip("the silent f16-to-bf16 change is the x86 CPU plugin's")
    if "avx512_fp16" in cpu_features() or "amx_fp16" in cpu_features():
        pytest.skip("this CPU runs f16 natively: nothing is silently changed")
    model_name, weights, _, _ = mobilenet
    monkeypatch.setitem(openvino_backend.INFERENCE_PRECISION, "fp32", "f16")
    backend = get_backend_class("openvino")(threads=2, hint="latency", batch_size=1)
    with pytest.raises((EdgebenchError, Unsupported)) as caught:
        backend.prepare(BuildContext(model_name, weights, ArtifactCache()), "fp32")
    assert type(caught.value) is EdgebenchError
    assert "refusing to report it as a fp32 run" in str(caught.value)
