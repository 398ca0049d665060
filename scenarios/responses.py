"""What a LoadGen response carries, written by the SUTs and read back from
mlperf_log_accuracy.json: MLPerf's ImageNet convention, the predicted class as one
float32 per sample."""

from __future__ import annotations

import numpy as np

RESPONSE_DTYPE = np.dtype(np.float32)
RESPONSE_BYTES = RESPONSE_DTYPE.itemsize


def encode(logits: np.ndarray) -> np.ndarray:
    """One response value per row of `logits`; sample i's bytes start at
    `result.ctypes.data + i * RESPONSE_BYTES`."""
    # rows flattened: a model that is no classifier (performance runs only) still answers
    return logits.reshape(len(logits), -1).argmax(axis=1).astype(RESPONSE_DTYPE)


def decode(hex_data: str) -> int:
    """The predicted class from an accuracy-log entry's hex `data`."""
    return int(np.frombuffer(bytes.fromhex(hex_data), dtype=RESPONSE_DTYPE)[0])
