"""What a board tells the fleet of itself, as one JSON line on stdout.

`edgebench fleet` (on the host) runs this on each board over Ansible, with the board's
own edgebench: `<venv>/bin/python -m harness.study.board_state WORK_DIR`. It says which
edgebench build and runtime versions are installed (what the host prepares artifacts
for), the board's temperature and throttling, and how the fleet's sweep in WORK_DIR
stands: running, finished, or stopped without finishing (the board lost power), and its
manifest's cells by state. It only reads.
"""

from __future__ import annotations

import json
import platform
import sys
from collections import Counter
from pathlib import Path

import psutil

import harness
from backends import BACKENDS, installed_version
from harness.core.board import board_facts
from harness.core.energy import first_meter, probe_of
from harness.core.records import FAILED_FILE, RESULT_FILE
from harness.study.sweep import MANIFEST_FILE

# Written beside the venv's interpreter by the fleet's install playbook, read here.
BUILD_MARKER = ".edgebench-build"
NO_TORCH_MARKER = ".edgebench-no-torch"  # why torch is not installed on this board
# The detached sweep's files in the work folder (the start playbook writes them).
PID_FILE = "sweep.pid"
EXIT_FILE = "sweep.exit"
RESULTS = "results"


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def sweep_process_alive(pid_text: str | None) -> bool:
    """The sweep's process group leader still runs an edgebench sweep (after a reboot
    the pid may belong to another process)."""
    try:
        process = psutil.Process(int(pid_text or ""))
        return process.status() != psutil.STATUS_ZOMBIE and \
            any("edgebench" in part for part in process.cmdline())
    except (ValueError, psutil.Error):
        return False


def sweep_state(work: Path) -> dict:
    """The fleet sweep in `work`: state, exit code, cells by manifest state, and the
    run folders that are final (a result.json or failed.json: what may be fetched)."""
    pid, exit_code = _read(work / PID_FILE), _read(work / EXIT_FILE)
    if exit_code is not None:
        state = "finished"
    elif pid is None:
        state = "not started"
    else:
        state = "running" if sweep_process_alive(pid) else "stopped"
    results = work / RESULTS
    try:
        runs = json.loads((results / MANIFEST_FILE).read_text()).get("runs", {}).values()
    except (OSError, ValueError):
        runs = []
    counts = Counter(run.get("state", "pending") for run in runs)
    final = sorted(path.name for path in results.glob("*")
                   if not path.name.startswith(".") and path.is_dir()
                   and ((path / RESULT_FILE).is_file() or (path / FAILED_FILE).is_file()))
    return {"state": state, "exit_code": int(exit_code) if exit_code else None,
            "cells": dict(counts), "final_runs": final,
            "manifest": (results / MANIFEST_FILE).is_file()}


def board_state(work: Path) -> dict:
    prefix = Path(sys.prefix)
    return {"edgebench": harness.__version__, "build": _read(prefix / BUILD_MARKER),
            "no_torch": _read(prefix / NO_TORCH_MARKER),
            "arch": platform.machine(),
            "python": platform.python_version(),
            "runtimes": {name: installed_version(name) for name in BACKENDS},
            "board_facts": board_facts(), "energy": energy_state(),
            "sweep": sweep_state(work)}


def energy_state() -> dict:
    """The energy source this board's runs will read (a `--energy-command` aside), and
    what each source said."""
    source, meter, tried = first_meter(probe_of())
    if meter is not None:
        meter.close()
    return {"source": source, "tried": tried}


if __name__ == "__main__":
    print(json.dumps(board_state(Path(sys.argv[1]).expanduser())))
