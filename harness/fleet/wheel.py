"""What a board installs: a wheel built from this checkout, identified by its build id
(a digest of the wheel's RECORD, the sha256 of every file in it: the same sources give
the same id, whatever the build's timestamps), and the runtime-only requirements a board
installs when torch cannot be had there."""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from packaging.requirements import Requirement

import harness
from harness.core.errors import UsageError

# What a board runs: prepared artifacts, so no converter (tflite-runtime, not tflite).
BOARD_EXTRAS = "onnxruntime,openvino,tflite-runtime,pytorch"
# Without torch (aarch64 where PyTorch's CPU index is out of reach): every runtime but
# PyTorch, which needs torch, as torchao does.
RUNTIME_ONLY_EXTRAS = ("onnxruntime", "openvino", "tflite-runtime")
NEEDS_TORCH = {"torch", "torchao"}


def checkout() -> Path:
    root = Path(harness.__file__).resolve().parents[1]
    if not (root / "pyproject.toml").is_file():
        raise UsageError("edgebench fleet builds the boards' wheel from a checkout of "
                         f"edgebench, and {root} is none: run it from the checkout")
    return root


def build_wheel(into: Path) -> tuple[Path, str]:
    """The wheel of this checkout in `into/<build id>/`, and the build id."""
    with tempfile.TemporaryDirectory(prefix="edgebench-wheel-") as scratch:
        # our venv has setuptools: building against it needs no package index
        isolation = [] if importlib.util.find_spec("setuptools") is None \
            else ["--no-build-isolation"]
        done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                               *isolation, "--wheel-dir", scratch, str(checkout())],
                              capture_output=True, text=True)
        wheels = list(Path(scratch).glob("edgebench-*.whl"))
        if done.returncode != 0 or len(wheels) != 1:
            tail = (done.stderr.strip().splitlines() or ["no wheel"])[-1]
            raise UsageError(f"building edgebench's wheel failed: {tail}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            record = next(n for n in wheel.namelist() if n.endswith(".dist-info/RECORD"))
            build = hashlib.sha256(wheel.read(record)).hexdigest()[:16]
        target = into / build / wheels[0].name
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(wheels[0]), target)
    return target, build


def torch_pin() -> str:
    """edgebench's torch requirement (`torch==2.13.0`), as pyproject.toml pins it."""
    return next(text for text in importlib.metadata.requires("edgebench") or []
                if Requirement(text).name == "torch")


def torch_cpu_index() -> str:
    """PyTorch's CPU wheel index, as pyproject.toml's [tool.edgebench] names it."""
    with (checkout() / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)["tool"]["edgebench"]["torch-cpu-index"]


def runtime_only_requirements() -> list[str]:
    """edgebench's requirements and those of the runtime-only extras, torch left out."""
    chosen = []
    for text in importlib.metadata.requires("edgebench") or []:
        requirement = Requirement(text)
        if requirement.name in NEEDS_TORCH:
            continue
        marker = requirement.marker
        if marker is None or "extra" not in str(marker):
            chosen.append(str(requirement))
        elif any(marker.evaluate({"extra": extra}) for extra in RUNTIME_ONLY_EXTRAS):
            requirement.marker = None  # our extras' members carry no other condition
            chosen.append(str(requirement))
    return sorted(set(chosen))
