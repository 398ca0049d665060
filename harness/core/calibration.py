"""The calibration set: the images an INT8 static quantizer observes, resolved once by
the runner (like the weights) and handed to the recipes as one object.

`--calibration` takes an image folder (as `--dataset` does), a text file listing image
paths (as MLPerf's calibration lists do), or `synthetic`. When calibration and
evaluation share images, the calibration images are taken out of the evaluation set:
a quantizer that has seen a test image would flatter its own accuracy.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.core.datasets import (
    Dataset,
    ImageFolderDataset,
    NpyRecords,
    SyntheticDataset,
    SyntheticRecords,
    list_images,
)
from harness.core.digests import files_digest
from harness.core.errors import DatasetError, UsageError
from harness.core.model_card import InputSpec
from harness.core.preprocess import to_layout
from harness.core.progress import progress
from harness.core.zoo import IMAGENET_INPUT, InputConfig

DEFAULT_COUNT = 300
SELECTION_SEED = 0  # which images of a folder calibrate: fixed, so runs are comparable
SYNTHETIC_SEED = 1  # not the synthetic evaluation seed (0): the two sets stay apart


@dataclass
class CalibrationSet:
    source: str  # the folder, the list file, or "synthetic"
    files: list[Path]  # empty for synthetic
    dataset: Dataset
    digest: str  # of the file names and bytes, in order (or of the synthetic seed)

    @property
    def synthetic(self) -> bool:
        return not self.files

    def __len__(self) -> int:
        return len(self.dataset)

    def key_fields(self) -> dict:
        """What the artifact cache key holds: another set rebuilds the artifact."""
        return {"count": len(self), "digest": self.digest, "synthetic": self.synthetic}

    def describe(self) -> dict:
        return {"source": self.source, "count": len(self), "digest": self.digest,
                "synthetic": self.synthetic}

    def samples(self, layout: str = "NCHW") -> Iterator[np.ndarray]:
        """Each preprocessed image, in `layout` ((C,H,W) or (H,W,C)), with progress (a
        model that takes no single image: each record as it is)."""
        self.dataset.prepare()
        for index in progress(range(len(self)), len(self), "calibrating"):
            sample = self.dataset.sample(index)
            yield sample if sample.dtype.names else to_layout(sample, layout)

    def batches(self, layout: str = "NCHW", batch_size: int = 1) -> Iterator[np.ndarray]:
        """`samples` stacked into batches of `batch_size` (static-shape models need full
        ones: a short last batch repeats its own images, which leaves min/max and
        histogram ranges as they are)."""
        pending: list[np.ndarray] = []
        for sample in self.samples(layout):
            pending.append(sample)
            if len(pending) == batch_size:
                yield np.stack(pending)
                pending = []
        if pending:
            yield np.stack([pending[i % len(pending)] for i in range(batch_size)])


def _read_list(list_file: Path, dataset_dir: Path | None) -> list[Path]:
    files = []
    for number, line in enumerate(list_file.read_text().splitlines(), start=1):
        name = line.split()[0] if line.strip() else ""
        if not name or name.startswith("#"):
            continue
        candidates = [Path(name)] if Path(name).is_absolute() else \
            [list_file.parent / name] + ([dataset_dir / name] if dataset_dir else [])
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise DatasetError(f"{list_file}:{number}: no image {name!r} (looked in "
                               f"{', '.join(str(c.parent) for c in candidates)})")
        files.append(found)
    return files


def resolve_calibration(spec: str, count: int, dataset_dir: Path | None,
                        cache_root: Path, input_config: InputConfig = IMAGENET_INPUT,
                        tensor_inputs: tuple[InputSpec, ...] | None = None
                        ) -> CalibrationSet:
    """`spec`: a folder, a list file or ``synthetic``; `count` images at most, each
    preprocessed as the model's `input_config` says. A model that takes no single image
    (`tensor_inputs`) calibrates on synthetic records or a folder of .npy/.npz files."""
    if count < 1:
        raise UsageError(f"--calibration-count must be at least 1, got {count}")
    if tensor_inputs is not None:
        return _record_calibration(spec, count, tensor_inputs)
    if spec == "synthetic":
        return CalibrationSet("synthetic", [], SyntheticDataset(count, seed=SYNTHETIC_SEED,
                                                                input_config=input_config),
                              f"synthetic-seed{SYNTHETIC_SEED}-{count}")
    path = Path(spec).expanduser()
    if path.is_dir():
        available, _labels, _layout = list_images(path)
        if len(available) < count:
            count = len(available)
        # A seeded draw, not the first N: image folders are often sorted by class.
        chosen = np.random.default_rng(SELECTION_SEED).choice(len(available), count,
                                                               replace=False)
        files = [available[i] for i in sorted(chosen)]
    elif path.is_file():
        files = _read_list(path, dataset_dir)[:count]
        if not files:
            raise DatasetError(f"calibration list {path} names no image")
    else:
        raise UsageError(f"--calibration {spec}: no such folder or list file; pass an image "
                         "folder, a text file of image paths, or 'synthetic'")
    dataset = ImageFolderDataset(path if path.is_dir() else path.parent, files,
                                 [0] * len(files), "calibration", cache_root,
                                 input_config=input_config)
    return CalibrationSet(str(path.resolve()), files, dataset, files_digest(files))


def _record_calibration(spec: str, count: int, inputs: tuple[InputSpec, ...]
                        ) -> CalibrationSet:
    if spec == "synthetic":
        return CalibrationSet("synthetic", [], SyntheticRecords(count, inputs, SYNTHETIC_SEED),
                              f"synthetic-seed{SYNTHETIC_SEED}-{count}")
    folder = Path(spec).expanduser()
    suffix = ".npy" if len(inputs) == 1 else ".npz"
    files = sorted(folder.glob(f"*{suffix}"))[:count] if folder.is_dir() else []
    if not files:
        raise UsageError(f"--calibration {spec}: the model takes "
                         f"{', '.join(s.name for s in inputs)}, not an image; pass a folder of "
                         f"{suffix} files (one per sample"
                         + ("" if suffix == ".npy" else ", an array per input name")
                         + ") or 'synthetic'")
    return CalibrationSet(str(folder.resolve()), files, NpyRecords(files, inputs),
                          files_digest(files))
