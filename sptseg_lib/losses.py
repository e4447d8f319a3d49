"""The training loss, eq. 10 of the paper: ``L = γ · L_focal + σ · L_ssim``.

Everything here works on per-class binary masks (docs/reference.md §5):

* the decoder's mask logits ``(B, C, h, w)`` (token resolution) are upsampled bilinearly
  (``align_corners=False``) to the label size ``(H, W)``;
* the label map ``(B, H, W)`` holds channel indices ``0..C-1`` and ``255`` (ignore); its binary targets
  ``(B, C, H, W)`` are 1 where ``label == c``. Ignored pixels are 0 in every channel: by default they are
  *negatives for every class* and count in every term, as in the reference code
  (``ignore_as_negative=False`` excludes them instead);
* ``num_masks`` is the number of (image, present class) pairs in the global batch (docs/reference.md §5.1).

Terms (all sigmoid-based, docs/reference.md §5.2-5.4):

* focal (Lin et al. 2017, α = 0.25, γ = 2): mean over pixels per (image, class) pair, summed over all
  ``B·C`` pairs (absent classes included), divided by ``num_masks``;
* dice (ZegCLIP's second term): ``1 - (2Σpt + 1) / (Σp + Σt + 1)`` per *present* pair, summed, divided
  by ``num_masks``;
* SSIM (Wang et al. 2003; SPT-SEG's second term): ``1 - mean SSIM`` over ``B·C·H·W`` with an 11x11
  Gaussian window (σ = 1.5), zero padding, ``C1 = 0.01²``, ``C2 = 0.03²``, applied to the *logits* as
  the reference code does (``on="probabilities"`` applies it to sigmoid probabilities instead). The
  criterion evaluates it through the token grid the logits are upsampled from (:mod:`sptseg_lib.ssim`:
  same value and gradient, less than half the cost of the five full-resolution convolutions).

Memory: at COCO-Stuff scale (171 classes, 512x512, batch 4) every ``(B, C, H, W)`` float32 tensor is
0.7 GB and the terms create a dozen of them. :class:`SegmentationCriterion` therefore evaluates the
terms on chunks of classes under activation checkpointing: only the low-resolution logits are kept for
the backward pass, and each chunk is recomputed there. All terms are sums over classes, so the chunked
result equals the unchunked one (up to float summation order). See ``benchmarks/loss_memory.py``.

Speed: on the CPU the criterion evaluates the terms in their *fused* formulation (``fused="auto"``, the
trainer's default there): one pass over cache-sized blocks of the upsampled maps in reused scratch tensors,
with every term's gradient in closed form (:class:`_FusedTermSums`), instead of autograd through a dozen
full-size ``(B, C, H, W)`` temporaries. The same value and gradient up to float rounding
(``tests/test_fast_step.py``); on one CPU thread about 3x faster than the reference on the miniature's
batch (16 images, 16 classes, 64 x 64: 23 against 70 ms forward and backward), 2x at ViT-B/16's
512 x 512 (``benchmarks/miniature_step.py --eager`` times whole steps). ``fused=False`` is the reference
formulation, the one that trained the shipped miniature run; a run trained with the fused one follows
the same trajectory up to accumulated rounding differences.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from . import ssim
from .data.splits import IGNORE_INDEX, values_outside
from .losses_fused import _FusedTermSums  # the fused CPU path
from .ssim import ssim_map, ssim_sum_of_upsampled

SsimOn = Literal["logits", "probabilities"]


# --- targets and normalisation ---------------------------------------------------------------------


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

    Under ``torch.distributed`` the local counts are summed over the processes of ``group`` (``None``: the
    default group) and divided by their number (each process divides its own loss by the per-process
    average). Clamped to at least 1.

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


# --- the three terms as sums (shared by the public functions and the criterion) ---------------------


def _focal_sum(
    logits: torch.Tensor, targets: torch.Tensor, alpha: float, gamma: float, valid: torch.Tensor | None
) -> torch.Tensor:
    """Σ over (image, class) pairs of the per-pair pixel mean of the sigmoid focal loss."""
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


def _dice_sum(
    logits: torch.Tensor, targets: torch.Tensor, present: torch.Tensor, valid: torch.Tensor | None
) -> torch.Tensor:
    """Σ over present (image, class) pairs of ``1 - (2Σpt + 1) / (Σp + Σt + 1)``."""
    prob = torch.sigmoid(logits)
    if valid is not None:
        prob = prob * valid[:, None].to(prob.dtype)
    numerator = 2 * (prob * targets).sum(dim=(2, 3))
    denominator = prob.sum(dim=(2, 3)) + targets.sum(dim=(2, 3))
    loss = 1 - (numerator + 1) / (denominator + 1)
    return (loss * present.to(loss.dtype)).sum()


def _ssim_sum(
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
    """Σ of the SSIM map over all (or only the valid) positions.

    ``low_res``: the token-grid logits ``x`` was upsampled from (bilinear, ``align_corners=False``) and
    ``targets`` binary; on logits this takes the factorised evaluation
    (:func:`~sptseg_lib.ssim.ssim_sum_of_upsampled`, same value, less than half the cost).
    """
    if on == "logits" and low_res is not None:
        return ssim_sum_of_upsampled(low_res, x, targets, valid, window_size, sigma, C1, C2)
    if on == "probabilities":
        x = torch.sigmoid(x)
    smap = ssim_map(x, targets, window_size, sigma, C1, C2)
    if valid is None:
        return smap.sum()
    return (smap * valid[:, None].to(smap.dtype)).sum()


def _one_minus_mean(total: torch.Tensor, count: int) -> torch.Tensor:
    """``1 - total / count``; 0 (still attached to the graph) when nothing is counted."""
    return 1 - total / count if count > 0 else total * 0.0


def _sum_over_class_chunks(
    fn: Callable[..., torch.Tensor],
    per_class: tuple[torch.Tensor, ...],
    shared: tuple[torch.Tensor | None, ...],
    chunk_classes: int | None,
) -> torch.Tensor:
    """``Σ_chunks fn(*chunk_of_per_class, *shared, first_class)``.

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
        targets: ``(B, C, H, W)`` binary targets (:func:`binary_targets`).
        num_masks: the normaliser (:func:`count_masks`).
        alpha: weight of the positives (``α_t = α`` for t = 1, ``1 - α`` for t = 0); negative: none.
        gamma: focusing exponent.
        valid: optional ``(B, H, W)`` bool; if given, each pair's mean runs over the valid pixels only
            (ignored pixels excluded instead of counted as negatives).

    Returns:
        Scalar tensor.
    """
    _check_pair("focal_loss", logits, targets)
    return _focal_sum(logits, targets, alpha, gamma, valid) / num_masks


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
        num_masks: the normaliser (:func:`count_masks`).
        present: ``(B, C)`` bool, the pairs to include; default: pairs whose target is not empty.
        valid: optional ``(B, H, W)`` bool; pixels outside it are left out of ``Σ p`` (the targets are
            already 0 there).

    Returns:
        Scalar tensor.
    """
    _check_pair("dice_loss", logits, targets)
    if present is None:
        present = targets.flatten(2).amax(-1) > 0
    return _dice_sum(logits, targets, present, valid) / num_masks


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
        return _ssim_sum(x_c, t_c, valid_c, window_size, sigma, C1, C2, on)

    total = _sum_over_class_chunks(chunk_sum, (x, targets), (valid,), chunk_classes)
    b, c, h, w = x.shape
    count = b * c * h * w if valid is None else c * int(valid.sum())
    return _one_minus_mean(total, count)


# --- the criterion ----------------------------------------------------------------------------------


class SegmentationCriterion:
    """Eq. 10 as a callable: ``loss = focal_weight·focal + ssim_weight·SSIM (+ dice_weight·dice)``.

    Defaults are the reference's best prior (docs/reference.md §5.5): SPT-SEG = focal 100 + SSIM 1;
    ZegCLIP = ``SegmentationCriterion(ssim_weight=0.0, dice_weight=1.0)``. A term with weight 0 is
    neither computed nor reported.

    Args:
        focal_weight, ssim_weight, dice_weight: the coefficients (γ and σ of eq. 10).
        ssim_on: ``"logits"`` (reference code) or ``"probabilities"``.
        ignore_as_negative: True (reference): ignored pixels are negatives for every class in every
            term; False: they are left out of every term (focal/SSIM means over valid pixels only, dice
            sums over valid pixels only).
        ignore_index: the ignore label.
        chunk_classes: evaluate all terms on this many classes at a time (upsampling included) under
            activation checkpointing; bounds peak memory on COCO-Stuff. ``None``: all classes at once.
            The result does not depend on it. With C <= chunk_classes it is one plain pass.
        focal_alpha, focal_gamma: focal parameters (0.25, 2).
        ssim_factorised: evaluate SSIM on logits through the token grid the logits are upsampled from
            (:func:`~sptseg_lib.ssim.ssim_sum_of_upsampled`); False: the textbook evaluation on the
            upsampled maps (:func:`~sptseg_lib.ssim.ssim_map`). Same value and gradient; True is
            more than twice as fast.
        fused: evaluate all terms in one pass over cache-sized blocks, every gradient in closed form
            (:class:`_FusedTermSums`); False: plain autograd through the formulas on the upsampled maps
            (the reference). The same value and gradient up to float rounding
            (``tests/test_fast_step.py``). ``"auto"`` (default): fused for logits on the CPU, where it
            is 2-3x faster; the reference elsewhere (on a GPU the blocks would be many small kernel
            launches). Only SSIM on logits through the token grid can be fused: with
            ``ssim_on="probabilities"`` or ``ssim_factorised=False`` the reference is used.
    """

    def __init__(
        self,
        focal_weight: float = 100.0,
        ssim_weight: float = 1.0,
        dice_weight: float = 0.0,
        ssim_on: SsimOn = "logits",
        ignore_as_negative: bool = True,
        ignore_index: int = IGNORE_INDEX,
        chunk_classes: int | None = 32,
        focal_alpha: float = 0.25,
        focal_gamma: float = 2.0,
        ssim_factorised: bool = True,
        fused: bool | Literal["auto"] = "auto",
    ) -> None:
        if min(focal_weight, ssim_weight, dice_weight) < 0:
            raise ValueError("loss weights must be >= 0")
        if ssim_on not in ("logits", "probabilities"):
            raise ValueError(f"ssim_on must be 'logits' or 'probabilities', got {ssim_on!r}")
        if chunk_classes is not None and chunk_classes < 1:
            raise ValueError(f"chunk_classes must be a positive int or None, got {chunk_classes}")
        self.weights = {"focal": focal_weight, "ssim": ssim_weight, "dice": dice_weight}
        self.terms = tuple(name for name, weight in self.weights.items() if weight > 0)
        if not self.terms:
            raise ValueError("at least one loss weight must be > 0")
        self.ssim_on = ssim_on
        self.ignore_as_negative = ignore_as_negative
        self.ignore_index = ignore_index
        self.chunk_classes = chunk_classes
        self.focal_alpha = focal_alpha
        self.focal_gamma = focal_gamma
        self.ssim_factorised = ssim_factorised
        if fused not in (True, False, "auto"):
            raise ValueError(f"fused must be True, False or 'auto', got {fused!r}")
        self.fused = fused

    def _fusable(self) -> bool:
        """The fused formulation covers SSIM on logits through the token grid (and focal, dice)."""
        return "ssim" not in self.terms or (self.ssim_on == "logits" and self.ssim_factorised)

    def uses_fused(self, device: torch.device) -> bool:
        """Whether logits on ``device`` take the fused formulation (see ``fused``)."""
        if not self._fusable():
            return False
        return device.type == "cpu" if self.fused == "auto" else bool(self.fused)

    def _chunk_sums(
        self, logits: torch.Tensor, present: torch.Tensor, labels: torch.Tensor, first_class: int
    ) -> torch.Tensor:
        """The un-normalised sum of each used term over one chunk of classes, stacked: ``(len(terms),)``."""
        logits = logits.float()
        valid = None if self.ignore_as_negative else labels != self.ignore_index
        if self._fusable() and self.uses_fused(logits.device):
            products = ssim.neighbour_products(logits) if "ssim" in self.terms else None
            return _FusedTermSums.apply(
                logits,
                products,
                labels,
                present,
                valid,
                first_class,
                self.terms,
                self.focal_alpha,
                self.focal_gamma,
                torch.is_grad_enabled(),
            )
        x = F.interpolate(logits, size=labels.shape[-2:], mode="bilinear", align_corners=False)
        targets = binary_targets(labels, x.shape[1], self.ignore_index, first_class)
        low_res = logits if self.ssim_factorised else None
        sums = {
            "focal": lambda: _focal_sum(x, targets, self.focal_alpha, self.focal_gamma, valid),
            "ssim": lambda: _ssim_sum(
                x, targets, valid, ssim.WINDOW_SIZE, ssim.SIGMA, ssim.C1, ssim.C2, self.ssim_on, low_res
            ),
            "dice": lambda: _dice_sum(x, targets, present, valid),
        }
        return torch.stack([sums[name]() for name in self.terms])

    def __call__(
        self,
        mask_logits: torch.Tensor,
        labels: torch.Tensor,
        *,
        num_masks: float | None = None,
        micro_batches: int = 1,
    ) -> dict[str, torch.Tensor]:
        """Weighted loss terms of one batch, or of one micro-batch's share of an optimiser step.

        Args:
            mask_logits: ``(B, C, h, w)`` decoder mask logits (token resolution, any float dtype).
            labels: ``(B, H, W)`` long channel indices ``0..C-1`` and ``ignore_index``.
            num_masks: the normaliser of ``focal`` and ``dice`` (:func:`count_masks`); ``None`` counts the
                (image, present class) pairs of ``labels`` (over all processes). A trainer that splits a
                step into micro-batches passes the step's count, so that the micro-batches' terms add up
                to the loss of the whole step.
            micro_batches: the number of equal micro-batches of the step: ``ssim``, a mean over pixels,
                is divided by it.

        Returns:
            ``{"focal": ..., "ssim": ..., "dice": ..., "loss": total}`` (float32 scalars), each term already
            multiplied by its weight; only the terms with a positive weight appear.
        """
        if mask_logits.dim() != 4 or labels.dim() != 3 or mask_logits.shape[0] != labels.shape[0]:
            raise ValueError(
                f"expected mask_logits (B, C, h, w) and labels (B, H, W) with one B, got "
                f"{tuple(mask_logits.shape)} and {tuple(labels.shape)}"
            )
        if micro_batches < 1:
            raise ValueError(f"micro_batches must be >= 1, got {micro_batches}")
        b, c = mask_logits.shape[:2]
        check_labels(labels, c, self.ignore_index)
        labels = labels.long()
        present = class_presence(labels, c, self.ignore_index)
        if num_masks is None:
            num_masks = count_masks(present)

        with torch.autocast(device_type=mask_logits.device.type, enabled=False):
            sums = _sum_over_class_chunks(
                self._chunk_sums, (mask_logits, present), (labels,), self.chunk_classes
            )
        out: dict[str, torch.Tensor] = {}
        for name, value in zip(self.terms, sums.unbind(0)):
            if name == "ssim":
                h, w = labels.shape[-2:]
                valid_pixels = (
                    b * h * w if self.ignore_as_negative else int((labels != self.ignore_index).sum())
                )
                value = _one_minus_mean(value, c * valid_pixels)
            else:
                value = value / num_masks
            out[name] = self.weights[name] * value
            if name == "ssim" and micro_batches > 1:
                out[name] = out[name] * (1.0 / micro_batches)
        out["loss"] = torch.stack(list(out.values())).sum()
        return out


# ---------------------------------------------------------------- analysis: what each term asks of a logit


def term_gradients(
    logits: torch.Tensor,
    labels: torch.Tensor,
    ignore_as_negative: bool = True,
    ignore_index: int = 255,
) -> dict[str, np.ndarray]:
    """The gradient of each loss term of eq. 10 (and dice) with respect to every logit, by autograd.

    Args:
        logits: ``(1, C, H, W)`` mask logits at label resolution.
        labels: ``(1, H, W)`` channel indices and ``ignore_index``.
        ignore_as_negative: the reference's rule (ignored pixels are negatives for every class) or
            leaving them out (``valid`` mask), as in :class:`SegmentationCriterion`.

    Returns:
        ``{"focal", "ssim", "dice", "cross-entropy"}`` -> ``(C, H, W)`` arrays of ``d term / d logit``
        (unweighted terms; cross-entropy = the binary cross-entropy per class, for comparison).
    """
    c = logits.shape[1]
    targets = binary_targets(labels, c, ignore_index)
    valid = None if ignore_as_negative else labels != ignore_index
    num_masks = max(float((targets.flatten(2).amax(-1) > 0).sum()), 1.0)
    terms = {
        "focal": lambda x: focal_loss(x, targets, num_masks, valid=valid),
        "ssim": lambda x: ssim_loss(x, targets, valid=valid),
        "dice": lambda x: dice_loss(x, targets, num_masks, valid=valid),
        "cross-entropy": lambda x: _bce(x, targets, valid),
    }
    out = {}
    for name, fn in terms.items():
        x = logits.detach().float().clone().requires_grad_(True)
        fn(x).backward()
        out[name] = x.grad[0].numpy()
    return out


def _bce(x: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """Mean binary cross-entropy of logits ``(B, C, H, W)``, over the ``valid`` ``(B, H, W)`` pixels."""
    loss = F.binary_cross_entropy_with_logits(x, targets, reduction="none")
    if valid is None:
        return loss.mean()
    return (loss * valid[:, None]).sum() / (valid.sum() * x.shape[1]).clamp(min=1)


__all__ = [
    "SegmentationCriterion",
    "binary_targets",
    "check_labels",
    "class_presence",
    "count_masks",
    "dice_loss",
    "focal_loss",
    "ssim_loss",
    "term_gradients",
]
