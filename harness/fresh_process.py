"""One benchmark run in a fresh Python process, as `edgebench run` (used by `sweep`).

Each cell of a sweep starts from a clean process: no thread pools, allocator arenas or
runtime state left by the previous cell's runtime (OpenVINO's and XNNPACK's worker
threads outlive their models and can slow the next runtime), and a crash inside one
runtime costs one cell, not the sweep.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

from harness.errors import EXIT_INTERRUPTED, EdgebenchError
from harness.results import RESULT_FILE
from harness.runner import RunConfig
from reports.summary import RESULTS_LINE


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


def run_in_fresh_process(config: RunConfig) -> tuple[Path, dict]:
    """`run_benchmark(config)` in a child process; its progress goes to our stderr."""
    child = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", *run_argv(config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    last_line = ""
    try:
        for line in child.stderr:
            sys.stderr.write(line)
            last_line = line.strip() or last_line
        stdout = child.stdout.read()
        code = child.wait()
    except BaseException:  # Ctrl-C reaches the child too; SIGTERM only us: pass it on
        child.terminate()
        child.wait()
        raise
    if code == EXIT_INTERRUPTED:
        raise KeyboardInterrupt
    if code != 0:
        raise EdgebenchError(last_line.removeprefix("edgebench: error: "))
    (run_dir,) = [line.strip()[len(RESULTS_LINE):] for line in stdout.splitlines()
                  if line.strip().startswith(RESULTS_LINE)]
    return Path(run_dir), json.loads((Path(run_dir) / RESULT_FILE).read_text())
