"""Issue 31's proof: every run a submission needs for MobileNetV2 on OpenVINO (fp32 and
int8-static; SingleStream, MultiStream, Offline; accuracy, TEST01, TEST04) at MLPerf's
full run length, laid out by `edgebench submission`, judged by MLCommons' checker.

    EDGEBENCH_MLPERF_INFERENCE=../shared/tools/mlperf-inference \\
        .venv/bin/python benchmarks/submission.py --results DIR [--system-facts FILE]

About 3.5 hours on 2 cores (`edgebench sweep submission --dry-run` estimates it; a
sweep resumes where it stopped). The checker runs with one flag, its own
--skip-dataset-size-check: the ImageNet sample beside the project holds 1,000 of the
50,000 validation images. A user with the full validation set runs it without.
Goal: `SUMMARY: submission looks OK`, one CSV row per scenario and precision.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reports.submission.mlcommons_tools import (  # noqa: E402
    checker_csv,
    checker_verdict,
    run_checker,
)
from scenarios.mlcommons import inference_checkout  # noqa: E402

EDGEBENCH = [sys.executable, "-m", "harness"]
ALLOWED_FLAG = "--skip-dataset-size-check"
FACTS = ('status = "available"\ncooling = "air (a cloud VM\'s host)"\n'
         'host_storage_type = "virtual disk"\nhost_memory_configuration = "virtual machine"\n')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, required=True)
    parser.add_argument("--system-facts", type=Path)
    args = parser.parse_args()
    checkout = inference_checkout(None)
    started = time.monotonic()
    sweep = subprocess.run([*EDGEBENCH, "sweep", "submission", "--results",
                            str(args.results)], cwd=ROOT)
    print(f"sweep: exit {sweep.returncode} after {(time.monotonic() - started) / 60:.0f} min")
    facts = args.system_facts or args.results / "system-facts.toml"
    if not facts.exists():
        facts.write_text(FACTS)
    out = args.results.parent / f"{args.results.name}-submission-{int(time.time())}"
    tree = subprocess.run([*EDGEBENCH, "submission", str(args.results), "--out", str(out),
                           "--submitter", "edgebench", "--system-facts", str(facts)],
                          cwd=ROOT)
    if tree.returncode != 0:
        print("the tree was not written: the lines above name what is missing")
        return 1
    summary = checker_csv(out)
    checked = run_checker(checkout, out, summary, ALLOWED_FLAG)
    verdict = checker_verdict(checked)
    rows = list(csv.DictReader(summary.open())) if summary.exists() else []
    print(f"MLCommons' checker (with {ALLOWED_FLAG} only: 1,000 of 50,000 images):")
    print("  " + "\n  ".join(verdict))
    print(f"  {len(rows)} rows in {summary} (goal: 6, one per precision and scenario)")
    print(f"total: {(time.monotonic() - started) / 60:.0f} min")
    return 0 if checked.passed and len(rows) == 6 else 1


if __name__ == "__main__":
    sys.exit(main())
