"""Test-time inference: one :class:`Predictor` owns the pipeline from an image to per-class scores.

The reference test protocol (docs/reference.md §3.1, §6.1, §6.3), step by step:

1. resize the image so that its short side is the crop size (512), keeping the ratio (the test transform
   of :mod:`sptseg_lib.data.transforms`, which the data sets apply to their test items);
2. zero-pad every window (or the whole image) to the model's input size and a multiple of the patch size
   (:func:`padded_scores`);
3. per-class sigmoid scores (``model.predict``), sliding 512 windows at stride 426 with overlapping scores
   averaged (:func:`slide_inference`) or one whole-image pass (:func:`whole_inference`), as the experiment's
   ``data.test_mode`` says; a model whose spectral filter is fixed to one token grid gets the whole image
   in non-overlapping tiles of the crop size instead (:func:`tiled_inference`), so any image size works;
4. in the inductive setting, the seen classes' scores lowered by ``model.config.seen_penalty`` (0.1;
   :func:`apply_seen_penalty`), so that classes never trained on can win the argmax;
5. the scores resized back to the label's (or the original image's) size, then the argmax.

Steps 3 and 4 commute: the penalty is a per-class constant, and both the bilinear resize and the averaging
of overlaps are convex combinations, which shift a constant through unchanged. :func:`evaluate.evaluate
<sptseg_lib.evaluate.evaluate>`, ``python -m sptseg_lib predict``, the training-free baselines and the
notebooks all go through :class:`Predictor`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import ExperimentConfig
from .data.splits import ZeroShotSplit
from .data.transforms import build_test_transform

PredictFn = Callable[[torch.Tensor], torch.Tensor]
"""Maps images ``(N, 3, h, w)`` to per-class scores ``(N, C, h', w')`` (any resolution)."""


def _check_images(images: torch.Tensor) -> None:
    if images.dim() != 4:
        raise ValueError(f"images must be (B, 3, H, W), got shape {tuple(images.shape)}")


def resized_scores(predict_fn: PredictFn, images: torch.Tensor) -> torch.Tensor:
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


LABEL_CHUNK_BYTES = 256 * 2**20
"""At most this many bytes of full-resolution scores exist at once in :func:`resized_argmax`."""


def resized_argmax(scores: torch.Tensor, size: Sequence[int], max_bytes: int | None = None) -> torch.Tensor:
    """``F.interpolate(scores, size, bilinear).argmax(1)`` without holding every class at full resolution.

    The classes are resized a few at a time (as many as fit in ``max_bytes``) and a running maximum keeps
    the best class per pixel. Bilinear resizing treats each channel on its own, so every resized value is
    the one the full resize gives, and a class replaces the running best only when strictly greater, which
    keeps ``argmax``'s first-maximum rule: the labels are identical, at a peak memory that no longer grows
    with the number of classes (a 24-megapixel photo takes 96 MB per class at full resolution).

    Args:
        scores: ``(B, C, h, w)``.
        size: ``(H, W)``.
        max_bytes: the budget for full-resolution scores at once (default :data:`LABEL_CHUNK_BYTES`).

    Returns:
        ``(B, H, W)`` int64 class indices.
    """
    size = (int(size[0]), int(size[1]))
    max_bytes = LABEL_CHUNK_BYTES if max_bytes is None else max_bytes
    if tuple(scores.shape[-2:]) == size:
        return scores.argmax(1)
    batch, classes = scores.shape[:2]
    chunk = max(1, max_bytes // (batch * size[0] * size[1] * scores.element_size()))
    if chunk >= classes:
        return F.interpolate(scores, size=size, mode="bilinear", align_corners=False).argmax(1)
    dtype = torch.uint8 if classes <= 256 else torch.int32
    labels = torch.zeros((batch, *size), dtype=dtype, device=scores.device)
    best = torch.empty((batch, *size), dtype=scores.dtype, device=scores.device)
    for start in range(0, classes, chunk):
        part = F.interpolate(
            scores[:, start : start + chunk], size=size, mode="bilinear", align_corners=False
        )
        for offset in range(part.shape[1]):
            value = part[:, offset]
            if start + offset == 0:
                best.copy_(value)
                continue
            labels.masked_fill_(value > best, start + offset)  # strictly greater: the first maximum wins
            torch.maximum(best, value, out=best)
        del part
    return labels.long()


def whole_inference(predict_fn: PredictFn, images: torch.Tensor) -> torch.Tensor:
    """One forward pass over the whole images.

    Args:
        predict_fn: ``(B, 3, H, W) -> (B, C, h', w')`` per-class scores.
        images: ``(B, 3, H, W)``.

    Returns:
        ``(B, C, H, W)`` scores (resized bilinearly when the model's output is smaller).
    """
    _check_images(images)
    return resized_scores(predict_fn, images)


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
    """Sliding-window inference with mmseg's semantics (docs/reference.md §6.1: crop 512, stride 426).

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
        scores = resized_scores(predict_fn, crops)
        if total is None:
            total = scores.new_zeros(b, scores.shape[1], h, w)
        for k, (y1, y2, x1, x2) in enumerate(group):
            total[:, :, y1:y2, x1:x2] += scores[k * b : (k + 1) * b]
            count[:, :, y1:y2, x1:x2] += 1
    return total / count


def tiled_inference(predict_fn: PredictFn, images: torch.Tensor, crop: int) -> torch.Tensor:
    """Whole-image inference for a model that takes one input size only: the images are zero-padded
    (bottom, right) to multiples of ``crop`` and cut into non-overlapping ``crop`` tiles, whose scores are
    put back in place and cropped to ``(H, W)``.

    An SPT model whose spectral filter is fixed to one token grid (``spt_grid_mode="error"``, the
    reference) needs this, with ``crop`` = its ``config.image_size``, for any image that is not of that
    size; an image of exactly that size gives one tile, the same as :func:`whole_inference`.

    Args:
        images: ``(B, 3, H, W)``.

    Returns:
        ``(B, C, H, W)`` scores.
    """
    _check_images(images)
    h, w = images.shape[-2:]
    ph, pw = -(-h // crop) * crop, -(-w // crop) * crop
    if (ph, pw) != (h, w):
        images = F.pad(images, (0, pw - w, 0, ph - h))
    return slide_inference(predict_fn, images, crop=crop, stride=crop)[..., :h, :w]


def fixed_token_grid(model: nn.Module) -> bool:
    """Whether ``model`` accepts only the token grid of ``config.image_size``: spectral prompts whose
    filter is not resized (``spt_grid_mode="error"``)."""
    config = getattr(model, "config", None)
    return bool(getattr(config, "spt", False)) and getattr(config, "spt_grid_mode", "") == "error"


def apply_seen_penalty(scores: torch.Tensor, seen_mask: torch.Tensor, penalty: float = 0.1) -> torch.Tensor:
    """Inductive setting: lower the sigmoid scores of the seen classes by ``penalty`` (docs/reference.md
    §3.1, §6.3), so that unseen classes, never trained on, can win the argmax. Not applied transductively.

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


def padded_scores(model: nn.Module, images: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """``model.predict(images, text)`` on images zero-padded (bottom, right) to at least the model's
    ``config.image_size`` and to a multiple of its patch size, with the scores cropped back.

    Windows of the sliding inference are already ``image_size``; this matters for images smaller than a
    window and for whole-image inference on sizes the patch grid does not divide.

    Args:
        images: ``(N, 3, h, w)``.
        text: ``(C, D)`` class embeddings.

    Returns:
        ``(N, C, h, w)`` scores.
    """
    size = int(model.config.image_size)
    patch = getattr(getattr(getattr(model, "clip", None), "visual", None), "patch_size", 1)
    patch = int(patch[0] if isinstance(patch, (tuple, list)) else patch)
    h, w = images.shape[-2:]
    ph, pw = max(size, -(-h // patch) * patch), max(size, -(-w // patch) * patch)
    if (ph, pw) != (h, w):
        images = F.pad(images, (0, pw - w, 0, ph - h))
    return model.predict(images, text)[..., :h, :w]


class Predictor:
    """Image to per-class scores, the test protocol end to end (the module docstring's steps 1-5).

    In the spirit of segment-anything's ``SamPredictor``: the model and the class names are set once (their
    text embeddings computed once), then :meth:`scores` takes normalised test images (a data set's items)
    and :meth:`image_scores` takes a raw RGB image of any size.

    Args:
        model: an :class:`~sptseg_lib.model.SPTSeg` (or anything with ``predict(images, text)``,
            ``class_embeddings(names)`` and ``config.image_size``, such as the training-free baselines).
        class_names: the names, channel ``c`` = ``class_names[c]``.
        seen: indices of the classes whose scores the inductive penalty lowers (empty: no penalty, as for
            open-vocabulary prediction or the transductive and fully supervised settings).
        penalty: subtracted from the seen scores; default ``model.config.seen_penalty`` (0.1), 0 for a
            model without one.
        mode: ``"slide"`` (windows of ``crop`` at ``stride``) or ``"whole"`` (one pass).
        crop, stride: sliding-window geometry in pixels; ``crop`` is also the short side of
            :meth:`image_scores`' resize.
        device: where the model runs (default: the model's).
    """

    def __init__(
        self,
        model: nn.Module,
        class_names: Sequence[str],
        *,
        seen: Sequence[int] = (),
        penalty: float | None = None,
        mode: str = "slide",
        crop: int = 512,
        stride: int = 426,
        device: torch.device | str | None = None,
    ) -> None:
        if mode not in ("slide", "whole"):
            raise ValueError(f"mode must be 'slide' or 'whole', got {mode!r}")
        if not class_names:
            raise ValueError("give at least one class name")
        self.model = model
        self.class_names = list(class_names)
        self.mode, self.crop, self.stride = mode, crop, stride
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        if penalty is None:
            penalty = float(getattr(model.config, "seen_penalty", 0.0))
        self.penalty = penalty if seen else 0.0
        self.seen_mask = torch.zeros(len(self.class_names), dtype=torch.bool, device=self.device)
        self.seen_mask[list(seen)] = True
        with torch.no_grad():
            self.text = model.class_embeddings(self.class_names).to(self.device)

    @classmethod
    def for_protocol(
        cls,
        model: nn.Module,
        experiment: ExperimentConfig,
        split: ZeroShotSplit,
        *,
        mode: str | None = None,
        device: torch.device | str | None = None,
    ) -> Predictor:
        """The benchmark protocol of ``experiment`` on ``split``: every class name, the seen-class penalty
        in the inductive setting only, the experiment's inference mode (``mode`` overrides it), crop and
        stride."""
        inductive = experiment.train.setting == "inductive"
        return cls(
            model,
            split.class_names,
            seen=split.seen if inductive else (),
            mode=mode or experiment.data.test_mode,
            crop=experiment.data.crop_size,
            stride=experiment.data.test_stride,
            device=device,
        )

    @classmethod
    def open_vocabulary(
        cls,
        model: nn.Module,
        experiment: ExperimentConfig,
        class_names: Sequence[str],
        *,
        device: torch.device | str | None = None,
    ) -> Predictor:
        """Any class names (the user's words), no seen-class penalty, sliding windows of the experiment's
        crop and stride: a user's image may have any size, and windows always have the model's."""
        return cls(
            model,
            class_names,
            mode="slide",
            crop=experiment.data.crop_size,
            stride=experiment.data.test_stride,
            device=device,
        )

    @property
    def description(self) -> str:
        """The inference in words, as written into reports."""
        if self.mode == "slide":
            return f"slide (crop {self.crop}, stride {self.stride})"
        if fixed_token_grid(self.model):
            size = self.model.config.image_size
            return f"whole (tiles of {size} where the spectral filter's fixed grid needs them)"
        return "whole"

    @torch.no_grad()
    def raw_scores(self, images: torch.Tensor) -> torch.Tensor:
        """Sigmoid scores ``(B, C, H, W)`` of normalised images ``(B, 3, H, W)``, before the penalty."""

        def predict_fn(x: torch.Tensor) -> torch.Tensor:
            return padded_scores(self.model, x, self.text)

        images = images.to(self.device)
        if self.mode == "slide":
            return slide_inference(predict_fn, images, crop=self.crop, stride=self.stride)
        if fixed_token_grid(self.model):
            return tiled_inference(predict_fn, images, int(self.model.config.image_size))
        return whole_inference(predict_fn, images)

    @torch.no_grad()
    def scores(self, images: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        """The scores whose argmax is the prediction: :meth:`raw_scores`, the penalty, resized to ``size``.

        Args:
            images: ``(B, 3, H, W)`` normalised (a test item's ``image`` with a batch axis).
            size: ``(H', W')`` to resize the scores to (the label's size), bilinear; ``None`` keeps
                ``(H, W)``.

        Returns:
            ``(B, C, H', W')``.
        """
        scores = self.raw_scores(images)
        if self.penalty:
            scores = apply_seen_penalty(scores, self.seen_mask, self.penalty)
        if size is not None and tuple(size) != tuple(scores.shape[-2:]):
            scores = F.interpolate(scores, size=tuple(size), mode="bilinear", align_corners=False)
        return scores

    @torch.no_grad()
    def labels(self, images: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        """The argmax of :meth:`scores` ``(B, H', W')``, computed a few classes at a time
        (:func:`resized_argmax`): the same labels at a memory that does not grow with the classes."""
        scores = self.raw_scores(images)
        if self.penalty:
            scores = apply_seen_penalty(scores, self.seen_mask, self.penalty)
        return resized_argmax(scores, size if size is not None else scores.shape[-2:])

    @torch.no_grad()
    def image_labels(self, image: np.ndarray) -> torch.Tensor:
        """The label map ``(H, W)`` of one RGB image ``(H, W, 3)`` uint8: the argmax of
        :meth:`image_scores`, without the full-resolution scores of every class at once."""
        return self.labels(self._normalised(image)[None], size=image.shape[:2])[0]

    def _normalised(self, image: np.ndarray) -> torch.Tensor:
        if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be (H, W, 3) uint8 RGB, got {image.dtype} {image.shape}")
        x, _ = build_test_transform(short_side=self.crop)(image, np.zeros(image.shape[:2], np.uint8))
        return x

    @torch.no_grad()
    def image_scores(self, image: np.ndarray) -> torch.Tensor:
        """Scores ``(C, H, W)`` of one RGB image ``(H, W, 3)`` uint8 at its own size: resized so that its
        short side is ``crop`` (step 1), predicted, resized back."""
        if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be (H, W, 3) uint8 RGB, got {image.dtype} {image.shape}")
        x, _ = build_test_transform(short_side=self.crop)(image, np.zeros(image.shape[:2], np.uint8))
        return self.scores(x[None], size=image.shape[:2])[0]


__all__ = [
    "LABEL_CHUNK_BYTES",
    "PredictFn",
    "Predictor",
    "apply_seen_penalty",
    "fixed_token_grid",
    "padded_scores",
    "resized_argmax",
    "resized_scores",
    "slide_inference",
    "slide_windows",
    "tiled_inference",
    "whole_inference",
]
