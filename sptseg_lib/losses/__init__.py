"""The training loss, eq. 10 of the paper: ``L = γ · L_focal + σ · L_ssim`` (docs/reference.md §5).

One module per job:

* :mod:`.targets`: the per-class binary targets of a label map, which (image, class) pairs are present,
  and the one normaliser ``num_masks`` (:func:`count_masks`, docs/reference.md §5.1);
* :mod:`.terms`: the terms in their textbook formulation, focal, SSIM and ZegCLIP's dice
  (docs/reference.md §5.2-5.4), as public losses (:func:`focal_loss`, :func:`ssim_loss`,
  :func:`dice_loss`) and as the sums the criterion normalises;
* :mod:`.fused`: the fused CPU path, the same sums and gradients in one blocked pass;
* :mod:`.criterion`: :class:`SegmentationCriterion`, eq. 10 as a callable from the decoder's token-grid
  mask logits, which picks the formulation and normalises the sums.

``term_gradients`` (what each term asks of a logit, notebook 04's figure) lives with its figures in
:mod:`sptseg_lib.viz.losses`; ``sptseg_lib.losses.term_gradients`` still finds it, importing the figures
only when asked.
"""

from __future__ import annotations

from typing import Any

from .criterion import SegmentationCriterion
from .targets import binary_targets, check_labels, class_presence, count_masks
from .terms import dice_loss, focal_loss, ssim_loss


def __getattr__(name: str) -> Any:
    """``term_gradients`` from :mod:`sptseg_lib.viz.losses`, imported on first use (it needs matplotlib)."""
    if name == "term_gradients":
        from ..viz.losses import term_gradients

        return term_gradients
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
