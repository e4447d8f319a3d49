"""The project's palette where figures are not matplotlib's: predict_image's label PNG and overlay (what
notebook 09 shows) draw every class of the shapes world in the colour its name says, as viz.class_colours
does, and the overlay of a small image is enlarged to a readable width."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tiny_configs import tiny_model_config

from sptseg_lib import viz
from sptseg_lib.config import DataConfig, ExperimentConfig
from sptseg_lib.model import build_model
from sptseg_lib.predict import label_palette, predict_image


def _dominant(rgb) -> str:
    return ("red", "green", "blue")[int(np.argmax(rgb))]


@pytest.fixture(scope="module")
def model():
    config = tiny_model_config()
    model = build_model(config)
    model.experiment = ExperimentConfig(
        "tiny", config, DataConfig(dataset="shapes", crop_size=64, test_mode="whole", test_stride=48)
    )
    return model.eval()


def test_label_palette_follows_the_class_names() -> None:
    names = ["red circle", "blue square", "green triangle", "grass", "water"]
    palette = np.asarray(label_palette(names)).reshape(256, 3)
    np.testing.assert_array_equal(palette[: len(names)], np.round(255 * viz.class_colours(names)))
    for name, rgb in zip(names[:3], palette):
        assert _dominant(rgb) == name.split()[0], (name, rgb)
    without = np.asarray(label_palette()).reshape(256, 3)
    np.testing.assert_array_equal(palette[len(names) :], without[len(names) :])  # the rest as before


@pytest.mark.parametrize("name", ["blue square", "green triangle", "red circle"])
def test_overlay_draws_a_class_in_the_colour_its_name_says(tmp_path: Path, model, name: str) -> None:
    image = tmp_path / "grey.png"
    Image.fromarray(np.full((64, 96, 3), 128, np.uint8)).save(image)
    # one name only: every pixel is that class, blended half and half with the grey image
    label_path, overlay_path, share = predict_image(
        model, image, [name], tmp_path, device="cpu", min_width=384
    )
    assert share == {name: 1.0}
    overlay = np.asarray(Image.open(overlay_path).convert("RGB")).astype(int)
    assert overlay.shape[1] == 384  # 96 px enlarged four times
    pixel = overlay[100, 200]
    assert _dominant(pixel) == name.split()[0], (name, pixel)
    assert pixel.max() - np.sort(pixel)[1] > 30  # clearly that colour, not a grey
    assert np.asarray(Image.open(label_path)).shape == (64, 96)  # the label keeps the image's size


def test_overlay_is_enlarged_by_a_whole_factor_only_when_asked(tmp_path: Path, model) -> None:
    image = tmp_path / "small.png"
    Image.fromarray(np.zeros((40, 100, 3), np.uint8)).save(image)
    _, plain, _ = predict_image(model, image, ["sky"], tmp_path / "plain", device="cpu")
    _, wide, _ = predict_image(model, image, ["sky"], tmp_path / "wide", device="cpu", min_width=384)
    assert Image.open(plain).size[0] == 100
    assert Image.open(wide).size[0] == 400  # x4: the first whole factor reaching 384 px
    assert Image.open(wide).size[1] == 4 * 40 + Image.open(plain).size[1] - 40  # the legend below unchanged
