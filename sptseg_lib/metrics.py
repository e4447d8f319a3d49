"""Evaluation metrics: pAcc, per-class IoU, mIoU(S), mIoU(U) and hIoU (eq. 11).

Semantics follow mmsegmentation's (docs/reference.md §6.1), which the reported numbers use:

* pixels labelled ``ignore_index`` (255) are left out of everything;
* ``pAcc`` = correct / non-ignored pixels, in percent (mmseg's ``aAcc``);
* ``IoU_c = |pred = c ∧ label = c| / |pred = c ∨ label = c|`` in percent over the whole data set (one
  streaming confusion matrix, not a mean of per-image IoUs); a class with an empty union (absent from
  both prediction and label) is NaN and left out of every mean;
* ``mIoU`` = nanmean over all classes; ``mIoU_seen`` / ``mIoU_unseen`` = nanmean over the seen / unseen
  index lists;
* ``hIoU = 2 · mIoU(S) · mIoU(U) / (mIoU(S) + mIoU(U))`` (eq. 11; 0 when both are 0). The reference code
  does not compute it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from .data.splits import IGNORE_INDEX, values_outside


def _nanmean(values: torch.Tensor) -> float:
    values = values[~torch.isnan(values)]
    return float(values.mean()) if values.numel() else math.nan


def harmonic_iou(seen: float, unseen: float) -> float:
    """Eq. 11: ``2·S·U / (S + U)``; 0 when ``S + U = 0``, NaN when either is NaN."""
    if math.isnan(seen) or math.isnan(unseen):
        return math.nan
    total = seen + unseen
    return 0.0 if total == 0 else 2 * seen * unseen / total


class ConfusionMatrix:
    """A streaming ``(C, C)`` confusion matrix: ``matrix[label, pred]`` counts pixels.

    Feed it batch after batch with :meth:`update`, combine shards with ``+=`` or, under
    ``torch.distributed``, :meth:`all_reduce`, then read the metrics with :meth:`compute`.

    Args:
        num_classes: ``C``; labels and predictions are class indices ``0..C-1``.
        ignore_index: label of pixels that are skipped (their prediction is not checked).
    """

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64)

    def update(self, pred: torch.Tensor, label: torch.Tensor) -> None:
        """Add one batch.

        Args:
            pred: integer tensor of predicted class indices, any shape.
            label: integer tensor of the same shape: class indices or ``ignore_index``.

        Raises:
            ValueError: on a shape mismatch, a label outside ``0..C-1`` that is not ``ignore_index``, or
                a prediction at a non-ignored pixel outside ``0..C-1``.
        """
        if pred.shape != label.shape:
            raise ValueError(
                f"pred and label must have one shape, got {tuple(pred.shape)} and {tuple(label.shape)}"
            )
        for name, t in (("pred", pred), ("label", label)):
            if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
                raise TypeError(
                    f"{name} must hold integer class indices, got dtype {t.dtype} (take argmax first)"
                )
        c = self.num_classes
        pred, label = pred.reshape(-1).long(), label.reshape(-1).long()
        keep = label != self.ignore_index
        pred, label = pred[keep], label[keep]
        values = values_outside(label, c)
        if values:
            raise ValueError(
                f"label values {values} are neither a class 0..{c - 1} nor the ignore index "
                f"{self.ignore_index}; "
                "map data-set labels to class indices (and unlabelled pixels to the ignore index) first"
            )
        values = values_outside(pred, c)
        if values:
            raise ValueError(f"predicted class indices {values} lie outside 0..{c - 1}")
        counts = torch.bincount(label * c + pred, minlength=c * c).reshape(c, c)
        self.matrix = self.matrix.to(counts.device) + counts

    def __iadd__(self, other: ConfusionMatrix) -> ConfusionMatrix:
        """Merge another matrix over the same classes (e.g. from another data shard)."""
        if other.num_classes != self.num_classes or other.ignore_index != self.ignore_index:
            raise ValueError("can only merge confusion matrices with the same num_classes and ignore_index")
        self.matrix = self.matrix + other.matrix.to(self.matrix.device)
        return self

    def all_reduce(self) -> ConfusionMatrix:
        """Sum the matrix over all ``torch.distributed`` processes, in place (a no-op when not
        distributed). Under NCCL the matrix is moved to this process's GPU first (a rank that saw no
        data still holds its CPU zeros)."""
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            if torch.distributed.get_backend() == "nccl":
                self.matrix = self.matrix.to(torch.device("cuda", torch.cuda.current_device()))
            torch.distributed.all_reduce(self.matrix)
        return self

    def reset(self) -> None:
        self.matrix = torch.zeros_like(self.matrix)

    def compute(self, seen: Sequence[int] = (), unseen: Sequence[int] = ()) -> dict[str, Any]:
        """The metrics of everything seen so far.

        Args:
            seen, unseen: class indices of the seen and unseen classes (may be empty; their mean is
                then NaN).

        Returns:
            ``{"pAcc": float, "IoU": list[float] (length C), "mIoU": float, "mIoU_seen": float,
            "mIoU_unseen": float, "hIoU": float, "num_pixels": int}``; percentages, NaN where undefined.
        """
        for name, idx in (("seen", seen), ("unseen", unseen)):
            bad = [i for i in idx if not 0 <= i < self.num_classes]
            if bad:
                raise ValueError(f"{name} class indices {bad} lie outside 0..{self.num_classes - 1}")
        m = self.matrix.to("cpu", torch.float64)
        intersection = m.diagonal()
        union = m.sum(0) + m.sum(1) - intersection
        iou = torch.where(
            union > 0, 100 * intersection / union.clamp(min=1), torch.full_like(union, math.nan)
        )
        total = m.sum()
        p_acc = float(100 * intersection.sum() / total) if total > 0 else math.nan
        s = _nanmean(iou[list(seen)]) if seen else math.nan
        u = _nanmean(iou[list(unseen)]) if unseen else math.nan
        return {
            "pAcc": p_acc,
            "IoU": iou.tolist(),
            "mIoU": _nanmean(iou),
            "mIoU_seen": s,
            "mIoU_unseen": u,
            "hIoU": harmonic_iou(s, u),
            "num_pixels": int(total),
        }


def segmentation_metrics(
    pred: torch.Tensor,
    label: torch.Tensor,
    num_classes: int,
    seen: Sequence[int],
    unseen: Sequence[int],
    ignore_index: int = IGNORE_INDEX,
) -> dict[str, Any]:
    """pAcc, per-class IoU, mIoU, mIoU(S), mIoU(U), hIoU (eq. 11) of one set of predictions.

    Args:
        pred: integer class indices, any shape (e.g. ``(N, H, W)``).
        label: the same shape; class indices or ``ignore_index``.
        num_classes: ``C``.
        seen, unseen: the split's class indices.

    Returns:
        The dict of :meth:`ConfusionMatrix.compute`.
    """
    cm = ConfusionMatrix(num_classes, ignore_index)
    cm.update(pred, label)
    return cm.compute(seen, unseen)


def _split_of(index: int, seen: Sequence[int], unseen: Sequence[int]) -> str:
    if index in unseen:
        return "unseen"
    return "seen" if index in seen else ""


def metrics_rows(
    result: dict[str, Any], class_names: Sequence[str], seen: Sequence[int], unseen: Sequence[int]
) -> list[dict[str, Any]]:
    """The per-class table as JSON-ready rows, then one summary row.

    Per class: ``{"index", "class", "split" ("seen" / "unseen" / ""), "IoU"}``; last row:
    ``{"class": "summary", "pAcc", "mIoU", "mIoU_seen", "mIoU_unseen", "hIoU"}``. NaN becomes ``None``.
    """
    iou = result["IoU"]
    if len(class_names) != len(iou):
        raise ValueError(f"{len(class_names)} class names for {len(iou)} IoU values")

    def clean(v: float) -> float | None:
        return None if math.isnan(v) else v

    rows: list[dict[str, Any]] = [
        {"index": i, "class": name, "split": _split_of(i, seen, unseen), "IoU": clean(iou[i])}
        for i, name in enumerate(class_names)
    ]
    summary_keys = ("pAcc", "mIoU", "mIoU_seen", "mIoU_unseen", "hIoU")
    rows.append({"class": "summary", **{k: clean(result[k]) for k in summary_keys}})
    return rows


def metrics_table(
    result: dict[str, Any], class_names: Sequence[str], seen: Sequence[int], unseen: Sequence[int]
) -> str:
    """A Markdown table: one row per class (name, seen/unseen, IoU), then the summary
    (pAcc, mIoU, mIoU(S), mIoU(U), hIoU). Undefined values print as ``n/a``."""
    rows = metrics_rows(result, class_names, seen, unseen)

    def fmt(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.2f}"

    lines = ["| # | class | split | IoU |", "|---:|---|---|---:|"]
    lines += [f"| {r['index']} | {r['class']} | {r['split']} | {fmt(r['IoU'])} |" for r in rows[:-1]]
    s = rows[-1]
    lines += [
        "",
        "| pAcc | mIoU | mIoU(S) | mIoU(U) | hIoU |",
        "|---:|---:|---:|---:|---:|",
        "| " + " | ".join(fmt(s[k]) for k in ("pAcc", "mIoU", "mIoU_seen", "mIoU_unseen", "hIoU")) + " |",
    ]
    return "\n".join(lines)


__all__ = ["ConfusionMatrix", "harmonic_iou", "metrics_rows", "metrics_table", "segmentation_metrics"]
