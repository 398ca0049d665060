"""LoadGen's Query Sample Library: holds in memory exactly the samples LoadGen asks for."""

from __future__ import annotations

from collections.abc import Callable

import mlperf_loadgen as lg
import numpy as np

from harness.datasets import Dataset
from harness.preprocess import to_layout


class QuerySampleLibrary:
    """`to_input` turns a preprocessed (3, H, W) sample into what the backend takes
    (its layout; a quantized input's type): done once, at load, never per query."""

    def __init__(self, dataset: Dataset, performance_sample_count: int,
                 to_input: Callable[[np.ndarray], np.ndarray] = lambda s: to_layout(s, "NCHW")):
        self.dataset = dataset
        self.performance_sample_count = performance_sample_count
        self.to_input = to_input
        self._loaded: dict[int, np.ndarray] = {}
        self.handle = lg.ConstructQSL(
            len(dataset), performance_sample_count, self.load_samples, self.unload_samples
        )

    def load_samples(self, indices: list[int]) -> None:
        for index in indices:
            self._loaded[index] = self.to_input(self.dataset.sample(index))

    def unload_samples(self, indices: list[int]) -> None:
        for index in indices:
            self._loaded.pop(index, None)

    @property
    def loaded_count(self) -> int:
        return len(self._loaded)

    def batch(self, indices: list[int]) -> np.ndarray:
        if len(indices) == 1:  # SingleStream: no copy on the latency path
            return self._loaded[indices[0]][None]
        return np.stack([self._loaded[i] for i in indices])

    def destroy(self) -> None:
        lg.DestroyQSL(self.handle)
        self._loaded.clear()
