"""`edgebench sweep`: every cell of a matrix in its own process, resumable.

A manifest in the results folder records each cell's state (pending, running, done,
failed) and run folder, written atomically before and after every cell. Run again with
the same --results, a sweep skips what is done; a cell killed with the sweep (kill -9
included) is found again by the tag its child wrote into result.json, so every cell's
result exists exactly once. Repeats are interleaved (A B C, A B C) so that the
machine's slow drift spreads over every cell instead of biasing one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

import harness
from harness.core.board import soc_temperature_c
from harness.core.digests import fields_digest
from harness.core.errors import EdgebenchError, UsageError
from harness.core.progress import console, say
from harness.core.records import (
    CELL_KEYS,
    FAILED_FILE,
    RESULT_FILE,
    STAGING_PREFIX,
    FailedCell,
    ResultRecord,
    cell_of,
    finalize,
    make_staging_dir,
    run_name,
    utc_now,
    write_json_atomic,
)
from harness.measure.config import RunConfig
from harness.measure.plan import check
from harness.study.fresh_process import CellFailed, run_in_fresh_process
from harness.study.matrix import Cell, Matrix, Selection
from scenarios.settings import QUICK_MIN_DURATION_MS

MANIFEST_FILE = "sweep-manifest.json"
# A cold build of the largest artifacts (VGG-19 int8 on a small board) and 662
# MultiStream queries of VGG-19 both take many minutes: the default per-cell timeout
# allows for them on top of the run's minimum duration.
BUILD_ALLOWANCE_S = 1800
MULTISTREAM_ALLOWANCE_S = 1800
FULL_DURATION_S = 600
STARTUP_ESTIMATE_S = 10  # process start, imports, probe: measured ~6-10 s here
# FP32 seconds per sample at batch 1 on this project's 2-core x86 machine, for estimates
# of runs whose length is a number of samples rather than a duration
SECONDS_PER_SAMPLE = {"mobilenet_v2": 0.006, "densenet121": 0.03, "vgg19": 0.25}
ACCURACY_SAMPLES = 1000
THERMAL_MARGIN_C = 2.0


@dataclass
class PlannedRun:
    """One execution of a cell: the cell, its repeat, and the options it runs with."""

    cell: Cell
    repeat_index: int  # 0-based
    repeats: int
    config: RunConfig

    def tag(self, sweep_id: str) -> str:
        """What the child records (`sweep_tag`): sweep, repeat, run key and attempt."""
        return (f"{sweep_id}:{self.repeat_index + 1}:{self.repeats}:{self.key}:"
                f"{uuid.uuid4().hex[:8]}")

    @property
    def key(self) -> str:
        """Same configuration and edgebench version, same repeat: the same planned run."""
        digest = fields_digest([self.config.identity(), harness.__version__])
        return f"{digest}-r{self.repeat_index + 1}"

    @property
    def label(self) -> str:
        more = f" (repeat {self.repeat_index + 1}/{self.repeats})" if self.repeats > 1 else ""
        return self.cell.label + more


@dataclass
class Manifest:
    """The sweep's state in its results folder: rewritten atomically after each change."""

    path: Path
    matrix: dict = field(default_factory=dict)
    runs: dict[str, dict] = field(default_factory=dict)  # PlannedRun.key -> state
    # one id for every run this results folder's sweeps make, resumes included: the
    # report takes the median over the repeats of one sweep id
    sweep_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    @classmethod
    def open(cls, results_dir: Path, matrix: Matrix) -> Manifest:
        path = results_dir / MANIFEST_FILE
        manifest = cls(path)
        if path.exists():
            try:
                saved = json.loads(path.read_text())
                manifest.runs = dict(saved.get("runs", {}))
                manifest.sweep_id = saved.get("sweep_id") or manifest.sweep_id
            except (OSError, ValueError) as exc:
                raise UsageError(f"{path} is unreadable ({exc}); move it away to start the "
                                 "sweep afresh") from None
        manifest.matrix = {"name": matrix.name, "path": str(matrix.path),
                           "cells": len(matrix.cells), "repeat": matrix.repeat}
        return manifest

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.path, {"sweep_id": self.sweep_id, "matrix": self.matrix,
                                      "runs": self.runs})

    def set(self, run: PlannedRun, **state) -> None:
        entry = self.runs.setdefault(run.key, {"label": run.label})
        entry.update(state, updated_at=utc_now().isoformat(timespec="seconds"))
        self.save()


def plan(matrix: Matrix, overrides: dict, selection: Selection,
         repeat: int | None) -> list[PlannedRun]:
    """Every run of the sweep in the order it executes: repeats interleaved, accuracy
    cells once (their result does not vary run to run). `overrides` are RunConfig values
    (and recipe options) given over the matrix's, the results folder among them."""
    repeats = repeat or matrix.repeat
    cells = selection.cells(matrix)
    planned = []
    for index in range(repeats):
        for cell in cells:
            times = repeats if cell.mode == "performance" else 1
            if index >= times:
                continue
            config = RunConfig.from_options({**cell.run_options(), **overrides})
            check(config)  # every cell checked before the first one runs
            planned.append(PlannedRun(cell, index, times, config))
    return planned


def default_timeout_s(config: RunConfig) -> float:
    """The run's minimum duration, plus conversion time, plus MultiStream's query count."""
    duration = (config.duration or (QUICK_MIN_DURATION_MS / 1000 if config.quick
                                    else FULL_DURATION_S))
    extra = MULTISTREAM_ALLOWANCE_S if config.scenario == "multi-stream" else 0
    return BUILD_ALLOWANCE_S + 3 * duration + extra


def estimate_s(run: PlannedRun, earlier: dict[str, float]) -> tuple[float, str]:
    """(seconds, basis): an earlier run of the same configuration, else its minimums."""
    if run.key.rsplit("-r", 1)[0] in earlier:
        return earlier[run.key.rsplit("-r", 1)[0]], "measured"
    config = run.config
    per_sample = SECONDS_PER_SAMPLE.get(config.model, 0.03)
    duration = (config.duration or (QUICK_MIN_DURATION_MS / 1000 if config.quick
                                    else FULL_DURATION_S))
    if config.mode == "accuracy":
        duration = (config.count or ACCURACY_SAMPLES) * per_sample
    elif config.scenario == "multi-stream":  # at least 662 queries of 8 samples
        duration = max(duration, 662 * 8 * per_sample)
    elif config.scenario == "single-stream":  # at least 100 queries
        duration = max(duration, 100 * per_sample)
    return STARTUP_ESTIMATE_S + duration, "minimum"


def _earlier_durations(manifest: Manifest) -> dict[str, float]:
    return {key.rsplit("-r", 1)[0]: state["elapsed_s"] for key, state in manifest.runs.items()
            if state.get("state") == "done" and state.get("elapsed_s")}


def describe_selection(matrix: Matrix, selection: Selection, planned: list[PlannedRun]) -> str:
    """The selection as understood: its filters, the values kept per axis, the cells left."""
    cells = list(dict.fromkeys(run.cell for run in planned))
    lines = [f"selection: {selection.describe()}: {len(cells)} of {len(matrix.cells)} cells "
             f"of {matrix.name}"]
    for key in CELL_KEYS:
        kept = list(dict.fromkeys(cell.values()[key] for cell in cells))
        lines.append(f"  {key + ':':<10} {', '.join(kept)}")
    return "\n".join(lines)


def dry_run(planned: list[PlannedRun], manifest: Manifest) -> int:
    earlier = _earlier_durations(manifest)
    total, basis_counts = 0.0, {"measured": 0, "minimum": 0}
    for number, run in enumerate(planned, start=1):
        state = manifest.runs.get(run.key, {}).get("state", "pending")
        seconds, basis = estimate_s(run, earlier)
        if state != "done":
            total += seconds
            basis_counts[basis] += 1
        options = ", ".join(f"{k}={v}" for k, v in run.cell.options)
        print(f"{number:>4}  {run.label}  [{state}]  ~{seconds:.0f} s"
              + (f"  ({options})" if options else ""))
    done = sum(1 for r in planned if manifest.runs.get(r.key, {}).get("state") == "done")
    print(f"\n{len(planned)} runs, {done} already done; "
          f"estimated {total / 60:.0f} min for the rest ({basis_counts['measured']} from "
          f"earlier runs, {basis_counts['minimum']} from LoadGen's minimums at FP32 speeds "
          f"of a 2-core x86 plus {STARTUP_ESTIMATE_S} s start-up, without model builds)")
    return 0


def _adopt_finished(manifest: Manifest, results_dir: Path) -> None:
    """A run that was running when the sweep died: kill what is left of it, and keep its
    result if its child finished and wrote one (found by the tag in result.json)."""
    running = {state["tag"]: key for key, state in manifest.runs.items()
               if state.get("state") == "running"}
    if not running:
        return
    for key in running.values():
        pid = manifest.runs[key].get("pid")
        if pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)  # a child that outlived its sweep
    for path in results_dir.glob(f"*/{RESULT_FILE}"):
        if path.parent.name.startswith("."):
            continue
        try:
            tag = json.loads(path.read_text()).get("sweep_tag")
        except (OSError, ValueError):
            continue
        if tag in running:
            key = running.pop(tag)
            manifest.runs[key].update(state="done", run_dir=str(path.parent))
    for key in running.values():
        manifest.runs[key]["state"] = "pending"  # died before its result existed
    manifest.save()


def _write_failure(results_dir: Path, run: PlannedRun, failure: dict) -> Path:
    failed_at = utc_now()
    name = run_name([*cell_of(run.cell), "failed"], failed_at)
    staging = make_staging_dir(results_dir, name)
    record = FailedCell(cell=run.cell.run_options(), repeat=run.repeat_index + 1,
                        failed_at=failed_at.isoformat(timespec="seconds"),
                        edgebench_version=harness.__version__, **failure)
    write_json_atomic(staging / FAILED_FILE, record.to_json())
    return finalize(staging, name)


def cool_down(cap_s: float, start_c: float | None) -> None:
    """Pause up to `cap_s`; on a board with a thermal sensor, only until it is back
    within THERMAL_MARGIN_C of where the sweep started."""
    if cap_s <= 0:
        return
    deadline = time.monotonic() + cap_s
    while time.monotonic() < deadline:
        now = soc_temperature_c()
        if start_c is not None and now is not None and now <= start_c + THERMAL_MARGIN_C:
            return
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))


@dataclass
class Outcome:
    run: PlannedRun
    record: ResultRecord | None
    run_dir: Path | None
    error: str | None
    elapsed_s: float


def run_sweep(matrix: Matrix, planned: list[PlannedRun], results_dir: Path,
              retry_failed: bool, cell_timeout_s: float | None,
              cooldown_s: float | None) -> list[Outcome]:
    manifest = Manifest.open(results_dir, matrix)
    clean_staging(results_dir)
    _adopt_finished(manifest, results_dir)
    todo = []
    outcomes: list[Outcome] = []
    for run in planned:
        state = manifest.runs.get(run.key, {})
        if state.get("state") == "done" and (Path(state["run_dir"]) / RESULT_FILE).exists():
            outcomes.append(_done_outcome(run, state))
        elif state.get("state") == "failed" and not retry_failed:
            outcomes.append(Outcome(run, None, None, f"failed earlier (not retried without "
                                    f"--retry-failed): {state.get('error')}", 0.0))
        else:
            todo.append(run)
    skipped = len(planned) - len(todo)
    planned_keys = {run.key for run in planned}
    aside = sum(1 for key, state in manifest.runs.items()
                if key not in planned_keys and state.get("state") == "done")
    if aside:
        say(f"{aside} done runs in {results_dir} are not in this selection: left aside, "
            "their results kept")
    if skipped:
        say(f"resuming {matrix.name}: {skipped} of {len(planned)} runs already in "
            f"{results_dir} ({sum(o.error is not None for o in outcomes)} failed earlier)")
    pause = matrix.cooldown_s if cooldown_s is None else cooldown_s
    start_c = soc_temperature_c()
    bar = tqdm(total=len(planned), initial=skipped, unit="run", file=console(),
               dynamic_ncols=True) if console().isatty() else None
    times: list[float] = []
    try:
        for number, run in enumerate(todo, start=skipped + 1):
            if number > skipped + 1:
                cool_down(pause, start_c)
            eta = (sum(times) / len(times) * (len(todo) - len(times))) if times else None
            if bar is not None:
                bar.set_postfix_str(run.label)
            else:
                say(f"[{number}/{len(planned)}] {run.label}"
                    + (f"  (ETA {eta / 60:.0f} min)" if eta is not None else ""))
            outcome = _run_one(run, manifest, cell_timeout_s)
            outcomes.append(outcome)
            times.append(outcome.elapsed_s)
            if bar is not None:
                bar.update()
            else:
                say(f"  -> {outcome.run_dir or outcome.error} ({outcome.elapsed_s:.0f} s)")
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        say("edgebench: sweep interrupted; resume it with: "
            + shlex.join(["edgebench", *sys.argv[1:]]))
        raise
    if bar is not None:
        bar.close()
    order = {run.key: i for i, run in enumerate(planned)}
    return sorted(outcomes, key=lambda o: order[o.run.key])


def _done_outcome(run: PlannedRun, state: dict) -> Outcome:
    run_dir = Path(state["run_dir"])
    try:
        record = ResultRecord.read(run_dir / RESULT_FILE)[0]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return Outcome(run, None, run_dir, f"unreadable earlier result: {exc}", 0.0)
    return Outcome(run, record, run_dir, None, float(state.get("elapsed_s") or 0))


def _run_one(run: PlannedRun, manifest: Manifest, cell_timeout_s: float | None) -> Outcome:
    tag = run.tag(manifest.sweep_id)
    config = run.config.with_(sweep_tag=tag)
    manifest.set(run, state="running", tag=tag, pid=None)
    timeout = cell_timeout_s or run.cell.timeout_s or default_timeout_s(config)
    started = time.monotonic()
    try:
        run_dir, record = run_in_fresh_process(
            config, timeout, on_start=lambda pid: manifest.set(run, pid=pid))
    except CellFailed as exc:
        failure = exc.record()
        folder = _write_failure(Path(config.results_dir), run, failure)
        manifest.set(run, state="failed", error=str(exc), run_dir=str(folder), pid=None,
                     elapsed_s=round(exc.elapsed_s, 1))
        say(f"edgebench: cell failed: {exc} (details: {folder / FAILED_FILE})")
        return Outcome(run, None, folder, str(exc), exc.elapsed_s)
    except EdgebenchError as exc:  # the child's own one-line error
        elapsed = time.monotonic() - started
        folder = _write_failure(Path(config.results_dir), run, {
            "reason": str(exc), "exit_code": 2, "signal": None, "timed_out": False,
            "elapsed_s": round(elapsed, 1)})
        manifest.set(run, state="failed", error=str(exc), run_dir=str(folder), pid=None,
                     elapsed_s=round(elapsed, 1))
        say(f"edgebench: error: {exc}")
        return Outcome(run, None, folder, str(exc), elapsed)
    elapsed = time.monotonic() - started
    manifest.set(run, state="done", run_dir=str(run_dir), pid=None, elapsed_s=round(elapsed, 1))
    return Outcome(run, record, run_dir, None, elapsed)


def clean_staging(results_dir: Path, older_than_s: float = 24 * 3600) -> None:
    """Half-written run folders are hidden (reports skip them); old ones are removed."""
    import shutil

    now = time.time()
    for staging in results_dir.glob(f"{STAGING_PREFIX}*"):
        with contextlib.suppress(OSError):
            if now - staging.stat().st_mtime > older_than_s:
                shutil.rmtree(staging, ignore_errors=True)
