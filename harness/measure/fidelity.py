"""How far a quantized model's outputs are from FP32's, on the same samples."""

from __future__ import annotations

import math

import numpy as np


def fidelity(logits: np.ndarray, reference: np.ndarray) -> dict:
    """`agreement`: share of samples whose top-1 equals the reference's; `sqnr_db`: the
    signal-to-quantization-noise ratio of the logits, 10 log10(|ref|^2 / |ref - x|^2)."""
    answered = ~np.isnan(logits).any(axis=1)  # rows LoadGen never answered stay NaN
    logits, reference = logits[answered], reference[answered]
    agreement = float(np.mean(logits.argmax(axis=1) == reference.argmax(axis=1)))
    noise = float(np.sum((reference.astype(np.float64) - logits) ** 2))
    signal = float(np.sum(reference.astype(np.float64) ** 2))
    sqnr = math.inf if noise == 0 else 10 * math.log10(signal / noise)
    return {"agreement": agreement, "sqnr_db": round(sqnr, 2) if math.isfinite(sqnr) else None,
            "samples": int(answered.sum())}
