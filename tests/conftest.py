"""Shared fixtures: an isolated cache and torch hub per session, CLI runner, sample data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
IMAGENET_SAMPLE = ROOT.parent / "shared" / "data" / "imagenet-sample"

# A test that builds a .tflite: skipped, with the reason, where no converter can be
# installed (Linux aarch64, where edgebench records such builds as unsupported and the
# artifacts come from `edgebench prepare` on a host).
needs_tflite_converter = pytest.mark.needs_tflite_converter


def _time_scale() -> float:
    """How much longer than on our 2-core x86 machine a test may take here. The models run
    about 3x (Pi 5) to 8x (Pi 4) slower on a Raspberry Pi, and about 150x under qemu-user
    emulation; EDGEBENCH_TEST_TIME_SCALE says it outright."""
    from harness.core.system_info import emulation, is_arm

    if os.environ.get("EDGEBENCH_TEST_TIME_SCALE"):
        return float(os.environ["EDGEBENCH_TEST_TIME_SCALE"])
    if emulation():
        return 200.0
    return 10.0 if is_arm() else 1.0


TIME_SCALE = _time_scale()


def scaled(seconds: float) -> float:
    """A subprocess timeout, stretched for a slower machine."""
    return seconds * TIME_SCALE


def building(backends) -> list:
    """Backend names to parametrize a test that builds their artifacts with."""
    return [pytest.param(name, marks=needs_tflite_converter) if name == "tflite" else name
            for name in backends]


def pytest_collection_modifyitems(config, items):
    from backends.tflite.convert import converter_unavailable_reason

    reason = converter_unavailable_reason()
    per_test_s = float(config.getini("timeout") or 0)  # pytest-timeout's, for this machine
    for item in items:
        if reason and item.get_closest_marker("needs_tflite_converter"):
            item.add_marker(pytest.mark.skip(reason=f"no .tflite converter here: {reason}"))
        if TIME_SCALE != 1 and per_test_s and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(per_test_s * TIME_SCALE))


@pytest.fixture(scope="session", autouse=True)
def isolated_caches(tmp_path_factory):
    """Artifacts are built once per test session; torch hub points at an empty folder so
    no test reads (or downloads into) the user's real checkpoint cache."""
    root = tmp_path_factory.mktemp("caches")
    saved = {k: os.environ.get(k) for k in ("EDGEBENCH_CACHE", "TORCH_HOME")}
    os.environ["EDGEBENCH_CACHE"] = str(root / "edgebench")
    os.environ["TORCH_HOME"] = str(root / "torch")
    yield root
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture()
def imagenet_sample() -> Path:
    if not (IMAGENET_SAMPLE / "val_map.txt").is_file():
        pytest.skip(f"{IMAGENET_SAMPLE} is not present on this machine")
    return IMAGENET_SAMPLE


def cli_without(modules, distributions=()) -> str:
    """A `python -c` program: the CLI on a machine where `modules` cannot be imported and
    `distributions` are not installed (no package metadata either)."""
    return f"""
import importlib.metadata, sys
for module in {tuple(modules)!r}:
    sys.modules[module] = None
_version = importlib.metadata.version
def version(name):
    if name in {tuple(distributions)!r}:
        raise importlib.metadata.PackageNotFoundError(name)
    return _version(name)
importlib.metadata.version = version
from harness.cli import main
sys.exit(main())
"""


def run_cli(*args: str, timeout: float = 600, cwd: Path | None = None):
    """`python -m harness ARGS` in a subprocess, as a user would run it."""
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        capture_output=True, text=True, timeout=scaled(timeout), cwd=cwd or ROOT,
        env=os.environ.copy(),
    )


def write_image(path: Path, mode: str = "RGB", size=(300, 200), color=None) -> Path:
    rng = np.random.default_rng(abs(hash(path.name)) % 2**32)
    if color is None:
        channels = {"RGB": 3, "CMYK": 4, "L": 1}[mode]
        pixels = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
        image = Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode)
    else:
        image = Image.new(mode, size, color)
    image.save(path, "JPEG" if mode != "P" else "PNG")
    return path


@pytest.fixture()
def small_folder(tmp_path) -> Path:
    """Four labelled JPEGs in MLPerf's val_map.txt layout."""
    folder = tmp_path / "images"
    folder.mkdir()
    lines = []
    for i in range(4):
        write_image(folder / f"img{i}.JPEG")
        lines.append(f"img{i}.JPEG {i * 10}")
    (folder / "val_map.txt").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture(scope="session")
def demo_sweep(tmp_path_factory):
    """`edgebench sweep demo` (MobileNetV2 FP32 and INT8 static on every backend,
    SingleStream and Offline, quick), calibrated as `make demo` does but on 32 of its
    images (what the tests read does not depend on the count; 300 cost four calibrations
    about a minute here), run once: (results folder, finished process)."""
    results = tmp_path_factory.mktemp("demo-results")
    calibration = str(IMAGENET_SAMPLE) if (IMAGENET_SAMPLE / "val_map.txt").is_file() \
        else "synthetic"
    proc = run_cli("sweep", "demo", "--results", str(results), "--calibration", calibration,
                   "--calibration-count", "32", timeout=1500)
    return results, proc


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """A tiny MobileNetV2 trained on colours (`tests/learnable.py`), once per session;
    (checkpoint, calibration dir, eval dir)."""
    import torch

    from tests.learnable import learnable_folder, register_tiny_model, train_tiny_model

    register_tiny_model()
    folder = tmp_path_factory.mktemp("learnable")
    model = train_tiny_model(learnable_folder(folder / "train", 12, seed=0), steps=100)
    checkpoint = folder / "tiny.pth"
    torch.save(model.state_dict(), checkpoint)
    return checkpoint, folder / "train", learnable_folder(folder / "eval", 25, seed=1)
