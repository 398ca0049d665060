"""One benchmark run in a fresh Python process, as `edgebench run` (used by `sweep`).

Each cell of a sweep starts from a clean process: no thread pools, allocator arenas or
runtime state left by the previous cell's runtime (OpenVINO's and XNNPACK's worker
threads outlive their models and can slow the next runtime), and a crash inside one
runtime costs one cell, not the sweep.

The child answers through a JSON file (its run folder, or its error), never through
its human-readable output, which is relayed to our stderr as it comes: one pipe, read
continuously, so a chatty child cannot fill a pipe and block.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import fields
from pathlib import Path

from harness.errors import EXIT_INTERRUPTED, EdgebenchError
from harness.results import RESULT_FILE, ResultRecord, write_json_atomic
from harness.runner import RunConfig

ANSWER_OPTION = "--answer-file"  # hidden option of `edgebench run`


def run_argv(config: RunConfig) -> list[str]:
    """The `edgebench run` options that reproduce `config`."""
    argv = []
    for field in fields(RunConfig):
        value = getattr(config, field.name)
        option = "--results" if field.name == "results_dir" else \
            "--" + field.name.replace("_", "-")
        if value is None or value is False:
            continue
        argv += [option] if value is True else [option, str(value)]
    return argv


def write_answer(path: Path, run_dir: Path | None = None, error: str | None = None,
                 exit_code: int = 0) -> None:
    """What the child tells its parent (called by `edgebench run --answer-file`)."""
    write_json_atomic(path, {"run_dir": None if run_dir is None else str(run_dir),
                             "error": error, "exit_code": exit_code})


def run_child(argv: list[str]) -> dict:
    """Run `argv` (a child that writes its answer to the path appended to it) with its
    output relayed to our stderr; return its answer."""
    with tempfile.TemporaryDirectory(prefix="edgebench-child-") as folder:
        answer_file = Path(folder) / "answer.json"
        child = subprocess.Popen([*argv, ANSWER_OPTION, str(answer_file)],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            for line in child.stdout:
                sys.stderr.write(line)
            code = child.wait()
        except BaseException:  # Ctrl-C reaches the child too; SIGTERM only us: pass it on
            child.terminate()
            child.wait()
            raise
        if code == EXIT_INTERRUPTED:
            raise KeyboardInterrupt
        try:
            answer = json.loads(answer_file.read_text())
            if not isinstance(answer, dict) or not (answer.get("run_dir") or answer.get("error")):
                raise ValueError(f"unexpected answer {answer!r}")
        except (OSError, ValueError) as exc:
            raise EdgebenchError(f"the run process exited with code {code} and no readable "
                                 f"answer ({type(exc).__name__}: {exc})") from None
    if answer.get("error"):
        raise EdgebenchError(answer["error"])
    return answer


def run_in_fresh_process(config: RunConfig) -> tuple[Path, ResultRecord]:
    """`run_benchmark(config)` in a child process; its progress goes to our stderr."""
    answer = run_child([sys.executable, "-m", "harness", "run", *run_argv(config)])
    run_dir = Path(answer["run_dir"])
    try:
        return run_dir, ResultRecord.read(run_dir / RESULT_FILE)[0]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EdgebenchError(f"the run process named {run_dir}, whose {RESULT_FILE} cannot "
                             f"be read ({exc})") from None
