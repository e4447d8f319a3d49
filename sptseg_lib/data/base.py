"""A label-map data set on disk: (image, mask) file pairs, a label look-up table, per-item checks.

:class:`~sptseg_lib.data.voc.VOCAugDataset` and :class:`~sptseg_lib.data.coco_stuff.COCOStuffDataset`
build on it; each item is ``dict(image=float (3, H, W), label=long (H, W), name=str)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from tqdm.auto import tqdm

from .paths import DataError
from .splits import IGNORE_INDEX
from .transforms import build_test_transform

PairTransform = Callable[[Image.Image, np.ndarray], tuple[torch.Tensor, torch.Tensor]]
UNDEFINED = -1
"""Value of a label look-up table entry for a raw label the data set does not define."""


IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm")
"""File endings taken as images when a folder of images is given."""

_HIGH_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def _check_file(path: Path, what: str) -> None:
    if path.is_dir():
        raise DataError(f"{what} {path} is a folder; expected a file")
    if not path.is_file():
        raise DataError(f"{what} {path} does not exist")


def read_image(path: str | Path) -> Image.Image:
    """An 8-bit RGB PIL image, or a :class:`DataError` naming the file and the problem.

    Decoded in full here, so a truncated or corrupt file fails now, with its name, not later in a
    transform. Greyscale of 16 bits (PNG/TIFF mode ``I;16``) or 32-bit integers holding 16-bit values
    (mode ``I``) are scaled to 8 bits (``v * 255 / 65535``) before conversion, instead of being clipped
    to white as a plain ``convert("RGB")`` does; float images (mode ``F``) are refused. Palette, alpha,
    CMYK and 1-bit images are converted by PIL. The EXIF orientation tag that cameras write (a photo stored
    sideways, shown upright) is applied (``PIL.ImageOps.exif_transpose``), so the pixels are those every
    viewer shows; masks are never turned (:func:`read_label`).
    """
    path = Path(path)
    _check_file(path, "image")
    try:
        with Image.open(path) as im:
            im.load()
            im = ImageOps.exif_transpose(im)  # as every viewer shows it (a phone's rotation tag applied)
            if im.mode in _HIGH_BIT_MODES:
                values = np.asarray(im).astype(np.int64)
                if values.min() < 0 or values.max() > 65535:
                    raise DataError(
                        f"image {path} holds values {values.min()}..{values.max()}, beyond 16 bits; "
                        "save it as an 8- or 16-bit image"
                    )
                grey = np.round(values * (255 / 65535)).astype(np.uint8)
                return Image.fromarray(grey, mode="L").convert("RGB")
            if im.mode == "F":
                raise DataError(
                    f"image {path} holds floating-point pixels (mode 'F'), whose range is not defined; "
                    "save it as an 8- or 16-bit image"
                )
            return im.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise DataError(f"cannot read image {path}: {err} (is it a complete image file?)") from err


EXIF_ORIENTATION = 0x0112
_TURNS = {5: "transposed", 6: "rotated 90 degrees", 7: "transversed", 8: "rotated 270 degrees"}


def exif_hint(image_path: str | Path, mask_shape: tuple[int, ...]) -> str:
    """A sentence for a size mismatch that the image's EXIF orientation explains, else ``""``: the image
    was turned to its displayed orientation, and the mask has the stored (unturned) one."""
    try:
        with Image.open(image_path) as im:
            orientation = im.getexif().get(EXIF_ORIENTATION)
            stored = (im.height, im.width)
    except (OSError, ValueError):
        return ""
    if orientation not in _TURNS or tuple(mask_shape[:2]) != stored:
        return ""
    return (
        f"; the image's EXIF orientation tag ({orientation}: {_TURNS[orientation]}) turns its stored "
        f"{stored[0]}x{stored[1]} pixels into the displayed orientation, and the mask follows the stored "
        "one: "
        "save the mask as the image is displayed (or save the image without the orientation tag)"
    )


def image_files(folder: str | Path) -> list[Path]:
    """The image files of a folder (by :data:`IMAGE_SUFFIXES`, any case), sorted; a clear error if none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return files


_MASK_MODES = {
    "1": "A 1-bit (black and white) image stores no class indices: save it as 8-bit greyscale with value i "
    "for class i.",
    "LA": "It is greyscale with an alpha channel: save it without the alpha channel (mode 'L').",
    "PA": "It is a palette image with an alpha channel: save it without the alpha channel (mode 'P').",
    "F": "It holds floating-point values: save it as 8-bit greyscale with value i for class i.",
}
"""Why a mask of a mode that holds no class indices is refused (RGB and RGBA: a colour rendering)."""


def read_label(path: str | Path) -> np.ndarray:
    """The class-index map of a mask PNG as a (H, W) array, or a :class:`DataError` naming the file.

    Masks must store indices (palette ``P`` or greyscale ``L``); an RGB rendering of a palette mask is
    refused, since its colours are not class indices.
    """
    path = Path(path)
    _check_file(path, "mask")
    try:
        with Image.open(path) as im:
            mode = im.mode
            if mode in ("P", "L", "I", "I;16"):
                return np.asarray(im)
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise DataError(f"cannot read mask {path}: {err}") from err
    why = _MASK_MODES.get(
        mode, "An RGB mask is a colour rendering: use the original PNGs (do not convert them to RGB)."
    )
    raise DataError(
        f"mask {path} has mode {mode!r}; masks must hold class indices (palette 'P' or greyscale 'L'). {why}"
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
        self.undefined_fix = "is it the right mask file, written by the preparation step?"
        """What the error for a mask value the data set does not define suggests."""

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
                f"{exif_hint(image_path, raw.shape)}"
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
                f"{self.undefined_fix}"
            )
        return image, label.astype(np.uint8), name

    def check_items(self, indices: Sequence[int] | None = None, *, progress: bool = False) -> None:
        """Read every pair of ``indices`` (default: all) as :meth:`load` does, before any work on them.

        Raises one :class:`DataError` listing every bad pair (the first 10 in full), so that a broken mask
        costs the seconds of reading, not an evaluation run (``evaluate`` calls this first).
        """
        indices = range(len(self)) if indices is None else indices
        problems = []
        for i in tqdm(indices, desc=f"check {self.dataset}", disable=not progress, dynamic_ncols=True):
            try:
                self.load(i)
            except DataError as err:
                problems.append(str(err))
        if problems:
            shown = "\n  ".join(problems[:10])
            more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
            raise DataError(
                f"{len(problems)} of {len(indices)} {self.dataset} items cannot be used (nothing was "
                f"evaluated):\n  {shown}{more}"
            )

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        image, label, name = self.load(index)
        x, y = self.transform(image, label)
        return {"image": x, "label": y, "name": name}
