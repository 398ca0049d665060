"""The interface every runtime adapter implements, and nothing more."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import numpy as np

from harness.artifacts import ArtifactCache
from harness.weights import WeightsSource


class Backend(ABC):
    name: ClassVar[str]
    precisions: ClassVar[tuple[str, ...]]
    input_layout: ClassVar[str] = "NCHW"
    input_dtype: ClassVar[str] = "float32"

    def __init__(self, threads: int):
        self.threads = threads

    @staticmethod
    @abstractmethod
    def runtime_version() -> str:
        """Version of the runtime package that executes the model."""

    @abstractmethod
    def prepare(
        self, model_name: str, weights: WeightsSource, precision: str, cache: ArtifactCache
    ) -> Path:
        """Build (or reuse from `cache`) the artifact and load it; return its path."""

    @abstractmethod
    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Logits, shape (N, classes), for a float32 NCHW batch."""

    def settings(self) -> dict:
        """Runtime options that shaped the measurement, recorded in result.json."""
        return {"threads": self.threads}
