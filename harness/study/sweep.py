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
from harness.core.machine_load import is_quiet, machine_busy_share
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
from harness.core.system_info import default_device_name, describe_system
from harness.measure.config import RunConfig
from harness.measure.plan import check
from harness.study.estimate import DeviceSpeeds, Estimate, Estimator
from harness.study.fresh_process import CellFailed, run_in_fresh_process
from harness.study.matrix import Cell, Matrix, Selection
from harness.study.target_ci import spread

MANIFEST_FILE = "sweep-manifest.json"
# A cold build of the largest artifacts (VGG-19 int8 on a small board) and 662
# MultiStream queries of VGG-19 both take many minutes: the default per-cell timeout
# allows for them on top of the run's minimum duration.
BUILD_ALLOWANCE_S = 1800
MULTISTREAM_ALLOWANCE_S = 1800
THERMAL_MARGIN_C = 2.0


@dataclass
class PlannedRun:
    """One execution of a cell: the cell, its repeat, and the options it runs with."""

    cell: Cell
    repeat_index: int  # 0-based
    repeats: int
    config: RunConfig
    target_ci_pct: float | None = None  # a --target-ci repeat: the target it serves

    def tag(self, sweep_id: str) -> str:
        """What the child records (`sweep_tag`): sweep, repeat, run key, attempt and the
        --target-ci target (empty without one)."""
        target = "" if self.target_ci_pct is None else f"{self.target_ci_pct:g}"
        return (f"{sweep_id}:{self.repeat_index + 1}:{self.repeats}:{self.key}:"
                f"{uuid.uuid4().hex[:8]}:{target}")

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

    def spent_s(self) -> float:
        """What every run recorded here has taken, earlier invocations included."""
        return sum(float(state.get("elapsed_s") or 0) for state in self.runs.values())

    def states_of(self, configuration: str) -> list[dict]:
        return [state for key, state in self.runs.items()
                if configuration_key(key) == configuration]

    def next_repeat_index(self, configuration: str) -> int:
        """The 0-based index of a configuration's next repeat (after every one recorded)."""
        return max((int(key.rsplit("-r", 1)[1]) for key in self.runs
                    if configuration_key(key) == configuration), default=0)

    def set(self, run: PlannedRun, **state) -> None:
        entry = self.runs.setdefault(run.key, {"label": run.label})
        entry.update(state, updated_at=utc_now().isoformat(timespec="seconds"))
        self.save()


def plan(matrix: Matrix, overrides: dict, selection: Selection,
         repeat: int | None, target_ci_pct: float | None = None) -> list[PlannedRun]:
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
            planned.append(PlannedRun(cell, index, times, config,
                                      target_ci_pct if cell.mode == "performance" else None))
    return planned


def default_timeout_s(config: RunConfig) -> float:
    """The run's minimum duration, plus conversion time, plus MultiStream's query count."""
    duration = config.min_duration_s
    extra = MULTISTREAM_ALLOWANCE_S if config.scenario == "multi-stream" else 0
    return BUILD_ALLOWANCE_S + 3 * duration + extra


def configuration_key(run_key: str) -> str:
    """A run key without its repeat: every repeat of one configuration."""
    return run_key.rsplit("-r", 1)[0]


def _earlier_durations(manifest: Manifest) -> dict[str, float]:
    return {configuration_key(key): state["elapsed_s"] for key, state in manifest.runs.items()
            if state.get("state") == "done" and state.get("elapsed_s")}


def estimate_runs(planned: list[PlannedRun], manifest: Manifest) -> dict[str, Estimate]:
    """Each planned run's estimate (`harness.study.estimate`), by run key, in order."""
    if not planned:
        return {}
    first = planned[0].config
    device = first.device_name or default_device_name(describe_system())
    estimator = Estimator(DeviceSpeeds.read(Path(first.results_dir), first.cache_dir, device),
                          _earlier_durations(manifest))
    return {run.key: estimator.estimate(run.config, configuration_key(run.key))
            for run in planned}


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
    estimates = estimate_runs(planned, manifest)
    parts: dict[str, float] = {}
    bases: dict[str, int] = {}
    for number, run in enumerate(planned, start=1):
        state = manifest.runs.get(run.key, {}).get("state", "pending")
        estimate = estimates[run.key]
        if state != "done":
            for part, seconds in estimate.parts.items():
                parts[part] = parts.get(part, 0.0) + seconds
            bases[estimate.basis] = bases.get(estimate.basis, 0) + 1
        options = ", ".join(f"{k}={v}" for k, v in run.cell.options)
        print(f"{number:>4}  {run.label}  [{state}]  ~{estimate.seconds:.0f} s "
              f"({estimate.basis})" + (f"  ({options})" if options else ""))
    done = sum(1 for r in planned if manifest.runs.get(r.key, {}).get("state") == "done")
    total = sum(parts.values())
    print(f"\n{len(planned)} runs, {done} already done; estimated {total / 60:.0f} min for "
          "the rest:")
    for part, seconds in sorted(parts.items(), key=lambda item: -item[1]):
        print(f"  {part:<13} {seconds / 60:6.1f} min")
    print("  speeds from: " + ", ".join(f"{basis} ({count} runs)"
                                        for basis, count in bases.items()))
    return 0


def format_estimates(outcomes: list[Outcome]) -> str:
    """Estimated against real time, per run that ran now, and in total."""
    ran = [o for o in outcomes if o.estimate is not None and not o.resumed]
    if not ran:
        return "no run ran in this invocation: nothing to compare with the estimate"
    lines = ["time per run, estimated against real:",
             f"  {'run':<60} {'estimated s':>11} {'real s':>8} {'real/est':>8}"]
    for o in ran:
        ratio = o.elapsed_s / o.estimate.seconds if o.estimate.seconds else float("nan")
        lines.append(f"  {o.run.label[:60]:<60} {o.estimate.seconds:>11.0f} "
                     f"{o.elapsed_s:>8.0f} {ratio:>8.2f}")
    estimated = sum(o.estimate.seconds for o in ran)
    real = sum(o.elapsed_s for o in ran)
    lines.append(f"  {'total (' + str(len(ran)) + ' runs)':<60} {estimated:>11.0f} "
                 f"{real:>8.0f} {real / estimated if estimated else float('nan'):>8.2f}")
    return "\n".join(lines)


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
    estimate: Estimate | None = None
    resumed: bool = False  # done or failed in an earlier invocation: not run now


@dataclass(frozen=True)
class SweepPolicy:
    """How a sweep runs its cells (not what each measures: that is the RunConfig)."""

    retry_failed: bool = False
    cell_timeout_s: float | None = None
    cooldown_s: float | None = None  # None: the matrix's
    wait_quiet_s: float = 0.0  # before each cell, wait up to this for a quiet machine
    # repeat performance cells until their 95% CI of the median is within this % of it
    target_ci_pct: float | None = None
    budget_s: float | None = None  # ... while the sweep's runs have taken less than this


def run_sweep(matrix: Matrix, planned: list[PlannedRun], results_dir: Path,
              policy: SweepPolicy) -> list[Outcome]:
    manifest = Manifest.open(results_dir, matrix)
    clean_staging(results_dir)
    _adopt_finished(manifest, results_dir)
    todo = []
    outcomes: list[Outcome] = []
    for run in planned:
        state = manifest.runs.get(run.key, {})
        if state.get("state") == "done" and (Path(state["run_dir"]) / RESULT_FILE).exists():
            outcomes.append(_done_outcome(run, state))
        elif state.get("state") == "failed" and not policy.retry_failed:
            outcomes.append(Outcome(run, None, None, f"failed earlier (not retried without "
                                    f"--retry-failed): {state.get('error')}", 0.0,
                                    resumed=True))
        else:
            todo.append(run)
    skipped = len(planned) - len(todo)
    planned_keys = {run.key for run in planned}
    aside = sum(1 for key, state in manifest.runs.items()
                if key not in planned_keys and state.get("state") == "done"
                and configuration_key(key) not in {configuration_key(k) for k in planned_keys})
    if aside:
        say(f"{aside} done runs in {results_dir} are not in this selection: left aside, "
            "their results kept")
    if skipped:
        say(f"resuming {matrix.name}: {skipped} of {len(planned)} runs already in "
            f"{results_dir} ({sum(o.error is not None for o in outcomes)} failed earlier)")
    runner = _Runner(manifest, policy, matrix.cooldown_s if policy.cooldown_s is None
                     else policy.cooldown_s)
    try:
        outcomes += runner.run(todo, total=len(planned), done=skipped)
        if policy.target_ci_pct is not None:
            outcomes += _tighten(planned, manifest, policy, runner)
    except KeyboardInterrupt:
        say("edgebench: sweep interrupted; resume it with: "
            + shlex.join(["edgebench", *sys.argv[1:]]))
        raise
    order = {run.key: i for i, run in enumerate(planned)}
    return sorted(outcomes, key=lambda o: (order.get(o.run.key, len(order)),
                                           o.run.repeat_index))


class _Runner:
    """Runs planned runs one after another with progress, pauses and estimates."""

    def __init__(self, manifest: Manifest, policy: SweepPolicy, pause_s: float) -> None:
        self.manifest, self.policy, self.pause_s = manifest, policy, pause_s
        self.start_c = soc_temperature_c()
        self.ran = 0

    def run(self, todo: list[PlannedRun], total: int, done: int,
            budget_s: float | None = None) -> list[Outcome]:
        """Each run of `todo`; with `budget_s`, none is started whose estimate would take
        the sweep's runs past it."""
        estimates = estimate_runs(todo, self.manifest)
        outcomes: list[Outcome] = []
        bar = tqdm(total=total, initial=done, unit="run", file=console(),
                   dynamic_ncols=True) if console().isatty() else None
        times: list[float] = []
        try:
            for number, run in enumerate(todo, start=done + 1):
                if budget_s is not None and \
                        self.manifest.spent_s() + estimates[run.key].seconds > budget_s:
                    say(f"--budget: {budget_s / 60:g} min spent (runs so far "
                        f"{self.manifest.spent_s() / 60:.1f} min): stopping repeats")
                    break
                if self.ran:
                    cool_down(self.pause_s, self.start_c)
                waited = wait_quiet(self.policy.wait_quiet_s)
                eta = sum(estimates[r.key].seconds for r in todo[len(times):])
                if times:  # scaled by how the estimate has fared so far
                    eta *= sum(times) / sum(estimates[r.key].seconds
                                            for r in todo[:len(times)])
                if bar is not None:
                    bar.set_postfix_str(run.label)
                else:
                    say(f"[{number}/{total}] {run.label}  (ETA {eta / 60:.0f} min)")
                outcome = _run_one(run, self.manifest, self.policy.cell_timeout_s,
                                   estimates[run.key], waited)
                self.ran += 1
                outcomes.append(outcome)
                times.append(outcome.elapsed_s)
                if bar is not None:
                    bar.update()
                else:
                    say(f"  -> {outcome.run_dir or outcome.error} ({outcome.elapsed_s:.0f} s)")
        finally:
            if bar is not None:
                bar.close()
        return outcomes


def _tighten(planned: list[PlannedRun], manifest: Manifest, policy: SweepPolicy,
             runner: _Runner) -> list[Outcome]:
    """--target-ci: rounds of one more repeat of each performance cell still too wide."""
    target = policy.target_ci_pct
    firsts = {configuration_key(run.key): run for run in planned
              if run.cell.mode == "performance"}
    outcomes: list[Outcome] = []
    while True:
        spreads = {key: spread(run.cell.label, manifest.states_of(key))
                   for key, run in firsts.items()}
        wide = [key for key, cell in spreads.items() if cell.needs_more(target)]
        if not wide:
            break
        if policy.budget_s is not None and manifest.spent_s() >= policy.budget_s:
            say(f"--budget: {policy.budget_s / 60:g} min spent: {len(wide)} cells still wider "
                f"than {target:g}%")
            break
        say(f"--target-ci {target:g}: {len(wide)} of {len(firsts)} performance cells still "
            "wider; one more repeat of each, interleaved")
        extra = []
        for key in wide:
            index = manifest.next_repeat_index(key)
            run = firsts[key]
            extra.append(PlannedRun(run.cell, index, index + 1, run.config, target))
        ran = runner.run(extra, total=len(extra), done=0, budget_s=policy.budget_s)
        outcomes += ran
        if len(ran) < len(extra):  # the budget stopped the round
            break
    for key, run in firsts.items():
        say("  " + spread(run.cell.label, manifest.states_of(key)).describe(target))
    return outcomes


def _done_outcome(run: PlannedRun, state: dict) -> Outcome:
    run_dir = Path(state["run_dir"])
    try:
        record = ResultRecord.read(run_dir / RESULT_FILE)[0]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return Outcome(run, None, run_dir, f"unreadable earlier result: {exc}", 0.0,
                   resumed=True)
    return Outcome(run, record, run_dir, None, float(state.get("elapsed_s") or 0),
                   resumed=True)


def _run_one(run: PlannedRun, manifest: Manifest, cell_timeout_s: float | None,
             estimate: Estimate, waited_s: float) -> Outcome:
    tag = run.tag(manifest.sweep_id)
    config = run.config.with_(sweep_tag=tag)
    manifest.set(run, state="running", tag=tag, pid=None,
                 estimated_s=round(estimate.seconds, 1), estimate_basis=estimate.basis,
                 waited_quiet_s=round(waited_s, 1))
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
        return Outcome(run, None, folder, str(exc), exc.elapsed_s, estimate)
    except EdgebenchError as exc:  # the child's own one-line error
        elapsed = time.monotonic() - started
        folder = _write_failure(Path(config.results_dir), run, {
            "reason": str(exc), "exit_code": 2, "signal": None, "timed_out": False,
            "elapsed_s": round(elapsed, 1)})
        manifest.set(run, state="failed", error=str(exc), run_dir=str(folder), pid=None,
                     elapsed_s=round(elapsed, 1))
        say(f"edgebench: error: {exc}")
        return Outcome(run, None, folder, str(exc), elapsed, estimate)
    elapsed = time.monotonic() - started
    manifest.set(run, state="done", run_dir=str(run_dir), pid=None, elapsed_s=round(elapsed, 1))
    return Outcome(run, record, run_dir, None, elapsed, estimate)


def wait_quiet(cap_s: float) -> float:
    """Wait up to `cap_s` for the machine to settle (others' CPU share and steal under
    the noisy-machine thresholds over a second); return the seconds waited."""
    if cap_s <= 0:
        return 0.0
    started = time.monotonic()
    while time.monotonic() - started < cap_s:
        others, steal = machine_busy_share(min(1.0, cap_s))
        if is_quiet(others, steal):
            break
    waited = time.monotonic() - started
    if waited > 1.5:
        say(f"  waited {waited:.0f} s for a quiet machine"
            + ("" if waited < cap_s else " (gave up: still busy)"))
    return waited


def clean_staging(results_dir: Path, older_than_s: float = 24 * 3600) -> None:
    """Half-written run folders are hidden (reports skip them); old ones are removed."""
    import shutil

    now = time.time()
    for staging in results_dir.glob(f"{STAGING_PREFIX}*"):
        with contextlib.suppress(OSError):
            if now - staging.stat().st_mtime > older_than_s:
                shutil.rmtree(staging, ignore_errors=True)
