"""Named sweeps: lists of runs that `edgebench sweep NAME` executes in order."""

from __future__ import annotations

from backends import BACKEND_NAMES
from harness.errors import UsageError
from scenarios.settings import SCENARIO_NAMES

MATRICES: dict[str, list[dict]] = {
    # What `make demo` shows a newcomer in a few minutes: one model on every runtime.
    "demo": [
        {"model": "mobilenet_v2", "backend": backend, "precision": "fp32",
         "scenario": scenario, "mode": "performance", "quick": True}
        for backend in BACKEND_NAMES
        for scenario in SCENARIO_NAMES
    ],
}


def get_matrix(name: str) -> list[dict]:
    try:
        return MATRICES[name]
    except KeyError:
        raise UsageError(
            f"unknown sweep {name!r}; choose one of: {', '.join(MATRICES)}"
        ) from None
