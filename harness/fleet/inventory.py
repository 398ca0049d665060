"""The boards of an Ansible inventory, read by Ansible itself (`ansible-inventory
--list`) and checked before anything runs on any of them: a name `--limit` gives that is
no group or host, a group without hosts, a key file that is not there, two boards with
one device name: each is one line and exit code 2."""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.core.errors import UsageError
from harness.fleet.ansible import executable

KEY_VARS = ("ansible_ssh_private_key_file", "ansible_private_key_file")
DEFAULT_KEYS = ("id_ed25519", "id_ecdsa", "id_rsa", "id_ed25519_sk", "id_ecdsa_sk")
# device names become folder names under --results
DEVICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ ()-]*$")


@dataclass(frozen=True)
class Board:
    host: str  # the inventory's name
    device: str  # `device_name` in the inventory, else the host's name
    variables: dict

    @property
    def local(self) -> bool:
        return self.variables.get("ansible_connection") == "local"


def _read(path: Path) -> dict:
    if not path.is_file():
        raise UsageError(f"inventory {path} does not exist: pass an Ansible inventory "
                         "file (README, 'A fleet of boards', has an example)")
    done = subprocess.run([executable("ansible-inventory"), "-i", str(path), "--list"],
                          capture_output=True, text=True, timeout=120)
    warnings = [line.removeprefix("[WARNING]:").strip() for line in done.stderr.splitlines()
                if line.strip()]
    try:
        listed = json.loads(done.stdout)
    except ValueError:
        listed = None
    if done.returncode != 0 or not isinstance(listed, dict):
        raise UsageError(f"inventory {path}: Ansible could not read it: "
                         f"{warnings[-1] if warnings else done.returncode}")
    if not listed.get("_meta", {}).get("hostvars"):
        said = f" (Ansible: {warnings[0]})" if warnings else ""
        raise UsageError(f"inventory {path} names no host{said}: list each board under a "
                         "group, e.g. '[boards]' then 'pi5 ansible_host=192.168.1.20'")
    return listed


def _hosts_of(listed: dict, group: str, seen: set[str] | None = None) -> list[str]:
    seen = seen if seen is not None else set()
    if group in seen:
        return []
    seen.add(group)
    entry = listed.get(group, {})
    hosts = list(entry.get("hosts", []))
    for child in entry.get("children", []):
        hosts += _hosts_of(listed, child, seen)
    return hosts


def _key_problem(board: Board) -> str | None:
    if board.local:
        return None
    for var in KEY_VARS:
        if board.variables.get(var):
            key = Path(os.path.expanduser(str(board.variables[var])))
            return None if key.is_file() else f"its {var} {key} does not exist"
    if os.environ.get("SSH_AUTH_SOCK"):
        return None  # the agent holds the keys
    if any((Path.home() / ".ssh" / name).is_file() for name in DEFAULT_KEYS):
        return None
    return ("it has no SSH key: no ansible_ssh_private_key_file, no ssh-agent, no key in "
            f"{Path.home() / '.ssh'}")


def load_boards(path: Path, limit: list[str] | None = None) -> list[Board]:
    """The boards `limit` (group or host names; default every host) picks from the
    inventory at `path`, in the inventory's order."""
    listed = _read(path)
    hostvars = listed["_meta"]["hostvars"]
    groups = [name for name in listed if name != "_meta"]
    chosen: list[str] = []
    for name in limit or ["all"]:
        if name in hostvars:
            picked = [name]
        elif name in groups:
            picked = _hosts_of(listed, name)
            if not picked:
                raise UsageError(f"group {name!r} of inventory {path} has no hosts: add "
                                 "the boards under it, or pass another --limit")
        else:
            raise UsageError(f"inventory {path} has no group or host {name!r} (groups: "
                             f"{', '.join(g for g in groups if g != 'ungrouped')}; hosts: "
                             f"{', '.join(hostvars)})")
        chosen += [host for host in picked if host not in chosen]
    boards = [Board(host, str(hostvars[host].get("device_name", host)), hostvars[host])
              for host in chosen]
    devices: dict[str, str] = {}
    for board in boards:
        if not DEVICE_NAME.match(board.device):
            raise UsageError(f"board {board.host}: device_name {board.device!r} cannot be a "
                             "folder name: use letters, digits, spaces and . _ ( ) -")
        if board.device in devices:
            raise UsageError(f"boards {devices[board.device]} and {board.host} share the "
                             f"device_name {board.device!r}: their results would mix; give "
                             "each its own")
        devices[board.device] = board.host
        if problem := _key_problem(board):
            raise UsageError(f"board {board.host} in {path}: {problem}; set "
                             "ansible_ssh_private_key_file or load the key into ssh-agent")
    return boards
