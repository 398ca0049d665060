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
    top1 = float(np.mean(_deployed_classes(predictions, count) == labels)) if count else None
    top5 = None
    if logits is not None and count:
        best5 = np.argsort(-logits, axis=1)[:, :5]
        top5 = float(np.mean(np.any(best5 == labels[:, None], axis=1)))
    return {"top1": top1, "top5": top5, "count": count, "logged": len(predictions)}


PREDICTIONS_FILE = "predictions.npz"
NOT_LOGGED = -1


def _classes(logits: np.ndarray) -> np.ndarray:
    return logits.reshape(len(logits), -1).argmax(axis=1)  # as the SUTs answer LoadGen


def _deployed_classes(predictions: dict[int, int], count: int) -> np.ndarray:
    predicted = np.full(count, NOT_LOGGED, dtype=np.int64)
    for index, value in predictions.items():
        predicted[index] = value
    return predicted


def save_predictions(run_dir: Path, predictions: dict[int, int], labels: np.ndarray,
                     simulated_logits: np.ndarray | None = None) -> dict:
    """Each sample's predicted class (NOT_LOGGED where LoadGen logged none) beside its
    label, in dataset order: what a paired test between two runs needs; and the
    simulated run's class (`simulated`), where there is one."""
    arrays = {"predicted": _deployed_classes(predictions, len(labels)),
              "label": labels.astype(np.int64)}
    if simulated_logits is not None:
        arrays["simulated"] = _classes(simulated_logits)
    np.savez(run_dir / PREDICTIONS_FILE, **arrays)
    return {"path": PREDICTIONS_FILE, "arrays": list(arrays)}


def simulated(run: dict, predictions: dict[int, int], labels: np.ndarray) -> dict:
    """The simulated run's top-1 (95% Wilson interval) beside the deployed one's: the gap
    deployed minus simulated with McNemar's exact p on the same samples, and the share
    of samples on which the two predict the same class. `run`: its logits, `how`, and
    what executed; or `unsupported` with the reason."""
    if "unsupported" in run:
        return {"unsupported": run["unsupported"]}
    from harness.core.statistics import paired_comparison, wilson_interval  # statsmodels

    simulated_class = _classes(run["logits"])
    deployed_class = _deployed_classes(predictions, len(labels))
    simulated_right, deployed_right = simulated_class == labels, deployed_class == labels
    top1 = float(np.mean(simulated_right))
    low, high = wilson_interval(top1, len(labels))
    paired = paired_comparison(simulated_right, deployed_right)
    logged = deployed_class != NOT_LOGGED
    return {"top1": top1, "top1_ci95": [low, high],
            "gap_deployed_minus_simulated": paired.difference,
            "gap_p_value": paired.p_value,
            "agreement_with_deployed": float(np.mean(simulated_class[logged]
                                                     == deployed_class[logged])),
            "samples": len(labels), "how": run["how"], "executed": run["executed"]}


def load_correct(path: Path) -> np.ndarray:
    """Per sample: was the top-1 prediction right."""
    with np.load(path) as saved:
        return saved["predicted"] == saved["label"]
