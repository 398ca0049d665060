"""One playbook of `playbooks/` run by Ansible (ansible-runner's Python API), read back
per host: reached or not, the first failed task with Ansible's own message, and what
the task named `edgebench: answer` said."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from harness.core.errors import UsageError
from harness.core.progress import say
from harness.core.records import write_text_atomic

PLAYBOOKS = Path(__file__).with_name("playbooks")
ANSWER_TASK = "edgebench: answer"
FLEET_EXTRA = "pip install 'edgebench[fleet]'"
# A step that takes longer has hung (a board that stopped answering mid-step): it is
# stopped and its boards that gave no answer count as failed. A fresh board's install
# builds LoadGen and fetches the runtimes' wheels.
TIMEOUT_S = {"install.yml": 3600.0}
STEP_TIMEOUT_S = 900.0


@dataclass
class HostOutcome:
    host: str
    reached: bool = True
    failed: bool = False
    message: str = ""  # Ansible's own words for the unreachable host or failed task
    answer: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.reached and not self.failed


def executable(name: str) -> str:
    """An Ansible command: beside this Python (its venv's bin), else on PATH."""
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found is None:
        raise UsageError(f"{name} is not installed: {FLEET_EXTRA} (the host needs "
                         "Ansible; the boards need only SSH and Python)")
    return found


def _message(result: dict) -> str:
    """One line of what Ansible said went wrong."""
    text = result.get("msg") or result.get("stderr") or result.get("module_stderr") or ""
    if not isinstance(text, str):
        text = str(text)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "failed without a message"


def play(playbook: str, inventory: Path, hosts: list[str], extravars: dict,
         log_dir: Path) -> dict[str, HostOutcome]:
    """Run `playbook` on `hosts`; every host gets an outcome. Ansible's output goes to
    `log_dir/<playbook>.log` (replaced each time), never to the terminal."""
    try:
        import ansible_runner
    except ImportError:
        raise UsageError(f"ansible-runner is not installed: {FLEET_EXTRA}") from None
    outcomes = {host: HostOutcome(host) for host in hosts}

    def on_event(event: dict) -> bool:
        data = event.get("event_data", {})
        outcome = outcomes.get(data.get("host"))
        if outcome is None:
            return True
        kind, result = event.get("event"), data.get("res") or {}
        if kind == "runner_on_unreachable":
            outcome.reached, outcome.message = False, _message(result)
        elif kind == "runner_on_failed" and not data.get("ignore_errors"):
            outcome.failed = True
            outcome.message = f"{data.get('task', '?')}: {_message(result)}"
        elif kind == "runner_on_ok" and data.get("task") == ANSWER_TASK:
            outcome.answer = result.get("msg") or {}
        return True

    with tempfile.TemporaryDirectory(prefix="edgebench-ansible-") as private:
        runner = ansible_runner.run(
            private_data_dir=private, playbook=str(PLAYBOOKS / playbook),
            inventory=str(inventory.resolve()), limit=",".join(hosts),
            extravars=extravars, quiet=True, event_handler=on_event,
            timeout=int(TIMEOUT_S.get(playbook, STEP_TIMEOUT_S)),
            # ansible-playbook from this venv even when it is not on PATH; no .retry files
            # beside the shipped playbooks; no colour codes in the log
            envvars={"PATH": f"{Path(executable('ansible-playbook')).parent}{os.pathsep}"
                             f"{os.environ.get('PATH', '')}",
                     "ANSIBLE_RETRY_FILES_ENABLED": "false", "ANSIBLE_NOCOLOR": "1",
                     # modules piped through the SSH session instead of copied over first:
                     # several times fewer round trips (we never `become`, which it
                     # would trouble where sudo requires a tty)
                     "ANSIBLE_PIPELINING": "true"})
        log_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(log_dir / f"{Path(playbook).stem}.log", runner.stdout.read())
    expects_answer = ANSWER_TASK in (PLAYBOOKS / playbook).read_text()
    for outcome in outcomes.values():
        if expects_answer and outcome.ok and not outcome.answer:
            outcome.failed, outcome.message = True, (
                f"Ansible gave no answer (status {runner.status}; see "
                f"{log_dir / Path(playbook).stem}.log)")
    if runner.status not in ("successful", "failed"):
        say(f"  ansible-playbook {playbook}: {runner.status} (rc {runner.rc})")
    return outcomes
