"""`edgebench report` on fixture results from two devices, four backends, three
precisions, with invalid, quick, random-weight and unsupported cells."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from harness.core.precisions import PRECISIONS as PRECISION_REGISTRY
from harness.core.records import ResultRecord
from reports.collect import collect, newest_per_configuration
from reports.figures import pareto_front
from reports.report import write_report
from reports.tables import caveats
from tests.conftest import needs_tflite_converter, run_cli

BACKENDS = ["onnxruntime", "openvino", "tflite", "pytorch"]
PRECISIONS = ["fp32", "fp16", "int8-static"]
SCENARIOS = {"single-stream": 2.0, "multi-stream": 16.0, "offline": 400.0}
DEVICES = {"laptop": "Intel Core i7-1185G7", "raspberrypi": "Cortex-A76"}


def make_record(device, backend, precision, scenario, mode="performance", *, valid=True,
                quick=False, pretrained=True, unsupported=None, started="2026-11-20T10:00:00",
                version="0.1.0"):
    slow = (3.0 if device == "raspberrypi" else 1.0) * (
        1 + BACKENDS.index(backend) * 0.3) / (1 + PRECISIONS.index(precision))
    value = SCENARIOS[scenario]
    metrics = {}
    if mode == "performance" and not unsupported:
        latency = value * slow
        metrics = {"latency_ms": {"p50": latency * 0.9, "p90": latency, "p99": latency * 1.2},
                   "throughput_sps": value / slow if scenario == "offline" else 1000 / latency}
        # MLPerf's headlines: early-stopping estimates, a little above the raw percentiles
        metrics["latency_ms"]["p90_early_stopping"] = latency * 1.05
        metrics["latency_ms"]["p99_early_stopping"] = latency * 1.25
    elif mode == "accuracy" and not unsupported:
        metrics = {"accuracy": {"top1": 0.72 - 0.004 * PRECISIONS.index(precision),
                                "top5": 0.9, "count": 1000}}
    record = {
        "schema_version": 2, "device": device,
        "batch_size": {"single-stream": 1, "multi-stream": 8, "offline": 8}[scenario],
        "full_measurement": not quick and mode == "performance",
        "model": "mobilenet_v2", "backend": backend, "backend_version": "1.0",
        "precision": precision, "scenario": scenario, "mode": mode, "quick": quick,
        "weights": "torchvision" if pretrained else "random:0",
        "weights_pretrained": pretrained, "dataset": {"name": "synthetic"}, "samples": 1024,
        "threads": 4, "valid": None if mode == "accuracy" else valid,
        "loadgen_verdict": "Result is : VALID" if valid else "Result is : INVALID",
        "metrics": metrics, "latencies_file": None, "warnings": [],
        "system": {"cpu": DEVICES[device], "arch": "x86_64" if device == "laptop" else "aarch64",
                   "cores_physical": 4, "cores_logical": 8, "isa_flags": ["avx512_vnni"]
                   if device == "laptop" else ["asimddp"], "memory_gb": 16, "os": "Linux",
                   "python": "3.11", "hostname": device},
        "started_at": started, "edgebench_version": version,
    }
    if unsupported:
        record["unsupported"] = {"reason": unsupported}
    assert precision in PRECISION_REGISTRY, precision  # a fixture names real precisions
    # through the typed record: what it writes is what a run writes
    return ResultRecord.model_validate(record).to_json()


def write_run(root: Path, record: dict) -> Path:
    name = "_".join([record["started_at"].replace(":", ""), record["backend"],
                     record["precision"], record["scenario"], record["mode"]])
    run_dir = root / name
    run_dir.mkdir(parents=True)
    if record["mode"] == "performance" and not record.get("unsupported"):
        rng = np.random.default_rng(len(name))
        p90 = record["metrics"]["latency_ms"]["p90"]
        np.save(run_dir / "latencies_ms.npy", rng.gamma(20, p90 / 25, 200))
        record["latencies_file"] = {"path": "latencies_ms.npy", "unit": "ms", "per": "query"}
    if record["mode"] == "accuracy" and not record.get("unsupported"):
        write_predictions(run_dir, record)
    (run_dir / "result.json").write_text(json.dumps(record))
    return run_dir


def write_predictions(run_dir: Path, record: dict, correct: np.ndarray | None = None) -> None:
    """Per-sample predictions that give the record's top-1: the first top-1 x count right."""
    count = record["metrics"]["accuracy"]["count"]
    if correct is None:
        correct = np.arange(count) < round(record["metrics"]["accuracy"]["top1"] * count)
    label = np.arange(count) % 1000
    np.savez(run_dir / "predictions.npz", label=label,
             predicted=np.where(correct, label, (label + 1) % 1000))
    record["predictions_file"] = {"path": "predictions.npz"}


@pytest.fixture(scope="module")
def fixture_results(tmp_path_factory):
    root = tmp_path_factory.mktemp("fixture-results")
    for device in DEVICES:
        folder = root / ("results" if device == "laptop" else "pi-results")
        for backend in BACKENDS:
            for precision in PRECISIONS:
                unsupported = ("TFLite has no fp16 CPU kernels here"
                               if (backend, precision) == ("tflite", "fp16") else None)
                for scenario in SCENARIOS:
                    write_run(folder, make_record(device, backend, precision, scenario,
                                                  unsupported=unsupported))
                write_run(folder, make_record(device, backend, precision, "single-stream",
                                              "accuracy", unsupported=unsupported))
        # an older run of one configuration (the newest must win) and an invalid one
        write_run(folder, make_record(device, "onnxruntime", "fp32", "offline",
                                      started="2026-11-01T09:00:00"))
        write_run(folder, make_record(device, "pytorch", "int8-static", "multi-stream",
                                      valid=False,
                                      quick=True, pretrained=False,
                                      started="2026-11-21T10:00:00"))
    bad = root / "results" / "broken"
    bad.mkdir()
    (bad / "result.json").write_text('{"model": "mobilenet_v2", "backend"')  # truncated
    return root


@pytest.fixture(scope="module")
def report(fixture_results, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return write_report([fixture_results / "results", fixture_results / "pi-results"], out)


def test_every_figure_exists_decodes_and_has_its_series(report):
    expected = {}
    for device in DEVICES:
        for scenario in SCENARIOS:
            expected[f"{device}_{scenario}.png"] = len(PRECISIONS)
        expected[f"{device}_speedup.png"] = len(PRECISIONS) - 1
        # one point per backend and precision with both runs; TFLite fp16 is unsupported
        expected[f"{device}_accuracy_vs_latency.png"] = len(BACKENDS) * len(PRECISIONS) - 1
    for scenario in SCENARIOS:
        # every supported run of this model and scenario, on both devices
        expected[f"cdf_mobilenet_v2_{scenario}.png"] = 2 * (len(BACKENDS) * len(PRECISIONS) - 1)
        expected[f"devices_{scenario}.png"] = len(DEVICES)
    assert report.figures == expected
    for name in expected:
        with Image.open(report.html.parent / name) as image:
            image.load()
            assert image.size[0] > 300 and image.size[1] > 200


def test_csv_round_trips_through_pandas(report):
    runs = pd.read_csv(report.csv)
    per_device = len(BACKENDS) * len(PRECISIONS) * (len(SCENARIOS) + 1) + 2
    assert len(runs) == 2 * per_device
    assert set(runs["device"]) == set(DEVICES) and set(runs["backend"]) == set(BACKENDS)
    assert runs["unsupported"].sum() == 2 * (len(SCENARIOS) + 1)
    assert (runs["valid"] == False).sum() == 2  # noqa: E712 (pandas column, not a bool)
    assert newest_per_configuration(runs)["runs_found"].max() == 2


def test_html_references_every_figure_and_needs_no_network(report):
    page = report.html.read_text()
    assert set(re.findall(r'src="([^"]+)"', page)) == set(report.figures)
    assert not re.search(r"(https?:)?//", page.replace("<!doctype html>", ""))
    assert "<script" not in page


def test_tables_mark_caveats_and_pick_the_best_configuration(report):
    summary = report.markdown.read_text()
    assert "## laptop" in summary and "## raspberrypi" in summary
    assert "Intel Core i7-1185G7" in summary and "avx512_vnni" in summary
    assert "unsupported: TFLite has no fp16 CPU kernels here" in summary
    assert "INVALID, quick, random weights" in summary
    # int8 is fastest, and only 0.8 points below fp32: it qualifies
    assert "- best: mobilenet_v2, single-stream: onnxruntime int8-static" in summary
    assert "-0.8 pt" in summary
    assert "configuration(s) run more than once: the newest run of each is shown" in summary
    # an unsupported cell has no numbers at all, not even top-1
    tflite_fp16 = table_row(summary, "| mobilenet_v2 | tflite | fp16 | single-stream |")
    for name in ("headline (95% CI)", "speed-up (95% CI)", "top-1 (95% CI)", "vs fp32"):
        assert tflite_fp16[name] == "n/a", (name, tflite_fp16)
    details = table_row(summary, "| mobilenet_v2 tflite fp16 single-stream |")
    for name in ("p (McNemar)", "peak RSS (MB)", "agreement with fp32"):
        assert details[name] == "n/a", (name, details)
    # top-1 with its Wilson interval, and the paired test behind "within one point"
    int8 = table_row(summary, "| mobilenet_v2 | onnxruntime | int8-static | single-stream |")
    assert int8["top-1 (95% CI)"] == "0.712 (0.683-0.739)" and int8["vs fp32"] == "-0.8 pt"
    assert int8["headline (95% CI)"].endswith(" ms")
    details = table_row(summary, "| mobilenet_v2 onnxruntime int8-static single-stream |")
    assert details["accuracy test"] == "McNemar exact" and details["p (McNemar)"] == "0.007812"


def test_the_main_table_keeps_at_most_12_columns_and_the_details_the_rest(report):
    summary = report.markdown.read_text()
    main = table_row(summary, "| mobilenet_v2 | onnxruntime | fp32 | offline |")
    assert len(main) <= 12, list(main)
    assert list(main) == ["model", "backend", "precision", "scenario", "threads x batch",
                          "executed (ISA)", "headline (95% CI)", "speed-up (95% CI)",
                          "top-1 (95% CI)", "vs fp32", "notes"]
    details = table_row(summary, "| mobilenet_v2 onnxruntime fp32 offline |")
    assert {"p (McNemar)", "SQNR (dB)", "peak RSS (MB)", "artifact (MB)", "runs found"} \
        <= set(details)


def table_row(summary: str, start: str) -> dict[str, str]:
    """The first markdown table row starting with `start`, keyed by its table's header."""
    lines = summary.splitlines()
    number = next(i for i, line in enumerate(lines) if line.startswith(start))
    header = next(lines[i] for i in range(number, -1, -1) if lines[i + 1].startswith("| ---"))
    split = lambda line: [cell.strip() for cell in line.split("|")[1:-1]]  # noqa: E731
    return dict(zip(split(header), split(lines[number]), strict=True))


def test_malformed_result_is_a_warning_not_a_failure(report):
    assert any("broken/result.json" in w and "skipped" in w for w in report.warnings)


def test_mixed_versions_warn(tmp_path):
    write_run(tmp_path, make_record("laptop", "onnxruntime", "fp32", "offline"))
    write_run(tmp_path, make_record("laptop", "openvino", "fp32", "offline", version="0.2.0"))
    report = write_report([tmp_path], tmp_path / "out")
    assert any("0.1.0, 0.2.0" in w for w in report.warnings)


def test_cli_report_prints_paths_and_nothing_found_is_one_line(fixture_results, tmp_path):
    proc = run_cli("report", str(fixture_results / "pi-results"), "--out", str(tmp_path / "r"))
    assert proc.returncode == 0, proc.stderr
    assert f"report:  {(tmp_path / 'r' / 'report.html').resolve()}" in proc.stdout
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = run_cli("report", str(empty), "--out", str(tmp_path / "r2"))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "no result.json found under" in proc.stderr and str(empty) in proc.stderr


def test_pareto_front_keeps_only_undominated_points():
    points = [(1.0, 70.0), (2.0, 72.0), (3.0, 71.0), (0.5, 60.0), (2.5, 72.0)]
    assert pareto_front(points) == [(0.5, 60.0), (1.0, 70.0), (2.0, 72.0)]


@needs_tflite_converter
def test_report_of_real_demo_runs(demo_sweep, tmp_path):
    results, proc = demo_sweep
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "report"
    proc = run_cli("report", str(results), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    runs = pd.read_csv(out / "results.csv")
    assert len(runs) == 16 and set(runs["backend"]) == set(BACKENDS)
    assert set(runs["precision"]) == {"fp32", "int8-static"}
    assert (runs[runs["precision"] == "int8-static"]["precision_executed"] == "int8").all()
    assert runs["quick"].all() and not runs["weights_pretrained"].any()
    summary = (out / "summary.md").read_text()
    assert "quick, random weights" in summary
    # the INT8 speed-ups: one per backend and scenario, each a real number, Offline's
    # each at the batch size its probe chose (--max-batch auto)
    from backends import get_backend_class

    for backend in BACKENDS:
        # each int8 row names the runtime's default quantizer that made it
        made_by = get_backend_class(backend).recipe("int8-static").quantizer
        for scenario in ("single-stream", "offline"):
            row = table_row(summary, f"| mobilenet_v2 | {backend} | int8-static ({made_by}) | "
                                     f"{scenario} |")
            speed_up = row["speed-up (95% CI)"].split()[0]
            assert float(speed_up.removesuffix("x")) > 0, (row, summary)
            if scenario == "offline":
                assert row["threads x batch"].split(" x ")[1].startswith("auto: "), row
    page = (out / "report.html").read_text()
    for name in re.findall(r'src="([^"]+)"', page):
        with Image.open(out / name) as image:
            image.load()


def test_the_headline_is_the_early_stopping_estimate_not_the_raw_percentile(tmp_path):
    from harness.core.records import ResultRecord
    from reports.summary import headline as headline_of

    def headline(record: dict):
        return headline_of(ResultRecord.from_json(record)[0])

    single = make_record("laptop", "onnxruntime", "fp32", "single-stream")
    assert headline(single) == ("p90 latency (early stopping)",
                                single["metrics"]["latency_ms"]["p90_early_stopping"], "ms")
    assert headline(single)[1] != single["metrics"]["latency_ms"]["p90"]
    multi = make_record("laptop", "onnxruntime", "fp32", "multi-stream")
    assert headline(multi)[1] == multi["metrics"]["latency_ms"]["p99_early_stopping"]
    # a record from before: the raw percentile, and the label says so
    del single["metrics"]["latency_ms"]["p90_early_stopping"]
    assert headline(single) == ("p90 latency (raw)", single["metrics"]["latency_ms"]["p90"],
                                "ms")
    write_run(tmp_path / "runs", make_record("laptop", "onnxruntime", "fp32", "single-stream"))
    row = collect([tmp_path / "runs"]).runs.iloc[0]
    assert row["headline"] == row["latency_p90_early_stopping_ms"] != row["latency_p90_ms"]


def _failed_cell(root: Path, backend: str, failed_at: str) -> Path:
    folder = root / f"{failed_at.replace(':', '')}_{backend}_failed"
    folder.mkdir(parents=True)
    (folder / "failed.json").write_text(json.dumps({
        "cell": {"model": "mobilenet_v2", "backend": backend, "precision": "fp32",
                 "scenario": "offline", "mode": "performance"},
        "repeat": 1, "failed_at": failed_at, "reason": "killed by SIGSEGV", "exit_code": None,
        "signal": "SIGSEGV", "timed_out": False, "elapsed_s": 12.5}))
    return folder


def test_failed_cells_are_listed_in_the_report_and_a_later_result_is_named(tmp_path):
    runs = tmp_path / "runs"
    write_run(runs, make_record("laptop", "onnxruntime", "fp32", "offline",
                                started="2026-11-20T10:00:00"))  # retried after failing
    write_run(runs, make_record("laptop", "openvino", "fp32", "offline",
                                started="2026-11-20T08:00:00"))  # before its failure
    _failed_cell(runs, "onnxruntime", "2026-11-20T09:00:00")
    openvino = _failed_cell(runs, "openvino", "2026-11-20T09:00:00")
    summary = write_report([runs], tmp_path / "report").markdown.read_text()
    section = summary[summary.index("## Failed cells"):]
    lines = [line for line in section.splitlines() if line.startswith("- ")][:2]
    (retried,) = [line for line in lines if "onnxruntime" in line]
    (unresolved,) = [line for line in lines if "openvino" in line]
    assert "killed by SIGSEGV after 12.5 s" in retried and "a later run has a result" in retried
    assert unresolved.endswith("; no result") and str(openvino) in unresolved
    assert "WARNING: 1 sweep cell(s) failed and have no result" in summary
    broken = runs / "2026-11-20T110000_pytorch_failed"
    broken.mkdir()
    (broken / "failed.json").write_text("{not json")
    assert any(str(broken) in w and "not a readable failed-cell record" in w
               for w in collect([runs]).warnings)


def test_invalid_is_flagged_when_every_run_is_a_performance_run(tmp_path):
    # an all-performance folder gives pandas a boolean `valid` column (numpy bools)
    write_run(tmp_path / "runs", make_record("laptop", "onnxruntime", "fp32", "offline",
                                             valid=False))
    write_run(tmp_path / "runs", make_record("laptop", "openvino", "fp32", "offline"))
    runs = collect([tmp_path / "runs"]).runs
    flagged = {row.backend: caveats(runs.loc[row.Index]) for row in runs.itertuples()}
    assert flagged == {"onnxruntime": ["INVALID"], "openvino": []}


def test_tables_show_fidelity_next_to_top1(tmp_path):
    from reports.collect import newest_per_configuration as newest
    from reports.tables import device_matrix

    quantized = make_record("laptop", "onnxruntime", PRECISIONS[-1], "single-stream",
                            mode="accuracy")
    quantized["metrics"]["accuracy"]["fidelity"] = {"agreement": 0.987, "sqnr_db": 23.4}
    quantized["metrics"]["accuracy"]["simulated"] = {
        "top1": 0.71, "gap_deployed_minus_simulated": -0.012, "gap_p_value": 0.031}
    cannot = make_record("laptop", "openvino", PRECISIONS[-1], "single-stream", mode="accuracy")
    cannot["metrics"]["accuracy"]["simulated"] = {"unsupported": "openvino: no float path"}
    write_run(tmp_path / "runs", make_record("laptop", "onnxruntime", "fp32", "single-stream",
                                             mode="accuracy"))
    write_run(tmp_path / "runs", quantized)
    write_run(tmp_path / "runs", cannot)
    matrix = device_matrix(newest(collect([tmp_path / "runs"]).runs))
    row = matrix[(matrix["precision"] == PRECISIONS[-1])
                 & (matrix["backend"] == "onnxruntime")].iloc[0]
    assert row["agreement with fp32"] == 0.987 and row["SQNR (dB)"] == 23.4
    assert row["top1"] == quantized["metrics"]["accuracy"]["top1"]
    assert row["simulated top1"] == 0.71 and row["deployed - simulated"] == "-0.012 (p 0.031)"
    other = matrix[matrix["backend"] == "openvino"].iloc[0]
    assert math.isnan(other["simulated top1"])
    assert other["deployed - simulated"] == "not simulated on this runtime"


def _matrix(folder: Path):
    from reports.tables import device_matrix

    return device_matrix(newest_per_configuration(collect([folder]).runs))


def test_runs_differing_only_in_threads_are_two_configurations(tmp_path):
    two = make_record("laptop", "onnxruntime", "fp32", "offline")
    four = make_record("laptop", "onnxruntime", "fp32", "offline",
                       started="2026-11-20T11:00:00")
    two["threads"] = 2
    for record in (two, four):
        write_run(tmp_path / "runs", record)
    matrix = _matrix(tmp_path / "runs")
    assert sorted(matrix["threads"]) == [2, 4] and (matrix["runs found"] == 1).all()


def test_another_calibration_set_or_format_is_another_configuration_same_baseline(tmp_path):
    base = make_record("laptop", "onnxruntime", "fp32", "offline")
    records = [base]
    for number, (digest, quant_format) in enumerate([("aaaa", "u8s8"), ("bbbb", "u8s8"),
                                                     ("aaaa", "s8s8")]):
        int8 = make_record("laptop", "onnxruntime", "int8-static", "offline",
                           started=f"2026-11-20T1{number + 1}:00:00")
        int8["calibration"] = {"source": "x", "count": 8, "digest": digest, "synthetic": True}
        int8["quantization"] = {"tool": "t", "options": {"quant_format": quant_format}}
        records.append(int8)
    for record in records:
        write_run(tmp_path / "runs", record)
    matrix = _matrix(tmp_path / "runs")
    int8 = matrix[matrix["precision"] == "int8-static"]
    assert len(int8) == 3 and (int8["runs found"] == 1).all()  # none hides another
    assert int8["speed-up"].notna().all()  # each against the one fp32 run


def test_speed_up_only_against_the_same_configuration_and_with_its_caveats(tmp_path):
    base = make_record("laptop", "openvino", "fp32", "single-stream", quick=True)
    other_threads = make_record("laptop", "openvino", "int8-static", "single-stream", quick=True)
    other_threads["threads"] = 2
    same = make_record("laptop", "openvino", "int8-static", "single-stream", quick=True,
                       started="2026-11-20T12:00:00")
    for record in (base, other_threads, same):
        write_run(tmp_path / "runs", record)
    matrix = _matrix(tmp_path / "runs").set_index(["precision", "threads"])
    assert pd.isna(matrix.loc[("int8-static", 2), "speed-up"])  # no fp32 run with 2 threads
    expected = (base["metrics"]["latency_ms"]["p90_early_stopping"]
                / same["metrics"]["latency_ms"]["p90_early_stopping"])
    assert matrix.loc[("int8-static", 4), "speed-up"] == pytest.approx(expected)
    assert "baseline quick" not in matrix.loc[("int8-static", 4), "notes"]  # already says quick
    full = make_record("laptop", "tflite", "int8-static", "single-stream")
    full["full_measurement"] = True
    write_run(tmp_path / "mixed", full)
    quick_base = make_record("laptop", "tflite", "fp32", "single-stream")
    quick_base["weights_pretrained"] = False
    quick_base["weights"] = full["weights"]  # same id, to make them one configuration
    write_run(tmp_path / "mixed", quick_base)
    row = _matrix(tmp_path / "mixed").set_index("precision").loc["int8-static"]
    assert "baseline random weights" in row["notes"]


def test_best_configuration_never_picks_an_invalid_run(tmp_path):
    for precision in ("fp32", "int8-static"):
        write_run(tmp_path / "runs", make_record("laptop", "onnxruntime", precision,
                                                 "offline", valid=precision != "int8-static"))
        write_run(tmp_path / "runs", make_record("laptop", "onnxruntime", precision,
                                                 "single-stream", "accuracy"))
    from reports.tables import best_configurations

    best = best_configurations(_matrix(tmp_path / "runs"))
    assert len(best) == 1 and "onnxruntime fp32" in best[0], best  # int8 is faster, INVALID


def test_a_significant_drop_over_one_point_disqualifies(tmp_path):
    from reports.tables import best_configurations

    fp32 = make_record("laptop", "openvino", "fp32", "single-stream", "accuracy")
    int8 = make_record("laptop", "openvino", "int8-static", "single-stream", "accuracy")
    int8["metrics"]["accuracy"]["top1"] = 0.70  # 2 points below, all 20 flips one way
    for record in (fp32, int8):
        write_run(tmp_path / "runs", record)
        write_run(tmp_path / "runs", make_record("laptop", "openvino", record["precision"],
                                                 "offline"))
    matrix = _matrix(tmp_path / "runs")
    row = matrix[(matrix["precision"] == "int8-static") & (matrix["scenario"] == "offline")].iloc[0]
    assert row["vs fp32"] == pytest.approx(-0.02) and row["p (McNemar)"] < 1e-5
    assert "openvino fp32" in best_configurations(matrix)[0]


def test_device_name_is_the_configurations_device(tmp_path):
    for hostname_device in ("raspberrypi (Raspberry Pi 4 Model B Rev 1.5)",
                            "raspberrypi (Raspberry Pi 5 Model B Rev 1.0)"):
        record = make_record("raspberrypi", "tflite", "fp32", "offline")
        record["device"] = hostname_device
        write_run(tmp_path / "runs" / hostname_device[-8:], record)
    runs = newest_per_configuration(collect([tmp_path / "runs"]).runs)
    assert len(runs) == 2 and runs["device"].nunique() == 2


def test_old_results_report_with_defaults_named_in_a_warning(tmp_path):
    old = make_record("raspberrypi", "tflite", "fp32", "offline")
    for name in ("schema_version", "device", "batch_size", "full_measurement"):
        del old[name]
    old["max_batch"] = 8
    write_run(tmp_path / "runs", old)
    collected = collect([tmp_path / "runs"])
    row = collected.runs.iloc[0]
    assert row["device"] == "raspberrypi (Cortex-A76)" and row["batch_size"] == 8
    assert row["run_length"] == "full"  # before run lengths, only quick runs were short
    warning = next(w for w in collected.warnings if "older edgebench" in w)
    assert "device (1 runs)" in warning and "batch_size (1 runs)" in warning


def test_default_device_name_keeps_two_boards_with_one_hostname_apart():
    from harness.core.system_info import default_device_name

    pi4 = {"hostname": "raspberrypi", "cpu": "Cortex-A72", "board": "Raspberry Pi 4 Model B"}
    pi5 = {"hostname": "raspberrypi", "cpu": "Cortex-A76", "board": "Raspberry Pi 5 Model B"}
    laptop = {"hostname": "box", "cpu": "AMD EPYC 9V74", "board": None}
    assert default_device_name(pi4) != default_device_name(pi5)
    assert default_device_name(laptop) == "box (AMD EPYC 9V74)"


def test_repeats_give_the_median_its_interval_and_paired_speed_ups(tmp_path):
    fp32 = [10.0, 10.4, 9.8, 10.1, 30.0]  # repeat 5 hit a noisy neighbour
    int8 = [5.0, 5.2, 4.9, 5.05, 15.0]
    for precision, values in (("fp32", fp32), ("int8-static", int8)):
        for repeat, value in enumerate(values, start=1):
            record = make_record("laptop", "openvino", precision, "single-stream",
                                 started=f"2026-11-20T10:0{repeat}:00")
            record["metrics"]["latency_ms"]["p90_early_stopping"] = value
            record["sweep"] = {"id": "s1", "repeat": repeat, "of": 5}
            write_run(tmp_path / "runs", record)
    matrix = _matrix(tmp_path / "runs").set_index("precision")
    assert matrix.loc["fp32", "value"] == 10.1 and matrix.loc["fp32", "repeats"] == 5
    assert matrix.loc["fp32", "95% CI"] == "9.8-30"
    assert "noisy" in matrix.loc["fp32", "notes"]
    # paired by repeat, every ratio is 2 (the noisy repeat included): a tight interval
    assert matrix.loc["int8-static", "speed-up"] == pytest.approx(2.0)
    assert matrix.loc["int8-static", "speed-up 95% CI"] == "2-2"


def test_the_quantizer_section_keeps_each_quantizers_speed_accuracy_and_simulation_apart(
        tmp_path):
    from reports.study import quantizers

    runs = tmp_path / "runs"
    for mode in ("performance", "accuracy"):
        write_run(runs, make_record("laptop", "onnxruntime", "fp32", "single-stream", mode))
    # two quantizers of one precision, started in turn: none may borrow the other's numbers
    made = {"minmax": (2.0, 0.70, 0.71), "adaround": (1.6, 0.74, 0.73)}
    for number, (quantizer, (p90_ms, top1, simulated)) in enumerate(made.items()):
        for mode in ("performance", "accuracy"):
            record = make_record("laptop", "onnxruntime", "int8-static", "single-stream", mode,
                                 started=f"2026-11-20T1{number}:00:0{mode == 'accuracy':d}")
            record["quantization"] = {"quantizer": quantizer, "tool": "aimet-onnx",
                                      "weights": "int8", "options": {"quantizer": quantizer}}
            record["precision_executed"] = "int8"
            if mode == "performance":
                record["metrics"]["latency_ms"]["p90_early_stopping"] = p90_ms
                record["costs"] = {"build_s": 100.0 * (number + 1)}
            else:
                record["metrics"]["accuracy"]["top1"] = top1
                record["metrics"]["accuracy"]["simulated"] = {
                    "top1": simulated, "gap_deployed_minus_simulated": top1 - simulated,
                    "gap_p_value": 0.5}
            write_run(runs, record)
    table = quantizers(_matrix(runs)).set_index("quantizer")
    assert list(table.index) == ["adaround", "minmax"]
    fp32_ms = make_record("laptop", "onnxruntime", "fp32", "single-stream")[
        "metrics"]["latency_ms"]["p90_early_stopping"]
    for quantizer, (p90_ms, top1, simulated) in made.items():
        row = table.loc[quantizer]
        assert row["speed-up over fp32"] == f"{fp32_ms / p90_ms:.2f}x (single-stream)"
        assert row["deployed top-1 (95% CI)"].startswith(f"{top1:.3f} (")
        assert row["simulated top-1"] == simulated
        assert row["executed"] == "int8" and row["weights stored"] == "int8"
    assert table.loc["adaround", "build (s)"] == 200.0
    report = write_report([runs], tmp_path / "report")
    assert report.figures["laptop_quantizers.png"] == 2
    assert "Quantizers: deployed beside simulated" in report.markdown.read_text()


# Two CPU families, as edgebench records them: an AMX Xeon and a VNNI-only EPYC
FAMILIES = {"laptop": ("Intel Xeon (AMX)", ["avx512f", "avx512_vnni", "amx_int8"],
                       {"fp32": {"avx512": 52}, "int8-static": {"amx_int8": 52}}),
            "raspberrypi": ("AMD EPYC (Zen 4)", ["avx512f", "avx512_vnni"],
                            {"fp32": {"avx512": 52}, "int8-static": {"avx512_vnni": 50,
                                                                     "ref": 2}})}


def _family_runs(root: Path, energy: bool = False) -> Path:
    for device, (cpu, flags, isa) in FAMILIES.items():
        for precision, counts in isa.items():
            record = make_record(device, "openvino", precision, "single-stream")
            record["system"].update(cpu=cpu, isa_flags=flags)
            record["executed_isa"] = {"counts": counts, "kernels": {"brgconv": 52},
                                      "source": "OpenVINO's runtime model"}
            if energy and device == "laptop":
                record["energy"] = {"source": "powercap-rapl", "covers": "the CPU package",
                                    "joules": 12.0, "window_s": 600.0, "inferences": 1000,
                                    "joules_per_inference": 0.012 / (1 + (precision != "fp32")),
                                    "idle_power_w": 5.0, "summed": ["package-0"]}
            elif energy:
                record["energy"] = {"unsupported": "no energy source can be read here: "
                                                   "powercap-rapl: no /sys/class/powercap"}
            write_run(root / device, ResultRecord.model_validate(record).to_json())
    return root


def test_two_cpu_families_side_by_side_with_speed_up_and_isa(tmp_path):
    report = write_report([_family_runs(tmp_path / "runs")], tmp_path / "report")
    summary = report.markdown.read_text()
    side = summary[summary.index("## Devices side by side"):]
    row = table_row(side, "| mobilenet_v2 | openvino | int8-static | single-stream |")
    # the fixture's speed-up of int8-static over fp32 is 3x on both devices
    assert row["laptop (Intel Xeon (AMX))"] == "3.00x (amx_int8 52)"
    assert row["raspberrypi (AMD EPYC (Zen 4))"] == "3.00x (avx512_vnni 50, ref 2)"
    main = table_row(summary, "| mobilenet_v2 | openvino | int8-static |")  # laptop's
    assert main["executed (ISA)"].endswith("(amx_int8 52)")


def test_energy_per_inference_is_a_column_and_a_figure_where_a_run_has_it(tmp_path):
    report = write_report([_family_runs(tmp_path / "runs", energy=True)],
                          tmp_path / "report")
    summary = report.markdown.read_text()
    laptop = summary[summary.index("## laptop"):summary.index("## raspberrypi")]
    row = table_row(laptop, "| mobilenet_v2 | openvino | int8-static |")
    assert row["J/inference"] == "0.006 (powercap-rapl)"
    assert "Energy per inference (2 runs) covers powercap-rapl: the CPU package" in laptop
    assert report.figures["laptop_energy.png"] == 2
    pi = summary[summary.index("## raspberrypi"):]
    assert "J/inference" not in table_row(pi, "| mobilenet_v2 | openvino | int8-static |")
    assert "Energy: not measured on this device: no energy source can be read here" in pi
    assert "raspberrypi_energy.png" not in report.figures


def test_each_offline_cell_shows_its_whole_batch_probe(tmp_path):
    curves = {"fp32": {"1": 300.0, "2": 410.0, "4": 452.0, "8": 440.0},
              "int8-static": {"1": 350.0, "8": 466.0, "16": 460.0, "32": 53.9}}
    for precision, curve in curves.items():
        record = make_record("laptop", "pytorch", precision, "offline")
        record["batch_choice"] = {"chosen": 8, "probe_samples_per_s": curve,
                                  "candidates": [1, 2, 4, 8, 16, 32], "source": "probed"}
        write_run(tmp_path / "runs", ResultRecord.model_validate(record).to_json())
    write_run(tmp_path / "runs", make_record("laptop", "pytorch", "fp32", "single-stream"))
    report = write_report([tmp_path / "runs"], tmp_path / "report")
    assert report.figures["laptop_batch_probe.png"] == 2  # one panel per Offline cell
    csv = pd.read_csv(report.csv)
    offline = csv[csv["scenario"] == "offline"].set_index("precision")
    assert json.loads(offline.loc["int8-static", "batch_probe"])["32"] == 53.9

