import json
from pathlib import Path

import jsonschema
import pytest

from harness.core.records import (
    FailedCell,
    ResultRecord,
    finalize,
    make_staging_dir,
    write_json_atomic,
)
from reports.collect import collect
from tests.conftest import run_cli


def test_finalize_never_overwrites(tmp_path):
    names = []
    for _ in range(3):
        staging = make_staging_dir(tmp_path, "run")
        write_json_atomic(staging / "result.json", {"n": len(names)})
        names.append(finalize(staging, "run"))
    assert [p.name for p in names] == ["run", "run-2", "run-3"]
    assert [json.loads((p / "result.json").read_text())["n"] for p in names] == [0, 1, 2]


def test_staging_directory_is_hidden_and_atomic_write_leaves_no_temp(tmp_path):
    staging = make_staging_dir(tmp_path, "run")
    assert staging.name.startswith(".")
    write_json_atomic(staging / "result.json", {"a": 1})
    assert [p.name for p in staging.iterdir()] == ["result.json"]


# ---- the typed record ----

def _demo_records(demo_sweep) -> list[Path]:
    results, proc = demo_sweep
    assert proc.returncode == 0, proc.stderr
    found = sorted(results.glob("*/result.json"))
    assert len(found) == 16
    return found


def test_real_results_validate_against_the_printed_schema(demo_sweep):
    proc = run_cli("schema")
    assert proc.returncode == 0, proc.stderr
    schemas = json.loads(proc.stdout)
    assert set(schemas) == {"result.json", "failed.json"}
    validator = jsonschema.Draft202012Validator(schemas["result.json"])
    for path in _demo_records(demo_sweep):
        data = json.loads(path.read_text())
        errors = [e.message for e in validator.iter_errors(data)]
        assert not errors, (path, errors)
    # and the schema is not a rubber stamp: a record with a wrong type fails it
    data["metrics"]["throughput_sps"] = "fast"
    assert list(validator.iter_errors(data))
    failed = FailedCell(cell={"model": "vgg19", "backend": "tflite"}, reason="timed out",
                        timed_out=True, last_50_lines=["about to hang"])
    jsonschema.validate(failed.to_json(), schemas["failed.json"])
    assert list(jsonschema.Draft202012Validator(schemas["failed.json"]).iter_errors(
        {"cell": {}, "timed_out": True}))  # no reason


def test_a_current_record_round_trips_unchanged(demo_sweep):
    for path in _demo_records(demo_sweep):
        data = json.loads(path.read_text())
        record, defaulted = ResultRecord.from_json(data)
        assert defaulted == [] and record.unknown_fields() == []
        assert record.to_json() == data, path
        # typed all the way down: parts are objects, not dicts
        if record.mode == "performance" and record.scenario == "offline":
            assert record.metrics.throughput_sps == data["metrics"]["throughput_sps"]
            assert record.batch_choice.chosen == record.batch_size


def test_a_field_this_edgebench_does_not_know_is_kept_and_warned_about(demo_sweep, tmp_path):
    source = _demo_records(demo_sweep)[0]
    data = json.loads(source.read_text())
    data["power_w"] = 4.2  # from a newer edgebench, say
    data["costs"]["energy_j"] = 17.0
    record, _ = ResultRecord.from_json(data)
    assert sorted(record.unknown_fields()) == ["costs.energy_j", "power_w"]
    written = record.to_json()
    assert written["power_w"] == 4.2 and written["costs"]["energy_j"] == 17.0
    folder = tmp_path / "newer" / source.parent.name
    folder.mkdir(parents=True)
    (folder / "result.json").write_text(json.dumps(data))
    warnings = collect([tmp_path / "newer"]).warnings
    assert any("does not know" in w and "power_w (1 runs)" in w and "costs.energy_j" in w
               for w in warnings), warnings


def test_a_record_that_is_not_one_is_refused_naming_the_field():
    with pytest.raises(ValueError, match="metrics"):
        ResultRecord.from_json({**_minimal(), "metrics": {"throughput_sps": "fast"}})
    with pytest.raises(ValueError, match="JSON object"):
        ResultRecord.from_json([1, 2])


def _minimal() -> dict:
    return {"schema_version": 2, "model": "m", "backend": "b", "precision": "fp32",
            "scenario": "offline", "mode": "performance", "device": "d", "quick": True,
            "threads": 1, "batch_size": 1, "weights": "random:0", "weights_pretrained": False,
            "dataset": {"name": "synthetic"}, "samples": 1, "backend_version": None,
            "edgebench_version": "x", "started_at": "", "system": {}}
