import numpy as np
import pytest
from PIL import Image

from harness.core import datasets
from harness.core.datasets import SyntheticDataset, open_dataset
from harness.core.errors import DatasetError
from tests.conftest import write_image


def test_synthetic_is_seeded_per_index():
    a, b = SyntheticDataset(10), SyntheticDataset(10)
    np.testing.assert_array_equal(a.sample(7), b.sample(7))
    assert not np.array_equal(a.sample(1), a.sample(2))
    assert a.sample(0).shape == (3, 224, 224) and a.labels is None


def test_val_map_layout(small_folder, tmp_path):
    ds = open_dataset(str(small_folder), None, tmp_path / "cache", 8)
    ds.prepare()
    assert len(ds) == 4 and list(ds.labels) == [0, 10, 20, 30]
    assert ds.sample(3).shape == (3, 224, 224)
    assert ds.describe()["layout"] == "val_map.txt"


def test_synsets_layout(tmp_path):
    folder = tmp_path / "syn"
    folder.mkdir()
    (folder / "synsets.txt").write_text("n001\nn002\nn003\n")
    write_image(folder / "n003_cat.JPEG")
    write_image(folder / "n001_dog.JPEG", mode="L")
    ds = open_dataset(str(folder), None, tmp_path / "cache", 8)
    assert [p.name for p in ds.files] == ["n001_dog.JPEG", "n003_cat.JPEG"]
    assert list(ds.labels) == [0, 2]


def test_count_keeps_the_first_samples(small_folder, tmp_path):
    ds = open_dataset(str(small_folder), 2, tmp_path / "cache", 8)
    assert [p.name for p in ds.files] == ["img0.JPEG", "img1.JPEG"]
    with pytest.raises(DatasetError, match="exceeds the 4 samples"):
        open_dataset(str(small_folder), 5, tmp_path / "cache", 8)


def test_preprocessed_samples_are_cached_on_disk(small_folder, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = open_dataset(str(small_folder), None, cache, 8)
    first.prepare()
    expected = first.sample(1)

    def must_not_run(path):
        raise AssertionError(f"{path} was decoded again")

    monkeypatch.setattr(datasets, "preprocess_image", must_not_run)
    second = open_dataset(str(small_folder), None, cache, 8)
    second.prepare()
    np.testing.assert_array_equal(second.sample(1), expected)


def test_changed_image_is_preprocessed_again(small_folder, tmp_path):
    cache = tmp_path / "cache"
    ds = open_dataset(str(small_folder), None, cache, 8)
    ds.prepare()
    before = ds.sample(0)
    write_image(small_folder / "img0.JPEG", color=(255, 0, 0))
    ds = open_dataset(str(small_folder), None, cache, 8)
    ds.prepare()
    assert not np.array_equal(ds.sample(0), before)


@pytest.mark.parametrize("setup, message", [
    (lambda d: None, "neither val_map.txt nor synsets.txt"),
    (lambda d: (d / "val_map.txt").write_text(""), "holds no images"),
    (lambda d: (d / "val_map.txt").write_text("ghost.JPEG 1\n"), "ghost.JPEG"),
    (lambda d: (d / "val_map.txt").write_text("a b c\n"), "val_map.txt:1"),
])
def test_bad_folders_are_named(tmp_path, setup, message):
    folder = tmp_path / "ds"
    folder.mkdir()
    setup(folder)
    with pytest.raises(DatasetError, match=message):
        open_dataset(str(folder), None, tmp_path / "cache", 8)


def test_missing_folder(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        open_dataset(str(tmp_path / "nowhere"), None, tmp_path, 8)


def test_unreadable_image_fails_at_prepare_naming_it(small_folder, tmp_path):
    (small_folder / "img2.JPEG").write_bytes(b"garbage")
    ds = open_dataset(str(small_folder), None, tmp_path / "cache", 8)
    with pytest.raises(DatasetError, match="img2.JPEG"):
        ds.prepare()


def test_imagenet_sample_with_grayscale_files(imagenet_sample, tmp_path):
    ds = open_dataset(str(imagenet_sample), None, tmp_path / "cache", 8)
    assert len(ds) == 1000 and set(ds.labels) == set(range(1000))
    gray = [i for i, p in enumerate(ds.files[:200]) if Image.open(p).mode == "L"]
    assert gray, "the sample's first 200 files should include a grayscale one"
    ds.files = [ds.files[i] for i in gray[:3]]
    ds.prepare()
    assert ds.sample(0).shape == (3, 224, 224)
