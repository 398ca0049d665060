"""Build on the host, run on the board: `edgebench prepare` then `run --artifacts` with
the converters hidden, provenance recorded, and tampered or mismatched artifacts
refused in one line with exit code 2."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, cli_without, needs_tflite_converter, run_cli, scaled

pytestmark = needs_tflite_converter  # preparing is a host's job: the fixture builds .tflite

CONVERTERS = ("onnxscript", "litert_torch", "nncf", "ai_edge_quantizer", "litert_quantizer")
CONVERTER_PACKAGES = ("onnxscript", "litert-torch", "nncf", "ai-edge-quantizer",
                      "litert-quantizer")
# A board without the converters: neither their modules nor their package metadata.
BOARD = cli_without(CONVERTERS, CONVERTER_PACKAGES)


def _board_cli(cache: Path, *args: str) -> subprocess.CompletedProcess:
    """`edgebench` as on a board: a fresh cache and no converter installed."""
    code = BOARD
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=scaled(600),
                          env={**os.environ, "EDGEBENCH_CACHE": str(cache)})


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    folder = tmp_path_factory.mktemp("prepare")
    matrix = folder / "board.toml"
    matrix.write_text("""
[axes]
model = ["mobilenet_v2"]
backend = ["onnxruntime", "tflite"]
precision = ["int8-static"]
scenario = ["single-stream"]
mode = ["performance"]

[options]
quick = true
weights = "random"
calibration = "synthetic"
calibration_count = 8
""")
    out = folder / "artifacts"
    proc = run_cli("prepare", str(matrix), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    return out


def _run(cache, artifacts, results, backend="onnxruntime"):
    return _board_cli(cache, "run", "--model", "mobilenet_v2", "--backend", backend,
                      "--precision", "int8-static", "--quick", "--weights", "random",
                      "--artifacts", str(artifacts), "--results", str(results))


def test_prepared_folder_holds_artifacts_index_and_checksums(prepared):
    index = json.loads((prepared / "prepared.json").read_text())
    labels = {entry["label"] for entry in index["artifacts"]}
    # what the cells run (the FP32 artifacts they were quantized from are not indexed)
    # (named by the quantizer that made them: each runtime's default here)
    assert labels == {"mobilenet_v2-onnxruntime-int8-static-minmax",
                      "mobilenet_v2-tflite-int8-static-minmax-b1"}
    sums = (prepared / "SHA256SUMS").read_text().splitlines()
    assert len(sums) == sum(len(entry["files"]) for entry in index["artifacts"])
    for line in sums:
        digest, relative = line.split("  ")
        assert (prepared / relative).is_file() and len(digest) == 64


@pytest.mark.parametrize("backend", ["onnxruntime", "tflite"])
def test_run_with_artifacts_needs_no_converter_and_records_provenance(
        prepared, tmp_path, backend):
    proc = _run(tmp_path / "fresh-cache", prepared, tmp_path / "results", backend)
    assert proc.returncode == 0, proc.stderr
    (result,) = (tmp_path / "results").glob("*/result.json")
    record = json.loads(result.read_text())
    assert record["valid"] is True and record["precision_executed"] == "int8"
    provenance = record["artifact_provenance"]
    assert provenance["prepared_folder"] == str(prepared.resolve())
    assert provenance["key"]["calibration"]["count"] == 8
    assert Path(record["artifact"]).is_relative_to(prepared)
    assert not (tmp_path / "fresh-cache" / "artifacts").exists()  # nothing was built


def test_a_tampered_artifact_is_refused_with_exit_2(prepared, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(prepared, copy)
    (model,) = copy.glob("artifacts/mobilenet_v2-onnxruntime-int8-static-*/model.onnx")
    data = bytearray(model.read_bytes())
    data[-10] ^= 1
    model.write_bytes(data)
    proc = _run(tmp_path / "cache", copy, tmp_path / "results")
    assert proc.returncode == 2, proc.stderr
    assert "model.onnx fails its checksum" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("edgebench: error:")
    assert not list((tmp_path / "results").glob("*/result.json"))


def test_another_runtime_version_is_refused_with_exit_2(prepared, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(prepared, copy)
    index = json.loads((copy / "prepared.json").read_text())
    for entry in index["artifacts"]:
        entry["runtime_version"] = "0.0.1"
    (copy / "prepared.json").write_text(json.dumps(index))
    proc = _run(tmp_path / "cache", copy, tmp_path / "results")
    assert proc.returncode == 2, proc.stderr
    assert "was prepared for onnxruntime 0.0.1" in proc.stderr


def test_locate_with_several_matches_asks_for_the_calibration_set(tmp_path):
    from harness.core.errors import UsageError
    from harness.core.prepared import INDEX, PreparedArtifacts

    entry = {"label": "m-onnx-int8-static", "weights": "random:0", "runtime": "onnxruntime",
             "runtime_version": "1.0", "dir": "a", "main": "model.onnx", "key": {},
             "files": {}}
    index = {"prepared_at": "t", "host": {}, "edgebench_version": "x", "artifacts": [
        {**entry, "calibration_digest": "aaa"}, {**entry, "dir": "b",
                                                 "calibration_digest": "bbb"}]}
    (tmp_path / INDEX).write_text(json.dumps(index))
    folder = PreparedArtifacts(tmp_path)
    with pytest.raises(UsageError, match="has 2 m-onnx-int8-static artifacts .*pass "
                                         "--calibration to pick one"):
        folder.locate("onnxruntime", "1.0", "m-onnx-int8-static", "random:0", None)
    # the calibration set's digest picks one (its files are then checked: none listed)
    located = folder.locate("onnxruntime", "1.0", "m-onnx-int8-static", "random:0", "bbb")
    assert located.path == tmp_path / "b" / "model.onnx"
    with pytest.raises(UsageError, match="no m-onnx-int8-static artifact"):
        folder.locate("onnxruntime", "1.0", "m-onnx-int8-static", "random:0", "ccc")
