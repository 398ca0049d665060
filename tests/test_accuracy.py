import numpy as np

from harness.core.accuracy import score


def test_top1_counts_over_the_whole_dataset():
    labels = np.array([0, 1, 2, 3])
    result = score({0: 0, 1: 1, 2: 0}, labels)  # sample 3 never logged
    assert result == {"top1": 0.5, "top5": None, "count": 4, "logged": 3}


def test_top5_from_logits():
    labels = np.array([0, 9])
    logits = np.zeros((2, 10), np.float32)
    logits[0, [5, 6, 7, 8, 0]] = [5, 4, 3, 2, 1]  # label 0 is 5th best: inside top-5
    logits[1, [0, 1, 2, 3, 4, 9]] = [6, 5, 4, 3, 2, 1]  # label 9 is 6th: outside
    result = score({0: 5, 1: 0}, labels, logits)
    assert result["top1"] == 0.0 and result["top5"] == 0.5
