"""Each runtime run the way its own tools run it, and its failures explained in one line."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from backends import get_backend_class
from backends.recipes import BuildContext
from harness.core.artifacts import ArtifactCache
from harness.core.errors import ArtifactError
from harness.core.weights import resolve_weights
from tests.conftest import ROOT, building, cli_without, needs_tflite_converter, scaled

SCENARIOS = ["single-stream", "offline"]  # the demo's; MultiStream: tests/test_cli.py
NEW_BACKENDS = ["openvino", "tflite", "pytorch"]


def demo_record(demo_sweep, backend: str, scenario: str, precision: str = "fp32") -> dict:
    results, proc = demo_sweep
    assert proc.returncode == 0, proc.stderr
    (path,) = results.glob(
        f"*_mobilenet_v2_{backend}_{precision}_{scenario}_performance/result.json")
    return json.loads(path.read_text())


@pytest.mark.parametrize("precision", ["fp32", "int8-static"])
@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("backend", building([*NEW_BACKENDS, "onnxruntime"]))
def test_quick_run_on_every_backend_is_valid_and_records_what_ran(
        demo_sweep, backend, scenario, precision):
    record = demo_record(demo_sweep, backend, scenario, precision)
    assert record["backend"] == backend and record["precision"] == precision
    assert record["precision_executed"] == precision.removesuffix("-static")
    assert record["valid"] is True, record["loadgen_verdict"]
    assert record["backend_version"]
    settings = record["backend_settings"]
    assert settings["threads_requested"] == record["threads"]
    if backend == "tflite":  # LiteRT cannot say: recorded as such, not echoed
        assert settings["threads_read_back"].startswith("not reported")
    else:
        assert settings["threads_read_back"] == record["threads"]
    hint = "throughput" if scenario == "offline" else "latency"
    assert settings["hint"] == hint
    assert settings["batch_size"] == record["batch_size"]
    if scenario == "offline":  # --max-batch auto: the probe's fastest size
        probed = record["batch_choice"]["probe_samples_per_s"]
        assert record["batch_size"] == int(max(probed, key=probed.get))
    else:
        assert record["batch_size"] == {"single-stream": 1, "multi-stream": 8}[scenario]
    if precision == "int8-static":
        assert record["calibration"]["count"] == record["quantization"]["calibration_set"][
            "count"] > 0


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_openvino_runs_pinned_f32_with_the_scenarios_hint(demo_sweep, scenario):
    settings = demo_record(demo_sweep, "openvino", scenario)["backend_settings"]
    # this machine has AVX-512 BF16: unpinned, the CPU plugin would run bf16
    assert settings["inference_precision"] == "f32"
    assert settings["inference_num_threads"] == settings["threads_requested"]
    if scenario == "offline":
        assert settings["performance_hint"] == "THROUGHPUT" and settings["async_queue"]
        assert settings["optimal_number_of_infer_requests"] >= 1
    else:
        assert settings["performance_hint"] == "LATENCY" and not settings["async_queue"]


@needs_tflite_converter
def test_tflite_and_pytorch_record_their_own_settings(demo_sweep):
    tflite = demo_record(demo_sweep, "tflite", "single-stream")["backend_settings"]
    assert tflite["input_layout"] == "NHWC"
    assert tflite["interpreter"] in ("ai-edge-litert", "tflite-runtime")
    pytorch = demo_record(demo_sweep, "pytorch", "offline")
    assert pytorch["backend_settings"]["torch_num_threads"] == pytorch["threads"]
    assert pytorch["backend_settings"]["memory_format"].startswith("channels_last")
    assert pytorch["artifact"] is None  # eager on random weights: nothing converted


@pytest.fixture()
def restore_torch_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.usefixtures("restore_torch_threads")
def test_threads_option_reaches_every_runtime():
    weights = resolve_weights("random", "mobilenet_v2")
    for name in ("onnxruntime", "openvino", "tflite", "pytorch"):
        backend = get_backend_class(name)(threads=1, hint="latency", batch_size=1)
        backend.prepare(BuildContext("mobilenet_v2", weights, ArtifactCache()), "fp32")
        read_back = backend.settings()["threads_read_back"]
        if name == "tflite":
            assert "not reported" in read_back
        else:
            assert read_back == 1, name


# ---- part 5: errors ----

def _cli_without(modules: list[str], *args: str, distributions: tuple = ()):
    """The CLI in a process where `modules` cannot be imported, as if not installed."""
    return subprocess.run([sys.executable, "-c", cli_without(modules, distributions), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=scaled(300))


@pytest.mark.parametrize(("backend", "modules", "extra"), [
    ("openvino", ["openvino"], "openvino"),
    ("tflite", ["ai_edge_litert", "tflite_runtime"], "tflite"),
    ("onnxruntime", ["onnxruntime"], "onnxruntime"),
])
def test_missing_runtime_names_its_pip_extra(tmp_path, backend, modules, extra):
    proc = _cli_without(modules, "run", "--model", "mobilenet_v2", "--backend", backend,
                        "--quick", "--results", str(tmp_path))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert f"pip install 'edgebench[{extra}]'" in proc.stderr
    assert not list(tmp_path.iterdir())


@needs_tflite_converter  # where none can be installed: test_no_converter_on_linux_aarch64
def test_missing_tflite_converter_names_its_pip_extra(tmp_path):
    proc = _cli_without(["litert_torch"], "run", "--model", "mobilenet_v2", "--backend",
                        "tflite", "--quick", "--results", str(tmp_path / "results"),
                        "--cache-dir", str(tmp_path / "empty-cache"),
                        distributions=("litert-torch",))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "edgebench: error: converting to .tflite needs LiteRT's converter: "
        "pip install 'edgebench[tflite]'")
    # nothing half-built is left in the cache as if it were an artifact
    assert not list((tmp_path / "empty-cache" / "artifacts").glob("*tflite*"))


@pytest.fixture()
def linux_aarch64_without_converter(monkeypatch):
    """This machine as a Raspberry Pi sees it: Linux aarch64, where litert-torch (whose
    converter has no wheel there) cannot be installed."""
    import backends.tflite.convert as convert

    monkeypatch.setattr(convert, "_on_linux_aarch64", lambda: True)
    monkeypatch.setattr(convert, "_converter_installed", lambda: False)


@pytest.mark.parametrize("precision", ["fp32", "int8-static"])
def test_a_tflite_build_on_linux_aarch64_is_unsupported_with_the_fix(
        linux_aarch64_without_converter, tmp_path, precision):
    from harness.measure.config import RunConfig
    from harness.measure.runner import run_benchmark

    run_dir, record = run_benchmark(RunConfig(
        model="mobilenet_v2", backend="tflite", precision=precision, quick=True,
        weights="random", calibration="synthetic", calibration_count=4,
        results_dir=tmp_path / "results", cache_dir=tmp_path / "cache"))
    reason = record.unsupported.reason
    assert "no Linux aarch64 wheel" in reason and "edgebench prepare" in reason
    assert "--artifacts DIR" in reason
    assert json.loads((run_dir / "result.json").read_text())["unsupported"] == {
        "reason": reason}
    assert not list((tmp_path / "cache").glob("artifacts/*tflite*"))  # nothing half-built


def test_preparing_tflite_on_linux_aarch64_is_one_line_exit_2(
        linux_aarch64_without_converter, tmp_path, capsys):
    from harness.cli import main

    matrix = tmp_path / "board.toml"
    matrix.write_text('[axes]\nmodel = ["mobilenet_v2"]\nbackend = ["tflite"]\n'
                      'precision = ["fp32"]\nscenario = ["single-stream"]\n'
                      'mode = ["performance"]\n[options]\nquick = true\n'
                      'weights = "random"\n')
    assert main(["prepare", str(matrix), "--out", str(tmp_path / "out")]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()[-1:]
    assert line.startswith("edgebench: error: cannot prepare tflite fp32 on this machine: ")
    assert "no Linux aarch64 wheel" in line


def test_info_says_tflite_runs_only_prepared_artifacts_on_linux_aarch64(
        linux_aarch64_without_converter, capsys):
    from harness.cli import main

    assert main(["info"]) == 0
    out = capsys.readouterr().out
    tflite = out[out.index("  tflite"):out.index("  pytorch")]
    assert "builds:      nothing here, runs prepared artifacts only" in tflite
    assert "builds:" not in out.replace(tflite, "")  # the other runtimes build here


def test_a_pytorch_whose_linear_layer_is_wrong_is_refused(monkeypatch, tmp_path):
    """As torch's aarch64 BLAS behaved under emulation: linear off, matmul right."""
    from backends.pytorch import backend as pytorch_backend
    from harness.measure.config import RunConfig
    from harness.measure.runner import run_benchmark

    right = torch.nn.functional.linear
    monkeypatch.setattr(torch.nn.functional, "linear",
                        lambda x, w, b=None: right(x, w, b) * 1.2)
    pytorch_backend.linear_self_check.cache_clear()
    try:
        _, record = run_benchmark(RunConfig(
            model="mobilenet_v2", backend="pytorch", precision="fp32", quick=True,
            weights="random", results_dir=tmp_path))
    finally:
        monkeypatch.undo()
        pytorch_backend.linear_self_check.cache_clear()
    reason = record.unsupported.reason
    assert "linear layer computes wrong results on this CPU" in reason
    assert "of the output range off a float64 reference" in reason
    assert pytorch_backend.linear_self_check() is None  # this machine's torch is right


def test_failed_conversion_names_model_message_and_partial_artifact(tmp_path, monkeypatch):
    import openvino as ov

    def broken_convert(_path):
        raise RuntimeError("Check 'false' failed: Unsupported operation FancyOp")

    monkeypatch.setattr(ov, "convert_model", broken_convert)
    cache = ArtifactCache(tmp_path)
    random_weights = resolve_weights("random", "mobilenet_v2")
    backend = get_backend_class("openvino")(threads=1)
    with pytest.raises(ArtifactError) as caught:
        backend.prepare(BuildContext("mobilenet_v2", random_weights, cache), "fp32")
    message = str(caught.value)
    assert "mobilenet_v2-openvino-fp32" in message and "Unsupported operation FancyOp" in message
    (log,) = (tmp_path / "failed-builds").glob("*openvino*.log")
    assert str(log) in message and not list((tmp_path / "artifacts").glob("*openvino*"))
    # not cached: the next attempt converts again, and succeeds once the converter works
    monkeypatch.undo()
    backend.prepare(BuildContext("mobilenet_v2", random_weights, cache), "fp32")


@pytest.mark.parametrize("backend_name", building(["onnxruntime", "openvino", "tflite"]))
def test_corrupt_cached_artifact_is_rebuilt(tmp_path, backend_name, capfd):
    weights = resolve_weights("random", "mobilenet_v2")
    cache = ArtifactCache(tmp_path)
    backend = get_backend_class(backend_name)(threads=1)
    path = backend.prepare(BuildContext("mobilenet_v2", weights, cache), "fp32")
    x = np.zeros((1, 224, 224, 3) if backend.input_layout == "NHWC" else (1, 3, 224, 224),
                 np.float32)
    expected = backend.predict(x)
    # Same size, garbage content: the size manifest cannot notice, only the runtime can.
    path.write_bytes(b"\x00garbage" * (path.stat().st_size // 8)
                     + b"\x00" * (path.stat().st_size % 8))
    capfd.readouterr()
    again = get_backend_class(backend_name)(threads=1)
    assert again.prepare(BuildContext("mobilenet_v2", weights, cache), "fp32") == path
    err = capfd.readouterr().err
    assert "cannot be loaded" in err and "rebuilding it" in err
    # the rebuilt artifact computes what the first did (same runtime, same kernels)
    assert np.array_equal(again.predict(x), expected)


def test_a_backend_failing_mid_run_is_an_error_and_loadgen_handles_are_destroyed(
        monkeypatch, tmp_path):
    from backends.onnxruntime.backend import OnnxRuntimeBackend
    from harness.core.errors import EdgebenchError
    from harness.measure import runner
    from harness.measure.config import RunConfig
    from scenarios import qsl, sut

    calls = {"under LoadGen": 0, "DestroySUT": 0, "DestroyQSL": 0}
    predict, run_loadgen = OnnxRuntimeBackend.predict, runner.run_loadgen

    def failing_predict(self, batch):
        if calls["loadgen"]:  # past the probe: LoadGen's queries
            calls["under LoadGen"] += 1
            if calls["under LoadGen"] > 5:
                raise RuntimeError("device lost")
        return predict(self, batch)

    def started_loadgen(*args):
        calls["loadgen"] = True
        return run_loadgen(*args)

    def counting(module, name):
        real = getattr(module.lg, name)

        def wrapper(handle):
            calls[name] += 1
            return real(handle)
        monkeypatch.setattr(module.lg, name, wrapper)

    calls["loadgen"] = False
    monkeypatch.setattr(OnnxRuntimeBackend, "predict", failing_predict)
    monkeypatch.setattr(runner, "run_loadgen", started_loadgen)
    counting(sut, "DestroySUT")
    counting(qsl, "DestroyQSL")
    with pytest.raises(EdgebenchError, match="onnxruntime failed during the run: device lost"):
        runner.run_benchmark(RunConfig(model="mobilenet_v2", scenario="single-stream",
                                       quick=True, weights="random", threads=1,
                                       results_dir=tmp_path))
    assert calls["DestroySUT"] == 1 and calls["DestroyQSL"] == 1
    assert not list(tmp_path.glob("*/result.json"))  # nothing half-written kept
