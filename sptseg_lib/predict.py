"""Open-vocabulary prediction of image files: a label PNG, an overlay and each class's share of the pixels.

What ``python -m sptseg_lib predict`` and notebook 09 call. The test-time pipeline itself (resize, windows,
resize back) is :class:`~sptseg_lib.inference.Predictor`'s; this module reads the file and writes the PNGs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .data.prepare import voc_palette
from .inference import Predictor
from .model import SPTSeg

MAX_CLASSES = 255
"""Class names that fit in a palette label PNG (values 0-254)."""


def label_palette() -> list[int]:
    """A flat 256-colour RGB palette: value ``i`` gets the VOC palette's colour ``i + 1`` (no black class)."""
    palette = voc_palette()
    return palette[3:] + palette[:3]


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
    the given names is taken (no seen-class penalty: the names are the user's).

    Args:
        checkpoint: an ``iter_*.pt`` file, or a model from :meth:`SPTSeg.from_checkpoint`.

    Returns:
        ``(label_png, overlay_png, share)``: a palette PNG whose value ``i`` is ``class_names[i]``, the
        image blended with the label colours, and each name's fraction of the pixels.
    """
    if not class_names:
        raise ValueError("give at least one class name")
    if len(class_names) > MAX_CLASSES:
        raise ValueError(f"at most {MAX_CLASSES} class names fit in a label PNG, got {len(class_names)}")
    image = Path(image)
    if not image.is_file():
        raise FileNotFoundError(f"image {str(image)!r} does not exist")
    model = checkpoint if isinstance(checkpoint, SPTSeg) else SPTSeg.from_checkpoint(checkpoint, device)
    with Image.open(image) as im:
        original = np.asarray(im.convert("RGB"))
    predictor = Predictor.open_vocabulary(model, model.experiment, class_names, device=device)
    label = predictor.image_scores(original).argmax(0).to(torch.uint8).cpu().numpy()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    palette = label_palette()
    label_png = Image.fromarray(label, mode="P")
    label_png.putpalette(palette)
    label_path = out_dir / f"{image.stem}.label.png"
    label_png.save(label_path)
    colours = np.asarray(palette, dtype=np.float32).reshape(256, 3)[label]
    blend = (1 - alpha) * original.astype(np.float32) + alpha * colours
    overlay_path = out_dir / f"{image.stem}.overlay.png"
    Image.fromarray(blend.round().clip(0, 255).astype(np.uint8)).save(overlay_path)
    counts = np.bincount(label.ravel(), minlength=len(class_names))
    share = {name: float(counts[i]) / label.size for i, name in enumerate(class_names)}
    return label_path, overlay_path, share


__all__ = ["MAX_CLASSES", "label_palette", "predict_image"]
