"""What a runtime's own profiler gives edgebench: per-operator times of the inferences it
ran, each operator placed in the source model's layers (`harness.core.layer_classes`)."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class OperatorProfiler(ABC):
    """The loaded model run again under its runtime's profiler (`Backend.profiler`).

    The caller times `predict` as it times the unprofiled model, then asks `operators`
    for the mean of the last inferences: warm-up ones stay out."""

    source: str  # the profiler, by its API's name, for result.json
    notes: tuple[str, ...] = ()  # what this runtime's sum of operator times means

    @abstractmethod
    def predict(self, batch: np.ndarray) -> None:
        """One profiled inference of `batch` (samples as `Backend.to_input` made them)."""

    def after_inference(self) -> None:  # noqa: B027 (most profilers need nothing here)
        """Between timed inferences, untimed: read what the last one recorded."""

    @abstractmethod
    def operators(self, last: int) -> list[dict]:
        """The operators of the last `last` inferences, each with its mean time per
        inference (`harness.core.record_parts.OperatorTime`'s fields); ends profiling."""


def merge_by_name(runs: list[list[dict]]) -> list[dict]:
    """Per-inference operator lists (each operator once per inference, or several times
    when the runtime runs a node more than once) as one list of mean times per inference,
    in the order operators first ran."""
    merged: dict[tuple, dict] = {}
    for run in runs:
        for op in run:
            key = (op["name"], op["type"])
            if key in merged:
                merged[key]["time_ms"] += op["time_ms"]
            else:
                merged[key] = dict(op)
    for op in merged.values():
        op["time_ms"] = round(op["time_ms"] / len(runs), 5)
    return list(merged.values())
