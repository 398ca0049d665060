import json

import pytest

from harness.core.artifacts import MANIFEST, ArtifactCache
from harness.core.digests import source_digest
from harness.core.errors import ArtifactError


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


def test_failed_build_leaves_nothing_in_the_cache_but_its_log(tmp_path):
    cache = ArtifactCache(tmp_path)

    def broken(staging):
        (staging / "partial.bin").write_bytes(b"half")
        raise RuntimeError("converter exploded")

    with pytest.raises(ArtifactError, match="converter exploded") as err:
        cache.get_or_build("m", {"a": 1}, broken)
    assert not list((tmp_path / "artifacts").iterdir())
    (log,) = (tmp_path / "failed-builds").iterdir()
    assert str(log) in str(err.value)
    calls = []
    cache.get_or_build("m", {"a": 1}, _builder(calls))
    assert len(calls) == 1


def test_freshly_built_artifact_that_cannot_load_is_an_error(tmp_path):
    def load(_path):
        raise ValueError("unsupported opset 99")

    with pytest.raises(ArtifactError, match="cannot load the m it just built: unsupported "
                                            "opset 99; the artifact is in .*m-"):
        ArtifactCache(tmp_path).load("m", {"a": 1}, _builder([]), load)


def test_architecture_code_tells_builder_arguments_apart():
    import functools

    from harness.core.zoo import ModelSpec
    from harness.core.zoo.mobilenet_v2 import mobilenet_v2
    from harness.core.zoo.vgg import vgg19

    narrow = ModelSpec("n", functools.partial(mobilenet_v2, width_mult=0.25), None)
    wide = ModelSpec("w", functools.partial(mobilenet_v2, width_mult=1.0), None)
    lazy = ModelSpec("l", "harness.core.zoo.mobilenet_v2:mobilenet_v2", None)
    # one function: the same source digest; its arguments tell the two apart
    assert narrow.architecture_code[0] is wide.architecture_code[0] is mobilenet_v2
    assert "('width_mult', 0.25)" in narrow.architecture_code[1]
    assert "('width_mult', 1.0)" in wide.architecture_code[1]
    assert lazy.architecture_code == (mobilenet_v2, "harness.core.zoo.mobilenet_v2.mobilenet_v2")
    # another function: another digest, so another cache key
    assert source_digest(vgg19) != source_digest(mobilenet_v2)


def _loader(failure: BaseException | None):
    def load(path):
        if failure is not None:
            raise failure
        return path.read_bytes()
    return load


def test_an_intact_artifact_that_fails_to_load_is_kept(tmp_path):
    cache, calls = ArtifactCache(tmp_path), []
    path, _ = cache.load("m", {"a": 1}, _builder(calls), _loader(None))
    with pytest.raises(ArtifactError) as caught:
        cache.load("m", {"a": 1}, _builder(calls),
                   _loader(MemoryError("std::bad_alloc: cannot allocate 548 MB")))
    message = str(caught.value)
    assert "std::bad_alloc" in message and "intact" in message and "\n" not in message
    assert path.read_bytes() == b"x" * 100 and len(calls) == 1  # nothing deleted or rebuilt


def test_a_damaged_artifact_of_the_same_size_is_rebuilt_on_load(tmp_path, capfd):
    cache, calls = ArtifactCache(tmp_path), []
    path, _ = cache.load("m", {"a": 1}, _builder(calls), _loader(None))
    path.write_bytes(b"y" * 100)  # same size: only the content digest can tell
    attempts = []

    def picky(artifact):
        attempts.append(artifact.read_bytes())
        if artifact.read_bytes() != b"x" * 100:
            raise RuntimeError("invalid flatbuffer")
        return "loaded"

    assert cache.load("m", {"a": 1}, _builder(calls), picky) == (path, "loaded")
    assert len(calls) == 2 and attempts == [b"y" * 100, b"x" * 100]
    assert "damaged" in capfd.readouterr().err


def test_manifest_records_each_files_digest(tmp_path):
    cache = ArtifactCache(tmp_path)
    directory = cache.get_or_build("m", {"a": 1}, _builder([]))
    entry = json.loads((directory / MANIFEST).read_text())["files"]["model.bin"]
    assert entry["size"] == 100
    assert entry["sha256"] == __import__("hashlib").sha256(b"x" * 100).hexdigest()
