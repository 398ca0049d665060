"""`edgebench sweep` on matrix files: parse errors, dry runs, crashing and hanging cells,
and resuming after SIGKILL with every cell's result exactly once."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.core.errors import UsageError
from harness.study.matrix import Selection, load_matrix
from tests.conftest import ROOT, run_cli, scaled

FAULTS = Path(__file__).resolve().parent / "faults"
QUICK_CELL = """
[options]
quick = true
threads = 1
max_batch = 2
"""


def write_matrix(folder: Path, text: str, name: str = "m.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, message, line", [
    ('[axes]\nmodel = ["mobilenet_v2"]\nbackend = ["onnxruntime"]\nprecision = ["fp32"]\n'
     'scenario = ["offline"]\nmodes = ["performance"]\n', "unknown axis 'modes'", 6),
    ('[axes]\nmodel = ["mobilenet_v2"]\nbackend = ["tensorrt"]\nprecision = ["fp32"]\n'
     'scenario = ["offline"]\nmode = ["performance"]\n',
     "unknown backend 'tensorrt'; choose one of: onnxruntime", 3),
    ('[options]\nquick = true\nthread = 2\n', "unknown option 'thread'", 3),
    ('[options]\nquick = "yes"\n', "option quick = 'yes' has the wrong type", 2),
    ('[[extra]]\nmodel = "mobilenet_v2"\nbackend = "openvino"\nprecision = "fp33"\n'
     'scenario = "offline"\nmode = "performance"\n', "unknown precision 'fp33'", 4),
    ('[axes\nmodel = 1\n', "not valid TOML", None),
])
def test_a_bad_matrix_is_one_line_naming_file_and_line_exit_2(tmp_path, text, message, line):
    path = write_matrix(tmp_path, text)
    proc = run_cli("sweep", str(path), "--dry-run", "--results", str(tmp_path / "r"))
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert message in proc.stderr
    if line is not None:
        assert f"{path}:{line}:" in proc.stderr
    assert not (tmp_path / "r").exists()  # nothing ran


def test_dry_run_lists_exactly_the_cells(tmp_path):
    path = write_matrix(tmp_path, """
[axes]
model = ["mobilenet_v2"]
backend = ["onnxruntime", "openvino"]
precision = ["fp32", "int8-dynamic"]
scenario = ["single-stream", "offline"]
mode = ["performance", "accuracy"]

[options]
quick = true
repeat = 2
dataset = "images"

[[exclude]]
mode = "accuracy"
scenario = "single-stream"

[[exclude]]
backend = "openvino"
precision = "int8-dynamic"

[[extra]]
model = "vgg19"
backend = "pytorch"
precision = "fp32"
scenario = "multi-stream"
mode = "performance"
""")
    matrix = load_matrix(str(path))
    labels = [cell.label for cell in matrix.cells]
    # 1 x 2 x 2 x 2 x 2 = 16, minus 4 single-stream accuracy, minus 3 openvino int8-dynamic
    # cells left after that, plus one extra
    assert len(labels) == 16 - 4 - 3 + 1 and len(set(labels)) == len(labels)
    assert "mobilenet_v2 openvino int8-dynamic offline performance" not in labels
    assert "vgg19 pytorch fp32 multi-stream performance" in labels
    assert dict(matrix.cells[0].options)["dataset"] == str(tmp_path / "images")
    proc = run_cli("sweep", str(path), "--dry-run", "--only", "backend=onnxruntime",
                   "--results", str(tmp_path / "r"))
    assert proc.returncode == 0, proc.stderr
    listed = [match[1] for line in proc.stdout.splitlines()
              if (match := re.match(r"^\s*\d+  (.*?)  \[pending\]", line))]
    onnx = [label for label in labels if " onnxruntime " in label]
    performance = [label for label in onnx if label.endswith("performance")]
    # repeats interleaved: every cell once, then the performance cells again (accuracy
    # runs once: its result does not vary from run to run)
    assert listed == [f"{label} (repeat 1/2)" if label.endswith("performance") else label
                      for label in onnx] + [f"{label} (repeat 2/2)" for label in performance]
    assert "estimated" in proc.stdout


ISSUE_COMMAND = ["--only", "model=mobilenet_v2", "--only", "backend=onnxruntime",
                 "--only", "backend=tflite", "--only", "precision=fp32",
                 "--only", "mode=performance"]


def _selected(only: list[str], exclude: list[str] = ()) -> list[str]:
    matrix = load_matrix("study-quick")
    return [cell.label for cell in Selection.parse(only, list(exclude), matrix).cells(matrix)]


def test_only_ors_values_of_one_key_and_ands_keys():
    repeated = _selected(["model=mobilenet_v2", "backend=onnxruntime", "backend=tflite",
                          "precision=fp32", "mode=performance"])
    assert repeated == [f"mobilenet_v2 {backend} fp32 {scenario} performance"
                        for backend in ("onnxruntime", "tflite")
                        for scenario in ("single-stream", "multi-stream", "offline")]
    assert _selected(["model=mobilenet_v2", "backend=onnxruntime,tflite", "precision=fp32",
                      "mode=performance"]) == repeated
    # AND across keys: adding a key narrows, never widens
    assert _selected(["backend=onnxruntime,tflite", "scenario=offline", "model=vgg19",
                      "precision=fp32,int8-static"]) == [
        f"vgg19 {backend} {precision} offline {mode}" for backend in ("onnxruntime", "tflite")
        for precision in ("fp32", "int8-static") for mode in ("performance", "accuracy")]


def test_exclude_drops_matching_cells_after_only():
    kept = _selected(["model=mobilenet_v2", "precision=fp32", "mode=performance"],
                     ["backend=tflite,pytorch", "backend=openvino"])
    assert kept == [f"mobilenet_v2 onnxruntime fp32 {s} performance"
                    for s in ("single-stream", "multi-stream", "offline")]
    # keys AND within --exclude too: only cells that are both tflite and offline go
    kept = _selected(["model=mobilenet_v2", "precision=fp32", "mode=performance"],
                     ["backend=tflite", "scenario=offline"])
    assert len(kept) == 4 * 3 - 1 and "mobilenet_v2 tflite fp32 offline performance" not in kept
    # an option key: the matrix's own values, TOML-spelled
    assert len(_selected(["quick=true", "model=vgg19"])) == 4 * 5 * 3 + 4 * 5


@pytest.mark.parametrize("args, message", [
    (["--only", "backend=onnxrt"], "--only backend=onnxrt: unknown backend 'onnxrt'; choose "
     "one of: onnxruntime, openvino, tflite, pytorch"),
    (["--exclude", "precision=int4"], "unknown precision 'int4'"),
    (["--only", "quick=false"], "unknown quick 'false'; choose one of in study-quick: true"),
    (["--only", "threads=2"], "no cell of study-quick sets threads"),
    (["--only", "backends=tflite"], "expected KEY=VALUE with KEY one of: model, backend"),
    (["--only", "backend=tflite", "--exclude", "scenario=offline,single-stream,multi-stream"],
     "--only backend=tflite --exclude scenario=offline,single-stream,multi-stream leaves "
     "none of the 268 cells of study-quick"),
])
@pytest.mark.parametrize("command", ["sweep", "prepare"])
def test_a_bad_or_empty_selection_is_one_line_exit_2(tmp_path, command, args, message):
    where = ["--results", str(tmp_path / "r")] if command == "sweep" else \
        ["--out", str(tmp_path / "r")]
    proc = run_cli(command, "study-quick", *where, *args)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert message in proc.stderr
    assert not (tmp_path / "r").exists()  # nothing ran, nothing was built


def test_dry_run_prints_the_selection_as_understood(tmp_path):
    proc = run_cli("sweep", "study-quick", "--dry-run", "--results", str(tmp_path / "r"),
                   *ISSUE_COMMAND)
    assert proc.returncode == 0, proc.stderr
    assert ("selection: --only model=mobilenet_v2 --only backend=onnxruntime,tflite --only "
            "precision=fp32 --only mode=performance: 6 of 268 cells of study-quick") in proc.stdout
    assert re.search(r"^\s+backend:\s+onnxruntime, tflite$", proc.stdout, re.M)
    assert re.search(r"^\s+scenario:\s+single-stream, multi-stream, offline$", proc.stdout, re.M)
    assert "\n6 runs, 0 already done" in proc.stdout


@pytest.mark.timeout(600)
def test_repeat_runs_each_performance_cell_n_times_interleaved_and_reports_the_median(
        tmp_path):
    matrix = write_matrix(tmp_path, """
[axes]
model = ["mobilenet_v2"]
backend = ["onnxruntime"]
precision = ["fp32"]
scenario = ["single-stream", "offline"]
mode = ["performance"]
""" + QUICK_CELL)
    results = tmp_path / "results"
    proc = run_cli("sweep", str(matrix), "--results", str(results), "--weights", "random",
                   "--repeat", "2", timeout=600)
    assert proc.returncode == 0, proc.stderr
    records = sorted((json.loads(p.read_text()) for p in results.glob("*/result.json")),
                     key=lambda r: r["started_at"])
    assert [(r["scenario"], r["sweep"]["repeat"], r["sweep"]["of"]) for r in records] == [
        ("single-stream", 1, 2), ("offline", 1, 2), ("single-stream", 2, 2), ("offline", 2, 2)]
    assert len({r["sweep"]["id"] for r in records}) == 1
    report = run_cli("report", str(results), "--out", str(tmp_path / "report"))
    assert report.returncode == 0, report.stderr
    summary = (tmp_path / "report" / "summary.md").read_text()
    row = next(line for line in summary.splitlines()
               if line.startswith("| mobilenet_v2 onnxruntime fp32 single-stream |"))
    assert row.split("|")[3].strip() == "2"  # the details' repeats column


def test_cooldown_waits_until_the_board_is_back_or_the_cap(monkeypatch):
    from harness.study import sweep

    readings = iter([60.0, 58.0, 51.0])
    monkeypatch.setattr(sweep, "soc_temperature_c", lambda: next(readings))
    started = time.monotonic()
    sweep.cool_down(30, start_c=50.0)  # back within 2 degC on the third reading
    assert 1.5 < time.monotonic() - started < 5
    monkeypatch.setattr(sweep, "soc_temperature_c", lambda: None)  # no sensor: the cap
    started = time.monotonic()
    sweep.cool_down(1.2, start_c=None)
    assert 1.1 < time.monotonic() - started < 3
    started = time.monotonic()
    sweep.cool_down(0, start_c=None)
    assert time.monotonic() - started < 0.1


def test_shipped_matrices_load():
    demo = load_matrix("demo")
    assert len(demo.cells) == 16 and all(dict(c.options)["quick"] for c in demo.cells)
    study, quick = load_matrix("study"), load_matrix("study-quick")
    # models x backends x precisions x (scenarios + top-1), then the quantizer axis:
    # ONNX Runtime's four other int8 quantizers, OpenVINO's two, AdaRound's w4a8 on both
    per_model = 4 * 6 * (3 + 1)
    assert len(study.cells) == 3 * per_model + 3 * (4 + 2 + 2) * (3 + 1)
    # the quick one: w4a8 and the quantizer axis on MobileNetV2 alone, Offline and top-1
    assert len(quick.cells) == 3 * per_model - 2 * 4 * (3 + 1) + (1 + 1 + 4) * 2
    plain = [c.label for c in study.cells if "quantizer=" not in c.label]
    assert [c.label for c in quick.cells if "quantizer=" not in c.label] == [
        label for label in plain if " w4a8 " not in label or label.startswith("mobilenet_v2")]
    with pytest.raises(UsageError, match="demo, study, study-quick"):
        load_matrix("nonesuch")


def _sweep_env(faults: str = "") -> dict:
    env = os.environ.copy()
    env["PYTHONPATH"] = os.pathsep.join([str(FAULTS), str(ROOT), env.get("PYTHONPATH", "")])
    env["EDGEBENCH_TEST_FAULT"] = faults
    return env


def _three_cells(tmp_path, hang_timeout: str = "") -> Path:
    """Three quick cells; with `hang_timeout`, the tflite one has that cell timeout."""
    backends = '"onnxruntime", "openvino"' + ("" if hang_timeout else ', "tflite"')
    extra = f"""
[[extra]]
model = "mobilenet_v2"
backend = "tflite"
precision = "fp32"
scenario = "single-stream"
mode = "performance"
cell_timeout = {hang_timeout}
""" if hang_timeout else ""
    return write_matrix(tmp_path, f"""
[axes]
model = ["mobilenet_v2"]
backend = [{backends}]
precision = ["fp32"]
scenario = ["single-stream"]
mode = ["performance"]
""" + QUICK_CELL + extra)


@pytest.mark.timeout(600)
def test_a_crashing_and_a_hanging_cell_fail_and_the_others_complete(tmp_path):
    # the hang sleeps past its cell's 5-second timeout (the matrix's `cell_timeout`;
    # --cell-timeout would set it for every cell, and a real cell needs longer)
    matrix = _three_cells(tmp_path, hang_timeout="5")
    results = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "sweep", str(matrix), "--results", str(results),
         "--weights", "random"],
        capture_output=True, text=True, cwd=ROOT, timeout=scaled(600),
        env=_sweep_env("openvino=crash,tflite=hang"))
    assert proc.returncode == 1, proc.stderr
    (done,) = list(results.glob("*/result.json"))
    assert "_onnxruntime_" in done.parent.name
    failures = {json.loads(p.read_text())["cell"]["backend"]: json.loads(p.read_text())
                for p in results.glob("*_failed/failed.json")}
    assert failures["openvino"]["signal"] == "SIGABRT"
    assert failures["openvino"]["last_50_lines"][-1] == "about to crash"
    assert failures["tflite"]["timed_out"] and failures["tflite"]["elapsed_s"] < 30
    assert "about to hang" in failures["tflite"]["last_50_lines"]
    assert "FAILED: mobilenet_v2 tflite" in proc.stdout and "timed out" in proc.stdout
    manifest = json.loads((results / "sweep-manifest.json").read_text())
    assert sorted(state["state"] for state in manifest["runs"].values()) == \
        ["done", "failed", "failed"]
    # run again: nothing re-runs without --retry-failed
    again = subprocess.run(
        [sys.executable, "-m", "harness", "sweep", str(matrix), "--results", str(results),
         "--weights", "random"], capture_output=True, text=True, cwd=ROOT, timeout=scaled(120),
        env=_sweep_env())
    assert "3 of 3 runs already in" in again.stderr
    assert len(list(results.glob("*/result.json"))) == 1
    # resumed with another selection: only its cells, and the done one left aside, said so
    narrower = subprocess.run(
        [sys.executable, "-m", "harness", "sweep", str(matrix), "--results", str(results),
         "--weights", "random", "--only", "backend=openvino"], capture_output=True, text=True,
        cwd=ROOT, timeout=scaled(120), env=_sweep_env())
    assert "1 of 1 runs already in" in narrower.stderr, narrower.stderr
    assert "1 done runs in" in narrower.stderr and "not in this selection" in narrower.stderr
    assert "mobilenet_v2 onnxruntime" not in narrower.stdout
    assert len(list(results.glob("*/result.json"))) == 1
    # --retry-failed runs the failed cells again (their faults gone now), and only them
    retried = subprocess.run(
        [sys.executable, "-m", "harness", "sweep", str(matrix), "--results", str(results),
         "--weights", "random", "--retry-failed", "--cell-timeout", "300"],
        capture_output=True, text=True, cwd=ROOT, timeout=scaled(600), env=_sweep_env())
    assert retried.returncode == 0, retried.stderr
    assert "1 of 3 runs already in" in retried.stderr
    done = sorted(json.loads(p.read_text())["backend"] for p in results.glob("*/result.json"))
    assert done == ["onnxruntime", "openvino", "tflite"]
    assert len(list(results.glob("*_failed/failed.json"))) == 2  # the history stays


@pytest.mark.timeout(900)
def test_a_sweep_killed_mid_way_resumes_with_every_cell_exactly_once(tmp_path):
    matrix = _three_cells(tmp_path)
    results = tmp_path / "results"
    command = [sys.executable, "-m", "harness", "sweep", str(matrix), "--results",
               str(results), "--weights", "random"]
    sweep = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             cwd=ROOT, env=_sweep_env())
    manifest = results / "sweep-manifest.json"
    deadline = time.monotonic() + scaled(300)
    # kill it while its second cell runs: one result written, one in flight
    while time.monotonic() < deadline:
        states = _states(manifest)
        if states.count("done") == 1 and "running" in states:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"the sweep never reached its second cell: {_states(manifest)}")
    time.sleep(1.5)
    sweep.send_signal(signal.SIGKILL)
    sweep.wait()
    resumed = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=scaled(600),
                             env=_sweep_env())
    assert resumed.returncode == 0, resumed.stderr
    assert "runs already in" in resumed.stderr
    names = sorted(p.parent.name.split("_", 1)[1] for p in results.glob("*/result.json"))
    assert names == [f"mobilenet_v2_{b}_fp32_single-stream_performance"
                     for b in ("onnxruntime", "openvino", "tflite")], names
    assert _states(manifest) == ["done"] * 3


def _states(manifest: Path) -> list[str]:
    try:
        return sorted(s["state"] for s in json.loads(manifest.read_text())["runs"].values())
    except (OSError, ValueError):
        return []
