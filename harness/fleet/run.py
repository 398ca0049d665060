"""`edgebench fleet run` and `status`: one matrix on every board of an inventory.

Each step is one playbook of `playbooks/`, run on the boards still in the game:
probe (what each board is, and how its sweep stands), install (this checkout's wheel,
where the board lacks this build), prepare (on the host, once per distinct target:
architecture and runtime versions), push (matrix and artifacts), start (each board's
sweep, detached), then collect (fetch what finished, land it in `<results>/<device>/`)
until every board is done or lost. A board that cannot be reached, or fails a step,
drops out with Ansible's own words and the others go on. `fleet.json` says where each
board stands after every step; running `fleet run` again resumes from there: finished
boards only fetch, stopped sweeps continue their manifests, unreachable boards are tried
again.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from backends import BACKENDS, installed_version
from harness.core.digests import fields_digest
from harness.core.energy import unsupported_reason
from harness.core.errors import EXIT_INTERRUPTED, UsageError
from harness.core.fleet_record import FLEET_FILE, BoardStatus, FleetStatus
from harness.core.progress import say
from harness.core.records import RESULT_FILE, utc_now, write_json_atomic
from harness.fleet.ansible import HostOutcome, play
from harness.fleet.inventory import Board, load_boards
from harness.fleet.landing import land
from harness.fleet.wheel import (
    BOARD_EXTRAS,
    build_wheel,
    runtime_only_requirements,
    torch_cpu_index,
    torch_pin,
)
from harness.measure.config import argv_of
from harness.study.board_state import (
    BUILD_MARKER,
    EXIT_FILE,
    NO_TORCH_MARKER,
    PID_FILE,
    RESULTS,
)
from harness.study.matrix import Matrix, Selection, load_matrix
from harness.study.prepare import prepare
from harness.study.sweep import MANIFEST_FILE, plan

HIDDEN = ".fleet"  # the fleet's own files under --results (reports skip dot-folders)


@dataclass(frozen=True)
class Folders:
    """The fleet's folders on the host, under --results."""

    results: Path

    @property
    def private(self) -> Path:
        return self.results / HIDDEN

    def device(self, board: Board) -> Path:
        return self.results / board.device

    def runs_home(self, board: Board) -> set[str]:
        """The run folders of `board` already landed in its device folder."""
        return {p.name for p in self.device(board).glob("*") if p.is_dir()}

    @property
    def status_file(self) -> Path:
        return self.results / FLEET_FILE

    @property
    def report(self) -> Path:
        return self.results / "report"


def read_status(path: Path) -> FleetStatus | None:
    """fleet.json as the last step left it; None if there is none (or it is unreadable:
    it is rewritten after the next step)."""
    try:
        return FleetStatus.read(path) if path.is_file() else None
    except (OSError, ValueError):
        return None


def fleet_id_of(matrix: Matrix, overrides: dict) -> str:
    """Names the fleet's work folder on each board: the same matrix and options resume
    there."""
    return fields_digest({"matrix": matrix.name, "text": matrix.path.read_text(),
                          "overrides": overrides})[:12]


class Fleet:
    """The boards of one `fleet run` or `status`, and what is known of each."""

    def __init__(self, inventory: Path, matrix_name: str, results: Path,
                 limit: list[str] | None = None, overrides: dict | None = None):
        self.inventory = inventory
        self.boards = load_boards(inventory, limit)  # a bad inventory: exit 2, nothing ran
        self.matrix = load_matrix(matrix_name)
        if self.matrix.path is None:
            raise UsageError(f"matrix {matrix_name!r} has no file to send to the boards")
        # the sweep's options over the matrix's, for the host's prepare and each sweep
        self.overrides = {k: str(v) if isinstance(v, Path) else v
                          for k, v in (overrides or {}).items()}
        self._plans: dict[tuple, list] = {}
        self.planned = self._planned_for([])
        self.folders = Folders(results)
        self.id = fleet_id_of(self.matrix, self.overrides)
        self.status = self._previous_status()
        self.states: dict[str, dict] = {}  # host -> what board_state said last
        self.excluded: dict[str, list[str]] = {}  # host -> sweep --exclude values

    @classmethod
    def last_run(cls, inventory: Path, results: Path, limit: list[str] | None) -> Fleet:
        """The fleet of the last `fleet run` into `results` (its matrix and options)."""
        earlier = read_status(Folders(results).status_file)
        if earlier is None:
            raise UsageError(f"no readable {FLEET_FILE} in {results}: pass --matrix, or the "
                             "--results DIR of an earlier 'edgebench fleet run'")
        return cls(inventory, earlier.matrix, results, limit, earlier.overrides)

    # ---- status ----

    def _previous_status(self) -> dict[str, BoardStatus]:
        earlier = read_status(self.folders.status_file)
        known = {b.host: b for b in earlier.boards} \
            if earlier is not None and earlier.fleet_id == self.id else {}
        now = utc_now().isoformat(timespec="seconds")
        return {b.host: known.get(b.host) or BoardStatus(
            host=b.host, device=b.device, reached=False, state="not started", checked_at=now)
            for b in self.boards}

    def save(self) -> None:
        self.folders.results.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.folders.status_file, FleetStatus(
            matrix=str(self.matrix.path), overrides=self.overrides, fleet_id=self.id,
            inventory=str(self.inventory.resolve()),
            updated_at=utc_now().isoformat(timespec="seconds"),
            boards=list(self.status.values())).to_json())

    def _mark(self, board: Board, **facts) -> None:
        status = self.status[board.host]
        before = (status.state, status.message)
        for key, value in facts.items():
            setattr(status, key, value)
        status.checked_at = utc_now().isoformat(timespec="seconds")
        if (status.state, status.message) != before:
            said = f": {status.message}" if status.message and status.state != "running" else ""
            say(f"  {board.device}: {status.state}{said}")

    def _heard(self, board: Board, outcome: HostOutcome) -> bool:
        """Record a playbook's outcome on `board`; True if the board is still in the game."""
        if not outcome.reached:
            lost = self.status[board.host].reached and \
                self.status[board.host].state in ("running", "stopped")
            self._mark(board, reached=False, message=outcome.message,
                       state="lost" if lost else "unreachable")
            return False
        if outcome.failed:
            self._mark(board, reached=True, state="failed", message=outcome.message)
            return False
        self._mark(board, reached=True, arch=outcome.answer.get("arch", self.status[
            board.host].arch))
        text = outcome.answer.get("state") or ""
        if text:  # Ansible may have read the JSON line into a mapping already
            state = text if isinstance(text, dict) else json.loads(text)
            self.states[board.host] = state
            self._count(board, state)
        return True

    def _count(self, board: Board, state: dict) -> None:
        cells = state["sweep"]["cells"]
        done, failed = cells.get("done", 0), cells.get("failed", 0)
        total = len(self._planned_for(self.excluded.get(board.host, [])))
        facts = state.get("board_facts") or {}
        energy = state.get("energy") or {}
        self._mark(board, energy_source=energy.get("source"),
                   energy_unavailable=None if energy.get("source") or "tried" not in energy
                   else unsupported_reason(energy["tried"]),
                   cells_done=done, cells_failed=failed,
                   cells_left=max(total - done - failed, 0),
                   soc_temperature_c=facts.get("soc_temperature_c"),
                   throttled_now=(facts.get("throttling") or {}).get("now", []),
                   runs_home=len(self.folders.runs_home(board)))
        sweep = state["sweep"]["state"]
        if sweep == "not started" and self.status[board.host].state in (
                "installing", "unreachable", "lost", "failed"):
            self._mark(board, state="not started", message="")
        elif sweep in ("running", "stopped", "finished"):
            code = state["sweep"]["exit_code"]
            message = f"its sweep exited with code {code}" if sweep == "finished" and code \
                else ""
            self._mark(board, state=sweep, message=message)

    def sweep_state(self, board: Board) -> str:
        """As the board last said: not started, running, stopped or finished."""
        return ((self.states.get(board.host) or {}).get("sweep") or {}).get(
            "state", "not started")

    def _planned_for(self, exclude: list[str]):
        """The runs of a board's sweep, the cells left out there excluded."""
        key = tuple(exclude)
        if key not in self._plans:
            self._plans[key] = plan(self.matrix, self.overrides,
                                    Selection.parse([], list(exclude), self.matrix), None)
        return self._plans[key]

    # ---- steps ----

    def _play(self, playbook: str, boards: list[Board], **extravars) -> list[Board]:
        """Run a step on `boards`; the boards that came through it."""
        if not boards:
            return []
        outcomes = play(playbook, self.inventory, [b.host for b in boards],
                        {"fleet_id": self.id, "results": RESULTS, **extravars},
                        self.folders.private / "logs")
        kept = [b for b in boards if self._heard(b, outcomes[b.host])]
        self.save()
        return kept

    def probe(self, boards: list[Board]) -> list[Board]:
        if not boards:
            return []
        say(f"probing {len(boards)} board(s) over SSH ...")
        return self._play("probe.yml", boards)

    def install(self, boards: list[Board]) -> list[Board]:
        """This checkout's build onto the boards that lack it; those that have it now."""
        wheel, build = build_wheel(self.folders.private / "wheel")
        stale = [b for b in boards if (self.states.get(b.host) or {}).get("build") != build]
        if not stale:
            return boards
        say(f"installing edgebench (build {build}) on {', '.join(b.device for b in stale)} "
            "(the boards' pip fetches what is missing; minutes on a fresh board) ...")
        for board in stale:
            self._mark(board, state="installing", message="")
        installed = self._play(
            "install.yml", stale, wheel=str(wheel), build_id=build, extras=BOARD_EXTRAS,
            torch_pin=torch_pin(), torch_cpu_index=torch_cpu_index(),
            runtime_only_requirements=runtime_only_requirements(),
            build_marker=BUILD_MARKER, no_torch_marker=NO_TORCH_MARKER)
        again = self.probe(installed)
        return [b for b in boards if b not in stale] + again

    def prepare(self, boards: list[Board]) -> dict[str, str]:
        """Artifacts for every board, prepared once per distinct target; host -> folder."""
        host_runtimes = {name: installed_version(name) for name in BACKENDS}
        by_target: dict[str, list[Board]] = {}
        for board in boards:
            state = self.states[board.host]
            self.excluded[board.host] = self._left_out(board, state)
            target = fields_digest({"arch": state["arch"], "runtimes": state["runtimes"],
                                    "exclude": self.excluded[board.host]})[:12]
            by_target.setdefault(target, []).append(board)
        prepared = {}
        for target, members in by_target.items():
            state = self.states[members[0].host]
            differ = {name: (version, host_runtimes.get(name))
                      for name, version in state["runtimes"].items()
                      if version and host_runtimes.get(name)
                      and version.split("+")[0] != host_runtimes[name].split("+")[0]}
            names = ", ".join(b.device for b in members)
            if differ:
                for board in members:
                    self._mark(board, state="failed", message="runtime versions differ from "
                               "the host's, so artifacts prepared here would be refused there: "
                               + ", ".join(f"{n} {b} there, {h} here"
                                           for n, (b, h) in differ.items()))
                continue
            folder = self.folders.private / "prepared" / target
            say(f"preparing artifacts for {names} ({state['arch']}) in {folder} ...")
            prepare(self._planned_for(self.excluded[members[0].host]), folder)
            prepared.update({b.host: str(folder) for b in members})
        self.save()
        return prepared

    def _left_out(self, board: Board, state: dict) -> list[str]:
        """`--exclude` values for the matrix's backends whose runtime the board lacks
        (its extras, or torch out of reach); its cells are listed with the reason."""
        missing = sorted({run.cell.backend for run in self.planned
                          if not state["runtimes"].get(run.cell.backend)})
        reasons = {}
        for name in missing:
            why = f"{name} is not installed on this board"
            if state.get("no_torch") and "torch" in BACKENDS.get(name).distributions:
                why += f": {state['no_torch']}"
            reasons[name] = why
        self._mark(board, unsupported=sorted(
            f"{run.cell.model} {run.cell.backend} {run.cell.precision} {run.cell.scenario}: "
            f"{reasons[run.cell.backend]}" for run in self.planned
            if run.cell.backend in reasons and run.repeat_index == 0))
        return [f"backend={','.join(missing)}"] if missing else []

    def push(self, boards: list[Board], prepared: dict[str, str]) -> list[Board]:
        if not boards:
            return []
        say(f"copying the matrix and artifacts to {', '.join(b.device for b in boards)} "
            "(files already there are skipped by checksum) ...")
        return self._play("push.yml", boards, matrix=str(self.matrix.path), prepared=prepared)

    def start(self, boards: list[Board]) -> list[Board]:
        if not boards:
            return []
        say(f"starting the sweep on {', '.join(b.device for b in boards)} ...")
        args = {b.host: argv_of(self.overrides) + [
            arg for value in self.excluded.get(b.host, []) for arg in ("--exclude", value)]
            for b in boards}
        started = self._play("start.yml", boards, sweep_args=args, pid_file=PID_FILE,
                             exit_file=EXIT_FILE)
        for board in started:
            self._mark(board, state="running", message="")
        return started

    def collect(self, boards: list[Board]) -> list[Board]:
        """Fetch what finished on `boards` and land it; the boards that answered."""
        inbox = self.folders.private / "inbox"
        landed = {b.host: sorted(self.folders.runs_home(b)) for b in boards}
        for board in boards:
            (inbox / f"{board.host}.tgz").unlink(missing_ok=True)
        answered = self._play("collect.yml", boards, landed=landed, inbox=str(inbox),
                              manifest_file=MANIFEST_FILE)
        for board in answered:
            archive = inbox / f"{board.host}.tgz"
            if archive.is_file():
                result = land(archive, self.folders.device(board),
                              self.folders.private / "aside" / board.host, board.device,
                              MANIFEST_FILE)
                for warning in result.warnings:
                    say(f"  WARNING: {warning}")
                if result.new:
                    say(f"  {board.device}: {len(result.new)} run(s) brought home")
            self._count(board, self.states[board.host])
        self.save()
        return answered


def _finished(fleet: Fleet, board: Board) -> bool:
    """Its sweep has ended and everything it made is home."""
    final = ((fleet.states.get(board.host) or {}).get("sweep") or {}).get("final_runs", [])
    return fleet.sweep_state(board) == "finished" and set(final) <= fleet.folders.runs_home(board)


def fleet_run(fleet: Fleet, poll_s: float, lost_wait_s: float) -> int:
    """The whole run; 0 when every board finished every cell, else 1."""
    boards = fleet.probe(fleet.boards)
    # a running sweep keeps its build and artifacts, a finished one only fetches
    to_start = [b for b in boards if fleet.sweep_state(b) in ("not started", "stopped")]
    to_start = fleet.install(to_start)
    prepared = fleet.prepare(to_start) if to_start else {}
    started = fleet.start(fleet.push([b for b in to_start if b.host in prepared], prepared))
    active = [b for b in boards
              if b in started or fleet.sweep_state(b) in ("running", "finished")]
    say(f"waiting for {len(active)} sweep(s); results land in {fleet.folders.results}/"
        "<device>/ as they finish (Ctrl-C stops the waiting, not the boards' sweeps)")
    try:
        _wait(fleet, active, poll_s, lost_wait_s)
    except KeyboardInterrupt:
        fleet.save()
        say("stopped waiting; the boards' sweeps go on: 'edgebench fleet run' again "
            "fetches their results and reports")
        return EXIT_INTERRUPTED
    return _summary(fleet)


def _wait(fleet: Fleet, active: list[Board], poll_s: float, lost_wait_s: float) -> None:
    """Collect from the active boards until each is finished, or lost for longer than
    `lost_wait_s` once no reachable board is left to wait for."""
    lost_since: dict[str, float] = {}
    while active:
        answered = fleet.collect(active)
        now = time.monotonic()
        for board in active:
            if board in answered:
                lost_since.pop(board.host, None)
            else:
                lost_since.setdefault(board.host, now)
        reachable_left = [b for b in answered if not _finished(fleet, b)]
        active = [b for b in active
                  if b in reachable_left or (b.host in lost_since and (
                      reachable_left or now - lost_since[b.host] < lost_wait_s))]
        # a sweep that died with its board (power) and is back: it resumes its manifest
        fleet.start([b for b in answered if fleet.sweep_state(b) == "stopped"])
        if active:
            time.sleep(poll_s)
    fleet.save()


def _summary(fleet: Fleet) -> int:
    from reports.report import write_report

    if any(fleet.folders.results.glob(f"*/*/{RESULT_FILE}")):
        report = write_report([fleet.folders.results], fleet.folders.report)
        say(f"report: {report.html.resolve()}")
    else:
        say("no results home yet: no report written")
    complete = True
    for status in fleet.status.values():
        if status.state != "finished" or status.cells_failed or status.cells_left:
            complete = False
            say(f"  {status.device}: {status.state}"
                + (f" ({status.message})" if status.message else "")
                + f"; {status.cells_done} done, {status.cells_failed} failed, "
                f"{status.left} left")
    if not complete:
        say("run 'edgebench fleet run' again to resume: finished boards only fetch, "
            "stopped sweeps continue, unreachable boards are tried again")
    return 0 if complete else 1


def fleet_status(fleet: Fleet) -> str:
    """One line per board, asked now (read-only on the boards), then what each said."""
    fleet.probe(fleet.boards)
    rows = [("board", "device", "reached", "sweep", "done", "failed", "left", "home",
             "temp C", "throttled", "energy")]
    said = []
    for board in fleet.boards:
        status = fleet.status[board.host]
        rows.append((board.host, status.device, "yes" if status.reached else "no",
                     status.state, str(status.cells_done), str(status.cells_failed),
                     status.left, str(status.runs_home),
                     "-" if status.soc_temperature_c is None
                     else f"{status.soc_temperature_c:.1f}",
                     ", ".join(status.throttled_now) or "no", status.energy))
        said += [f"{board.host}: {status.message}"] if status.message else []
        said += [f"{board.host}: energy: {status.energy_unavailable}"] \
            if status.energy_unavailable else []
        said += [f"{board.host}: not run: {cell}" for cell in status.unsupported]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
                     .rstrip() for row in rows) + "".join(f"\n{line}" for line in said)
