"""A user's own data set: a folder of images, a folder of masks, a list of class names, the unseen ones.

What ``python -m sptseg_lib evaluate --images DIR --masks DIR --classes FILE_OR_LIST --unseen NAMES`` reads
(README, "Your own data"). The layout:

* ``images/<stem>.<jpg|png|...>``: any RGB (or greyscale, palette, 16-bit) images of any size;
* ``masks/<stem>.png``: single-channel PNGs (greyscale ``L`` or palette ``P``) of the image's size whose
  value ``i`` is the ``i``-th class name and whose ``ignore_index`` (255 unless given) marks unlabelled
  pixels; any other value is an error naming the file.

Class names are compared case- and whitespace-insensitively (``"Sky"``, ``" sky "`` and ``"sky"`` are one
name), so a duplicate is refused instead of silently sharing a channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..class_lists import parse_class_names as read_class_list
from .base import UNDEFINED, LabelMapDataset, PairTransform, image_files, missing_files_error
from .paths import DataError
from .splits import IGNORE_INDEX, ZeroShotSplit

MAX_CLASSES = 255
"""Class names that fit in 8-bit masks and label PNGs (values 0-254; 255 is the ignore index)."""


def _key(name: str) -> str:
    return " ".join(name.split()).casefold()


def check_class_names(names: Sequence[str]) -> list[str]:
    """``names`` with surrounding whitespace removed, or a ``ValueError`` naming an empty or repeated name.

    Repeats are found case- and whitespace-insensitively (``sky``, ``Sky`` and `` sky `` are one name).
    """
    cleaned = [" ".join(str(n).split()) for n in names]
    if not cleaned:
        raise ValueError("give at least one class name")
    empty = [i for i, n in enumerate(cleaned) if not n]
    if empty:
        raise ValueError(
            f"class name {empty[0] + 1} of {len(cleaned)} is empty (two commas in a row, or a blank line?); "
            "every position is a class index, so remove it or name it"
        )
    first: dict[str, int] = {}
    for i, name in enumerate(cleaned):
        seen_at = first.setdefault(_key(name), i)
        if seen_at != i:
            raise ValueError(
                f"class names {seen_at + 1} ({cleaned[seen_at]!r}) and {i + 1} ({name!r}) are the same name "
                "(compared ignoring case and spaces); each class needs its own name"
            )
    if len(cleaned) > MAX_CLASSES:
        raise ValueError(f"at most {MAX_CLASSES} class names fit in an 8-bit label map, got {len(cleaned)}")
    return cleaned


def parse_class_names(text_or_file: str | Path) -> list[str]:
    """Class names from a file or a comma-separated list (:func:`sptseg_lib.class_lists.parse_class_names`:
    UTF-8 files, ``#`` comment lines, a mistyped path refused), checked by :func:`check_class_names`."""
    return check_class_names(read_class_list(text_or_file))


def custom_split(class_names: Sequence[str], unseen: Sequence[str], name: str = "custom") -> ZeroShotSplit:
    """The :class:`ZeroShotSplit` of a user's classes: ``unseen`` names (matched like
    :func:`check_class_names`) are unseen, every other class is seen."""
    names = check_class_names(class_names)
    index = {_key(n): i for i, n in enumerate(names)}
    unseen_names = check_class_names(unseen) if unseen else []
    unknown = [u for u in unseen_names if _key(u) not in index]
    if unknown:
        raise ValueError(f"unseen class(es) {unknown} are not among the class names {names}")
    return ZeroShotSplit(name, tuple(names), tuple(sorted(index[_key(u)] for u in unseen_names)))


def custom_label_lut(num_classes: int, ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """Mask value -> label: ``0..num_classes-1`` stay, ``ignore_index`` -> 255, any other is undefined.

    ``ignore_index=0`` is the masks of data sets whose 0 is unlabelled (ADE20K-style; mmseg's
    ``reduce_zero_label``): 0 -> 255 and value ``i`` (``1..num_classes``) -> class ``i - 1``.
    """
    if not 0 <= ignore_index <= 255:
        raise ValueError(f"ignore index must lie in 0..255 (8-bit masks), got {ignore_index}")
    lut = np.full(256, UNDEFINED, dtype=np.int16)
    if ignore_index == 0:
        if num_classes > 254:
            raise ValueError(
                f"with --ignore-index 0, at most 254 classes fit (values 1..254), got {num_classes}"
            )
        lut[1 : num_classes + 1] = np.arange(num_classes)
        lut[0] = IGNORE_INDEX
        return lut
    if ignore_index < num_classes:
        raise ValueError(
            f"ignore index {ignore_index} is a class index (there are {num_classes} classes, "
            f"0..{num_classes - 1}); give --ignore-index a value above them, or 0 when 0 marks unlabelled "
            "pixels and the classes are 1..N (each value is then shifted down by one)"
        )
    lut[:num_classes] = np.arange(num_classes)
    lut[ignore_index] = IGNORE_INDEX
    return lut


class FolderDataset(LabelMapDataset):
    """Images and masks paired by file stem (the module docstring's layout); items as every data set's.

    Args:
        images, masks: the two folders.
        class_names: the checked names (:func:`check_class_names`); mask value ``i`` = ``class_names[i]``.
        transform: ``(PIL image, label) -> tensors``; ``None`` normalises only (the evaluator passes the
            test transform of the checkpoint's crop size).
        ignore_index: the masks' value for unlabelled pixels.
    """

    def __init__(
        self,
        images: str | Path,
        masks: str | Path,
        class_names: Sequence[str],
        transform: PairTransform | None = None,
        *,
        ignore_index: int = IGNORE_INDEX,
    ) -> None:
        images, masks = Path(images), Path(masks)
        if not masks.is_dir():
            raise DataError(f"masks folder {masks} does not exist (or is not a folder)")
        files = image_files(images)
        stems = [p.stem for p in files]
        repeated = sorted({s for s in stems if stems.count(s) > 1})
        if repeated:
            raise DataError(
                f"{images} holds several images with the stem(s) {repeated[:5]}; keep one of each"
            )
        items = [(p.stem, p, masks / f"{p.stem}.png") for p in files]
        missing = [m for _, _, m in items if not m.is_file()]
        if missing:
            raise missing_files_error(
                f"masks for the images in {images}",
                missing,
                len(items),
                "Each image <stem>.<ext> needs a mask <stem>.png (single channel, value i = class i).",
            )
        lut = custom_label_lut(len(class_names), ignore_index)
        shifted = " (mask value 0 unlabelled, value i is class i-1)" if ignore_index == 0 else ""
        super().__init__(items, lut, transform, dataset=f"folder {images.resolve()}{shifted}")
        self.undefined_fix = (
            f"pass --ignore-index N if a value N marks unlabelled pixels (now {ignore_index}), or add a "
            f"class name for each value (value i is the {'i-th' if ignore_index == 0 else '(i+1)-th'} name)"
        )


__all__ = [
    "MAX_CLASSES",
    "FolderDataset",
    "check_class_names",
    "custom_label_lut",
    "custom_split",
    "parse_class_names",
]
