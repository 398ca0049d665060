"""Top-1 / top-5 from the accuracy log (and the saved logits), as fractions in [0, 1]."""

from __future__ import annotations

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
