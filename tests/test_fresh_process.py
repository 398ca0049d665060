"""`sweep` and its children talk through a JSON answer, never scraped text."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from harness.core.errors import EdgebenchError
from harness.study.fresh_process import CellFailed, run_child


def _child(body: str) -> list[str]:
    """A child process running `body`, with `answer` bound to its answer file's path."""
    return [sys.executable, "-c", f"import json, sys\nanswer = sys.argv[-1]\n{body}"]


@pytest.mark.timeout(60)
def test_a_child_printing_200_kb_does_not_block_the_parent(capfd):
    answer = run_child(_child(
        "sys.stdout.write('x' * 100_000 + '\\n'); sys.stderr.write('y' * 100_000 + '\\n')\n"
        "json.dump({'run_dir': '/some/run', 'error': None, 'exit_code': 0}, open(answer, 'w'))"))
    assert answer["run_dir"] == "/some/run"
    relayed = capfd.readouterr().err
    assert relayed.count("x") == 100_000 and relayed.count("y") == 100_000


def test_the_childs_error_comes_from_its_answer_not_its_output():
    with pytest.raises(EdgebenchError, match="^no such dataset folder$"):
        run_child(_child(
            "print('edgebench: error: something else entirely')\n"
            "json.dump({'run_dir': None, 'error': 'no such dataset folder', 'exit_code': 2},"
            " open(answer, 'w')); sys.exit(2)"))


@pytest.mark.parametrize("body", [
    "open(answer, 'w').write('{not json')",
    "json.dump(['a', 'list'], open(answer, 'w'))",
])
def test_a_malformed_or_missing_answer_is_that_cells_failure(body):
    with pytest.raises(CellFailed, match="no readable answer"):
        run_child(_child(body))


def test_a_crash_is_a_failure_with_its_signal_and_last_lines():
    with pytest.raises(CellFailed, match="killed by SIGABRT") as caught:
        run_child(_child("for i in range(80): print('line', i, flush=True)\n"
                         "import os; os.abort()"))
    record = caught.value.record()
    assert record["signal"] == "SIGABRT" and record["exit_code"] == -6
    assert record["last_50_lines"] == [f"line {i}" for i in range(30, 80)]


@pytest.mark.timeout(60)
def test_a_hang_is_killed_with_the_processes_it_started(tmp_path):
    pid_file = tmp_path / "grandchild.pid"
    body = ("import subprocess, time\n"
            "helper = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
            f"open({str(pid_file)!r}, 'w').write(str(helper.pid))\n"
            "print('hanging', flush=True); time.sleep(300)")
    started = time.monotonic()
    with pytest.raises(CellFailed, match="timed out after 3 s") as caught:
        run_child(_child(body), timeout_s=3)
    assert time.monotonic() - started < 30 and caught.value.timed_out
    assert caught.value.tail == ["hanging"]
    helper = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while _alive(helper) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(helper), "the hung child's own child survived"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")  # a zombie is dead, just not yet reaped
    return not (status.exists() and "zombie" in status.read_text())
