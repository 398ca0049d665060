"""MLCommons' own scripts, run as they are from the user's checkout of
mlcommons/inference: the audit tests' verification, the accuracy-log truncation and
the submission checker. Their words are kept, never paraphrased into a verdict of ours."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from scenarios.mlcommons import AUDIT_TESTS, CHECKER_PACKAGE

# the checker's round; its paths and seeds are those of this checkout's LoadGen
CHECKER_VERSION = "v6.1"
TRUNCATE_SCRIPT = Path("tools/submission/truncate_accuracy_log.py")
# what SUT responses hold (scenarios.responses: the class as one float32 a sample)
RESPONSE_DTYPE = "float32"


@dataclass(frozen=True)
class ToolRun:
    command: list[str]
    returncode: int
    output: str

    @property
    def passed(self) -> bool:
        return self.returncode == 0


def _run(command: list[str], cwd: Path) -> ToolRun:
    proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    return ToolRun(command, proc.returncode, proc.stdout + proc.stderr)


def verify_audit(checkout: Path, test: str, scenario_dir: Path, audit_run: Path) -> str:
    """Run the test's run_verification.py: it compares the audit run with the scenario's
    performance (and accuracy) logs and writes TEST0x/ into `scenario_dir`. Returns its
    verify_*.txt words ('' where it wrote none)."""
    script = AUDIT_TESTS.get(test).verification_script(checkout)
    command = [sys.executable, str(script), "-r", str(scenario_dir), "-c", str(audit_run),
               "-o", str(scenario_dir)]
    if AUDIT_TESTS.get(test).needs_accuracy_run:
        command += ["--dtype", RESPONSE_DTYPE]
    with tempfile.TemporaryDirectory() as scratch:  # it writes verify_*.txt in its cwd
        _run(command, Path(scratch))
    written = sorted((scenario_dir / test).glob("verify_*.txt"))
    return "\n".join(f.read_text() for f in written)


def truncate_accuracy_logs(checkout: Path, root: Path, submitter: str, backup: Path) -> ToolRun:
    """MLCommons' mandatory truncation; the original logs go to `backup`."""
    return _run([sys.executable, str(checkout / TRUNCATE_SCRIPT), "--input", str(root),
                 "--submitter", submitter, "--backup", str(backup)], checkout)


def checker_verdict(checked: ToolRun) -> list[str]:
    """The checker's own lines that matter: its errors and its SUMMARY, or, where it
    stopped before a verdict (a traceback), its last words."""
    lines = checked.output.splitlines()
    verdict = [line for line in lines if "SUMMARY" in line or "ERROR" in line]
    if not any("SUMMARY" in line for line in verdict):
        verdict += ["it stopped before its verdict:", *lines[-3:]]
    return verdict


def checker_csv(root: Path) -> Path:
    """Where the checker's CSV goes: beside the tree, never inside it."""
    return root.parent / f"{root.name}-checker.csv"


def run_checker(checkout: Path, root: Path, csv: Path, *extra: str) -> ToolRun:
    """MLCommons' submission checker on the tree (its model map in the tree)."""
    return _run([sys.executable, "-m", "submission_checker.main", "--input", str(root),
                 "--version", CHECKER_VERSION, "--csv", str(csv), *extra],
                checkout / CHECKER_PACKAGE.parent)
