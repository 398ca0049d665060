"""The `edgebench` command as users run it: quick runs of every scenario, and bad input."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from backends import BACKENDS
from scenarios import loadgen_logs
from tests.conftest import ROOT, run_cli, scaled, write_image

REQUIRED_FIELDS = {
    "model", "backend", "backend_version", "precision", "scenario", "mode", "quick", "weights",
    "dataset", "samples", "threads", "valid", "loadgen_verdict", "metrics", "system",
    "started_at", "duration_s", "edgebench_version",
}
HEADLINE = {"single-stream": "p90 latency (early stopping)",
            "multi-stream": "p99 query latency (early stopping)", "offline": "throughput"}


def run_dirs(results: Path) -> list[Path]:
    return sorted(p for p in results.iterdir() if (p / "result.json").exists())


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory):
    """One quick performance run per scenario, shared by the tests below."""
    results = tmp_path_factory.mktemp("results")
    runs = {}
    for scenario in HEADLINE:
        # MultiStream's 662 queries outlast the quick cap (5 s): lifted, so that this run
        # is VALID with its early-stopping estimate (a capped one: test_time_to_answer)
        lift = ["--max-duration", "120"] if scenario == "multi-stream" else []
        proc = run_cli("run", "--model", "mobilenet_v2", "--backend", "onnxruntime",
                       "--precision", "fp32", "--scenario", scenario, "--mode", "performance",
                       "--quick", *lift, "--results", str(results))
        assert proc.returncode == 0, proc.stderr
        runs[scenario] = proc
    return results, runs


@pytest.mark.parametrize("scenario", list(HEADLINE))
def test_quick_run_writes_a_complete_valid_result(quick_runs, scenario):
    results, runs = quick_runs
    (run_dir,) = [d for d in run_dirs(results) if f"_{scenario}_" in d.name]
    record = json.loads((run_dir / "result.json").read_text())
    assert set(record) >= REQUIRED_FIELDS
    assert record["scenario"] == scenario and record["quick"] is True
    assert record["valid"] is True and record["loadgen_verdict"].startswith("Result is : VALID")
    # never overridden: the verdict is LoadGen's own words
    assert record["loadgen_verdict"] in (run_dir / "mlperf_log_summary.txt").read_text()
    latency = record["metrics"]["sample_latency_ms" if scenario == "offline" else "latency_ms"]
    assert 0 < latency["min"] <= latency["p50"] <= latency["p90"] <= latency["p99"] \
        <= latency["max"]
    if scenario != "offline":  # MLPerf's headline: LoadGen's early-stopping estimate
        estimate = latency["p99_early_stopping" if scenario == "multi-stream"
                           else "p90_early_stopping"]
        raw = latency["p99" if scenario == "multi-stream" else "p90"]
        assert estimate >= raw
    assert record["metrics"]["throughput_sps"] > 0
    assert record["weights"] == "random:0" and any("RANDOM WEIGHTS" in w
                                                   for w in record["warnings"])
    assert_flags_match_the_kernel(record["system"]["isa_flags"])
    assert_physical_cores_match_lscpu(record["threads"])
    for name in ("mlperf_log_summary.txt", "mlperf_log_detail.txt",
                 "mlperf_log_accuracy.json", "latencies_ms.npy"):
        assert (run_dir / name).is_file(), name
    # the headline metric leads the human summary
    assert runs[scenario].stdout.splitlines()[1].strip().startswith(HEADLINE[scenario])


def test_quick_run_settings_and_latencies_agree_with_loadgen(quick_runs):
    results, _ = quick_runs
    (run_dir,) = [d for d in run_dirs(results) if "_multi-stream_" in d.name]
    record = json.loads((run_dir / "result.json").read_text())
    assert record["loadgen_settings"]["min_query_count"] == 662
    latencies = np.load(run_dir / "latencies_ms.npy")
    assert len(latencies) == record["metrics"]["query_count"] >= 662
    assert latencies.max() == pytest.approx(record["metrics"]["latency_ms"]["max"])


def test_runs_never_overwrite_each_other(quick_runs):
    results, _ = quick_runs
    assert len(run_dirs(results)) == 3
    assert not [p for p in results.iterdir() if p.name.startswith(".")]


def test_accuracy_on_real_images(imagenet_sample, tmp_path):
    proc = run_cli("run", "--model", "mobilenet_v2", "--scenario", "offline", "--mode",
                   "accuracy", "--dataset", str(imagenet_sample), "--save-outputs",
                   "--weights", "random", "--results", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    (run_dir,) = run_dirs(tmp_path)
    record = json.loads((run_dir / "result.json").read_text())
    accuracy = record["metrics"]["accuracy"]
    assert accuracy["count"] == accuracy["logged"] == 1000
    outputs = np.load(run_dir / "outputs.npy")
    assert outputs.shape == (1000, 1000) and outputs.dtype == np.float32
    # outputs.npy rows are in val_map.txt order, which is also the accuracy log's qsl_idx
    predictions = loadgen_logs.read_accuracy_log(run_dir)
    assert all(predictions[i] == int(np.argmax(outputs[i])) for i in range(1000))
    labels = np.array([int(line.split()[1]) for line in
                       (imagenet_sample / "val_map.txt").read_text().split("\n") if line])
    assert accuracy["top1"] == pytest.approx(np.mean(outputs.argmax(1) == labels))
    top5 = np.mean([labels[i] in np.argsort(-outputs[i])[:5] for i in range(1000)])
    assert accuracy["top5"] == pytest.approx(top5)
    assert record["valid"] is None and record["mode"] == "accuracy"


def assert_flags_match_the_kernel(recorded: list[str]) -> None:
    """Every recorded flag is in /proc/cpuinfo, and the ones that matter here are found."""
    from harness.core.system_info import emulation

    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        pytest.skip("no /proc/cpuinfo on this OS")
    if emulation():  # qemu-user: /proc/cpuinfo is the host's, so nothing is claimed
        assert recorded == []
        return
    words = set(cpuinfo.read_text().split())
    assert set(recorded) <= words
    for flag in ("avx2", "avx512_vnni", "avx512_bf16", "asimd", "asimddp", "i8mm"):
        assert (flag in recorded) == (flag in words), flag


def assert_physical_cores_match_lscpu(threads: int) -> None:
    """The default thread count is the physical cores as lscpu counts them."""
    import shutil

    if not shutil.which("lscpu"):
        pytest.skip("no lscpu")
    rows = subprocess.run(["lscpu", "-p=SOCKET,CORE"], capture_output=True, text=True,
                          check=True).stdout.splitlines()
    cores = {row for row in rows if row and not row.startswith("#")}
    assert threads == len(cores)


# ---- bad input: one line, exit 2, no traceback, earlier results untouched ----

@pytest.fixture()
def earlier_results(tmp_path):
    results = tmp_path / "results"
    earlier = results / "20260101T000000_earlier"
    earlier.mkdir(parents=True)
    (earlier / "result.json").write_text('{"kept": true}')
    return results


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None
            for p in folder.rglob("*")}


def _bad_image_folder(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    write_image(folder / "ok.JPEG")
    (folder / "broken.JPEG").write_bytes(b"\xff\xd8\xff broken")
    (folder / "val_map.txt").write_text("ok.JPEG 1\nbroken.JPEG 2\n")
    return folder


def _missing_file_folder(tmp_path):
    folder = tmp_path / "missing"
    folder.mkdir()
    (folder / "val_map.txt").write_text("gone.JPEG 3\n")
    return folder


def _empty_folder(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "val_map.txt").write_text("")
    return folder


BAD_INPUTS = [
    (["--model", "resnet9000"], "unknown model 'resnet9000'; choose one of: mobilenet_v2"),
    (["--backend", "tensorrt"], "unknown backend 'tensorrt'; choose one of: onnxruntime"),
    (["--precision", "int4"], "unknown precision 'int4'; choose one of: fp32"),
    (["--scenario", "batch"], "choose one of: single-stream, multi-stream, offline"),
    (["--mode", "fast"], "unknown mode 'fast'; choose one of: performance, accuracy"),
    (["--threads", "0"], "must be at least 1"),
    (["--max-batch", "eight"], "--max-batch must be 'auto' or a positive integer"),
    (["--max-batch", "0"], "--max-batch must be 'auto' or a positive integer"),
    (["--device-name", " "], "--device-name must not be empty"),
    (["--weights", "/nonexistent/w.pth"], "/nonexistent/w.pth not found"),
    (["--dataset", "/nonexistent/images"], "/nonexistent/images not found"),
    (["--mode", "accuracy"], "accuracy mode needs a labelled dataset"),
    (["--dataset", _empty_folder], "holds no images"),
    (["--dataset", _missing_file_folder], "gone.JPEG"),
    (["--dataset", _bad_image_folder], "broken.JPEG"),
]


@pytest.mark.parametrize("args, message", BAD_INPUTS,
                         ids=[str(a[1]) if isinstance(a[1], str) else a[1].__name__
                              for a, _ in BAD_INPUTS])
def test_bad_input_is_one_line_exit_2(tmp_path, earlier_results, args, message):
    args = [a(tmp_path) if callable(a) else a for a in args]
    args = [str(a) for a in args]
    if "--model" not in args:
        args = ["--model", "mobilenet_v2", *args]
    before = _snapshot(earlier_results)
    proc = run_cli("run", *args, "--quick", "--results", str(earlier_results))
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("edgebench")]
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert _snapshot(earlier_results) == before


def test_unknown_subcommand_is_one_line():
    proc = run_cli("bench")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1


def test_info_lists_machine_and_backends():
    from backends import get_backend_class, installed_version
    from harness.core.system_info import describe_system

    proc = run_cli("info")
    assert proc.returncode == 0, proc.stderr
    system = describe_system()
    assert f"isa flags: {' '.join(system['isa_flags'])}\n" in proc.stdout
    assert f"cores:     {system['cores_physical']} physical" in proc.stdout
    for name in BACKENDS:  # each registered backend, with what this machine runs of it
        version = installed_version(name)
        assert re.search(rf"^  {name} +{re.escape(version)}$", proc.stdout, re.M), name
        backend = get_backend_class(name)
        runs = [p for p in backend.precisions() if not backend.unsupported_reason(p)]
        assert f"    runs:        {', '.join(runs)}\n" in proc.stdout, name
        for precision in set(backend.precisions()) - set(runs):
            assert f"    unsupported: {precision}: " in proc.stdout, (name, precision)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_stops_cleanly_and_keeps_nothing_half_written(earlier_results, sig):
    before = _snapshot(earlier_results)
    # A full (not quick) run: ten minutes unless interrupted.
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", "--model", "mobilenet_v2", "--weights",
         "random", "--results", str(earlier_results)],
        cwd=ROOT, env=os.environ.copy(), stderr=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + scaled(300)
    for line in proc.stderr:
        if line.startswith("running ") or time.monotonic() > deadline:
            break
    time.sleep(2)  # well inside LoadGen's test
    assert proc.poll() is None, "the run ended before it could be interrupted"
    started = time.monotonic()
    proc.send_signal(sig)
    rest = proc.communicate(timeout=scaled(60))[1]
    assert proc.returncode == 130
    assert time.monotonic() - started < 30
    assert "interrupted" in rest and "Traceback" not in rest
    assert _snapshot(earlier_results) == before


def test_demo_sweep_prints_a_table_of_valid_runs(demo_sweep):
    results, proc = demo_sweep
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines() if line.startswith("mobilenet_v2")]
    assert [(row[1], row[2], row[3]) for row in rows] == [
        (backend, precision, scenario) for backend in BACKENDS
        for precision in ("fp32", "int8-static") for scenario in ("single-stream", "offline")]
    assert all("VALID" in row and "quick" in " ".join(row) for row in rows)
    assert f"results are in {results.resolve()}/" in proc.stdout
    assert len(run_dirs(results)) == 16


def test_unknown_sweep_lists_choices():
    proc = run_cli("sweep", "everything")
    assert proc.returncode == 2 and "shipped matrices: demo, study, study-quick" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_sweep_cells_reproduce_their_config_as_run_options(tmp_path):
    from harness.cli import _config_values, build_parser
    from harness.measure.config import RunConfig, to_argv

    config = RunConfig(model="vgg19", backend="tflite", scenario="offline", mode="accuracy",
                       quick=True, weights="random", dataset=str(tmp_path), count=7,
                       threads=1, max_batch=3, results_dir=tmp_path / "r",
                       cache_dir=tmp_path / "c", save_outputs=True,
                       recipe_options={"quant_format": "s8s8"})
    args = build_parser().parse_args(["run", *to_argv(config)])
    assert RunConfig.from_options(_config_values(args)) == config
