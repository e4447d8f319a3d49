"""Evaluation: the zero-shot protocol of Table 1 (pAcc, mIoU(S), mIoU(U), hIoU = eq. 11) and its report.

At test time every class name is given to the model (channel ``c`` = class ``c``). In the inductive setting
the seen classes' sigmoid scores are lowered by ``seen_penalty`` (0.1) before the argmax; the transductive
and fully supervised settings use no penalty (reference-code.md 6.3). Images are tiled with 512 windows at
stride 426 (``slide``) or passed whole; predictions are compared with the label at its original size.
Processes each take every ``world_size``-th image and their confusion matrices are summed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Dataset

from .checkpoint import check_compatible, checkpoint_experiment, load_checkpoint
from .config import ExperimentConfig
from .data.prepare import voc_palette
from .data.splits import ZeroShotSplit


def seen_mask_for(
    split: ZeroShotSplit, setting: str, device: torch.device | str = "cpu"
) -> torch.Tensor | None:
    """(C,) bool, True for seen classes, in the inductive setting (the penalty applies); else ``None``."""
    if setting != "inductive":
        return None
    mask = torch.zeros(split.num_classes, dtype=torch.bool, device=device)
    mask[list(split.seen)] = True
    return mask


def padded_predictor(
    model: nn.Module, text: torch.Tensor, seen_mask: torch.Tensor | None
) -> Callable[[torch.Tensor], torch.Tensor]:
    """``images (N,3,h,w) -> scores (N,C,h,w)`` by ``model.predict``, zero-padding (bottom, right) to
    at least the model's ``image_size`` and to a multiple of its patch size, then cropping the scores back.

    Windows of the sliding inference are already ``image_size``; this only matters for images smaller than
    a window or whole-image inference on sizes the patch grid does not divide.
    """
    size = int(model.config.image_size)
    patch = getattr(getattr(getattr(model, "clip", None), "visual", None), "patch_size", 1)
    patch = int(patch[0] if isinstance(patch, (tuple, list)) else patch)

    def predict_fn(images: torch.Tensor) -> torch.Tensor:
        h, w = images.shape[-2:]
        ph, pw = max(size, -(-h // patch) * patch), max(size, -(-w // patch) * patch)
        if (ph, pw) != (h, w):
            images = torch.nn.functional.pad(images, (0, pw - w, 0, ph - h))
        return model.predict(images, text, seen_mask=seen_mask)[..., :h, :w]

    return predict_fn


@torch.no_grad()
def evaluate(
    model: nn.Module,
    dataset: Dataset,
    split: ZeroShotSplit,
    *,
    setting: str = "inductive",
    mode: str = "slide",
    crop: int = 512,
    stride: int = 426,
    device: torch.device | str | None = None,
    progress: bool = True,
    limit: int | None = None,
) -> dict[str, Any]:
    """Metrics of ``model`` on ``dataset`` (items ``dict(image=(3,H',W'), label=(H,W), name)``).

    Returns the dict of :meth:`sptseg_lib.metrics.ConfusionMatrix.compute` (``pAcc``, ``IoU`` per class,
    ``mIoU``, ``mIoU_seen``, ``mIoU_unseen``, ``hIoU``) plus ``num_images``.
    """
    from tqdm.auto import tqdm

    from .inference import slide_inference, whole_inference
    from .metrics import ConfusionMatrix

    if mode not in ("slide", "whole"):
        raise ValueError(f"mode must be 'slide' or 'whole', got {mode!r}")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
    was_training = model.training
    model.eval()
    text = model.class_embeddings(list(split.class_names)).to(device)
    seen_mask = seen_mask_for(split, setting, device)

    predict_fn = padded_predictor(model, text, seen_mask)
    total = len(dataset) if limit is None else min(limit, len(dataset))  # type: ignore[arg-type]
    indices = range(rank, total, world)
    cm = ConfusionMatrix(split.num_classes)
    for i in tqdm(indices, desc="evaluate", disable=not progress or rank != 0, dynamic_ncols=True):
        item = dataset[i]
        images = item["image"][None].to(device)
        label = item["label"].to(device)
        if mode == "slide":
            scores = slide_inference(predict_fn, images, crop=crop, stride=stride)
        else:
            scores = whole_inference(predict_fn, images)
        if scores.shape[-2:] != label.shape[-2:]:
            scores = torch.nn.functional.interpolate(
                scores, size=label.shape[-2:], mode="bilinear", align_corners=False
            )
        cm.update(scores.argmax(1)[0], label)
    if world > 1:
        cm.all_reduce()
    model.train(was_training)
    result = cm.compute(split.seen, split.unseen)
    result["num_images"] = total
    return result


def report_paths(checkpoint: str | Path, suffix: str = "eval") -> tuple[Path, Path]:
    """``iter_020000.pt`` -> ``iter_020000.eval.json`` and ``iter_020000.eval.md`` beside it."""
    checkpoint = Path(checkpoint)
    stem = checkpoint.with_suffix("")
    return stem.with_name(f"{stem.name}.{suffix}.json"), stem.with_name(f"{stem.name}.{suffix}.md")


def _plain(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value != value:  # NaN -> null (JSON has no NaN)
        return None
    return value


def write_report(
    result: dict[str, Any], split: ZeroShotSplit, json_path: str | Path, md_path: str | Path, **context: Any
) -> dict[str, Any]:
    """Write the metrics as JSON (per-class IoU by name) and as a Markdown table; returns the JSON dict."""
    from .metrics import metrics_table

    iou = _plain(result["IoU"])
    report = {
        **{k: _plain(v) for k, v in result.items() if k != "IoU"},
        "IoU": {name: iou[i] for i, name in enumerate(split.class_names)},
        "seen": list(split.seen),
        "unseen": list(split.unseen),
        "split": split.name,
        **{k: _plain(v) for k, v in context.items()},
    }
    Path(json_path).write_text(json.dumps(report, indent=2) + "\n")
    header = "\n".join(f"- {k}: {v}" for k, v in context.items())
    table = metrics_table(result, list(split.class_names), split.seen, split.unseen)
    Path(md_path).write_text(f"# Evaluation\n\n{header}\n\n{table}\n")
    return report


def evaluate_checkpoint(
    checkpoint: str | Path,
    *,
    experiment: ExperimentConfig | None = None,
    dataset: Dataset | None = None,
    split: ZeroShotSplit | None = None,
    model: nn.Module | None = None,
    data_root: str | None = None,
    mode: str | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    limit: int | None = None,
) -> dict[str, Any]:
    """Load a checkpoint, evaluate it, write ``<checkpoint>.eval.{json,md}`` beside it; returns the report.

    ``experiment`` defaults to the one stored in the checkpoint (a given one must have the same model
    config); ``dataset``/``split``/``model`` default to those the experiment names.
    """
    from .train import build_dataset

    ckpt = load_checkpoint(checkpoint, map_location="cpu")
    saved = checkpoint_experiment(ckpt, checkpoint)
    if experiment is None:
        experiment = saved
    else:
        check_compatible(ckpt, experiment, path=checkpoint, model_only=True)
    if data_root is not None:
        experiment = experiment.with_overrides({"data.root": data_root})
    if split is None:
        from .data.splits import get_split

        split = get_split(experiment.data.dataset)
    if dataset is None:
        dataset = build_dataset(experiment.data, "test")
    if device is None:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if model is None:
        from .model import build_model

        model = build_model(experiment.model, device=device)
    model.to(device)
    model.load_trainable_state_dict(ckpt["model"])
    mode = mode or experiment.data.test_mode
    result = evaluate(
        model,
        dataset,
        split,
        setting=experiment.train.setting,
        mode=mode,
        crop=experiment.data.crop_size,
        stride=experiment.data.test_stride,
        device=device,
        progress=progress,
        limit=limit,
    )
    json_path, md_path = report_paths(checkpoint)
    context = {
        "experiment": experiment.name,
        "checkpoint": str(checkpoint),
        "step": int(ckpt["step"]),
        "setting": experiment.train.setting,
        "seen_penalty": experiment.model.seen_penalty if experiment.train.setting == "inductive" else 0.0,
        "inference": f"{mode} (crop {experiment.data.crop_size}, stride {experiment.data.test_stride})"
        if mode == "slide"
        else "whole",
    }
    if not dist.is_initialized() or dist.get_rank() == 0:
        return write_report(result, split, json_path, md_path, **context)
    return {**result, **context}


def label_palette() -> list[int]:
    """A flat 256-colour RGB palette: value ``i`` gets the VOC palette's colour ``i + 1`` (no black class)."""
    palette = voc_palette()
    return palette[3:] + palette[:3]


@torch.no_grad()
def predict_image(
    checkpoint: str | Path,
    image: str | Path,
    class_names: list[str],
    out_dir: str | Path,
    *,
    device: torch.device | str | None = None,
    alpha: float = 0.5,
) -> tuple[Path, Path, dict[str, float]]:
    """Segment one image into any ``class_names`` with a trained checkpoint (open vocabulary).

    The image is resized so that its short side is the experiment's crop size, predicted (sliding window
    or whole, as the experiment evaluates), the scores are resized back to the original size and the
    argmax over the given names is taken (no seen-class penalty: the names are the user's).

    Returns:
        ``(label_png, overlay_png, share)``: a palette PNG whose value ``i`` is ``class_names[i]``, the
        image blended with the label colours, and each name's fraction of the pixels.
    """
    import numpy as np
    from PIL import Image

    from .data.transforms import build_test_transform
    from .inference import slide_inference
    from .model import build_model

    if not class_names:
        raise ValueError("give at least one class name")
    if len(class_names) > 255:
        raise ValueError(f"at most 255 class names fit in a label PNG, got {len(class_names)}")
    image = Path(image)
    if not image.is_file():
        raise FileNotFoundError(f"image {str(image)!r} does not exist")
    ckpt = load_checkpoint(checkpoint, map_location="cpu")
    exp = checkpoint_experiment(ckpt, checkpoint)
    if device is None:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = build_model(exp.model, device=device)
    model.load_trainable_state_dict(ckpt["model"])
    model.eval()
    with Image.open(image) as im:
        rgb = im.convert("RGB")
    original = np.asarray(rgb)
    x, _ = build_test_transform(short_side=exp.data.crop_size)(rgb, np.zeros(original.shape[:2], np.uint8))
    text = model.class_embeddings(class_names).to(device)

    predict_fn = padded_predictor(model, text, None)
    images = x[None].to(device)
    scores = slide_inference(predict_fn, images, crop=exp.data.crop_size, stride=exp.data.test_stride)
    scores = torch.nn.functional.interpolate(
        scores, size=original.shape[:2], mode="bilinear", align_corners=False
    )
    label = scores.argmax(1)[0].to(torch.uint8).cpu().numpy()
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


__all__ = [
    "evaluate",
    "evaluate_checkpoint",
    "label_palette",
    "padded_predictor",
    "predict_image",
    "report_paths",
    "seen_mask_for",
    "write_report",
]
