import numpy as np
import pytest
from PIL import Image

from harness.core.errors import DatasetError
from harness.core.preprocess import preprocess_image, resize_and_crop
from harness.core.zoo import InputConfig, get_spec
from tests.conftest import write_image

# the zoo's ImageNet classifiers all take this one
IMAGENET = get_spec("mobilenet_v2").input


@pytest.mark.parametrize("mode", ["RGB", "L", "CMYK"])
def test_every_colour_mode_becomes_normalised_rgb(tmp_path, mode):
    out = preprocess_image(write_image(tmp_path / f"x_{mode}.JPEG", mode=mode), IMAGENET)
    assert out.shape == (3, 224, 224) and out.dtype == np.float32
    assert out.flags["C_CONTIGUOUS"]


def test_palette_png_is_converted(tmp_path):
    path = tmp_path / "p.png"
    Image.new("P", (120, 90), 3).save(path)
    assert preprocess_image(path, IMAGENET).shape == (3, 224, 224)


def test_normalisation_uses_imagenet_mean_and_std(tmp_path):
    path = tmp_path / "flat.png"
    Image.new("RGB", (400, 300), (200, 100, 50)).save(path)
    out = preprocess_image(path, IMAGENET)
    mean = np.array([0.485, 0.456, 0.406], np.float32).reshape(3, 1, 1)  # torchvision's
    std = np.array([0.229, 0.224, 0.225], np.float32).reshape(3, 1, 1)
    expected = (np.array([200, 100, 50], np.float32).reshape(3, 1, 1) / 255 - mean) / std
    np.testing.assert_allclose(out, np.broadcast_to(expected, out.shape), atol=1e-5)


def test_shorter_side_256_then_centre_crop_224():
    # A tall image with a one-pixel-wide marker column in its exact centre.
    pixels = np.zeros((600, 300, 3), np.uint8)
    pixels[:, 149:151] = 255
    resized = resize_and_crop(Image.fromarray(pixels), IMAGENET.resize_shorter_px,
                              IMAGENET.size_px)
    assert resized.size == (224, 224)
    column_brightness = np.asarray(resized)[:, :, 0].mean(axis=0)
    assert abs(int(np.argmax(column_brightness)) - 111.5) <= 1.5


def test_unreadable_image_names_the_file(tmp_path):
    path = tmp_path / "bad.JPEG"
    path.write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(DatasetError, match="bad.JPEG"):
        preprocess_image(path, IMAGENET)


def test_a_model_input_config_sets_the_transform(tmp_path):
    path = write_image(tmp_path / "x.JPEG", size=(300, 200))
    small = InputConfig(size_px=96, resize_shorter_px=110, mean=(0.5, 0.5, 0.5),
                        std=(0.25, 0.25, 0.25))
    out = preprocess_image(path, small)
    assert out.shape == (3, 96, 96)
    pixels = np.asarray(resize_and_crop(Image.open(path).convert("RGB"), 110, 96),
                        np.float32).transpose(2, 0, 1) / 255
    np.testing.assert_allclose(out, (pixels - 0.5) / 0.25, atol=1e-5)
