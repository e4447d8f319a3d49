"""Open-vocabulary prediction of image files: a label PNG, an overlay and each class's share of the pixels.

What ``python -m sptseg_lib predict`` and notebook 09 call. The test-time pipeline itself (resize, windows,
resize back) is :class:`~sptseg_lib.inference.Predictor`'s; this module reads the file and writes the PNGs.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from .data.base import image_files, read_image
from .data.custom import MAX_CLASSES, check_class_names
from .data.paths import DataError
from .data.prepare import voc_palette
from .inference import Predictor
from .model import SPTSeg
from .outputs import check_output_folder
from .viz.common import class_colours

LEGEND_ROW = 14
"""Height in pixels of one class's row in the overlay's legend."""


def label_palette(class_names: list[str] | None = None) -> list[int]:
    """A flat 256-colour RGB palette. With ``class_names``, value ``i`` gets class ``i``'s colour in the
    project's palette (:func:`sptseg_lib.viz.class_colours`: the notebooks' figures use it too, so "blue
    square" is blue everywhere); the values beyond them, and every value without names, get the VOC
    palette's colour ``i + 1`` (no black class)."""
    palette = voc_palette()
    palette = palette[3:] + palette[:3]
    if class_names:
        named = [round(255 * v) for rgb in class_colours(list(class_names)) for v in rgb]
        palette = named + palette[len(named) :]
    return palette


def _with_legend(
    overlay: np.ndarray, names: list[str], share: dict[str, float], palette: list[int]
) -> Image.Image:
    """The overlay with a legend strip below it: one row per class present (colour, name, pixel share)."""
    present = [(i, n) for i, n in enumerate(names) if share[n] > 0]
    font = ImageFont.load_default()
    rows = [f"{i}: {n}  {100 * share[n]:.1f} %" for i, n in present]
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    text_width = max((int(probe.textlength(r, font=font)) for r in rows), default=0)
    h, w = overlay.shape[:2]
    canvas = Image.new("RGB", (max(w, text_width + 20), h + LEGEND_ROW * len(present) + 4), "white")
    canvas.paste(Image.fromarray(overlay), (0, 0))
    draw = ImageDraw.Draw(canvas)
    for row, ((i, _), text) in enumerate(zip(present, rows)):
        top = h + 2 + row * LEGEND_ROW
        draw.rectangle([2, top + 1, 12, top + 11], fill=tuple(palette[3 * i : 3 * i + 3]), outline="black")
        draw.text((16, top), text, fill="black", font=font)
    return canvas


def blend_overlay(image: np.ndarray, label: np.ndarray, palette: list[int], alpha: float) -> np.ndarray:
    """The overlay of ``label`` ``(H, W)`` on ``image`` ``(H, W, 3)`` uint8, with ``palette`` (768 ints):
    ``(1 - alpha) * image + alpha * colour(label)``, rounded to uint8, computed in bands of rows so that a
    large photo needs no float copies of itself."""
    colours = np.asarray(palette, dtype=np.float32).reshape(256, 3)
    out = np.empty_like(image)
    band = max(1, 2**22 // max(1, image.shape[1]))
    for top in range(0, image.shape[0], band):
        rows = slice(top, top + band)
        mixed = (1 - alpha) * image[rows].astype(np.float32) + alpha * colours[label[rows]]
        out[rows] = mixed.round().clip(0, 255).astype(np.uint8)
    return out


@torch.no_grad()
def predict_image(
    checkpoint: str | Path | SPTSeg,
    image: str | Path,
    class_names: list[str],
    out_dir: str | Path,
    *,
    device: torch.device | str | None = None,
    alpha: float = 0.5,
    min_width: int = 0,
) -> tuple[Path, Path, dict[str, float]]:
    """Segment one image into any ``class_names`` with a trained model (open vocabulary).

    :meth:`Predictor.open_vocabulary <sptseg_lib.inference.Predictor.open_vocabulary>`: the image's short side
    is resized to the experiment's crop size, scored by sliding windows of the crop size at the experiment's
    test stride (any image size works), the scores are resized back to the original size and the argmax over
    the given names is taken (no seen-class penalty: the names are the user's). The image is read by
    :func:`~sptseg_lib.data.base.read_image` (16-bit images scaled, broken files a clear error) and the names
    checked by :func:`~sptseg_lib.data.custom.check_class_names` (no empty or repeated name).

    Args:
        checkpoint: an ``iter_*.pt`` file, or a model from :meth:`SPTSeg.from_checkpoint`.
        min_width: the overlay's image is enlarged by a whole factor (nearest neighbour) until it is at
            least this wide (the label PNG keeps the image's size); 0: never enlarged.

    Returns:
        ``(label_png, overlay_png, share)``: a palette PNG whose value ``i`` is ``class_names[i]``, the
        image blended with the label colours above a legend of the classes present, and each name's
        fraction of the pixels. ``<stem>.legend.json`` beside them records the names, their label values
        and colours, the shares and the checkpoint.
    """
    class_names = check_class_names(class_names)
    original = np.asarray(read_image(image))
    image = Path(image)
    model = checkpoint if isinstance(checkpoint, SPTSeg) else SPTSeg.from_checkpoint(checkpoint, device)
    predictor = Predictor.open_vocabulary(model, model.experiment, class_names, device=device)
    label = predictor.image_labels(original).to(torch.uint8).cpu().numpy()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    palette = label_palette(class_names)
    label_png = Image.fromarray(label, mode="P")
    label_png.putpalette(palette)
    label_path = out_dir / f"{image.stem}.label.png"
    label_png.save(label_path)
    counts = np.bincount(label.ravel(), minlength=len(class_names))
    share = {name: float(counts[i]) / label.size for i, name in enumerate(class_names)}
    blend = blend_overlay(original, label, palette, alpha)
    scale = -(-min_width // blend.shape[1]) if min_width > blend.shape[1] else 1
    blend = blend.repeat(scale, axis=0).repeat(scale, axis=1)
    overlay_path = out_dir / f"{image.stem}.overlay.png"
    _with_legend(blend, class_names, share, palette).save(overlay_path)
    legend = {
        "image": str(image),
        "checkpoint": str(checkpoint)
        if not isinstance(checkpoint, SPTSeg)
        else getattr(model, "source", None),
        "label_png": label_path.name,
        "classes": [
            {"value": i, "name": n, "colour": palette[3 * i : 3 * i + 3], "share": share[n]}
            for i, n in enumerate(class_names)
        ],
    }
    (out_dir / f"{image.stem}.legend.json").write_text(json.dumps(legend, indent=2) + "\n", encoding="utf-8")
    return label_path, overlay_path, share


OUTPUT_SUFFIXES = (".label.png", ".overlay.png")
"""Endings of the files :func:`predict_image` writes; a folder's such files are outputs, never inputs."""


def image_inputs(path: str | Path) -> list[Path]:
    """``path`` itself if it is a file, the image files inside it if it is a folder
    (:func:`~sptseg_lib.data.base.image_files`, without earlier outputs ``*.label.png`` / ``*.overlay.png``,
    so that ``--out`` equal to the input folder does not feed them back in); a clear error otherwise, also
    when two images share a stem (their outputs would overwrite each other)."""
    path = Path(path)
    if path.is_dir():
        files = [p for p in image_files(path) if not p.name.lower().endswith(OUTPUT_SUFFIXES)]
        if not files:
            raise DataError(f"{path} holds only earlier predictions (*.label.png, *.overlay.png), no images")
        stems: dict[str, Path] = {}
        for p in files:
            if p.stem in stems:
                raise DataError(
                    f"{stems[p.stem].name} and {p.name} in {path} share the stem {p.stem!r}, so their "
                    f"outputs ({p.stem}.label.png, ...) would overwrite each other; rename one of them"
                )
            stems[p.stem] = p
        return files
    if not path.exists():
        raise DataError(f"image {path} does not exist")
    return [path]


def check_images(images: list[Path]) -> None:
    """Decode every image before any is predicted (one at a time, nothing kept): a clear error naming each
    that cannot be read and saying that nothing was written."""
    bad = []
    for image in images:
        try:
            read_image(image)
        except DataError as err:
            bad.append(str(err))
    if bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise DataError(
            f"{len(bad)} of {len(images)} images cannot be used (nothing was written): {bad[0]}{more}"
        )


def predict_files(
    checkpoint: str | Path,
    image: str | Path,
    class_names: list[str],
    out_dir: str | Path,
    *,
    device: torch.device | str | None = None,
    echo: Callable[[str], None] = print,
) -> list[Path]:
    """``python -m sptseg_lib predict``: :func:`predict_image` on an image or every image of a folder.

    Everything is checked before any work: the names, the output folder (writable), every image (decoded,
    no two with one stem); one class name alone is a warning (every pixel would get it). ``echo`` receives
    each image's shares and the files written. Returns the label PNGs.
    """
    class_names = check_class_names(class_names)
    if len(class_names) == 1:
        warnings.warn(
            f"only one class name ({class_names[0]!r}): every pixel gets it; give the other things the "
            "images show too (--classes a,b,...)",
            stacklevel=2,
        )
    images = image_inputs(image)
    check_output_folder(out_dir, "output folder")
    model = SPTSeg.from_checkpoint(checkpoint, device)
    check_images(images)
    written = []
    for path in images:
        label_path, overlay_path, shares = predict_image(model, path, class_names, out_dir, device=device)
        written.append(label_path)
        if len(images) > 1:
            echo(path.name)
        for name, share in shares.items():
            echo(f"{name:>24s} {100 * share:5.1f} %")
        legend = label_path.name.replace(".label.png", ".legend.json")
        echo(f"wrote {label_path}, {overlay_path} and {legend}")
    return written


__all__ = [
    "LEGEND_ROW",
    "MAX_CLASSES",
    "OUTPUT_SUFFIXES",
    "blend_overlay",
    "check_images",
    "image_inputs",
    "label_palette",
    "predict_files",
    "predict_image",
]
