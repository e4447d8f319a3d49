"""What the loss terms compare the mask logits with: per-class binary targets of a label map, which
(image, class) pairs are present, and the one normaliser ``num_masks`` (docs/reference.md §5.1).

A label map ``(B, H, W)`` holds channel indices ``0..C-1`` and ``255`` (ignore). Its binary targets
``(B, C, H, W)`` are 1 where ``label == c``; ignored pixels are 0 in every channel.
"""

from __future__ import annotations

from typing import Any

import torch

from ..data.splits import IGNORE_INDEX, values_outside


def check_labels(labels: torch.Tensor, num_classes: int, ignore_index: int = IGNORE_INDEX) -> None:
    """Raise a clear error unless ``labels`` is an integer map of values in ``0..num_classes-1`` or
    ``ignore_index``."""
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise TypeError(f"labels must be an integer tensor of class indices, got dtype {labels.dtype}")
    values = values_outside(labels, num_classes, ignore_index)
    if values:
        raise ValueError(
            f"label values {values} are neither a channel index 0..{num_classes - 1} nor the ignore index "
            f"{ignore_index}; remap labels to the decoder's output channels first "
            "(sptseg_lib.data.splits.remap_for_training; in the transductive setting replace -1 by "
            "pseudo-labels)"
        )


def binary_targets(
    labels: torch.Tensor, num_classes: int, ignore_index: int = IGNORE_INDEX, first_class: int = 0
) -> torch.Tensor:
    """Per-class binary targets (docs/reference.md §5.1).

    Args:
        labels: ``(B, H, W)`` integer map of channel indices and ``ignore_index``.
        num_classes: number of channels ``C`` to build.
        ignore_index: the ignore label; such pixels are 0 in every channel.
        first_class: the channel index of the first target channel (to build a chunk of classes).

    Returns:
        ``(B, C, H, W)`` float32 tensor, 1 where ``labels == first_class + c``.
    """
    classes = torch.arange(first_class, first_class + num_classes, device=labels.device)
    return (labels[:, None] == classes[None, :, None, None]).float()


def class_presence(labels: torch.Tensor, num_classes: int, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """``(B, C)`` bool: True where class ``c`` occurs in image ``b`` of ``labels`` ``(B, H, W)``.

    The ignore label (and anything outside ``0..C-1``) is not a class: it is dropped.
    """
    b = labels.shape[0]
    flat = labels.long().flatten(1)
    keep = (flat != ignore_index) & (flat >= 0) & (flat < num_classes)
    image = torch.arange(b, device=labels.device)[:, None].expand_as(flat)
    present = torch.zeros(b * num_classes, dtype=torch.bool, device=labels.device)
    present[(image * num_classes + flat)[keep]] = True
    return present.view(b, num_classes)


def count_masks(present: torch.Tensor, group: Any = None) -> float:
    """``num_masks``: the number of (image, present class) pairs in the global batch (docs/reference.md §5.1).

    The one normaliser of the focal and dice terms. Under ``torch.distributed`` the local counts are summed
    over the processes of ``group`` (``None``: the default group) and divided by their number (each process
    divides its own loss by the per-process average). Clamped to at least 1.

    Args:
        present: ``(B, C)`` bool, True where class ``c`` occurs in image ``b`` (:func:`class_presence`).
        group: the process group to sum over.
    """
    n = present.sum().to(torch.float64)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        n = n.to(torch.float32)
        torch.distributed.all_reduce(n, group=group)
        n = n / torch.distributed.get_world_size(group)
    return max(float(n), 1.0)


__all__ = ["binary_targets", "check_labels", "class_presence", "count_masks"]
