"""Known mistakes of the exercises of notebooks 06-07: the learning-rate schedule and the metrics of eq. 11.
Each mistake is implemented (sometimes in several ways) so that the checker can recognise a reader's output.
"""

from __future__ import annotations

import math

import torch

from .core import Mistake
from .solutions import my_metrics

# --- the learning-rate schedule -----


def _lr(step, lr, iterations, power, min_lr, warmup_iters, warmup_ratio, *, decay="paper", warmup="paper"):
    left = 1 - min(step, iterations) / iterations
    rate = {
        "paper": (lr - min_lr) * left**power + min_lr,
        "added": lr * left**power + min_lr,
        "max": max(lr * left**power, min_lr),
        "linear": (lr - min_lr) * left + min_lr,
    }[decay]
    if step < warmup_iters and warmup != "none":
        k = (
            (1 - step / warmup_iters) * (1 - warmup_ratio)
            if warmup != "no_ratio"
            else 1 - step / warmup_iters
        )
        rate = (lr if warmup == "base" else rate) * (1 - k)
    return rate


LR_MISTAKES = (
    Mistake(
        "no_warmup",
        "the warm-up is missing: for step < warmup_iters the rate is poly(step) · (1 - k) with "
        "k = (1 - step/warmup_iters)(1 - warmup_ratio), rising linearly from warmup_ratio · lr.",
        "no warm-up",
        (lambda *a: _lr(*a, warmup="none"),),
    ),
    Mistake(
        "min_lr_added",
        "min_lr is added to the full decay: poly(t) = (lr - min_lr)(1 - t/T)^power + min_lr, which starts "
        "at lr "
        "and ends at min_lr; lr (1 - t/T)^power + min_lr starts above lr.",
        "lr (1 - t/T)^power + min_lr",
        (lambda *a: _lr(*a, decay="added"),),
    ),
    Mistake(
        "min_lr_clamped",
        "min_lr is a floor (max): mmcv's poly decays (lr - min_lr)(1 - t/T)^power + min_lr, a smooth "
        "approach "
        "to min_lr, not max(lr (1 - t/T)^power, min_lr).",
        "max(lr (1 - t/T)^power, min_lr)",
        (lambda *a: _lr(*a, decay="max"),),
    ),
    Mistake(
        "linear_decay",
        "the decay ignores power: poly decay is (1 - t/T)^power (0.9 in the recipe), not linear.",
        "linear decay (power ignored)",
        (lambda *a: _lr(*a, decay="linear"),),
    ),
    Mistake(
        "warmup_of_base_lr",
        "the warm-up scales the base lr: it multiplies the *decayed* rate poly(step) by (1 - k), not lr.",
        "the warm-up applied to lr instead of poly(step)",
        (lambda *a: _lr(*a, warmup="base"),),
    ),
    Mistake(
        "warmup_ratio_ignored",
        "the warm-up ignores warmup_ratio: k = (1 - step/warmup_iters)(1 - warmup_ratio), so the rate "
        "starts at "
        "warmup_ratio · poly(0), not at 0.",
        "warmup_ratio ignored",
        (lambda *a: _lr(*a, warmup="no_ratio"),),
    ),
)

# --- eq. 11: metrics from a confusion matrix -----


def _metrics(confusion, seen, unseen, *, score="iou", mean="harmonic", absent="nan", split_means=True):
    m = confusion.double()
    tp = m.diagonal()
    denominator = {"iou": m.sum(0) + m.sum(1) - tp, "recall": m.sum(1), "precision": m.sum(0)}[score]
    iou = 100 * tp / denominator
    if absent == "zero":
        iou = iou.nan_to_num(0.0)

    def nanmean(values):
        values = values[~torch.isnan(values)]
        return float(values.mean()) if len(values) else math.nan

    s = nanmean(iou[list(seen)]) if split_means else nanmean(iou)
    u = nanmean(iou[list(unseen)]) if split_means else s
    h = (s + u) / 2 if mean == "arithmetic" else (0.0 if s + u == 0 else 2 * s * u / (s + u))
    return {"pAcc": float(100 * tp.sum() / m.sum()), "mIoU_seen": s, "mIoU_unseen": u, "hIoU": h}


METRICS_MISTAKES = (
    Mistake(
        "fractions",
        "the metrics are fractions: the library reports percentages (IoU 0-100), so multiply by 100.",
        "fractions instead of percent",
        (
            lambda confusion, seen, unseen: {
                k: v / 100 for k, v in my_metrics(confusion, seen, unseen).items()
            },
        ),
    ),
    Mistake(
        "recall",
        "TP / (row sum) is the recall (the class's pixel accuracy), not the IoU: IoU = TP / (TP + FP + FN) = "
        "diagonal / (row sum + column sum - diagonal); rows are the ground truth, columns the prediction.",
        "recall or precision instead of IoU",
        (
            lambda confusion, seen, unseen: _metrics(confusion, seen, unseen, score="recall"),
            lambda confusion, seen, unseen: _metrics(confusion, seen, unseen, score="precision"),
        ),
    ),
    Mistake(
        "arithmetic_mean",
        "hIoU is the *harmonic* mean 2 S U / (S + U) (eq. 11), which a low unseen mIoU pulls down; (S + U) "
        "/ 2 "
        "is the arithmetic mean.",
        "arithmetic instead of harmonic mean",
        (lambda confusion, seen, unseen: _metrics(confusion, seen, unseen, mean="arithmetic"),),
    ),
    Mistake(
        "absent_as_zero",
        "a class absent from labels and predictions (empty union, 0/0) counts as IoU 0: it has no IoU and is "
        "left out of the means (a NaN-mean), as mmseg and the library do.",
        "an absent class counted as IoU 0",
        (lambda confusion, seen, unseen: _metrics(confusion, seen, unseen, absent="zero"),),
    ),
    Mistake(
        "mean_over_all",
        "mIoU(S) and mIoU(U) are the means over the seen and over the unseen classes respectively, not the "
        "mean over all classes.",
        "the mean over all classes for both seen and unseen",
        (lambda confusion, seen, unseen: _metrics(confusion, seen, unseen, split_means=False),),
    ),
)
