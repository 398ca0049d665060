"""The interface every runtime adapter implements, and nothing more."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import ClassVar, Literal, TypeVar

import numpy as np

from harness.artifacts import ArtifactCache
from harness.weights import WeightsSource

# What the scenario optimises: one request's latency (SingleStream, MultiStream) or
# the rate of many (Offline). Runtimes with a tuning switch for it (OpenVINO's
# performance hint) use it; the others record it.
PerformanceHint = Literal["latency", "throughput"]
Tag = TypeVar("Tag")


class Backend(ABC):
    name: ClassVar[str]
    precisions: ClassVar[tuple[str, ...]]
    input_layout: ClassVar[str] = "NCHW"  # the QSL lays samples out so, once, at load
    input_dtype: ClassVar[str] = "float32"

    def __init__(self, threads: int, hint: PerformanceHint = "latency", batch_size: int = 1):
        self.threads = threads
        self.hint = hint
        self.batch_size = batch_size  # what most queries will hold; static-shape runtimes use it

    @staticmethod
    @abstractmethod
    def runtime_version() -> str:
        """Version of the runtime package that executes the model."""

    @abstractmethod
    def prepare(
        self, model_name: str, weights: WeightsSource, precision: str, cache: ArtifactCache
    ) -> Path | None:
        """Build (or reuse from `cache`) the artifact and load it; return its path.

        None means the runtime executes the source model itself, with no artifact.
        """

    @abstractmethod
    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Logits, shape (N, classes), for a batch in `input_layout` and `input_dtype`."""

    def predict_stream(
        self,
        batches: Iterable[tuple[Tag, np.ndarray]],
        on_logits: Callable[[Tag, np.ndarray], None],
    ) -> None:
        """Run many independent batches, calling `on_logits(tag, logits)` for each.

        Batches may complete out of order and `on_logits` may be called from a runtime
        thread. Runtimes with their own asynchronous queue override this (Offline).
        """
        for tag, batch in batches:
            on_logits(tag, self.predict(batch))

    def settings(self) -> dict:
        """Runtime options that shaped the measurement, recorded in result.json."""
        return {"threads": self.threads, "hint": self.hint, "batch_size": self.batch_size}
