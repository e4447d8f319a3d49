"""PASCAL VOC 2012 with the SBD "aug" annotations (docs/reference.md §6.1, §6.4).

Layout under the ``VOC2012`` folder (found by :func:`~sptseg_lib.data.paths.resolve_data_root`)::

    JPEGImages/<id>.jpg
    SegmentationClass/<id>.png        VOC's own masks (palette PNGs: the pixel values are indices)
    SegmentationClassAug/<id>.png     SBD masks, written by prepare.prepare_voc
    ImageSets/Segmentation/{train,val,aug,trainaug}.txt

Splits: ``"train_aug"`` (the reference: ``train.txt`` read from SegmentationClass plus ``aug.txt`` from
SegmentationClassAug, 10,582 images), ``"val"`` (1,449), ``"train"`` (1,464) and ``"trainaug"`` (all of
``trainaug.txt`` from SegmentationClassAug; needs ``prepare_voc(copy_voc_masks=True)``).

Raw masks hold 0 (background), 1..20 (classes) and 255 (boundaries). With ``reduce_zero_label`` (the
reference) background becomes 255 and class ``k`` becomes ``k - 1``, the indices of
:data:`~sptseg_lib.data.splits.VOC_SPLIT`: a 20-class problem without a background class.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .base import UNDEFINED, LabelMapDataset, PairTransform, missing_files_error
from .paths import DataError, resolve_data_root
from .splits import IGNORE_INDEX

VOC_SPLITS: dict[str, tuple[tuple[str, str], ...]] = {
    "train_aug": (("train", "SegmentationClass"), ("aug", "SegmentationClassAug")),
    "train": (("train", "SegmentationClass"),),
    "trainaug": (("trainaug", "SegmentationClassAug"),),
    "val": (("val", "SegmentationClass"),),
}
"""Split -> (list file stem, mask folder) parts."""

_PREPARE_HINT = (
    "aug.txt, trainaug.txt and SegmentationClassAug are made from SBD by `python -m sptseg_lib prepare-data "
    "voc` (sptseg_lib.data.prepare.prepare_voc)."
)
_VOC_MASKS_HINT = (
    "SegmentationClass holds VOC 2012's own masks, from VOCtrainval_11-May-2012.tar: is the VOC folder "
    "complete (re-extract it, or `python -m sptseg_lib download-data voc`)?"
)


def voc_label_lut(reduce_zero_label: bool = True) -> np.ndarray:
    """Raw VOC mask value -> label: 0..20 and 255 are defined, 21..254 are not."""
    lut = np.full(256, UNDEFINED, dtype=np.int16)
    lut[IGNORE_INDEX] = IGNORE_INDEX
    if reduce_zero_label:
        lut[0] = IGNORE_INDEX
        lut[1:21] = np.arange(20)
    else:
        lut[0:21] = np.arange(21)
    return lut


def read_id_list(path: Path) -> list[str]:
    """Image ids of an ImageSets list (one per line; blank lines ignored)."""
    if not path.is_file():
        hint = _PREPARE_HINT if path.stem in ("aug", "trainaug") else "Is this a complete VOC 2012 folder?"
        raise DataError(f"missing list file {path}. {hint}")
    return [line.split()[0] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class VOCAugDataset(LabelMapDataset):
    """VOC 2012 (+ SBD) semantic segmentation; items are ``dict(image, label, name)``.

    Args:
        root: the ``VOC2012`` folder or a parent of ``VOCdevkit/``; ``None``: ``$SPTSEG_DATA``.
        split: one of :data:`VOC_SPLITS`.
        transform: ``(PIL image, label array) -> (image, label)`` tensors; ``None`` normalises only.
        reduce_zero_label: background -> 255, classes 1..20 -> 0..19 (reference); ``False`` keeps raw 0..20.

    Construction checks that the list files, images and masks exist; each item checks the image/mask size
    and the mask values and raises :class:`~sptseg_lib.data.paths.DataError` naming the file.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        split: str = "train_aug",
        transform: PairTransform | None = None,
        reduce_zero_label: bool = True,
    ) -> None:
        if split not in VOC_SPLITS:
            raise ValueError(f"unknown VOC split {split!r}; known: {', '.join(VOC_SPLITS)}")
        self.root = resolve_data_root(root, "voc")
        self.split = split
        items: list[tuple[str, Path, Path]] = []
        for list_stem, mask_dir in VOC_SPLITS[split]:
            ids = read_id_list(self.root / "ImageSets" / "Segmentation" / f"{list_stem}.txt")
            items += [
                (i, self.root / "JPEGImages" / f"{i}.jpg", self.root / mask_dir / f"{i}.png") for i in ids
            ]
        missing_img = [p for _, p, _ in items if not os.path.isfile(p)]
        if missing_img:
            raise missing_files_error(
                f"JPEG images of VOC split {split!r}", missing_img, len(items), "Is JPEGImages complete?"
            )
        missing_mask = [p for _, _, p in items if not os.path.isfile(p)]
        if missing_mask:
            what = f"masks of VOC split {split!r}"
            sbd = any(p.parent.name == "SegmentationClassAug" for p in missing_mask)
            raise missing_files_error(
                what, missing_mask, len(items), _PREPARE_HINT if sbd else _VOC_MASKS_HINT
            )
        super().__init__(items, voc_label_lut(reduce_zero_label), transform, dataset=f"VOC {split}")
