"""Bad input, round two: class lists as people write them, photos as cameras store them, labels of huge images
computed a few classes at a time (identical to the full-resolution argmax).
"""

from __future__ import annotations

import codecs
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from test_cli_inputs import _photo, run_error
from test_cli_inputs import checkpoint as checkpoint  # the fixture

from sptseg_lib import inference
from sptseg_lib.__main__ import main
from sptseg_lib.class_lists import parse_class_names as read_list
from sptseg_lib.data.base import read_image
from sptseg_lib.data.custom import parse_class_names
from sptseg_lib.inference import Predictor, resized_argmax
from sptseg_lib.model import SPTSeg

# --- 7. bounded memory: the argmax a few classes at a time --------------------------------------------------


@pytest.mark.parametrize("ties", [False, True], ids=["random", "with-ties"])
@pytest.mark.parametrize("budget", [1, 3 * 4 * 97 * 131, None], ids=["one-class", "three-classes", "default"])
def test_resized_argmax_is_the_full_resolution_argmax_exactly(ties: bool, budget: int | None) -> None:
    gen = torch.Generator().manual_seed(0)
    for batch, classes, low, size in [(1, 171, (8, 12), (97, 131)), (2, 20, (16, 16), (64, 200))]:
        scores = torch.rand(batch, classes, *low, generator=gen)
        if ties:
            scores = (scores * 4).round() / 4
        full = F.interpolate(scores, size=size, mode="bilinear", align_corners=False).argmax(1)
        assert torch.equal(resized_argmax(scores, size, budget), full)


def test_predictor_labels_match_todays_path_on_a_small_image(checkpoint: Path, monkeypatch) -> None:
    model = SPTSeg.from_checkpoint(checkpoint, "cpu")
    names = [f"thing {i}" for i in range(40)]
    predictor = Predictor.open_vocabulary(model, model.experiment, names, device="cpu")
    image = np.asarray(read_image(_photo(Path(checkpoint).parent / "big.png", (150, 230, 3), seed=3)))
    expected = predictor.image_scores(image).argmax(0)
    monkeypatch.setattr(inference, "LABEL_CHUNK_BYTES", 1)  # one class at a time
    assert torch.equal(predictor.image_labels(image), expected)


# --- 3. class lists as people write them -------------------------------------------------------------


def test_a_mistyped_classes_path_is_refused_with_both_readings(
    tmp_path: Path, checkpoint: Path, capsys
) -> None:
    image = _photo(tmp_path / "a.png", (32, 32, 3))
    err = run_error(
        ["predict", "--checkpoint", str(checkpoint), "--image", str(image), "--classes", "probe/clases.txt",
         "--out", str(tmp_path / "o")],
        capsys,
    )  # fmt: skip
    assert err.strip() == (
        "error: --classes 'probe/clases.txt': no such file; read as a list it would be the single class "
        "'probe/clases.txt'. Give the path of an existing classes file, or class names separated by commas"
    )
    assert not (tmp_path / "o").exists()
    with pytest.raises(ValueError, match="no such file"):
        read_list("classes.txt")


def test_a_long_comma_list_is_a_list_not_a_file_name() -> None:
    names = [f"class number {i}" for i in range(40)]
    assert len(",".join(names)) > 255
    assert parse_class_names(",".join(names)) == names


def test_classes_files_utf8_with_a_bom_comments_and_escaped_hashes(tmp_path: Path) -> None:
    path = tmp_path / "classes.txt"
    path.write_bytes(codecs.BOM_UTF8 + "sky\n# a comment\n  # indented comment\n\n\\#1 seed\ncafé\n".encode())
    assert parse_class_names(path) == ["sky", "#1 seed", "café"]


def test_an_inline_comment_is_refused_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "classes.txt"
    path.write_text("sky\nbrick  # stuff\n", encoding="utf-8")
    with pytest.raises(ValueError) as caught:
        parse_class_names(path)
    assert str(caught.value).startswith(
        f"classes file {path}, line 2: 'brick  # stuff' has a '#' after the name"
    )
    assert "write '\\#' to keep the '#' in the name" in str(caught.value)


@pytest.mark.parametrize(
    "encoding, detail",
    [("latin-1", "is not UTF-8 (byte 0xe9 at offset 7"), ("utf-16", "is UTF-16 text")],
)
def test_a_classes_file_in_another_encoding_names_the_file_and_the_fix(
    tmp_path: Path, encoding: str, detail: str
) -> None:
    path = tmp_path / "classes.txt"
    path.write_text("sky\ncafé\n", encoding=encoding)
    with pytest.raises(ValueError) as caught:
        parse_class_names(path)
    assert str(caught.value).startswith(f"classes file {path} {detail}")
    assert "save it as UTF-8" in str(caught.value)


def test_a_class_name_longer_than_clips_context_is_refused_with_its_token_count(
    tmp_path: Path,
    checkpoint: Path,
    capsys,
) -> None:
    image = _photo(tmp_path / "a.png", (32, 32, 3))
    long_name = " ".join(["zebra"] * 80)
    err = run_error(
        ["predict", "--checkpoint", str(checkpoint), "--image", str(image), "--classes", f"sky,{long_name}",
         "--out", str(tmp_path / "o")],
        capsys,
    )  # fmt: skip
    assert "class name 'zebra zebra" in err and "is 86 tokens long in the prompt" in err
    assert "CLIP reads at most 77 tokens and would cut it: shorten the name" in err


# --- 2. EXIF orientation -------------------------------------------------------------------------------


def _rotated_photo(path: Path, stored_hw: tuple[int, int], orientation: int = 6) -> np.ndarray:
    """A photo stored ``stored_hw`` with an EXIF orientation tag; returns the stored pixels."""
    pixels = np.random.default_rng(0).integers(0, 255, (*stored_hw, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(pixels).save(path, exif=exif)
    return pixels


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_read_image_applies_the_exif_orientation(tmp_path: Path, suffix: str) -> None:
    stored = _rotated_photo(tmp_path / f"phone{suffix}", (48, 64))
    shown = np.asarray(read_image(tmp_path / f"phone{suffix}"))
    assert shown.shape == (64, 48, 3)  # orientation 6: stored sideways, shown rotated 90 degrees clockwise
    if suffix == ".png":
        assert np.array_equal(shown, np.rot90(stored, k=-1))


def test_predict_writes_labels_in_the_displayed_orientation(tmp_path: Path, checkpoint: Path) -> None:
    _rotated_photo(tmp_path / "phone.png", (48, 64))
    assert main(["predict", "--checkpoint", str(checkpoint), "--image", str(tmp_path / "phone.png"),
                 "--classes", "a,b", "--out", str(tmp_path / "o"), "--device", "cpu"]) == 0  # fmt: skip
    assert Image.open(tmp_path / "o" / "phone.label.png").size == (48, 64)  # (width, height) as displayed


def test_a_mask_in_the_stored_orientation_is_explained_by_exif(
    tmp_path: Path,
    checkpoint: Path,
    capsys,
) -> None:
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    _rotated_photo(images / "phone.png", (48, 64))
    Image.fromarray(np.zeros((48, 64), np.uint8), mode="L").save(masks / "phone.png")  # drawn on the stored
    err = run_error(
        ["evaluate", "--checkpoint", str(checkpoint), "--images", str(images), "--masks", str(masks),
         "--classes", "a,b", "--unseen", "b", "--device", "cpu", "--no-progress",
         "--out", str(tmp_path / "r")],
        capsys,
    )  # fmt: skip
    assert "is 64x48 but mask" in err and "is 48x64 (height x width): the pair does not match" in err
    assert "the image's EXIF orientation tag (6: rotated 90 degrees) turns its stored 48x64 pixels" in err
    assert "save the mask as the image is displayed" in err
