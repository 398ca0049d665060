import json

from harness.core.records import finalize, make_staging_dir, write_json_atomic


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
