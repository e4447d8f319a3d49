"""COCO-Stuff 164K (docs/reference.md §6.1, §6.4).

Layout under the ``coco_stuff164k`` folder (found by :func:`~sptseg_lib.data.paths.resolve_data_root`)::

    images/{train2017,val2017}/<name>.jpg
    annotations/{train2017,val2017}/<name>.png                  raw: COCO category id - 1 (0..181), 255
    annotations/{train2017,val2017}/<name>_labelTrainIds.png    written by prepare.prepare_coco_stuff

The loader reads the ``_labelTrainIds`` masks: 0..170 in the order of
:data:`~sptseg_lib.data.splits.COCO_STUFF_SPLIT`, 255 unlabelled. Splits: ``"train"`` (118,287 images),
``"val"`` (5,000).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .base import UNDEFINED, LabelMapDataset, PairTransform, missing_files_error
from .paths import DataError, resolve_data_root
from .splits import COCO_STUFF_SPLIT, IGNORE_INDEX

COCO_STUFF_SPLITS: dict[str, str] = {"train": "train2017", "val": "val2017"}
TRAIN_ID_SUFFIX = "_labelTrainIds.png"
_PREPARE_HINT = (
    "The *_labelTrainIds.png masks are made from the raw annotation PNGs by `sptseg prepare-data coco_stuff` "
    "(sptseg_lib.data.prepare.prepare_coco_stuff)."
)


def coco_stuff_label_lut() -> np.ndarray:
    """Train-id mask value -> label: 0..170 and 255 are defined."""
    lut = np.full(256, UNDEFINED, dtype=np.int16)
    lut[: COCO_STUFF_SPLIT.num_classes] = np.arange(COCO_STUFF_SPLIT.num_classes)
    lut[IGNORE_INDEX] = IGNORE_INDEX
    return lut


class COCOStuffDataset(LabelMapDataset):
    """COCO-Stuff 164K semantic segmentation; items are ``dict(image, label, name)``.

    Args:
        root: the ``coco_stuff164k`` folder or its parent; ``None``: ``$SPTSEG_DATA``.
        split: ``"train"`` or ``"val"``.
        transform: ``(PIL image, label array) -> (image, label)`` tensors; ``None`` normalises only.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        split: str = "val",
        transform: PairTransform | None = None,
    ) -> None:
        if split not in COCO_STUFF_SPLITS:
            raise ValueError(f"unknown COCO-Stuff split {split!r}; known: {', '.join(COCO_STUFF_SPLITS)}")
        self.root = resolve_data_root(root, "coco_stuff")
        self.split = split
        sub = COCO_STUFF_SPLITS[split]
        image_dir, ann_dir = self.root / "images" / sub, self.root / "annotations" / sub
        for folder in (image_dir, ann_dir):
            if not folder.is_dir():
                raise DataError(f"missing folder {folder} (COCO-Stuff {split}); layout: see coco_stuff.py")
        images = sorted(image_dir.glob("*.jpg"))
        if not images:
            raise DataError(f"no .jpg images in {image_dir} (COCO-Stuff {split})")
        items = [(p.stem, p, ann_dir / f"{p.stem}{TRAIN_ID_SUFFIX}") for p in images]
        missing: list[Path] = [m for _, _, m in items if not os.path.isfile(m)]
        if missing:
            what = f"train-id masks of COCO-Stuff {split}"
            raise missing_files_error(what, missing, len(items), _PREPARE_HINT)
        super().__init__(items, coco_stuff_label_lut(), transform, dataset=f"COCO-Stuff {split}")
