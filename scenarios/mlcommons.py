"""MLCommons' inference checkout: where it is, and the audit (compliance) tests in it.

MLCommons' submission checker, its compliance tests and their verification scripts are
not on PyPI. edgebench never copies them: a user points it at a checkout of
github.com/mlcommons/inference (`--mlperf-inference DIR` or $EDGEBENCH_MLPERF_INFERENCE)
and edgebench runs LoadGen with that checkout's `audit.config` and runs its scripts as
they are. An audit test is a run mode (`--mode TEST01`), so it is a cell of a study like
accuracy is: never merged into the performance run it audits.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from harness.core.errors import UsageError
from harness.core.registry import Registry

CHECKOUT_ENV = "EDGEBENCH_MLPERF_INFERENCE"
CHECKER_PACKAGE = Path("tools/submission/submission_checker")
# the benchmark whose rules (mlperf.conf) and audit configs an image classifier takes
AUDIT_BENCHMARK_DIR = "resnet50"


@dataclass(frozen=True)
class AuditTest:
    """One of LoadGen's compliance tests: its audit.config changes what LoadGen does in a
    performance run; its run_verification.py compares that run with the submission's."""

    name: str
    what: str
    config: str  # the audit.config, relative to the checkout
    needs_accuracy_run: bool  # TEST01 compares sampled responses with the accuracy log

    def config_path(self, checkout: Path) -> Path:
        path = checkout / self.config
        if not path.is_file():
            raise UsageError(f"{self.name}: no {self.config} in {checkout}: point "
                             f"--mlperf-inference at a checkout of mlcommons/inference")
        return path

    def verification_script(self, checkout: Path) -> Path:
        return checkout / "compliance" / self.name / "run_verification.py"


AUDIT_TESTS: Registry[AuditTest] = Registry("audit test")
AUDIT_TESTS.register("TEST01", AuditTest(
    "TEST01", "responses logged during a performance run match the accuracy run's",
    f"compliance/TEST01/{AUDIT_BENCHMARK_DIR}/audit.config", needs_accuracy_run=True))
AUDIT_TESTS.register("TEST04", AuditTest(
    "TEST04", "one sample issued again and again is not answered faster than unique "
    "samples (no caching of results)", "compliance/TEST04/audit.config",
    needs_accuracy_run=False))


def inference_checkout(given: Path | str | None) -> Path:
    """The MLCommons inference checkout: `given`, else $EDGEBENCH_MLPERF_INFERENCE."""
    location = given or os.environ.get(CHECKOUT_ENV)
    if not location:
        raise UsageError(f"needs MLCommons' inference checkout (its compliance tests and "
                         f"submission checker): pass --mlperf-inference DIR or set "
                         f"{CHECKOUT_ENV}")
    checkout = Path(location).expanduser().resolve()
    if not (checkout / "compliance").is_dir() or not (checkout / CHECKER_PACKAGE).is_dir():
        raise UsageError(f"--mlperf-inference {location}: no compliance/ and "
                         f"{CHECKER_PACKAGE}/ there; point it at a checkout of "
                         "mlcommons/inference")
    return checkout
