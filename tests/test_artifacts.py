import json

import pytest

from harness.artifacts import MANIFEST, ArtifactCache, source_digest
from harness.errors import ArtifactError


def _builder(calls):
    def build(staging):
        calls.append(staging)
        (staging / "model.bin").write_bytes(b"x" * 100)
        return staging / "model.bin"
    return build


def test_built_once_then_reused(tmp_path):
    cache, calls = ArtifactCache(tmp_path), []
    first = cache.get_or_build("m", {"a": 1}, _builder(calls))
    second = cache.get_or_build("m", {"a": 1}, _builder(calls))
    assert first == second and len(calls) == 1
    assert cache.main_file(first).read_bytes() == b"x" * 100


def test_key_fields_separate_artifacts(tmp_path):
    cache, calls = ArtifactCache(tmp_path), []
    a = cache.get_or_build("m", {"torch": "1"}, _builder(calls))
    b = cache.get_or_build("m", {"torch": "2"}, _builder(calls))
    assert a != b and len(calls) == 2


def test_damaged_artifact_is_rebuilt(tmp_path):
    cache, calls = ArtifactCache(tmp_path), []
    directory = cache.get_or_build("m", {"a": 1}, _builder(calls))
    (directory / "model.bin").write_bytes(b"short")
    cache.get_or_build("m", {"a": 1}, _builder(calls))
    assert len(calls) == 2 and (directory / "model.bin").stat().st_size == 100


def test_half_written_artifact_is_never_reused(tmp_path):
    cache, calls = ArtifactCache(tmp_path), []
    directory = cache.get_or_build("m", {"a": 1}, _builder(calls))
    (directory / MANIFEST).unlink()  # as if the process died before finishing
    cache.get_or_build("m", {"a": 1}, _builder(calls))
    assert len(calls) == 2 and json.loads((directory / MANIFEST).read_text())["main"]


def test_failed_build_is_not_cached_and_says_where_it_went(tmp_path):
    cache = ArtifactCache(tmp_path)

    def broken(staging):
        (staging / "partial.bin").write_bytes(b"half")
        raise RuntimeError("converter exploded")

    with pytest.raises(ArtifactError, match="converter exploded") as err:
        cache.get_or_build("m", {"a": 1}, broken)
    failed = [p for p in (tmp_path / "artifacts").iterdir() if p.name.endswith(".failed")]
    assert len(failed) == 1 and str(failed[0]) in str(err.value)
    calls = []
    cache.get_or_build("m", {"a": 1}, _builder(calls))
    assert len(calls) == 1


def test_unloadable_cached_artifact_is_rebuilt_once(tmp_path):
    cache, calls, loads = ArtifactCache(tmp_path), [], []

    def load(path):
        loads.append(path)
        if len(loads) == 2:  # the cached copy, as if damaged in place
            raise ValueError("bad magic number")
        return "session"

    cache.load("m", {"a": 1}, _builder(calls), load)
    path, loaded = cache.load("m", {"a": 1}, _builder(calls), load)
    assert loaded == "session" and len(calls) == 2 and len(loads) == 3
    assert path.read_bytes() == b"x" * 100


def test_freshly_built_artifact_that_cannot_load_is_an_error(tmp_path):
    def load(_path):
        raise ValueError("unsupported opset 99")

    with pytest.raises(ArtifactError, match="cannot load the m it just built: unsupported "
                                            "opset 99; the artifact is in .*m-"):
        ArtifactCache(tmp_path).load("m", {"a": 1}, _builder([]), load)


def test_architecture_code_tells_builder_arguments_apart():
    import functools

    from harness.zoo import ModelSpec
    from harness.zoo.mobilenet_v2 import mobilenet_v2

    narrow = ModelSpec("n", functools.partial(mobilenet_v2, width_mult=0.25), None)
    wide = ModelSpec("w", functools.partial(mobilenet_v2, width_mult=1.0), None)
    assert narrow.architecture_code[0] is wide.architecture_code[0] is mobilenet_v2
    assert narrow.architecture_code[1] != wide.architecture_code[1]
    assert source_digest(mobilenet_v2) == source_digest(narrow.architecture_code[0])
