"""LoadGen's Query Sample Library: holds in memory exactly the samples LoadGen asks for."""

from __future__ import annotations

from collections.abc import Callable

import mlperf_loadgen as lg
import numpy as np

from harness.core.datasets import Dataset
from harness.core.preprocess import to_layout


class QuerySampleLibrary:
    """`to_input` turns a preprocessed (3, H, W) sample into what the backend takes
    (its layout; a quantized input's type): done once, at load, never per query.

    Loaded samples live in one array, so a batch is one `np.take` into a buffer made
    once, as a deployed app fills its input tensor; no per-query allocation. Batches
    rotate through `batches_in_flight + 1` buffers per size, so a buffer is never
    refilled while a runtime may still be reading it (OpenVINO's async requests).
    """

    def __init__(self, dataset: Dataset, performance_sample_count: int,
                 to_input: Callable[[np.ndarray], np.ndarray] = lambda s: to_layout(s, "NCHW"),
                 batches_in_flight: int = 1):
        self.dataset = dataset
        self.performance_sample_count = performance_sample_count
        self.to_input = to_input
        self.rotation = batches_in_flight + 1
        self._slot = np.full(len(dataset), -1, dtype=np.int64)  # dataset index -> row
        self._free: list[int] = []
        self._store: np.ndarray | None = None
        self._buffers: dict[int, list[np.ndarray]] = {}
        self._turn: dict[int, int] = {}
        self.handle = lg.ConstructQSL(
            len(dataset), performance_sample_count, self.load_samples, self.unload_samples
        )

    def load_samples(self, indices: list[int]) -> None:
        for index in indices:
            if self._slot[index] >= 0:
                continue
            sample = self.to_input(self.dataset.sample(index))
            if self._store is None:
                # LoadGen never holds more than performance_sample_count at once
                capacity = max(self.performance_sample_count, len(indices))
                self._store = np.empty((capacity, *sample.shape), sample.dtype)
                self._free = list(range(capacity - 1, -1, -1))
            if not self._free:  # more than LoadGen said it would hold: grow
                grown = len(self._store)
                self._store = np.concatenate([self._store, np.empty_like(self._store)])
                self._free = list(range(len(self._store) - 1, grown - 1, -1))
            row = self._free.pop()
            self._store[row] = sample
            self._slot[index] = row

    def unload_samples(self, indices: list[int]) -> None:
        for index in indices:
            if self._slot[index] >= 0:
                self._free.append(int(self._slot[index]))
                self._slot[index] = -1

    @property
    def loaded_count(self) -> int:
        return int(np.count_nonzero(self._slot >= 0))

    def rows(self, indices: list[int]) -> np.ndarray:
        """Where the samples of `indices` are held; checked once per query, not per batch."""
        rows = self._slot[np.asarray(indices, dtype=np.int64)]
        if len(rows) and rows.min() < 0:
            raise KeyError(f"samples not loaded: {np.asarray(indices)[rows < 0].tolist()}")
        return rows

    def batch(self, indices: list[int]) -> np.ndarray:
        return self.gather(self.rows(indices))

    def gather(self, rows: np.ndarray) -> np.ndarray:
        """The samples at `rows` (from `rows()`) as one batch."""
        if len(rows) == 1:  # SingleStream: a view, no copy on the latency path
            return self._store[rows[0]:rows[0] + 1]
        size = len(rows)
        if size not in self._buffers:
            self._buffers[size] = [np.empty((size, *self._store.shape[1:]), self._store.dtype)
                                   for _ in range(self.rotation)]
            self._turn[size] = 0
        buffer = self._buffers[size][self._turn[size]]
        self._turn[size] = (self._turn[size] + 1) % self.rotation
        # mode="clip": with the default "raise", numpy buffers `out` (a second copy);
        # `rows()` has checked them
        np.take(self._store, rows, axis=0, out=buffer, mode="clip")
        return buffer

    def destroy(self) -> None:
        lg.DestroyQSL(self.handle)
        self._store, self._buffers = None, {}
        self._slot[:] = -1
