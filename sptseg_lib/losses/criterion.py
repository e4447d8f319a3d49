"""The criterion of eq. 10: the weighted loss terms of one batch from the decoder's token-grid mask logits.

:class:`SegmentationCriterion` upsamples the logits ``(B, C, h, w)`` to the label size, builds the binary
targets (:mod:`sptseg_lib.losses.targets`) and evaluates the terms (:mod:`sptseg_lib.losses.terms`), or
takes the fused CPU path (:mod:`sptseg_lib.losses.fused`), which computes the same sums.

Memory: at COCO-Stuff scale (171 classes, 512x512, batch 4) every ``(B, C, H, W)`` float32 tensor is
0.7 GB and the terms create a dozen of them. The criterion therefore evaluates the terms on chunks of
classes under activation checkpointing: only the low-resolution logits are kept for the backward pass,
and each chunk is recomputed there. All terms are sums over classes, so the chunked result equals the
unchunked one (up to float summation order). See ``benchmarks/loss_memory.py``.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from .. import ssim
from ..data.splits import IGNORE_INDEX
from .fused import FusedTermSums
from .targets import binary_targets, check_labels, class_presence, count_masks
from .terms import SsimOn, dice_sum, focal_sum, one_minus_mean, ssim_sum, sum_over_class_chunks


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
            (:class:`~sptseg_lib.losses.fused.FusedTermSums`); False: plain autograd through the formulas
            on the upsampled maps (the reference). The same value and gradient up to float rounding
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
        if self.uses_fused(logits.device):
            products = ssim.neighbour_products(logits) if "ssim" in self.terms else None
            return FusedTermSums.apply(
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
            "focal": lambda: focal_sum(x, targets, self.focal_alpha, self.focal_gamma, valid),
            "ssim": lambda: ssim_sum(
                x, targets, valid, ssim.WINDOW_SIZE, ssim.SIGMA, ssim.C1, ssim.C2, self.ssim_on, low_res
            ),
            "dice": lambda: dice_sum(x, targets, present, valid),
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
            num_masks: the normaliser of ``focal`` and ``dice``
                (:func:`~sptseg_lib.losses.targets.count_masks`); ``None`` counts the (image, present class)
                pairs of ``labels`` (over all processes). A trainer that splits a step into micro-batches
                passes the step's count, so that the micro-batches' terms add up to the loss of the whole
                step.
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
            sums = sum_over_class_chunks(
                self._chunk_sums, (mask_logits, present), (labels,), self.chunk_classes
            )
        out: dict[str, torch.Tensor] = {}
        for name, value in zip(self.terms, sums.unbind(0)):
            if name == "ssim":
                h, w = labels.shape[-2:]
                valid_pixels = (
                    b * h * w if self.ignore_as_negative else int((labels != self.ignore_index).sum())
                )
                value = one_minus_mean(value, c * valid_pixels)
            else:
                value = value / num_masks
            out[name] = self.weights[name] * value
            if name == "ssim" and micro_batches > 1:
                out[name] = out[name] * (1.0 / micro_batches)
        out["loss"] = torch.stack(list(out.values())).sum()
        return out


__all__ = ["SegmentationCriterion"]
