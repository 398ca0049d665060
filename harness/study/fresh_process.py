"""One benchmark run in a fresh Python process, as `edgebench run` (used by `sweep`).

Each cell of a sweep starts from a clean process, in its own process group (a hung
runtime's helper processes are killed with it): no thread pools, allocator arenas or
runtime state left by the previous cell's runtime (OpenVINO's and XNNPACK's worker
threads outlive their models and can slow the next runtime), and a crash inside one
runtime costs one cell, not the sweep.

The child answers through a JSON file (its run folder, or its error), never through
its human-readable output, which is relayed to our stderr as it comes: one pipe, read
continuously, so a chatty child cannot fill a pipe and block.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from harness.core.errors import EXIT_INTERRUPTED, EdgebenchError
from harness.core.records import RESULT_FILE, TAIL_LINES, ResultRecord, write_json_atomic
from harness.measure.config import ANSWER_OPTION, RunConfig, to_argv


def write_answer(path: Path, run_dir: Path | None = None, error: str | None = None,
                 exit_code: int = 0) -> None:
    """What the child tells its parent (called by `edgebench run --answer-file`)."""
    write_json_atomic(path, {"run_dir": None if run_dir is None else str(run_dir),
                             "error": error, "exit_code": exit_code})


class CellFailed(EdgebenchError):
    """A child that crashed, hung, was killed or gave no readable answer: what a
    sweep records in that cell's failed.json."""

    def __init__(self, message: str, *, exit_code: int | None = None,
                 signal_name: str | None = None, timed_out: bool = False,
                 tail: list[str] | None = None, elapsed_s: float = 0.0):
        super().__init__(message)
        self.exit_code, self.signal_name, self.timed_out = exit_code, signal_name, timed_out
        self.tail, self.elapsed_s = tail or [], elapsed_s

    def record(self) -> dict:
        return {"reason": str(self), "exit_code": self.exit_code, "signal": self.signal_name,
                "timed_out": self.timed_out, "elapsed_s": round(self.elapsed_s, 1),
                "last_50_lines": self.tail}


def _relay(stream, tail: deque) -> None:
    for line in stream:
        sys.stderr.write(line)
        tail.append(line.rstrip("\n"))


def _kill_group(child: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    """The child and everything it started (a runtime's helper processes included)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, sig)


def run_child(argv: list[str], timeout_s: float | None = None,
              on_start: Callable[[int], None] | None = None) -> dict:
    """Run `argv` (a child that writes its answer to the path appended to it) in its own
    process group, its output relayed to our stderr; return its answer.

    Raises CellFailed for a crash, a signal, a hang past `timeout_s` (the whole process
    group is killed) or a missing answer, and the child's own EdgebenchError message
    as an EdgebenchError. `on_start(pid)` learns the child's pid (= its group id).
    """
    with tempfile.TemporaryDirectory(prefix="edgebench-child-") as folder:
        answer_file = Path(folder) / "answer.json"
        started = time.monotonic()
        child = subprocess.Popen([*argv, ANSWER_OPTION, str(answer_file)],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                 errors="replace", start_new_session=True)
        if on_start is not None:
            on_start(child.pid)
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        relay = threading.Thread(target=_relay, args=(child.stdout, tail), daemon=True)
        relay.start()
        timed_out = False
        try:
            code = child.wait(timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(child)
            code = child.wait()
        except BaseException:  # Ctrl-C or SIGTERM: its own session does not get them
            _kill_group(child, signal.SIGTERM)
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                _kill_group(child)
                child.wait()
            raise
        finally:
            relay.join(5)
        _kill_group(child)  # helpers the child left behind
        elapsed = time.monotonic() - started
        if code == EXIT_INTERRUPTED:
            raise KeyboardInterrupt
        failure = dict(exit_code=code, tail=list(tail), elapsed_s=elapsed)
        if timed_out:
            raise CellFailed(f"timed out after {timeout_s:.0f} s (the cell's process group "
                             "was killed); raise --cell-timeout if it needs longer",
                             timed_out=True, signal_name="SIGKILL", **failure)
        if code < 0:
            name = signal.Signals(-code).name
            hint = " (out of memory? the kernel's OOM killer sends it)" \
                if name == "SIGKILL" else ""
            raise CellFailed(f"the run process was killed by {name}{hint}",
                             signal_name=name, **failure)
        try:
            answer = json.loads(answer_file.read_text())
            if not isinstance(answer, dict) or not (answer.get("run_dir") or answer.get("error")):
                raise ValueError(f"unexpected answer {answer!r}")
        except (OSError, ValueError) as exc:
            raise CellFailed(f"the run process exited with code {code} and no readable "
                             f"answer ({type(exc).__name__}: {exc})", **failure) from None
    if answer.get("error"):
        raise EdgebenchError(answer["error"])
    return answer


def run_in_fresh_process(config: RunConfig, timeout_s: float | None = None,
                         on_start: Callable[[int], None] | None = None,
                         ) -> tuple[Path, ResultRecord]:
    """`run_benchmark(config)` in a child process; its progress goes to our stderr."""
    answer = run_child([sys.executable, "-m", "harness", "run", *to_argv(config)],
                       timeout_s, on_start)
    run_dir = Path(answer["run_dir"])
    try:
        return run_dir, ResultRecord.read(run_dir / RESULT_FILE)[0]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EdgebenchError(f"the run process named {run_dir}, whose {RESULT_FILE} cannot "
                             f"be read ({exc})") from None
