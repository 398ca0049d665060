"""Stand-in boards for the fleet tests: each an OpenSSH server of its own on 127.0.0.1
(Debian's openssh-server), on a free port, with its own host key, its own edgebench home
and venv, and one client key made for the test. All log in as this machine's user; what
sets a board apart is its port, its server process and its home."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from harness.study.board_state import PID_FILE

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def sshd_missing_reason() -> str | None:
    if not Path(SSHD).is_file():
        return "no sshd here (Debian's openssh-server; .ci/run installs it)"
    if shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        return "no ssh client (Debian's openssh-client)"
    if os.geteuid() != 0:
        return "the stand-in boards' sshd needs root (its privilege separation)"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _host_deps(target: Path) -> None:
    """A folder of links to this venv's installed packages, edgebench's own left out:
    a board's venv sees them through a .pth file, standing in for what its pip would
    fetch from the package index (gigabytes), so that installing the wheel adds only
    edgebench itself."""
    target.mkdir(parents=True, exist_ok=True)
    site = Path(sysconfig.get_paths()["purelib"])
    for entry in site.iterdir():
        lowered = entry.name.lower()
        if lowered.startswith(("edgebench", "__editable__")) or entry.suffix == ".pth":
            continue
        link = target / entry.name
        if not link.exists():
            link.symlink_to(entry)


@dataclass
class Board:
    name: str
    home: Path
    port: int
    config: Path
    process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen([SSHD, "-D", "-f", str(self.config),
                                         "-E", str(self.home.parent / f"{self.name}-sshd.log")])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"sshd for {self.name} did not listen on {self.port}")

    def stop(self) -> None:
        """The board drops off the network: its SSH server goes away, with the sessions
        it serves (Ansible's persistent connections among them)."""
        if self.process is not None:
            _kill_tree(self.process.pid)
            self.process.wait(10)
            self.process = None

    def power_loss(self) -> None:
        """Its SSH server and everything edgebench runs there die at once."""
        self.stop()
        for pid_file in self.home.rglob(PID_FILE):
            with contextlib.suppress(ValueError):
                _kill_tree(int(pid_file.read_text().split()[0]))


def _kill_tree(pid: int) -> None:
    """SIGKILL a process and every process under it (a sweep's cells run in sessions of
    their own, out of reach of its process group)."""
    try:
        root = psutil.Process(pid)
        tree = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        return
    for process in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(signal.SIGKILL)
    psutil.wait_procs(tree, timeout=10)


class Boards:
    """Start stand-in boards under `root`; write an inventory for them."""

    def __init__(self, root: Path, names: list[str]):
        self.root = root
        keys = root / "keys"
        keys.mkdir(parents=True)
        self.key = keys / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.key)],
                       check=True)
        (keys / "authorized_keys").write_text(self.key.with_suffix(".pub").read_text())
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
        deps = root / "host-deps"
        _host_deps(deps)
        self.boards: dict[str, Board] = {}
        for name in names:
            home = root / name
            home.mkdir()
            host_key = root / f"{name}-host-key"
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                            str(host_key)], check=True)
            port = free_port()
            config = root / f"{name}-sshd_config"
            config.write_text(
                f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\n"
                f"PidFile {root / name}-sshd.pid\nAuthorizedKeysFile {keys}/authorized_keys\n"
                "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                "PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n"
                "Subsystem sftp internal-sftp\n"
                # its own HOME: the session's shell reads no start-up file of this
                # machine's user (root's pyenv rehash takes a lock that a board killed
                # mid-session leaves behind, and every later session waits on it)
                f"SetEnv HOME={home}\n")
            # the board's Python venv, its packages those of this machine (see _host_deps)
            venv = home / "venv"
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            site = next((venv / "lib").glob("python3*/site-packages"))
            (site / "edgebench-host-deps.pth").write_text(f"{deps}\n")
            board = Board(name, home, port, config)
            board.start()
            self.boards[name] = board

    def inventory(self, path: Path, unreachable: list[str] = ()) -> Path:
        """An Ansible inventory (INI) naming each board; `unreachable` hosts point at a
        port nothing listens on."""
        lines = ["[boards]"]
        for name, board in self.boards.items():
            lines.append(self._host_line(name, board.port, board.home))
        for name in unreachable:
            lines.append(self._host_line(name, free_port(), self.root / name))
        lines += ["", "[boards:vars]",
                  f"ansible_user={os.environ.get('USER', 'root')}",
                  f"ansible_ssh_private_key_file={self.key}",
                  f"ansible_python_interpreter={Path(sys.base_prefix) / 'bin' / 'python3'}",
                  "ansible_ssh_common_args='-o StrictHostKeyChecking=no "
                  f"-o UserKnownHostsFile={self.root / 'known_hosts'}'"]
        path.write_text("\n".join(lines) + "\n")
        return path

    @staticmethod
    def _host_line(name: str, port: int, home: Path) -> str:
        return (f"{name} ansible_host=127.0.0.1 ansible_port={port} device_name={name} "
                f"edgebench_home={home} ansible_remote_tmp={home}/.ansible-tmp")

    def close(self) -> None:
        for board in self.boards.values():
            board.power_loss()
