"""Top-1 / top-5 from the accuracy log (and the saved logits), as fractions in [0, 1]."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def score(predictions: dict[int, int], labels: np.ndarray,
          logits: np.ndarray | None = None) -> dict:
    """`predictions` maps sample index -> predicted class, as LoadGen logged it.

    A sample LoadGen did not log counts as wrong: accuracy is over the whole dataset.
    """
    count = len(labels)
    indices = np.fromiter(predictions.keys(), dtype=np.int64, count=len(predictions))
    predicted = np.fromiter(predictions.values(), dtype=np.int64, count=len(predictions))
    top1 = float(np.sum(predicted == labels[indices]) / count) if count else None
    top5 = None
    if logits is not None and count:
        best5 = np.argsort(-logits, axis=1)[:, :5]
        top5 = float(np.mean(np.any(best5 == labels[:, None], axis=1)))
    return {"top1": top1, "top5": top5, "count": count, "logged": len(predictions)}


PREDICTIONS_FILE = "predictions.npz"
NOT_LOGGED = -1


def save_predictions(run_dir: Path, predictions: dict[int, int], labels: np.ndarray) -> dict:
    """Each sample's predicted class (NOT_LOGGED where LoadGen logged none) beside its
    label, in dataset order: what a paired test between two runs needs."""
    predicted = np.full(len(labels), NOT_LOGGED, dtype=np.int64)
    for index, value in predictions.items():
        predicted[index] = value
    np.savez(run_dir / PREDICTIONS_FILE, predicted=predicted, label=labels.astype(np.int64))
    return {"path": PREDICTIONS_FILE, "arrays": ["predicted", "label"]}


def load_correct(path: Path) -> np.ndarray:
    """Per sample: was the top-1 prediction right."""
    with np.load(path) as saved:
        return saved["predicted"] == saved["label"]
