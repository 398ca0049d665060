"""Datasets: seeded synthetic tensors, or labelled ImageNet-layout image folders.

A folder is read in one of two layouts:
- ``val_map.txt`` with ``<file> <label>`` per line (MLPerf's ImageNet layout);
- ``synsets.txt`` (one WordNet id per line, line i = class i) and files named
  ``<wnid>_*.JPEG``.
Images are preprocessed once, up front, into an on-disk cache; a bad file therefore
fails the run before LoadGen starts, naming the file.
"""

from __future__ import annotations

import hashlib
import os
import time
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from harness.core.errors import DatasetError, UsageError
from harness.core.model_card import DEFAULT_INT_RANGE, InputSpec, record_dtype
from harness.core.preprocess import preprocess_image, preprocess_key
from harness.core.progress import say
from harness.core.zoo import IMAGENET_INPUT, InputConfig

IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png", ".bmp", ".webp")
SYNTHETIC_SEED = 0


class Dataset(ABC):
    labels: np.ndarray | None = None  # int64 class index per sample, if labelled
    available: int | None = None  # samples there were before --count (or a quick cap)

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def sample(self, index: int) -> np.ndarray:
        """The preprocessed (C, H, W) float32 sample at `index` (a structured record for
        a model that takes no single image)."""

    @abstractmethod
    def describe(self) -> dict:
        """What results record about the data."""

    def prepare(self) -> None:  # noqa: B027 - optional hook, most datasets need nothing
        """Do the expensive one-time work (decoding, caching) before timing starts."""


class SyntheticDataset(Dataset):
    """Seeded N(0, 1) tensors: each index is its own generator, so any subset is stable."""

    def __init__(self, count: int, seed: int = SYNTHETIC_SEED,
                 input_config: InputConfig = IMAGENET_INPUT):
        self.count, self.seed, self.shape = count, seed, input_config.shape

    def __len__(self) -> int:
        return self.count

    def sample(self, index: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, index])
        return rng.standard_normal(self.shape, dtype=np.float32)

    def describe(self) -> dict:
        return {"name": "synthetic", "seed": self.seed, "samples": self.count, "labelled": False}


class SyntheticRecords(Dataset):
    """Seeded inputs of a model that takes no single image (several inputs, a token
    sequence, a feature vector): each sample a structured record, a field per input of
    its declared shape and type. Floats are N(0, 1) (or uniform in the card's range),
    integers uniform in the card's range (default [0, 2): valid ids for any table)."""

    def __init__(self, count: int, inputs: tuple[InputSpec, ...], seed: int = SYNTHETIC_SEED):
        self.count, self.seed, self.inputs = count, seed, inputs
        self.dtype = record_dtype(inputs)

    def __len__(self) -> int:
        return self.count

    def sample(self, index: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, index])
        record = np.zeros((), self.dtype)
        for spec in self.inputs:
            record[spec.name] = synthetic_values(rng, spec)
        return record

    def describe(self) -> dict:
        return {"name": "synthetic", "seed": self.seed, "samples": self.count,
                "labelled": False, "inputs": [spec.name for spec in self.inputs]}


def synthetic_values(rng: np.random.Generator, spec: InputSpec) -> np.ndarray:
    shape, dtype = spec.sample_shape, np.dtype(spec.dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if np.issubdtype(dtype, np.integer):
        low, high = spec.value_range or DEFAULT_INT_RANGE
        return rng.integers(int(low), int(high), shape).astype(dtype)
    if spec.value_range:
        return rng.uniform(*spec.value_range, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


class NpyRecords(Dataset):
    """Calibration samples of a model that takes no single image, from a folder: one
    `.npy` per sample (a one-input model) or one `.npz` with an array per input name."""

    def __init__(self, files: list[Path], inputs: tuple[InputSpec, ...]):
        self.files, self.inputs = files, inputs
        self.dtype = record_dtype(inputs)

    def __len__(self) -> int:
        return len(self.files)

    def sample(self, index: int) -> np.ndarray:
        path = self.files[index]
        try:
            loaded = np.load(path)
            arrays = {self.inputs[0].name: loaded} if path.suffix == ".npy" else \
                {spec.name: loaded[spec.name] for spec in self.inputs}
        except Exception as exc:  # numpy raises several types for a damaged file
            raise DatasetError(f"cannot read calibration sample {path}: {exc}; each sample "
                               "is a .npy (one input) or a .npz with an array per input "
                               f"({', '.join(s.name for s in self.inputs)})") from None
        record = np.zeros((), self.dtype)
        for spec in self.inputs:
            array = np.asarray(arrays[spec.name])
            if spec.batch_axis is not None and array.shape == spec.fed_shape(1):
                array = np.squeeze(array, axis=spec.batch_axis)  # saved as fed, at batch 1
            if array.shape != spec.sample_shape:
                raise DatasetError(f"{path}: input {spec.name!r} has shape {array.shape}, the "
                                   f"model takes {spec.sample_shape} per sample")
            record[spec.name] = array
        return record

    def describe(self) -> dict:
        return {"name": "npy", "samples": len(self), "labelled": False}


class ImageFolderDataset(Dataset):
    def __init__(self, root: Path, files: list[Path], labels: list[int], layout: str,
                 cache_root: Path, excluded_for_calibration: int = 0,
                 input_config: InputConfig = IMAGENET_INPUT):
        self.root, self.files, self.layout = root, files, layout
        self.input_config = input_config
        self.excluded_for_calibration = excluded_for_calibration
        self.labels = np.asarray(labels, dtype=np.int64)
        self.cache_dir = cache_root / "preprocessed" / preprocess_key(input_config)
        self._cached: list[Path] = []  # preprocessed file per sample, set by prepare()

    def __len__(self) -> int:
        return len(self.files)

    def keep_first(self, count: int) -> None:
        """Score only the first `count` samples (a quick run short of time): the same
        images, in the same order, as every other run's first `count`."""
        self.files, self.labels = self.files[:count], self.labels[:count]
        self._cached = self._cached[:count]

    def _cache_path(self, path: Path) -> Path:
        stat = path.stat()
        key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        return self.cache_dir / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.npy"

    def _ensure_cached(self, path: Path, cached: Path) -> None:
        if not cached.exists():
            array = preprocess_image(path, self.input_config)
            tmp = cached.with_suffix(f".{os.getpid()}.tmp")
            with open(tmp, "wb") as f:
                np.save(f, array)
            os.replace(tmp, cached)  # atomic: a reader sees the whole file or none

    def prepare(self) -> None:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self._cached = [self._cache_path(p) for p in self.files]
        missing = [(p, c) for p, c in zip(self.files, self._cached, strict=True)
                   if not c.exists()]
        started, done = time.monotonic(), 0
        # PIL releases the GIL while decoding and resizing, so threads do scale.
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            for _ in pool.map(lambda pair: self._ensure_cached(*pair), missing):
                done += 1
                if done % 100 == 0 or done == len(missing):
                    say(f"  preprocessing {self.root.name}: {done}/{len(missing)} images "
                        f"({time.monotonic() - started:.0f} s)")

    def sample(self, index: int) -> np.ndarray:
        if not self._cached:
            raise RuntimeError("ImageFolderDataset.prepare() must run before sample()")
        return np.load(self._cached[index])

    def describe(self) -> dict:
        return {
            "name": self.root.name,
            "path": str(self.root.resolve()),
            "layout": self.layout,
            "samples": len(self),
            "labelled": True,
            # which images: two runs compare only when these match
            "files_digest": hashlib.sha256(
                "\n".join(f.name for f in self.files).encode()).hexdigest()[:16],
            "excluded_for_calibration": self.excluded_for_calibration,
        }


def _read_val_map(root: Path) -> tuple[list[Path], list[int]]:
    files, labels = [], []
    val_map = root / "val_map.txt"
    for number, line in enumerate(val_map.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            raise DatasetError(f"{val_map}:{number}: expected '<file> <label>', got {line!r}")
        path = root / parts[0]
        if not path.is_file():
            raise DatasetError(f"{val_map}:{number} names {path}, which does not exist")
        files.append(path)
        labels.append(int(parts[1]))
    return files, labels


def _read_synsets(root: Path) -> tuple[list[Path], list[int]]:
    synsets = (root / "synsets.txt").read_text().split()
    class_of = {wnid: i for i, wnid in enumerate(synsets)}
    files, labels = [], []
    for path in sorted(root.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        wnid = path.name.split("_", 1)[0]
        if wnid not in class_of:
            raise DatasetError(f"{path}: class {wnid!r} is not in {root / 'synsets.txt'}")
        files.append(path)
        labels.append(class_of[wnid])
    return files, labels


def list_images(root: Path) -> tuple[list[Path], list[int], str]:
    """(files, labels, layout) of a labelled image folder, in its listing's order."""
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} not found; pass a folder or 'synthetic'")
    if (root / "val_map.txt").is_file():
        files, labels = _read_val_map(root)
        layout = "val_map.txt"
    elif (root / "synsets.txt").is_file():
        files, labels = _read_synsets(root)
        layout = "synsets.txt"
    else:
        raise DatasetError(
            f"dataset folder {root} has neither val_map.txt nor synsets.txt; "
            "see README 'Datasets' for the two layouts"
        )
    if not files:
        raise DatasetError(f"dataset folder {root} holds no images ({layout} lists none)")
    return files, labels, layout


def open_dataset(spec: str, count: int | None, cache_root: Path,
                 default_synthetic_count: int, exclude: frozenset[Path] = frozenset(),
                 input_config: InputConfig = IMAGENET_INPUT,
                 at_most: int | None = None,
                 tensor_inputs: tuple[InputSpec, ...] | None = None) -> Dataset:
    """`spec` is ``synthetic`` or a folder; `count` keeps the first N samples (an error
    if there are fewer), `at_most` the first N if there are more; each preprocessed as
    `input_config` (the model's) says. `available` says how many there were.

    `exclude` (resolved paths) leaves out images that calibrated the model.
    `tensor_inputs`: a model that takes no single image runs on synthetic records only.
    """
    if tensor_inputs is not None:
        if spec != "synthetic":
            raise UsageError(f"--dataset {spec}: the model takes "
                             f"{', '.join(s.name for s in tensor_inputs)}, not one image; it "
                             "runs on seeded synthetic inputs (leave --dataset out)")
        return SyntheticRecords(count or default_synthetic_count, tensor_inputs)
    if spec == "synthetic":
        return SyntheticDataset(count or default_synthetic_count, input_config=input_config)
    root = Path(spec).expanduser()
    files, labels, layout = list_images(root)
    excluded = 0
    if exclude:
        kept = [(f, label) for f, label in zip(files, labels, strict=True)
                if f.resolve() not in exclude]
        excluded = len(files) - len(kept)
        if not kept:
            raise DatasetError(f"every image of {root} is in the calibration set; "
                               "evaluate on other images or calibrate on fewer")
        files, labels = [f for f, _ in kept], [label for _, label in kept]
    if count is not None and count > len(files):
        raise DatasetError(f"--count {count} exceeds the {len(files)} samples in {root}"
                           + (f" left after the {excluded} calibration images"
                              if excluded else ""))
    available = len(files)
    keep = count if count is not None else at_most
    if keep is not None:
        files, labels = files[:keep], labels[:keep]
    dataset = ImageFolderDataset(root, files, labels, layout, cache_root, excluded,
                                 input_config)
    dataset.available = available
    return dataset
