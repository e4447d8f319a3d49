"""The terms of the training loss, eq. 10 of the paper (``L = γ · L_focal + σ · L_ssim``), and ZegCLIP's
dice, in their textbook formulation (docs/reference.md §5.2-5.4).

Every term works on per-class binary masks (docs/reference.md §5): mask logits ``(B, C, H, W)`` at label
resolution (the decoder's token-resolution logits upsampled bilinearly, ``align_corners=False``) against
the binary targets ``(B, C, H, W)`` of :func:`~sptseg_lib.losses.targets.binary_targets`. Ignored pixels
are 0 in every channel: by default they are *negatives for every class* and count in every term, as in
the reference code (a ``valid`` ``(B, H, W)`` mask excludes them instead). All terms are sigmoid-based:

* focal (Lin et al. 2017, α = 0.25, γ = 2): mean over pixels per (image, class) pair, summed over all
  ``B·C`` pairs (absent classes included), divided by ``num_masks``;
* dice (ZegCLIP's second term): ``1 - (2Σpt + 1) / (Σp + Σt + 1)`` per *present* pair, summed, divided
  by ``num_masks``;
* SSIM (Wang et al. 2003; SPT-SEG's second term): ``1 - mean SSIM`` over ``B·C·H·W`` with an 11x11
  Gaussian window (σ = 1.5), zero padding, ``C1 = 0.01²``, ``C2 = 0.03²``, applied to the *logits* as
  the reference code does (``on="probabilities"`` applies it to sigmoid probabilities instead). Given
  the token grid the logits are upsampled from, it is evaluated through that grid
  (:func:`~sptseg_lib.ssim.ssim_sum_of_upsampled`: same value and gradient, less than half the cost of
  the five full-resolution convolutions).

``focal_sum``, ``dice_sum`` and ``ssim_sum`` are the un-normalised sums that the public
:func:`focal_loss`, :func:`dice_loss`, :func:`ssim_loss` and the criterion
(:class:`~sptseg_lib.losses.criterion.SegmentationCriterion`) normalise; they are also the reference the
fused CPU path (:mod:`sptseg_lib.losses.fused`) is checked against.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from .. import ssim
from ..ssim import ssim_map, ssim_sum_of_upsampled

SsimOn = Literal["logits", "probabilities"]


# --- the terms as sums (shared by the public functions and the criterion) -------------------------


def focal_sum(
    logits: torch.Tensor, targets: torch.Tensor, alpha: float, gamma: float, valid: torch.Tensor | None
) -> torch.Tensor:
    """Σ over (image, class) pairs of the per-pair pixel mean of the sigmoid focal loss
    (docs/reference.md §5.2).

    Args:
        logits, targets: ``(B, C, H, W)`` mask logits at label resolution and binary targets.
        alpha, gamma: as in :func:`focal_loss`.
        valid: optional ``(B, H, W)`` bool; each pair's mean runs over the valid pixels only.

    Returns:
        Scalar tensor (:func:`focal_loss` times ``num_masks``).
    """
    prob = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = prob * targets + (1 - prob) * (1 - targets)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    if valid is None:
        return loss.mean(dim=(2, 3)).sum()
    weight = valid[:, None].to(loss.dtype)
    per_image = valid.flatten(1).sum(1).clamp(min=1).to(loss.dtype)
    return ((loss * weight).sum(dim=(2, 3)) / per_image[:, None]).sum()


def dice_sum(
    logits: torch.Tensor, targets: torch.Tensor, present: torch.Tensor, valid: torch.Tensor | None
) -> torch.Tensor:
    """Σ over present (image, class) pairs of ``1 - (2Σpt + 1) / (Σp + Σt + 1)`` (docs/reference.md §5.3).

    Args:
        logits, targets: ``(B, C, H, W)``.
        present: ``(B, C)`` bool, the pairs to include.
        valid: optional ``(B, H, W)`` bool; pixels outside it are left out of ``Σ p``.

    Returns:
        Scalar tensor (:func:`dice_loss` times ``num_masks``).
    """
    prob = torch.sigmoid(logits)
    if valid is not None:
        prob = prob * valid[:, None].to(prob.dtype)
    numerator = 2 * (prob * targets).sum(dim=(2, 3))
    denominator = prob.sum(dim=(2, 3)) + targets.sum(dim=(2, 3))
    loss = 1 - (numerator + 1) / (denominator + 1)
    return (loss * present.to(loss.dtype)).sum()


def ssim_sum(
    x: torch.Tensor,
    targets: torch.Tensor,
    valid: torch.Tensor | None,
    window_size: int,
    sigma: float,
    C1: float,
    C2: float,
    on: SsimOn,
    low_res: torch.Tensor | None = None,
) -> torch.Tensor:
    """Σ of the SSIM map over all (or only the valid) positions (docs/reference.md §5.4).

    Args:
        x, targets: ``(B, C, H, W)`` mask logits at label resolution and binary targets.
        valid: optional ``(B, H, W)`` bool; positions outside it are left out.
        window_size, sigma, C1, C2: as in :func:`~sptseg_lib.ssim.ssim_map`.
        on: ``"logits"`` or ``"probabilities"`` (sigmoid first).
        low_res: ``(B, C, h, w)``, the token-grid logits ``x`` was upsampled from (bilinear,
            ``align_corners=False``); on logits this takes the factorised evaluation
            (:func:`~sptseg_lib.ssim.ssim_sum_of_upsampled`, same value, less than half the cost).

    Returns:
        Scalar tensor.
    """
    if on == "logits" and low_res is not None:
        return ssim_sum_of_upsampled(low_res, x, targets, valid, window_size, sigma, C1, C2)
    if on == "probabilities":
        x = torch.sigmoid(x)
    smap = ssim_map(x, targets, window_size, sigma, C1, C2)
    if valid is None:
        return smap.sum()
    return (smap * valid[:, None].to(smap.dtype)).sum()


def one_minus_mean(total: torch.Tensor, count: int) -> torch.Tensor:
    """``1 - total / count``; 0 (still attached to the graph) when nothing is counted."""
    return 1 - total / count if count > 0 else total * 0.0


def sum_over_class_chunks(
    fn: Callable[..., torch.Tensor],
    per_class: tuple[torch.Tensor, ...],
    shared: tuple[torch.Tensor | None, ...],
    chunk_classes: int | None,
) -> torch.Tensor:
    """``Σ_chunks fn(*chunk_of_per_class, *shared, first_class)``.

    ``per_class`` tensors are ``(B, C, ...)``; ``fn`` returns a tensor whose chunks add up (the terms' sums).

    ``per_class`` tensors are split along dim 1 into chunks of ``chunk_classes`` classes; with more
    than one chunk each call runs under activation checkpointing, so only one chunk's intermediates are
    alive at a time (forward and backward). ``None`` (or a chunk >= C) is one plain call.
    """
    num_classes = per_class[0].shape[1]
    if chunk_classes is not None and chunk_classes < 1:
        raise ValueError(f"chunk_classes must be a positive int or None, got {chunk_classes}")
    if chunk_classes is None or chunk_classes >= num_classes:
        return fn(*per_class, *shared, 0)
    total = None
    for start in range(0, num_classes, chunk_classes):
        parts = tuple(t[:, start : start + chunk_classes] for t in per_class)
        if torch.is_grad_enabled() and any(t.requires_grad for t in parts):
            out = checkpoint(fn, *parts, *shared, start, use_reentrant=False)
        else:
            out = fn(*parts, *shared, start)
        total = out if total is None else total + out
    return total


def _check_pair(name: str, logits: torch.Tensor, targets: torch.Tensor) -> None:
    if logits.dim() != 4 or logits.shape != targets.shape:
        raise ValueError(
            f"{name}: logits and targets must both be (B, C, H, W) of one shape, got "
            f"{tuple(logits.shape)} and {tuple(targets.shape)} (upsample the logits to the label size first)"
        )


# --- public terms -----------------------------------------------------------------------------------


def focal_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    num_masks: float,
    alpha: float = 0.25,
    gamma: float = 2.0,
    valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """Sigmoid focal loss, the first term of eq. 10 (docs/reference.md §5.2).

    ``FL = α_t (1 - p_t)^γ · BCE(logit, t)``, averaged over the pixels of each (image, class) pair,
    summed over all ``B·C`` pairs (absent classes included) and divided by ``num_masks``.

    Args:
        logits: ``(B, C, H, W)`` mask logits at label resolution.
        targets: ``(B, C, H, W)`` binary targets (:func:`~sptseg_lib.losses.targets.binary_targets`).
        num_masks: the normaliser (:func:`~sptseg_lib.losses.targets.count_masks`).
        alpha: weight of the positives (``α_t = α`` for t = 1, ``1 - α`` for t = 0); negative: none.
        gamma: focusing exponent.
        valid: optional ``(B, H, W)`` bool; if given, each pair's mean runs over the valid pixels only
            (ignored pixels excluded instead of counted as negatives).

    Returns:
        Scalar tensor.
    """
    _check_pair("focal_loss", logits, targets)
    return focal_sum(logits, targets, alpha, gamma, valid) / num_masks


def dice_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    num_masks: float,
    present: torch.Tensor | None = None,
    valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """Sigmoid dice loss of ZegCLIP (docs/reference.md §5.3; not part of SPT-SEG's eq. 10).

    For each present (image, class) pair ``1 - (2 Σ p t + 1) / (Σ p + Σ t + 1)`` over the pixels, with
    ``p = sigmoid(logit)``; summed and divided by ``num_masks``.

    Args:
        logits, targets: ``(B, C, H, W)``.
        num_masks: the normaliser (:func:`~sptseg_lib.losses.targets.count_masks`).
        present: ``(B, C)`` bool, the pairs to include; default: pairs whose target is not empty.
        valid: optional ``(B, H, W)`` bool; pixels outside it are left out of ``Σ p`` (the targets are
            already 0 there).

    Returns:
        Scalar tensor.
    """
    _check_pair("dice_loss", logits, targets)
    if present is None:
        present = targets.flatten(2).amax(-1) > 0
    return dice_sum(logits, targets, present, valid) / num_masks


def ssim_loss(
    x: torch.Tensor,
    targets: torch.Tensor,
    window_size: int = ssim.WINDOW_SIZE,
    sigma: float = ssim.SIGMA,
    C1: float = ssim.C1,
    C2: float = ssim.C2,
    on: SsimOn = "logits",
    chunk_classes: int | None = None,
    valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """SSIM loss, the second term of eq. 10: ``1 - mean SSIM`` (docs/reference.md §5.4).

    Args:
        x: ``(B, C, H, W)`` mask logits at label resolution.
        targets: ``(B, C, H, W)`` binary targets.
        window_size, sigma: the Gaussian window (11, 1.5).
        C1, C2: the stabilising constants (for a data range of 1).
        on: ``"logits"`` (reference code) or ``"probabilities"`` (sigmoid first).
        chunk_classes: evaluate this many classes at a time under activation checkpointing to bound
            peak memory; ``None``: all at once. The value does not depend on it.
        valid: optional ``(B, H, W)`` bool; the mean runs over the valid positions only.

    Returns:
        Scalar tensor.
    """
    _check_pair("ssim_loss", x, targets)
    if on not in ("logits", "probabilities"):
        raise ValueError(f"ssim_loss: on must be 'logits' or 'probabilities', got {on!r}")

    def chunk_sum(x_c, t_c, valid_c, _first):
        return ssim_sum(x_c, t_c, valid_c, window_size, sigma, C1, C2, on)

    total = sum_over_class_chunks(chunk_sum, (x, targets), (valid,), chunk_classes)
    b, c, h, w = x.shape
    count = b * c * h * w if valid is None else c * int(valid.sum())
    return one_minus_mean(total, count)


__all__ = [
    "SsimOn",
    "dice_loss",
    "dice_sum",
    "focal_loss",
    "focal_sum",
    "one_minus_mean",
    "ssim_loss",
    "ssim_sum",
    "sum_over_class_chunks",
]
