"""Training and test augmentation with mmsegmentation's semantics (docs/reference.md §6.1), in plain PyTorch.

Train pipeline (the order of the reference configs)::

    random rescale (img_scale (2048, 512), ratio 0.5-2.0) -> random crop 512 (cat_max_ratio 0.75)
    -> horizontal flip (0.5) -> photometric distortion -> normalise -> pad to 512 (image 0, mask 255)

Test pipeline: resize the short side to 512 keeping the aspect ratio, normalise; the label keeps its
original size (metrics are computed at the original resolution).

The resizing, cropping, flipping, padding and normalising kernels are torchvision.transforms.v2's, applied
jointly to a ``tv_tensors.Image`` and a ``tv_tensors.Mask`` (the mask always nearest-neighbour); the random
parameters are drawn here from one ``torch.Generator`` so that a seed makes a sample repeatable. mmseg's
rescale rule, its class-balanced crop and its photometric distortion have no torchvision equivalent
(torchvision's brightness/contrast/saturation are multiplicative blends, mmseg's are ``x*alpha + beta``
on 0-255 values and an HSV saturation scale) and are written here.

Images enter as PIL RGB images or (H, W, 3) uint8 arrays, labels as PIL ``P``/``L`` images or (H, W)
integer arrays with values 0..255; both callables return ``(image float (3, H, W), label long (H, W))``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from PIL import Image
from torchvision import tv_tensors
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from .splits import IGNORE_INDEX

IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)
CLIP_MEAN = (0.48145466 * 255, 0.4578275 * 255, 0.40821073 * 255)
CLIP_STD = (0.26862954 * 255, 0.26130258 * 255, 0.27577711 * 255)


def normalise(image: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` or ``(B, H, W, 3)`` uint8 RGB -> ``(3, H, W)`` or ``(B, 3, H, W)`` float: ImageNet mean
    and std on 0-255, the normalisation of the reference pipeline and of the tiny CLIP's pretraining."""
    t = torch.from_numpy(np.ascontiguousarray(image)).float()
    t = (t - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    return t.movedim(-1, -3).contiguous()


Normalization = Literal["imagenet", "clip"]
_NORMS = {"imagenet": (IMAGENET_MEAN, IMAGENET_STD), "clip": (CLIP_MEAN, CLIP_STD)}


def token_labels(label: np.ndarray, patch: int) -> np.ndarray:
    """The class of each token: the most frequent label of its ``patch x patch`` pixels (the lowest
    label on a tie). ``label`` ``(H, W)`` integer, H and W multiples of ``patch``; returns ``(H/patch,
    W/patch)`` int64."""
    h, w = label.shape
    if h % patch or w % patch:
        raise ValueError(f"label map {h}x{w} is not a whole number of {patch}-px patches")
    blocks = (
        label.reshape(h // patch, patch, w // patch, patch).transpose(0, 2, 1, 3).reshape(-1, patch * patch)
    )
    out = np.empty(len(blocks), dtype=np.int64)
    for i, row in enumerate(blocks):
        found, times = np.unique(row, return_counts=True)  # sorted: argmax takes the lowest on a tie
        out[i] = found[np.argmax(times)]
    return out.reshape(h // patch, w // patch)


def _norm_constants(normalization: str) -> tuple[list[float], list[float]]:
    if normalization not in _NORMS:
        raise ValueError(f"unknown normalization {normalization!r}; use 'imagenet' (reference) or 'clip'")
    mean, std = _NORMS[normalization]
    return list(mean), list(std)


# --- random numbers from one generator (numpy's conventions: high is exclusive) -------------------------


def _uniform(low: float, high: float, g: torch.Generator | None) -> float:
    return low + (high - low) * torch.rand((), generator=g).item()


def _randint(low: int, high: int, g: torch.Generator | None) -> int:
    """An integer in ``[low, high)``."""
    return int(torch.randint(low, high, (), generator=g).item())


# --- conversion ----------------------------------------------------------------------------------------


def to_tv_tensors(
    image: Image.Image | np.ndarray, label: Image.Image | np.ndarray
) -> tuple[tv_tensors.Image, tv_tensors.Mask]:
    """PIL/array inputs -> a uint8 ``Image`` (3, H, W) and a uint8 ``Mask`` (1, H, W)."""
    if isinstance(image, Image.Image):
        image = np.asarray(image.convert("RGB"))
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be RGB (H, W, 3) uint8, got shape {image.shape} dtype {image.dtype}")
    if isinstance(label, Image.Image):
        if label.mode not in ("P", "L"):
            raise ValueError(
                f"label image must hold class indices (mode 'P' or 'L'), not mode {label.mode!r}"
            )
        label = np.asarray(label)
    label = np.asarray(label)
    if label.ndim != 2:
        raise ValueError(f"label must be (H, W), got shape {label.shape}")
    if label.dtype != np.uint8:
        if label.size and (label.min() < 0 or label.max() > 255):
            raise ValueError(f"label values must lie in 0..255, got {label.min()}..{label.max()}")
        label = label.astype(np.uint8)
    if image.shape[:2] != label.shape:
        raise ValueError(f"image size {image.shape[:2]} and label size {label.shape} differ")
    image, label = np.require(image, requirements="CW"), np.require(label, requirements="CW")  # writeable
    img = tv_tensors.Image(torch.from_numpy(image).permute(2, 0, 1))
    mask = tv_tensors.Mask(torch.from_numpy(label)[None])
    return img, mask


# --- geometric steps -------------------------------------------------------------------------------------


def rescale_size(height: int, width: int, scale: tuple[float, float]) -> tuple[int, int]:
    """mmcv's keep-ratio rescale: the largest size that fits within ``scale`` (long edge <= max(scale),
    short edge <= min(scale)), rounded half up. Returns ``(new_height, new_width)``."""
    factor = min(max(scale) / max(height, width), min(scale) / min(height, width))
    return int(height * factor + 0.5), int(width * factor + 0.5)


def _resize_pair(img: torch.Tensor, mask: torch.Tensor, size: tuple[int, int], antialias: bool):
    img = TF.resize(img, list(size), interpolation=InterpolationMode.BILINEAR, antialias=antialias)
    mask = TF.resize(mask, list(size), interpolation=InterpolationMode.NEAREST)
    return img, mask


def random_rescale(
    img: torch.Tensor,
    mask: torch.Tensor,
    img_scale: tuple[int, int],
    ratio_range: tuple[float, float],
    generator: torch.Generator | None = None,
    antialias: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """mmseg ``Resize(img_scale, ratio_range)``: draw ``r ~ U(ratio_range)``, rescale to fit within
    ``(img_scale[0] * r, img_scale[1] * r)`` keeping the aspect ratio (image bilinear, mask nearest)."""
    r = _uniform(*ratio_range, generator)
    scale = (int(img_scale[0] * r), int(img_scale[1] * r))
    return _resize_pair(img, mask, rescale_size(img.shape[-2], img.shape[-1], scale), antialias)


def crop_is_balanced(mask_crop: torch.Tensor, cat_max_ratio: float, ignore_index: int = IGNORE_INDEX) -> bool:
    """mmseg's acceptance rule: at least two non-ignored classes, and none covering ``>= cat_max_ratio``
    of the non-ignored pixels."""
    counts = torch.bincount(mask_crop.flatten().long(), minlength=256)
    counts[ignore_index] = 0
    counts = counts[counts > 0]
    return len(counts) > 1 and (counts.max() / counts.sum()).item() < cat_max_ratio


def random_crop(
    img: torch.Tensor,
    mask: torch.Tensor,
    size: int,
    cat_max_ratio: float = 0.75,
    generator: torch.Generator | None = None,
    tries: int = 10,
    ignore_index: int = IGNORE_INDEX,
) -> tuple[torch.Tensor, torch.Tensor]:
    """mmseg ``RandomCrop(size, cat_max_ratio)``: a uniformly placed ``size`` x ``size`` window (smaller
    when the image is). With ``cat_max_ratio < 1`` a window is redrawn, up to ``tries`` times, while it
    fails :func:`crop_is_balanced`; after ``tries`` failures the last drawn window is kept unchecked."""
    h, w = img.shape[-2:]

    def draw() -> tuple[int, int]:
        return _randint(0, max(h - size, 0) + 1, generator), _randint(0, max(w - size, 0) + 1, generator)

    top, left = draw()
    if cat_max_ratio < 1.0:
        for _ in range(tries):
            if crop_is_balanced(mask[..., top : top + size, left : left + size], cat_max_ratio, ignore_index):
                break
            top, left = draw()
    ch, cw = min(size, h), min(size, w)
    return TF.crop(img, top, left, ch, cw), TF.crop(mask, top, left, ch, cw)


def pad_to(
    img: torch.Tensor, mask: torch.Tensor, size: int, ignore_index: int = IGNORE_INDEX
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad bottom and right to ``size`` x ``size``: image with 0 (after normalising, as mmseg), mask with
    ``ignore_index``."""
    h, w = img.shape[-2:]
    padding = [0, 0, max(size - w, 0), max(size - h, 0)]  # left, top, right, bottom
    if padding[2] == padding[3] == 0:
        return img, mask
    return TF.pad(img, padding, fill=0), TF.pad(mask, padding, fill=ignore_index)


# --- photometric distortion ----------------------------------------------------------------------------


def rgb_to_hsv(rgb: torch.Tensor) -> torch.Tensor:
    """(3, H, W) RGB in [0, 1] -> (3, H, W) HSV in [0, 1] (hue as a fraction of a turn)."""
    maxc, _ = rgb.max(dim=0)
    minc, _ = rgb.min(dim=0)
    delta = maxc - minc
    safe = delta.clamp_min(1e-12)
    r, g, b = rgb
    hue = torch.where(
        maxc == r, (g - b) / safe, torch.where(maxc == g, 2.0 + (b - r) / safe, 4.0 + (r - g) / safe)
    )
    hue = torch.where(delta > 0, (hue / 6.0) % 1.0, torch.zeros_like(hue))
    sat = torch.where(maxc > 0, delta / maxc.clamp_min(1e-12), torch.zeros_like(maxc))
    return torch.stack([hue, sat, maxc])


def hsv_to_rgb(hsv: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_hsv`."""
    h, s, v = hsv
    h6 = (h % 1.0) * 6.0
    sector = h6.floor()
    f = h6 - sector
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    idx = sector.long() % 6
    # Per sector (0..5) the (r, g, b) are: (v,t,p) (q,v,p) (p,v,t) (p,q,v) (t,p,v) (v,p,q).
    choices = torch.stack([v, q, p, t])  # indices 0..3
    table = torch.tensor([[0, 3, 2], [1, 0, 2], [2, 0, 3], [2, 1, 0], [3, 2, 0], [0, 2, 1]], device=h.device)
    pick = table[idx].permute(2, 0, 1)  # (3, H, W): which of v, q, p, t each channel takes
    return torch.gather(choices, 0, pick)


def photometric_distortion(
    img: torch.Tensor,
    generator: torch.Generator | None = None,
    brightness_delta: int = 32,
    contrast_range: tuple[float, float] = (0.5, 1.5),
    saturation_range: tuple[float, float] = (0.5, 1.5),
    hue_delta: int = 18,
) -> torch.Tensor:
    """mmseg ``PhotoMetricDistortion`` on a (3, H, W) image with values 0..255; returns float32 0..255.

    Each step is applied with probability 1/2: brightness ``x + U(-32, 32)``; contrast ``x * U(0.5, 1.5)``
    either first or last (a coin decides); saturation ``S * U(0.5, 1.5)`` in HSV; hue shift by an integer
    in ``[-18, 18)`` in OpenCV's 0-180 hue units (i.e. up to 36 degrees). Brightness and contrast clip to
    0..255 and truncate to integers, as mmcv does on uint8 images.
    """
    x = img.float()

    def convert(t: torch.Tensor, alpha: float = 1.0, beta: float = 0.0) -> torch.Tensor:
        return (t * alpha + beta).clamp(0, 255).floor()

    def contrast(t: torch.Tensor) -> torch.Tensor:
        if _randint(0, 2, generator):
            t = convert(t, alpha=_uniform(*contrast_range, generator))
        return t

    if _randint(0, 2, generator):
        x = convert(x, beta=_uniform(-brightness_delta, brightness_delta, generator))
    contrast_first = _randint(0, 2, generator) == 1
    if contrast_first:
        x = contrast(x)
    if _randint(0, 2, generator):
        hsv = rgb_to_hsv(x / 255.0)
        hsv[1] = (hsv[1] * _uniform(*saturation_range, generator)).clamp(0, 1)
        x = (hsv_to_rgb(hsv) * 255.0).round()
    if _randint(0, 2, generator):
        shift = _randint(-hue_delta, hue_delta, generator) if hue_delta > 0 else 0
        hsv = rgb_to_hsv(x / 255.0)
        hsv[0] = (hsv[0] + shift / 180.0) % 1.0
        x = (hsv_to_rgb(hsv) * 255.0).round()
    if not contrast_first:
        x = contrast(x)
    return x


# --- the two pipelines -----------------------------------------------------------------------------------


class TrainTransform:
    """The training pipeline (see the module docstring); build it with :func:`build_train_transform`.

    ``generator``: the ``torch.Generator`` every random choice is drawn from; ``None`` uses torch's global
    generator, which a ``DataLoader`` seeds differently in every worker (repeatable when the main process
    is seeded). A generator passed in is copied into each worker as is, so give ``None`` with workers.
    """

    def __init__(
        self,
        crop: int = 512,
        img_scale: tuple[int, int] | None = (2048, 512),
        ratio_range: tuple[float, float] = (0.5, 2.0),
        cat_max_ratio: float = 0.75,
        flip_prob: float = 0.5,
        photometric: bool = True,
        normalization: Normalization = "imagenet",
        antialias: bool = False,
        ignore_index: int = IGNORE_INDEX,
        generator: torch.Generator | None = None,
    ) -> None:
        if crop < 1:
            raise ValueError(f"crop must be >= 1, got {crop}")
        if not 0 < ratio_range[0] <= ratio_range[1]:
            raise ValueError(f"ratio_range must be (low, high) with 0 < low <= high, got {ratio_range}")
        self.crop, self.img_scale, self.ratio_range = crop, img_scale, ratio_range
        self.cat_max_ratio, self.flip_prob, self.photometric = cat_max_ratio, flip_prob, photometric
        self.mean, self.std = _norm_constants(normalization)
        self.antialias, self.ignore_index, self.generator = antialias, ignore_index, generator

    def __call__(
        self, image: Image.Image | np.ndarray, label: Image.Image | np.ndarray
    ) -> tuple[torch.Tensor, torch.Tensor]:
        g = self.generator
        img, mask = to_tv_tensors(image, label)
        if self.img_scale is not None:
            img, mask = random_rescale(img, mask, self.img_scale, self.ratio_range, g, self.antialias)
        img, mask = random_crop(img, mask, self.crop, self.cat_max_ratio, g, ignore_index=self.ignore_index)
        if torch.rand((), generator=g).item() < self.flip_prob:
            img, mask = TF.horizontal_flip(img), TF.horizontal_flip(mask)
        x = photometric_distortion(img, g) if self.photometric else img.float()
        x = TF.normalize(tv_tensors.Image(x), self.mean, self.std)
        x, mask = pad_to(x, mask, self.crop, self.ignore_index)
        return x.as_subclass(torch.Tensor), mask.as_subclass(torch.Tensor)[0].long()


class TestTransform:
    """The test pipeline: short side to ``short_side`` (``None``: keep the size), normalise. The label is
    returned at its original size unless ``resize_label``. Build it with :func:`build_test_transform`."""

    def __init__(
        self,
        short_side: int | None = 512,
        normalization: Normalization = "imagenet",
        antialias: bool = False,
        resize_label: bool = False,
    ) -> None:
        self.short_side, self.antialias, self.resize_label = short_side, antialias, resize_label
        self.mean, self.std = _norm_constants(normalization)

    def __call__(
        self, image: Image.Image | np.ndarray, label: Image.Image | np.ndarray
    ) -> tuple[torch.Tensor, torch.Tensor]:
        img, mask = to_tv_tensors(image, label)
        if self.short_side is not None:
            h, w = img.shape[-2:]
            factor = self.short_side / min(h, w)
            size = (int(h * factor + 0.5), int(w * factor + 0.5))
            resized_img, resized_mask = _resize_pair(img, mask, size, self.antialias)
            img = resized_img
            if self.resize_label:
                mask = resized_mask
        x = TF.normalize(tv_tensors.Image(img.float()), self.mean, self.std)
        return x.as_subclass(torch.Tensor), mask.as_subclass(torch.Tensor)[0].long()


def build_train_transform(crop: int = 512, **kwargs) -> TrainTransform:
    """The reference training pipeline; keyword arguments as :class:`TrainTransform`."""
    return TrainTransform(crop=crop, **kwargs)


def build_test_transform(short_side: int | None = 512, **kwargs) -> TestTransform:
    """The reference test pipeline; keyword arguments as :class:`TestTransform`."""
    return TestTransform(short_side=short_side, **kwargs)


__all__: Sequence[str] = [
    "CLIP_MEAN",
    "CLIP_STD",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "TestTransform",
    "TrainTransform",
    "build_test_transform",
    "build_train_transform",
    "crop_is_balanced",
    "hsv_to_rgb",
    "normalise",
    "pad_to",
    "photometric_distortion",
    "random_crop",
    "random_rescale",
    "rescale_size",
    "rgb_to_hsv",
    "to_tv_tensors",
    "token_labels",
]
