"""Evaluating a checkpoint on a user's own data set: ``python -m sptseg_lib evaluate --images ...``.

:func:`evaluate_folder` builds what :func:`~sptseg_lib.evaluate.evaluate_checkpoint` needs for a folder of
images and masks (:mod:`sptseg_lib.data.custom`): the class names and the zero-shot split they make, the
data set at the checkpoint's crop size, and a report folder of its own. Without ``out_dir`` the report goes
to ``<checkpoint>.eval-<images folder>`` (:func:`~sptseg_lib.outputs.default_report_folder`), never beside
the checkpoint, where its benchmark report lives.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .checkpoint import checkpoint_experiment, load_checkpoint
from .data.custom import FolderDataset, custom_split, parse_class_names
from .data.splits import IGNORE_INDEX
from .data.transforms import build_test_transform
from .evaluate import evaluate_checkpoint
from .outputs import default_report_folder


def _unseen_names(unseen: str | Sequence[str]) -> list[str]:
    """The unseen class names: a comma-separated string (blank: none) or a list."""
    if isinstance(unseen, str):
        return unseen.split(",") if unseen.strip() else []
    return list(unseen)


def evaluate_folder(
    checkpoint: str | Path,
    images: str | Path,
    masks: str | Path,
    classes: str | Path,
    unseen: str | Sequence[str],
    *,
    ignore_index: int = IGNORE_INDEX,
    out_dir: str | Path | None = None,
    mode: str | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    limit: int | None = None,
    save_predictions: str | Path | None = None,
) -> dict[str, Any]:
    """Evaluate ``checkpoint`` on the images and masks of two folders; returns the report.

    Args:
        checkpoint: an ``iter_*.pt`` file; its experiment gives the crop size.
        images: the folder of images.
        masks: the folder of ``<image stem>.png`` masks, value ``i`` = the ``i``-th class name.
        classes: the class names: a text file (one per line) or a comma-separated list.
        unseen: the unseen ones among them (comma-separated, or a list); the rest are seen.
        ignore_index: the mask value of unlabelled pixels.
        out_dir: the report folder (default: see the module docstring).
        mode, device, progress, limit, save_predictions: as
            :func:`~sptseg_lib.evaluate.evaluate_checkpoint` takes them.

    Raises:
        ValueError: a class list with duplicates, or an unseen name that is not among the classes.
        DataError: a missing folder, image or mask, or a mask value that names no class.
        CheckpointError: a checkpoint that cannot be read, or one without its experiment.
    """
    names = parse_class_names(classes)
    split = custom_split(names, _unseen_names(unseen))
    experiment = checkpoint_experiment(load_checkpoint(checkpoint), checkpoint)
    transform = build_test_transform(experiment.data.crop_size)
    dataset = FolderDataset(images, masks, names, transform, ignore_index=ignore_index)
    if out_dir is None:
        out_dir = default_report_folder(checkpoint, images, dataset.dataset)
    return evaluate_checkpoint(
        checkpoint,
        dataset=dataset,
        split=split,
        mode=mode,
        device=device,
        progress=progress,
        limit=limit,
        out_dir=out_dir,
        save_predictions=save_predictions,
    )


__all__ = ["evaluate_folder"]
