"""Run length between quick and full: --duration, --min-queries and a LoadGen user.conf,
recorded, and a run shorter than MLPerf's rules flagged wherever it is shown."""

from __future__ import annotations

import pandas as pd

from harness.measure.config import RunConfig
from harness.measure.runner import run_benchmark
from reports.summary import format_run
from reports.tables import caveats
from tests.conftest import run_cli


def test_duration_and_min_queries_set_loadgens_minimums(tmp_path):
    run_dir, record = run_benchmark(RunConfig(
        model="mobilenet_v2", backend="onnxruntime", scenario="single-stream",
        weights="random", duration=1.5, min_queries=70, results_dir=tmp_path))
    settings = record.loadgen_settings
    assert settings.min_duration_ms == 1500 and settings.min_query_count == 70
    assert settings.run_length.to_json() == {"quick": False, "duration_s": 1.5,
                                             "min_queries": 70, "max_duration_s": None,
                                             "user_conf": None}
    assert settings.max_duration_ms == 0  # a run that is not quick is never capped
    assert record.full_measurement is False and record.quick is False
    assert record.metrics.query_count >= 70
    assert "short run" in format_run(record, run_dir).splitlines()[0]


def test_user_conf_is_read_as_loadgen_reads_it(tmp_path):
    conf = tmp_path / "user.conf"
    conf.write_text("*.SingleStream.min_duration = 1200\n"
                    "*.SingleStream.target_latency = 7\n")
    _, record = run_benchmark(RunConfig(
        model="mobilenet_v2", backend="onnxruntime", scenario="single-stream",
        weights="random", min_queries=64, user_conf=conf, results_dir=tmp_path / "r"))
    settings = record.loadgen_settings
    assert settings.min_duration_ms == 1200
    # the user.conf's expected latency wins over the probe's
    assert settings.single_stream_expected_latency_ns == 7_000_000
    assert len(settings.run_length.user_conf["sha256"]) == 64
    assert record.full_measurement is False


def test_unreadable_user_conf_and_bad_lengths_are_one_line_errors(tmp_path):
    for args, expected in ((["--user-conf", str(tmp_path / "missing.conf")], "no such file"),
                           (["--duration", "0"], "--duration must be positive"),
                           (["--min-queries", "0"], "--min-queries must be at least 1")):
        proc = run_cli("run", "--model", "mobilenet_v2", *args, "--results", str(tmp_path))
        assert proc.returncode == 2 and expected in proc.stderr, proc.stderr
        assert proc.stderr.strip().count("\n") == 0
    assert not list(tmp_path.glob("*/result.json"))


def test_short_runs_are_flagged_in_tables_and_old_records_keep_their_meaning(tmp_path):
    row = pd.Series({"unsupported": False, "mode": "performance", "valid": True,
                     "quick": False, "full_measurement": False, "weights_pretrained": True,
                     "emulated": False})
    assert caveats(row) == ["short run"]
    full = row.copy()
    full["full_measurement"] = True
    assert caveats(full) == []
    from harness.core.records import ResultRecord
    from reports.collect import flatten

    old = {"system": {"hostname": "h", "cpu": "c"}, "model": "m", "backend": "b",
           "precision": "fp32", "scenario": "offline", "mode": "performance", "quick": False,
           "metrics": {}}
    record, defaulted = ResultRecord.from_json(old)
    assert "full_measurement" in defaulted and "device" in defaulted
    assert flatten(record, tmp_path / "result.json")["full_measurement"] is True
    quick, _ = ResultRecord.from_json({**old, "quick": True})
    assert flatten(quick, tmp_path / "result.json")["full_measurement"] is False
