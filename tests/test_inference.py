"""Sliding-window inference against whole-image inference for position-independent models, window
coverage for sizes the stride does not divide, the test resize and the seen-class penalty."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from sptseg_lib.inference import (
    apply_seen_penalty,
    resize_short_side,
    slide_inference,
    slide_windows,
    whole_inference,
)


def _pixelwise_model(num_classes: int = 4):
    """A per-pixel 1x1 conv followed by a sigmoid: its output at a pixel depends on that pixel only."""
    conv = torch.nn.Conv2d(3, num_classes, 1)

    def predict(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.sigmoid(conv(x))

    return predict


def _axis_windows(size: int, crop: int, stride: int) -> int:
    """Number of windows along one axis, counted the slow way: step until a window reaches the border."""
    if size <= crop:
        return 1
    n, start = 1, 0
    while start + crop < size:
        start += stride
        n += 1
    return n


@pytest.mark.parametrize(
    "height,width,crop,stride",
    [(700, 1000, 512, 426), (512, 683, 512, 426), (512, 512, 512, 426), (300, 900, 512, 426), (23, 37, 8, 6)],
)
def test_windows_cover_every_pixel(height: int, width: int, crop: int, stride: int) -> None:
    windows = slide_windows(height, width, crop, stride)
    cover = torch.zeros(height, width, dtype=torch.int32)
    for y1, y2, x1, x2 in windows:
        assert 0 <= y1 < y2 <= height and 0 <= x1 < x2 <= width
        assert (y2 - y1, x2 - x1) == (min(crop, height), min(crop, width))
        cover[y1:y2, x1:x2] += 1
    assert cover.min() >= 1
    assert len(windows) == _axis_windows(height, crop, stride) * _axis_windows(width, crop, stride)
    # the last window of each axis ends at the border
    assert max(w[1] for w in windows) == height and max(w[3] for w in windows) == width


def test_700x1000_grid_of_the_reference_protocol() -> None:
    windows = slide_windows(700, 1000, 512, 426)
    assert sorted({(y1, y2) for y1, y2, _, _ in windows}) == [(0, 512), (188, 700)]
    assert sorted({(x1, x2) for _, _, x1, x2 in windows}) == [(0, 512), (426, 938), (488, 1000)]


@pytest.mark.parametrize("size", [(23, 37), (8, 8), (5, 20), (30, 14)])
def test_slide_equals_whole_for_a_pixelwise_model(size: tuple[int, int]) -> None:
    predict = _pixelwise_model()
    images = torch.randn(2, 3, *size)
    whole = whole_inference(predict, images)
    slide = slide_inference(predict, images, crop=8, stride=6)
    assert slide.shape == (2, 4, *size)
    torch.testing.assert_close(slide, whole)


def test_identity_model_puts_every_crop_back_in_place() -> None:
    """With ``predict = identity`` each crop returns its own pixels: any misplaced crop or wrong count
    shows up as a difference from the image."""
    images = torch.randn(1, 3, 29, 41)
    out = slide_inference(lambda x: x.clone(), images, crop=10, stride=7)
    torch.testing.assert_close(out, images)


def test_overlaps_are_averaged() -> None:
    """A model that returns the same constant everywhere in a crop, different per crop (its crop's mean
    coordinate row): each pixel must get the mean of the constants of the crops covering it."""
    h, w, crop, stride = 13, 9, 6, 4
    rows = torch.arange(h, dtype=torch.float32)[None, None, :, None].expand(1, 3, h, w)
    out = slide_inference(lambda x: x[:, :1].mean(dim=(2, 3), keepdim=True), rows, crop=crop, stride=stride)
    expected = torch.zeros(h, w)
    count = torch.zeros(h, w)
    for y1, y2, x1, x2 in slide_windows(h, w, crop, stride):
        expected[y1:y2, x1:x2] += (y1 + y2 - 1) / 2
        count[y1:y2, x1:x2] += 1
    torch.testing.assert_close(out[0, 0], expected / count)


def test_low_resolution_outputs_are_resized_and_crop_batching_is_transparent() -> None:
    conv = torch.nn.Conv2d(3, 5, 1)

    def predict(x: torch.Tensor) -> torch.Tensor:  # output at 1/2 resolution, like a patch-token model
        with torch.no_grad():
            return conv(F.avg_pool2d(x, 2))

    images = torch.randn(2, 3, 24, 36)
    calls: list[int] = []

    def counting(x: torch.Tensor) -> torch.Tensor:
        calls.append(x.shape[0])
        return predict(x)

    one = slide_inference(counting, images, crop=12, stride=8)
    n_windows = len(slide_windows(24, 36, 12, 8))
    assert calls == [2] * n_windows
    calls.clear()
    batched = slide_inference(counting, images, crop=12, stride=8, crops_per_batch=4)
    assert calls == [8] * (n_windows // 4) + ([2 * (n_windows % 4)] if n_windows % 4 else [])
    torch.testing.assert_close(batched, one)
    # a model whose output does not depend on position or resolution: slide == whole
    const = torch.randn(1, 5, 1, 1)
    flat = slide_inference(lambda x: const.expand(x.shape[0], 5, 3, 3), images, crop=12, stride=8)
    torch.testing.assert_close(flat, whole_inference(lambda x: const.expand(x.shape[0], 5, 3, 3), images))
    torch.testing.assert_close(flat, const.expand(2, 5, 24, 36))


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="stride"):
        slide_windows(100, 100, crop=10, stride=11)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        slide_inference(lambda x: x, torch.randn(3, 10, 10), crop=4, stride=2)
    with pytest.raises(ValueError, match="predict_fn"):
        whole_inference(lambda x: x[0], torch.randn(2, 3, 10, 10))


@pytest.mark.parametrize(
    "h,w,expected", [(375, 500, (512, 683)), (500, 375, (683, 512)), (1024, 2048, (512, 1024))]
)
def test_resize_short_side(h: int, w: int, expected: tuple[int, int]) -> None:
    image = torch.rand(3, h, w)
    out = resize_short_side(image)
    assert out.shape == (3, *expected)
    assert resize_short_side(image[None]).shape == (1, 3, *expected)
    ratio_in, ratio_out = w / h, expected[1] / expected[0]
    assert abs(ratio_in - ratio_out) < 1 / 512
    same = torch.rand(3, 512, 700)
    assert resize_short_side(same) is same
    # a constant image stays constant (bilinear weights sum to 1)
    torch.testing.assert_close(resize_short_side(torch.full((3, h, w), 0.3)), torch.full((3, *expected), 0.3))


def test_seen_penalty() -> None:
    scores = torch.rand(2, 5, 4, 4)
    seen = torch.tensor([True, True, False, True, False])
    out = apply_seen_penalty(scores, seen, 0.1)
    for k in range(5):
        torch.testing.assert_close(out[:, k], scores[:, k] - (0.1 if seen[k] else 0.0))
    # it can flip the argmax from a seen to an unseen class whose score is within the penalty
    close = torch.tensor([0.80, 0.0, 0.75, 0.0, 0.0]).view(1, 5, 1, 1)
    assert close.argmax(1).item() == 0
    assert apply_seen_penalty(close, seen).argmax(1).item() == 2
    # it commutes with sliding-window averaging (a per-class constant)
    predict = _pixelwise_model(5)
    images = torch.randn(1, 3, 20, 26)
    before = slide_inference(lambda x: apply_seen_penalty(predict(x), seen), images, crop=8, stride=5)
    after = apply_seen_penalty(slide_inference(predict, images, crop=8, stride=5), seen)
    torch.testing.assert_close(before, after)
    with pytest.raises(ValueError, match="seen_mask"):
        apply_seen_penalty(scores, seen[:3])
