"""A label-map data set on disk: (image, mask) file pairs, a label look-up table, per-item checks.

:class:`~sptseg_lib.data.voc.VOCAugDataset` and :class:`~sptseg_lib.data.coco_stuff.COCOStuffDataset`
build on it; each item is ``dict(image=float (3, H, W), label=long (H, W), name=str)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .paths import DataError
from .splits import IGNORE_INDEX
from .transforms import build_test_transform

PairTransform = Callable[[Image.Image, np.ndarray], tuple[torch.Tensor, torch.Tensor]]
UNDEFINED = -1
"""Value of a label look-up table entry for a raw label the data set does not define."""


def read_image(path: Path) -> Image.Image:
    """An RGB PIL image, or a :class:`DataError` naming the file."""
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except (OSError, ValueError) as err:
        raise DataError(f"cannot read image {path}: {err}") from err


def read_label(path: Path) -> np.ndarray:
    """The class-index map of a mask PNG as a (H, W) array, or a :class:`DataError` naming the file.

    Masks must store indices (palette ``P`` or greyscale ``L``); an RGB rendering of a palette mask is
    refused, since its colours are not class indices.
    """
    try:
        with Image.open(path) as im:
            mode = im.mode
            if mode in ("P", "L", "I", "I;16"):
                return np.asarray(im)
    except (OSError, ValueError) as err:
        raise DataError(f"cannot read mask {path}: {err}") from err
    raise DataError(
        f"mask {path} has mode {mode!r}; masks must hold class indices (palette 'P' or greyscale 'L'). "
        "An RGB mask is a colour rendering: use the original PNGs (do not convert them to RGB)."
    )


def missing_files_error(what: str, missing: Sequence[Path], total: int, fix: str) -> DataError:
    shown = "\n  ".join(str(p) for p in missing[:5])
    more = f"\n  ... and {len(missing) - 5} more" if len(missing) > 5 else ""
    return DataError(f"{len(missing)} of {total} {what} are missing:\n  {shown}{more}\n{fix}")


class LabelMapDataset(torch.utils.data.Dataset):
    """Pairs of files plus a raw-label look-up table.

    Args:
        items: ``(name, image_path, label_path)`` triples.
        lut: int array of 256 entries: raw mask value -> label, :data:`UNDEFINED` where the data set
            defines no such value (an item holding one raises :class:`DataError`).
        transform: callable ``(PIL image, label array) -> (image tensor, label tensor)``; ``None``
            normalises without resizing (:func:`~sptseg_lib.data.transforms.build_test_transform` with
            ``short_side=None``).
        dataset: a name for messages.
    """

    def __init__(
        self,
        items: Sequence[tuple[str, Path, Path]],
        lut: np.ndarray,
        transform: PairTransform | None,
        dataset: str,
    ) -> None:
        self.items = list(items)
        self.lut = np.asarray(lut, dtype=np.int16)
        if self.lut.shape != (256,):
            raise ValueError(f"lut must have 256 entries, got shape {self.lut.shape}")
        self.transform = transform if transform is not None else build_test_transform(short_side=None)
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.items)

    def load(self, index: int) -> tuple[Image.Image, np.ndarray, str]:
        """The checked, remapped pair before any transform: (PIL RGB image, uint8 label (H, W), name)."""
        name, image_path, label_path = self.items[index]
        image = read_image(image_path)
        raw = read_label(label_path)
        if raw.shape != (image.height, image.width):
            raise DataError(
                f"{self.dataset} item {name!r}: image {image_path} is {image.height}x{image.width} but mask "
                f"{label_path} is {raw.shape[0]}x{raw.shape[1]} (height x width): the pair does not match"
            )
        if raw.dtype != np.uint8:
            if raw.min() < 0 or raw.max() > 255:
                raise DataError(f"mask {label_path} holds values {raw.min()}..{raw.max()}, outside 0..255")
            raw = raw.astype(np.uint8)
        label = self.lut[raw]
        if (label == UNDEFINED).any():
            bad = np.unique(raw[label == UNDEFINED]).tolist()
            defined = np.flatnonzero(self.lut != UNDEFINED)
            raise DataError(
                f"mask {label_path} holds values {bad[:10]} that {self.dataset} does not define "
                f"(defined: {defined.min()}..{defined[defined != IGNORE_INDEX].max()} and {IGNORE_INDEX}); "
                "is it the right mask file, written by the preparation step?"
            )
        return image, label.astype(np.uint8), name

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        image, label, name = self.load(index)
        x, y = self.transform(image, label)
        return {"image": x, "label": y, "name": name}
