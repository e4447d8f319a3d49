"""Test-time inference: whole-image and sliding-window, the test resize and the seen-class penalty.

The reference test protocol (reference-code.md §3.1, §6.1, §6.3):

1. resize the image so that its short side is 512, keeping the ratio (:func:`resize_short_side`);
2. per-class sigmoid scores, seen classes lowered by 0.1 in the inductive setting
   (:func:`apply_seen_penalty`);
3. sliding window, 512x512 crops with stride 426, overlapping scores averaged (:func:`slide_inference`);
4. resize the scores back to the original size and take the argmax.

Steps 2 and 3 commute: the penalty is a per-class constant, and both the bilinear resize and the
averaging of overlaps are convex combinations, which shift a constant through unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

PredictFn = Callable[[torch.Tensor], torch.Tensor]
"""Maps images ``(N, 3, h, w)`` to per-class scores ``(N, C, h', w')`` (any resolution)."""


def _check_images(images: torch.Tensor) -> None:
    if images.dim() != 4:
        raise ValueError(f"images must be (B, 3, H, W), got shape {tuple(images.shape)}")


def _predict_at(predict_fn: PredictFn, images: torch.Tensor) -> torch.Tensor:
    """``predict_fn(images)`` resized bilinearly (align_corners=False) to the images' size if needed."""
    scores = predict_fn(images)
    if scores.dim() != 4 or scores.shape[0] != images.shape[0]:
        raise ValueError(
            f"predict_fn must return (N, C, h, w) scores for N={images.shape[0]} images, "
            f"got {tuple(scores.shape)}"
        )
    if scores.shape[-2:] != images.shape[-2:]:
        scores = F.interpolate(scores, size=images.shape[-2:], mode="bilinear", align_corners=False)
    return scores


def whole_inference(predict_fn: PredictFn, images: torch.Tensor) -> torch.Tensor:
    """One forward pass over the whole images.

    Args:
        predict_fn: ``(B, 3, H, W) -> (B, C, h', w')`` per-class scores.
        images: ``(B, 3, H, W)``.

    Returns:
        ``(B, C, H, W)`` scores (resized bilinearly when the model's output is smaller).
    """
    _check_images(images)
    return _predict_at(predict_fn, images)


def slide_windows(
    height: int, width: int, crop: int = 512, stride: int = 426
) -> list[tuple[int, int, int, int]]:
    """The crop windows ``(y1, y2, x1, x2)`` of mmseg's sliding-window inference.

    Per axis ``max(size - crop + stride - 1, 0) // stride + 1`` windows start every ``stride`` pixels;
    the last one is shifted back to end at the border, so every window lies inside the image and every
    pixel is covered. An image smaller than the crop along an axis gets one window spanning that whole
    axis (the crop shrinks; mmseg does the same and does not pad), so the model then sees a smaller input.
    """
    if crop < 1 or not 1 <= stride <= crop:
        raise ValueError(
            f"need crop >= 1 and 1 <= stride <= crop (else pixels are skipped), got {crop}, {stride}"
        )

    def axis(size: int) -> list[tuple[int, int]]:
        count = max(size - crop + stride - 1, 0) // stride + 1
        spans = []
        for i in range(count):
            end = min(i * stride + crop, size)
            spans.append((max(end - crop, 0), end))
        return spans

    return [(y1, y2, x1, x2) for y1, y2 in axis(height) for x1, x2 in axis(width)]


def slide_inference(
    predict_fn: PredictFn,
    images: torch.Tensor,
    crop: int = 512,
    stride: int = 426,
    crops_per_batch: int = 1,
) -> torch.Tensor:
    """Sliding-window inference with mmseg's semantics (reference 6.1: crop 512, stride 426).

    Every window of :func:`slide_windows` is predicted (scores resized to the window if the model
    returns a lower resolution), the scores are added into place, and each pixel is divided by the
    number of windows covering it.

    Args:
        predict_fn: ``(N, 3, h, w) -> (N, C, h', w')`` per-class scores.
        images: ``(B, 3, H, W)``.
        crop, stride: window size and step in pixels (square).
        crops_per_batch: windows stacked into one ``predict_fn`` call (each call then gets
            ``crops_per_batch * B`` images); all windows of an image have the same size.

    Returns:
        ``(B, C, H, W)`` averaged scores.
    """
    _check_images(images)
    if crops_per_batch < 1:
        raise ValueError(f"crops_per_batch must be >= 1, got {crops_per_batch}")
    b, _, h, w = images.shape
    windows = slide_windows(h, w, crop, stride)
    total: torch.Tensor | None = None
    count = torch.zeros(1, 1, h, w, device=images.device)
    for start in range(0, len(windows), crops_per_batch):
        group = windows[start : start + crops_per_batch]
        crops = torch.cat([images[:, :, y1:y2, x1:x2] for y1, y2, x1, x2 in group])
        scores = _predict_at(predict_fn, crops)
        if total is None:
            total = scores.new_zeros(b, scores.shape[1], h, w)
        for k, (y1, y2, x1, x2) in enumerate(group):
            total[:, :, y1:y2, x1:x2] += scores[k * b : (k + 1) * b]
            count[:, :, y1:y2, x1:x2] += 1
    return total / count


def resize_short_side(image: torch.Tensor, short: int = 512) -> torch.Tensor:
    """Resize so that the short side is ``short`` pixels, keeping the aspect ratio (the reference test
    resize: mmseg ``Resize(img_scale=(2048, 512), keep_ratio=True, min_size=512)``).

    The long side becomes ``round(long * short / short_side)``; bilinear, ``align_corners=False``, no
    antialiasing (as OpenCV's bilinear resize that mmseg uses).

    Args:
        image: ``(3, H, W)`` or ``(B, 3, H, W)`` float tensor.

    Returns:
        The resized tensor, same number of dims; the input itself when it already has that size.
    """
    if image.dim() not in (3, 4) or not image.dtype.is_floating_point:
        raise ValueError(
            f"image must be a float (3, H, W) or (B, 3, H, W) tensor, got {image.dtype} {tuple(image.shape)}"
        )
    h, w = image.shape[-2:]
    scale = short / min(h, w)
    size = (int(h * scale + 0.5), int(w * scale + 0.5))
    if size == (h, w):
        return image
    batch = image if image.dim() == 4 else image[None]
    out = F.interpolate(batch, size=size, mode="bilinear", align_corners=False, antialias=False)
    return out if image.dim() == 4 else out[0]


def apply_seen_penalty(scores: torch.Tensor, seen_mask: torch.Tensor, penalty: float = 0.1) -> torch.Tensor:
    """Inductive setting: lower the sigmoid scores of the seen classes by ``penalty`` (reference 3.1,
    6.3), so that unseen classes, never trained on, can win the argmax. Not applied transductively.

    Args:
        scores: ``(B, C, H, W)`` sigmoid scores.
        seen_mask: ``(C,)`` bool, True for seen classes.
        penalty: subtracted from the seen channels (0.1).

    Returns:
        A new ``(B, C, H, W)`` tensor.
    """
    if scores.dim() != 4 or seen_mask.shape != (scores.shape[1],) or seen_mask.dtype != torch.bool:
        raise ValueError(
            f"need scores (B, C, H, W) and a bool seen_mask (C,), got {tuple(scores.shape)} and "
            f"{seen_mask.dtype} {tuple(seen_mask.shape)}"
        )
    shift = penalty * seen_mask.to(device=scores.device, dtype=scores.dtype)
    return scores - shift[None, :, None, None]


__all__ = [
    "PredictFn",
    "apply_seen_penalty",
    "resize_short_side",
    "slide_inference",
    "slide_windows",
    "whole_inference",
]
