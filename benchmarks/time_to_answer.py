"""How long the quick study takes on this machine, how close the estimate came, and where
the time goes.

    .venv/bin/python benchmarks/time_to_answer.py --prepared DIR --results DIR
    .venv/bin/python benchmarks/time_to_answer.py --analyse RESULTS   # an earlier sweep

1. `edgebench prepare study-quick --out DIR`, timed on its own (skipped when DIR already
   holds a prepared folder);
2. `edgebench sweep study-quick --dry-run`: the estimate, before anything runs;
3. `edgebench sweep study-quick --artifacts DIR`, timed; goal: at most 45 minutes, and
   the estimate within 25% of it;
4. where the time went, from the sweep's manifest and every run's record: process start
   and exit (the sweep's time less the run's own), model load, the Offline batch search,
   the probe, LoadGen, and the rest of the run (dataset, builds, logs, the record), per
   model and per scenario/mode.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.core.records import RESULT_FILE, ResultRecord  # noqa: E402

EDGEBENCH = [sys.executable, "-m", "harness"]
GOAL_S = 45 * 60
ESTIMATE_GOAL = 0.25


def timed(command: list[str]) -> tuple[float, str]:
    started = time.monotonic()
    proc = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode not in (0, 1):  # 1: a cell failed, which the analysis shows
        sys.exit(f"{' '.join(command)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return time.monotonic() - started, proc.stdout


def loadgen_seconds(run_dir: Path) -> float | None:
    """LoadGen's test from its first to its last log entry (records before costs.loadgen_s)."""
    times = [float(m[1]) for m in re.finditer(r'"time_ms": ([\d.]+)',
                                               (run_dir / "mlperf_log_detail.txt").read_text())]
    return (max(times) - min(times)) / 1000 if times else None


def analyse(results: Path) -> None:
    manifest = json.loads((results / "sweep-manifest.json").read_text())
    parts: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    counts: dict[str, int] = defaultdict(int)
    total = 0.0
    for state in manifest["runs"].values():
        if state.get("state") not in ("done", "failed"):
            continue  # pending, or running now
        elapsed = float(state.get("elapsed_s") or 0)
        total += elapsed
        run_dir = Path(state.get("run_dir") or "")
        try:
            record = ResultRecord.read(run_dir / RESULT_FILE)[0]
        except (OSError, ValueError):  # a failed cell: its folder holds failed.json
            counts["failed"] += 1
            parts["failed"]["rest of the run"] += elapsed
            continue
        group = "unsupported" if record.unsupported else (
            f"{record.scenario} {record.mode}" if record.mode == "performance"
            else "accuracy")
        split = {"process start and exit": elapsed - (record.duration_s or elapsed)}
        if not record.unsupported:
            costs = record.costs
            search = record.batch_choice.search_s if record.batch_choice else None
            loadgen = costs.loadgen_s if costs.loadgen_s is not None \
                else loadgen_seconds(run_dir)
            split |= {"model load": costs.load_s or 0, "build": costs.build_s or 0,
                      "batch search": search or 0, "probe": costs.probe_s or 0,
                      "LoadGen": loadgen or 0}
            split["rest of the run"] = (record.duration_s or 0) - sum(
                v for k, v in split.items() if k != "process start and exit")
        else:
            split["rest of the run"] = record.duration_s or 0
        for key in (group, f"model {record.model}"):
            counts[key] += 1
            for part, seconds in split.items():
                parts[key][part] += seconds
    print(f"\n{len(manifest['runs'])} runs, {total / 60:.1f} min of sweep time\n")
    names = ["process start and exit", "model load", "build", "batch search", "probe",
             "LoadGen", "rest of the run"]
    print(f"| group | runs | minutes | {' | '.join(names)} |")
    print("| --- | --- | --- |" + " --- |" * len(names))
    for key in sorted(parts):
        row = parts[key]
        print(f"| {key} | {counts.get(key, 0)} | {sum(row.values()) / 60:.1f} | "
              + " | ".join(f"{row.get(name, 0) / 60:.1f}" for name in names) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prepared", type=Path, help="the prepared folder (made if absent)")
    parser.add_argument("--results", type=Path, help="a results folder for the sweep (new)")
    parser.add_argument("--analyse", type=Path, help="only analyse this earlier sweep")
    args = parser.parse_args()
    if args.analyse:
        analyse(args.analyse)
        return
    if not args.prepared or not args.results:
        parser.error("--prepared and --results (or --analyse)")
    if not (args.prepared / "prepared.json").exists():
        seconds, _ = timed([*EDGEBENCH, "prepare", "study-quick", "--out", str(args.prepared)])
        print(f"prepare study-quick: {seconds / 60:.1f} min")
    common = ["study-quick", "--artifacts", str(args.prepared), "--results", str(args.results)]
    _, dry = timed([*EDGEBENCH, "sweep", *common, "--dry-run"])
    estimated = float(re.search(r"estimated (\d+) min for the rest", dry)[1])
    print(dry[dry.index("runs, "):].strip())
    seconds, out = timed([*EDGEBENCH, "sweep", *common])
    real = seconds / 60
    error = abs(estimated - real) / real
    print(f"\nsweep study-quick: {real:.1f} min (goal <= {GOAL_S / 60:.0f}: "
          f"{'OK' if seconds <= GOAL_S else 'MISSED'}); dry-run estimate {estimated:.0f} min, "
          f"{error:.0%} off (goal <= {ESTIMATE_GOAL:.0%}: "
          f"{'OK' if error <= ESTIMATE_GOAL else 'MISSED'})")
    total = re.search(r"^\s*total \(\d+ runs\).*$", out, re.M)
    if total:
        print("end table, estimated against real seconds: " + total[0])
    analyse(args.results)


if __name__ == "__main__":
    main()
