"""Named sweeps: lists of runs that `edgebench sweep NAME` executes in order."""

from __future__ import annotations

from backends import BACKEND_NAMES
from harness.errors import UsageError

MATRICES: dict[str, list[dict]] = {
    # What `make demo` shows a newcomer in a few minutes: one model on every runtime,
    # FP32 against INT8 static, for latency (SingleStream) and throughput (Offline).
    "demo": [
        {"model": "mobilenet_v2", "backend": backend, "precision": precision,
         "scenario": scenario, "mode": "performance", "quick": True}
        for backend in BACKEND_NAMES
        for precision in ("fp32", "int8-static")
        for scenario in ("single-stream", "offline")
    ],
}


def get_matrix(name: str) -> list[dict]:
    try:
        return MATRICES[name]
    except KeyError:
        raise UsageError(
            f"unknown sweep {name!r}; choose one of: {', '.join(MATRICES)}"
        ) from None
