"""What a LoadGen response carries, written by the SUTs and read back from
mlperf_log_accuracy.json: MLPerf's ImageNet convention, the predicted class as one
float32 per sample."""

from __future__ import annotations

import numpy as np

RESPONSE_DTYPE = np.dtype(np.float32)
RESPONSE_BYTES = RESPONSE_DTYPE.itemsize


def encode(logits: np.ndarray, count: int) -> np.ndarray:
    """One response value for each of the `count` samples of a batch; sample i's bytes
    start at `result.ctypes.data + i * RESPONSE_BYTES`."""
    logits = np.asarray(logits)
    if logits.ndim == 0 or len(logits) != count:
        # a model that is no classifier (performance runs only) whose first output does
        # not hold a row per sample (a batch axis elsewhere, a scalar): answered, not read
        return np.zeros(count, RESPONSE_DTYPE)
    # rows flattened: a model that is no classifier still answers one value per sample
    return logits.reshape(count, -1).argmax(axis=1).astype(RESPONSE_DTYPE)


def decode(hex_data: str) -> int:
    """The predicted class from an accuracy-log entry's hex `data`."""
    return int(np.frombuffer(bytes.fromhex(hex_data), dtype=RESPONSE_DTYPE)[0])
