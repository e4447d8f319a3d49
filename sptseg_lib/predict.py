"""Open-vocabulary prediction of image files: a label PNG, an overlay and each class's share of the pixels.

What ``python -m sptseg_lib predict`` and notebook 09 call. The test-time pipeline itself (resize, windows,
resize back) is :class:`~sptseg_lib.inference.Predictor`'s; this module reads the file and writes the PNGs.
"""

from __future__ import annotations

import json
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

LEGEND_ROW = 14
"""Height in pixels of one class's row in the overlay's legend."""


def label_palette() -> list[int]:
    """A flat 256-colour RGB palette: value ``i`` gets the VOC palette's colour ``i + 1`` (no black class)."""
    palette = voc_palette()
    return palette[3:] + palette[:3]


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


@torch.no_grad()
def predict_image(
    checkpoint: str | Path | SPTSeg,
    image: str | Path,
    class_names: list[str],
    out_dir: str | Path,
    *,
    device: torch.device | str | None = None,
    alpha: float = 0.5,
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
    label = predictor.image_scores(original).argmax(0).to(torch.uint8).cpu().numpy()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    palette = label_palette()
    label_png = Image.fromarray(label, mode="P")
    label_png.putpalette(palette)
    label_path = out_dir / f"{image.stem}.label.png"
    label_png.save(label_path)
    counts = np.bincount(label.ravel(), minlength=len(class_names))
    share = {name: float(counts[i]) / label.size for i, name in enumerate(class_names)}
    colours = np.asarray(palette, dtype=np.float32).reshape(256, 3)[label]
    blend = (
        ((1 - alpha) * original.astype(np.float32) + alpha * colours).round().clip(0, 255).astype(np.uint8)
    )
    overlay_path = out_dir / f"{image.stem}.overlay.png"
    _with_legend(blend, class_names, share, palette).save(overlay_path)
    legend = {
        "image": str(image),
        "checkpoint": str(checkpoint) if not isinstance(checkpoint, SPTSeg) else None,
        "label_png": label_path.name,
        "classes": [
            {"value": i, "name": n, "colour": palette[3 * i : 3 * i + 3], "share": share[n]}
            for i, n in enumerate(class_names)
        ],
    }
    (out_dir / f"{image.stem}.legend.json").write_text(json.dumps(legend, indent=2) + "\n", encoding="utf-8")
    return label_path, overlay_path, share


def image_inputs(path: str | Path) -> list[Path]:
    """``path`` itself if it is a file, the image files inside it if it is a folder
    (:func:`~sptseg_lib.data.base.image_files`); a clear error otherwise."""
    path = Path(path)
    if path.is_dir():
        return image_files(path)
    if not path.exists():
        raise DataError(f"image {path} does not exist")
    return [path]


__all__ = ["LEGEND_ROW", "MAX_CLASSES", "image_inputs", "label_palette", "predict_image"]
