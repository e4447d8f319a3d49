"""The targets a training step computes its loss on, per setting (docs/reference.md §6.3), and their
normaliser (§5.1): the remapped labels, the transductive pseudo-labels, the (image, present class) count.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..data.splits import UNSEEN_PSEUDO, Setting, ZeroShotSplit, remap_for_training
from ..losses import class_presence, count_masks


def training_targets(
    labels: torch.Tensor, split: ZeroShotSplit, setting: Setting, device: torch.device
) -> torch.Tensor:
    """``(B, H, W)`` long channel targets of data-set ``labels`` ``(B, H, W)`` on ``device``
    (:func:`~sptseg_lib.data.splits.remap_for_training`; transductive: ``UNSEEN_PSEUDO`` on unseen pixels)."""
    return remap_for_training(labels, split, setting).to(device)


def mask_count(targets: list[torch.Tensor], num_channels: int) -> float:
    """``num_masks`` of a step (docs/reference.md §5.1): the (image, present class) pairs of ``targets``
    (``(B_i, H, W)`` long channel targets, one per micro-batch) over every process, divided by their
    number, at least 1 (:func:`~sptseg_lib.losses.count_masks`: one all-reduce)."""
    return count_masks(torch.cat([class_presence(t, num_channels) for t in targets]))


def pseudo_label_unseen(
    mask_logits: torch.Tensor, target: torch.Tensor, channel_classes: tuple[int, ...], unseen: tuple[int, ...]
) -> torch.Tensor:
    """ZegCLIP self-training (docs/reference.md §6.3): fill the ``UNSEEN_PSEUDO`` pixels of ``target``.

    Args:
        mask_logits: (B, C, h, w) current predictions (any resolution; resized bilinearly to the labels).
        target: (B, H, W) long, transductive targets (``UNSEEN_PSEUDO`` where the ground truth is unseen).
        channel_classes: class of each channel (transductive: all classes, channel ``c`` = class ``c``).
        unseen: the unseen class indices.

    Returns:
        (B, H, W) long: every ``UNSEEN_PSEUDO`` pixel gets the unseen channel whose sigmoid is highest
        there (argmax of logits = argmax of sigmoid); other pixels are unchanged.
    """
    hole = target == UNSEEN_PSEUDO
    if not hole.any():
        return target
    channels = torch.tensor([channel_classes.index(c) for c in unseen], device=mask_logits.device)
    with torch.no_grad():
        scores = F.interpolate(
            mask_logits.detach().float()[:, channels],
            size=target.shape[-2:],
            mode="bilinear",
            align_corners=False,
        )
        best = channels[scores.argmax(1)]
    return torch.where(hole, best.to(target.device), target)


__all__ = ["mask_count", "pseudo_label_unseen", "training_targets"]
