import hashlib
from pathlib import Path

import pytest
import torch

from harness.core import weights
from harness.core.errors import WeightsError
from harness.core.weights import load_checkpoint, resolve_weights
from harness.core.zoo import MODELS, build_model
from harness.core.zoo.registry import ModelSpec


def _official_style_checkpoint(model: torch.nn.Module, path: Path, legacy: bool = False):
    """A checkpoint laid out like torchvision's: no BatchNorm counters, and for the old
    DenseNet files the pre-rename keys ('norm.1' for 'norm1')."""
    state = {}
    for key, value in model.state_dict().items():
        if key.endswith("num_batches_tracked"):
            continue
        if legacy:
            for part in ("norm", "relu", "conv"):
                key = key.replace(f".{part}1.", f".{part}.1.").replace(f".{part}2.", f".{part}.2.")
        state[key] = value.clone()
    torch.save(state, path)
    return state


def test_torchvision_layout_checkpoint_loads_strictly(tmp_path):
    torch.manual_seed(1)
    source = build_model("mobilenet_v2")
    state = _official_style_checkpoint(source, tmp_path / "mnv2.pth")
    assert "features.1.conv.0.0.weight" in state and "classifier.1.weight" in state
    target = build_model("mobilenet_v2")
    load_checkpoint(target, tmp_path / "mnv2.pth")
    x = torch.randn(1, 3, 96, 96)
    with torch.inference_mode():
        assert torch.equal(source(x), target(x))


def test_legacy_densenet_keys_are_upgraded(tmp_path):
    torch.manual_seed(2)
    source = build_model("densenet121")
    state = _official_style_checkpoint(source, tmp_path / "dn.pth", legacy=True)
    assert "features.denseblock1.denselayer1.norm.1.weight" in state
    target = build_model("densenet121")
    load_checkpoint(target, tmp_path / "dn.pth")
    assert torch.equal(target.features.denseblock4.denselayer16.conv2.weight,
                       source.features.denseblock4.denselayer16.conv2.weight)


def test_mismatched_checkpoint_names_file_and_first_key(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"features.0.0.weight": torch.zeros(8, 3, 3, 3)}, path)
    with pytest.raises(WeightsError) as err:
        load_checkpoint(build_model("mobilenet_v2"), path)
    message = str(err.value)
    assert str(path) in message and "features.0.0.weight" in message and "shape" in message


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.pth"
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(WeightsError, match="cannot read checkpoint .*broken.pth"):
        load_checkpoint(build_model("mobilenet_v2"), path)


def test_random_weights_are_seeded_and_recorded():
    source = resolve_weights("random", "mobilenet_v2")
    assert source.id == "random:0" and not source.pretrained
    a, b = source.build_model("mobilenet_v2"), source.build_model("mobilenet_v2")
    assert torch.equal(a.features[0][0].weight, b.features[0][0].weight)


def test_file_weights_are_recorded_by_sha256(tmp_path):
    path = tmp_path / "w.pth"
    _official_style_checkpoint(build_model("mobilenet_v2"), path)
    source = resolve_weights(str(path), "mobilenet_v2")
    assert source.id == "file:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_missing_weights_file(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        resolve_weights(str(tmp_path / "nope.pth"), "mobilenet_v2")


@pytest.fixture()
def served_checkpoint(tmp_path, monkeypatch):
    """A model whose 'official' checkpoint is served from a file:// URL, named the way
    torchvision names them (<name>-<sha256 prefix>.pth)."""
    torch.manual_seed(3)
    blob = tmp_path / "blob.pth"
    _official_style_checkpoint(build_model("mobilenet_v2"), blob)
    prefix = hashlib.sha256(blob.read_bytes()).hexdigest()[:8]
    served = tmp_path / "server" / f"tiny-{prefix}.pth"
    served.parent.mkdir()
    blob.rename(served)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))
    spec = ModelSpec("served_mnv2", "harness.core.zoo.mobilenet_v2:mobilenet_v2",
                     served.as_uri())
    monkeypatch.setitem(MODELS._entries, spec.name, spec)
    return served


def test_download_checks_hash_and_caches(served_checkpoint):
    source = resolve_weights("torchvision", "served_mnv2")
    assert source.id == "torchvision" and source.path.parent == weights.checkpoint_dir()
    # artifacts are keyed on the exact official file, not just "torchvision"
    assert source.cache_key == f"torchvision:{served_checkpoint.name}"
    served_checkpoint.unlink()  # the second resolve must come from the cache
    again = resolve_weights("torchvision", "served_mnv2")
    assert again.path == source.path
    model = again.build_model("served_mnv2")
    assert model.classifier[1].weight.shape == (1000, 1280)


def test_download_with_wrong_hash_is_rejected_and_not_cached(served_checkpoint, monkeypatch):
    wrong = served_checkpoint.with_name("tiny-00000000.pth")
    served_checkpoint.rename(wrong)
    spec = ModelSpec("served_mnv2", "harness.core.zoo.mobilenet_v2:mobilenet_v2",
                     wrong.as_uri())
    monkeypatch.setitem(MODELS._entries, spec.name, spec)
    with pytest.raises(WeightsError, match="hash"):
        resolve_weights("torchvision", "served_mnv2")
    assert not (weights.checkpoint_dir() / wrong.name).exists()


def test_corrupt_cached_checkpoint_is_detected(served_checkpoint):
    cached = resolve_weights("torchvision", "served_mnv2").path
    cached.write_bytes(cached.read_bytes()[:1000])  # a truncated download
    with pytest.raises(WeightsError, match="corrupt"):
        resolve_weights("torchvision", "served_mnv2")


def test_auto_falls_back_to_random_with_reason(served_checkpoint):
    served_checkpoint.unlink()  # nothing cached and nothing to download
    source = resolve_weights("auto", "served_mnv2")
    assert source.id == "random:0" and "download" in source.note


def test_auto_prefers_the_cache(served_checkpoint):
    resolve_weights("torchvision", "served_mnv2")
    served_checkpoint.unlink()
    assert resolve_weights("auto", "served_mnv2").id == "torchvision"
