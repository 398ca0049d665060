"""`edgebench fleet`: a matrix on two stand-in boards over SSH on loopback (one OpenSSH
server each, tests/ssh_boards.py), one of them lost mid-sweep and brought back, a third
never reachable; and the checks a bad inventory or a bad fetched result meets."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.cli import main
from harness.core.fleet_record import FLEET_FILE, FleetStatus
from harness.core.records import RESULT_FILE, ResultRecord
from harness.study.sweep import MANIFEST_FILE
from tests.conftest import ROOT, scaled
from tests.ssh_boards import Boards, sshd_missing_reason

pytest.importorskip("ansible_runner", reason="the fleet extra (pip install 'edgebench[fleet]')")

MATRIX = """description = "fleet test: one model, one backend, two precisions, quick"
[axes]
model = ["mobilenet_v2"]
backend = ["onnxruntime"]
precision = ["fp32", "int8-static"]
scenario = ["single-stream"]
mode = ["performance"]
[options]
quick = true
weights = "random"
threads = 1
calibration = "synthetic"
calibration_count = 32
"""
CELLS = {"fp32", "int8-static"}


def fleet(*args: str, timeout: float = 900) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "harness", "fleet", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(process: subprocess.Popen, timeout: float = 900) -> tuple[int, str]:
    out, _ = process.communicate(timeout=scaled(timeout))
    return process.returncode, out


def final_runs(home: Path) -> list[Path]:
    return [p for p in home.glob(f"fleet/*/results/*/{RESULT_FILE}")]


@pytest.fixture(scope="module")
def lost_and_back(tmp_path_factory):
    """Two boards and an unreachable third; board2 loses power after its first cell and
    comes back; `fleet run` twice. (boards, results, first run, second run, status)."""
    if why := sshd_missing_reason():
        pytest.skip(why)
    root = tmp_path_factory.mktemp("fleet")
    boards = Boards(root / "boards", ["board1", "board2"])
    try:
        inventory = boards.inventory(root / "inventory.ini", unreachable=["board3"])
        matrix = root / "tiny.toml"
        matrix.write_text(MATRIX)
        results = root / "results"
        args = (str(inventory), str(matrix), "--results", str(results), "--poll", "1",
                "--lost-wait", "0")
        first = fleet("run", *args)
        board2 = boards.boards["board2"]
        deadline = time.monotonic() + scaled(600)
        while not final_runs(board2.home) and first.poll() is None:
            assert time.monotonic() < deadline, "board2 finished no cell in time"
            time.sleep(0.1)
        board2.power_loss()
        done_at_loss = len(final_runs(board2.home))
        first_result = finish(first)
        board2.start()
        second_result = finish(fleet("run", *args))
        status = finish(fleet("status", str(inventory), "--results", str(results)), 300)
        yield boards, results, first_result, second_result, status, done_at_loss
    finally:
        boards.close()


def test_a_lost_board_resumes_and_every_cell_lands_once(lost_and_back):
    boards, results, (first_code, first_out), (second_code, second_out), _, at_loss = \
        lost_and_back
    assert at_loss < len(CELLS), "board2 was lost only after its sweep was over"
    assert first_code == 1, first_out  # board2 lost, board3 unreachable
    assert "board2: lost" in first_out, first_out
    assert second_code == 1, second_out  # board3 is still unreachable
    for device in ("board1", "board2"):
        landed = [ResultRecord.read(p)[0] for p in (results / device).glob(f"*/{RESULT_FILE}")]
        assert sorted(r.precision for r in landed) == sorted(CELLS), (device, second_out)
        assert {r.device for r in landed} == {device}
    # board2's sweep continued its manifest: the cell done before the loss ran once
    manifest = json.loads((results / "board2" / MANIFEST_FILE).read_text())
    assert sorted(s["state"] for s in manifest["runs"].values()) == ["done", "done"]
    assert len(final_runs(boards.boards["board2"].home)) == len(CELLS)


def test_the_report_shows_both_devices_and_the_unreachable_board(lost_and_back):
    _, results, *_ = lost_and_back
    status = FleetStatus.read(results / FLEET_FILE)
    by_host = {b.host: b for b in status.boards}
    assert by_host["board1"].state == by_host["board2"].state == "finished"
    assert by_host["board2"].cells_done == 2 and by_host["board2"].cells_left == 0
    assert by_host["board3"].state == "unreachable" and not by_host["board3"].reached
    assert "Connection refused" in by_host["board3"].message  # Ansible's own words
    summary = (results / "report" / "summary.md").read_text()
    assert "## board1" in summary and "## board2" in summary
    assert "board board3 (board3) unreachable" in summary
    assert "## Boards" in summary


def test_status_says_where_each_board_stands(lost_and_back):
    *_, (code, out), _ = lost_and_back
    assert code == 0, out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("board")}
    assert "finished" in lines["board1"] and "finished" in lines["board2"]
    assert lines["board3"].split()[2] == "no"  # reached: no


def test_nothing_secret_is_written(lost_and_back):
    boards, results, *_ = lost_and_back
    secret = boards.key.read_text().splitlines()[1]
    for path in results.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".md", ".log", ".html", ".csv", ".txt"):
            assert secret not in path.read_text(errors="replace"), path


# ---- what lands, and what does not ----

def _archive(folder: Path, tar_path: Path) -> Path:
    shutil.make_archive(str(tar_path).removesuffix(".tgz"), "gztar", folder.parent,
                        folder.name)
    return Path(str(tar_path).removesuffix(".tgz") + ".tar.gz")


def test_a_fetched_run_never_replaces_one_home_nor_lands_unread(lost_and_back, tmp_path):
    from harness.fleet.landing import land

    _, results, *_ = lost_and_back
    home = results / "board1"
    run = next(p.parent for p in home.glob(f"*/{RESULT_FILE}"))
    original = (run / RESULT_FILE).read_bytes()
    # the same folder again: skipped; a different copy of it: kept aside, home untouched
    changed = tmp_path / "changed" / run.name
    shutil.copytree(run, changed)
    (changed / RESULT_FILE).write_text(original.decode().replace('"quick": true',
                                                                 '"quick": false'))
    outcome = land(_archive(changed, tmp_path / "a.tgz"), home, tmp_path / "aside",
                   "board1", MANIFEST_FILE)
    assert outcome.new == [] and (run / RESULT_FILE).read_bytes() == original
    assert "different from the copy already home" in outcome.warnings[0]
    same = land(_archive(run, tmp_path / "b.tgz"), home, tmp_path / "aside", "board1",
                MANIFEST_FILE)
    assert same.already_home == [run.name] and not same.warnings
    # a new folder whose result.json does not parse, or names another device: not landed
    broken = tmp_path / "broken" / "20990101T000000_broken"
    shutil.copytree(run, broken)
    (broken / RESULT_FILE).write_text("{not json")
    outcome = land(_archive(broken, tmp_path / "c.tgz"), home, tmp_path / "aside",
                   "board1", MANIFEST_FILE)
    assert outcome.new == [] and not (home / broken.name).exists()
    assert "unreadable" in outcome.warnings[0]
    stray = tmp_path / "stray" / "20990101T000001_stray"
    shutil.copytree(run, stray)
    outcome = land(_archive(stray, tmp_path / "d.tgz"), results / "board2",
                   tmp_path / "aside", "board2", MANIFEST_FILE)
    assert outcome.new == [] and "says device 'board1'" in outcome.warnings[0]


def test_an_older_manifest_does_not_replace_a_newer_one(tmp_path):
    from harness.fleet.landing import land

    home, incoming = tmp_path / "home", tmp_path / "incoming"
    home.mkdir(), incoming.mkdir()
    newer = {"runs": {"a": {"state": "done", "updated_at": "2026-12-01T10:00:00"},
                      "b": {"state": "done", "updated_at": "2026-12-01T10:05:00"}}}
    older = {"runs": {"a": {"state": "done", "updated_at": "2026-12-01T10:00:00"},
                      "b": {"state": "running", "updated_at": "2026-12-01T10:01:00"}}}
    (home / MANIFEST_FILE).write_text(json.dumps(newer))
    (incoming / MANIFEST_FILE).write_text(json.dumps(older))
    archive = shutil.make_archive(str(tmp_path / "m"), "gztar", incoming)
    land(Path(archive), home, tmp_path / "aside", "board1", MANIFEST_FILE)
    assert json.loads((home / MANIFEST_FILE).read_text()) == newer
    (incoming / MANIFEST_FILE).write_text(json.dumps(
        {"runs": {**newer["runs"], "c": {"state": "failed", "updated_at": "2026-12-01T11"}}}))
    archive = shutil.make_archive(str(tmp_path / "m2"), "gztar", incoming)
    land(Path(archive), home, tmp_path / "aside", "board1", MANIFEST_FILE)
    assert "c" in json.loads((home / MANIFEST_FILE).read_text())["runs"]


# ---- a bad inventory: one line, exit 2, nothing run ----

@pytest.mark.parametrize("case, says", [
    ("missing", "does not exist"),
    ("unknown group", "has no group or host 'pis'"),
    ("empty group", "has no group or host 'pis'"),  # Ansible lists no empty group
    ("no key", "does not exist; set ansible_ssh_private_key_file"),
    ("same device", "share the device_name 'pi'"),
    ("no hosts", "names no host"),
])
def test_a_bad_inventory_is_one_line_and_exit_2(tmp_path, capsys, case, says):
    inventory = tmp_path / "inventory.ini"
    key = tmp_path / "key"
    key.write_text("not a real key")
    host = f"127.0.0.1 ansible_port=1 ansible_ssh_private_key_file={key}"
    text = {
        "missing": None,
        "unknown group": f"[boards]\npi1 ansible_host={host}\n",
        "empty group": f"[boards]\npi1 ansible_host={host}\n[pis]\n",
        "no key": "[boards]\npi1 ansible_host=127.0.0.1 "
                  f"ansible_ssh_private_key_file={tmp_path / 'gone'}\n",
        "same device": f"[boards]\npi1 ansible_host={host} device_name=pi\n"
                       f"pi2 ansible_host={host} device_name=pi\n",
        "no hosts": "[boards]\n",
    }[case]
    if text is not None:
        inventory.write_text(text)
    limit = ["--limit", "pis"] if case in ("unknown group", "empty group") else []
    results = tmp_path / "results"
    code = main(["fleet", "run", str(inventory), "demo", "--results", str(results), *limit])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and says in err[0], err
    assert not results.exists()  # nothing ran, nothing written


def test_a_backend_the_board_lacks_is_left_out_and_listed_with_the_reason(tmp_path):
    from harness.fleet.run import Fleet

    inventory = tmp_path / "inventory.ini"
    inventory.write_text("[boards]\npi ansible_connection=local\n")
    matrix = tmp_path / "two.toml"
    matrix.write_text(MATRIX.replace('backend = ["onnxruntime"]',
                                     'backend = ["onnxruntime", "pytorch"]'))
    fleet = Fleet(inventory, str(matrix), tmp_path / "results")
    board = fleet.boards[0]
    without_torch = {"runtimes": {"onnxruntime": "1.32.0", "pytorch": None},
                     "no_torch": "PyTorch's CPU index was out of reach"}
    assert fleet._left_out(board, without_torch) == ["backend=pytorch"]
    listed = fleet.status["pi"].unsupported
    assert len(listed) == 2 and all(line.startswith("mobilenet_v2 pytorch") for line in listed)
    assert all("not installed on this board: PyTorch's CPU index" in line for line in listed)
    assert len(fleet._planned_for(["backend=pytorch"])) == 2  # the onnxruntime cells
    with_everything = {"runtimes": {"onnxruntime": "1.32.0", "pytorch": "2.13.0"}}
    assert fleet._left_out(board, with_everything) == []
