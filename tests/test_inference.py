"""Sliding-window inference against whole-image inference for position-independent models, window
coverage for sizes the stride does not divide, the seen-class penalty, and the :class:`Predictor` that
chains them (padding, windows, penalty, resizing back) checked against the steps done by hand."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sptseg_lib.config import experiment_preset
from sptseg_lib.data.splits import SHAPES_SPLIT
from sptseg_lib.data.transforms import build_test_transform
from sptseg_lib.inference import (
    Predictor,
    apply_seen_penalty,
    padded_scores,
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


class _PixelwiseSegmenter(torch.nn.Module):
    """A stand-in for SPTSeg: a 1x1 conv per class, input size 16, patch 4; it records the inputs it sees."""

    def __init__(self, num_classes: int, seen_penalty: float = 0.1) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, num_classes, 1)
        self.config = SimpleNamespace(image_size=16, seen_penalty=seen_penalty)
        self.clip = SimpleNamespace(visual=SimpleNamespace(patch_size=(4, 4)))
        self.inputs: list[tuple[int, int]] = []

    def class_embeddings(self, names) -> torch.Tensor:
        return torch.eye(len(names))

    def predict(self, images: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        self.inputs.append(tuple(images.shape[-2:]))
        return torch.sigmoid(self.conv(images))[:, : text.shape[0]]


def test_predictor_is_the_protocol_step_by_step() -> None:
    model = _PixelwiseSegmenter(20)
    images = torch.randn(1, 3, 20, 37)
    predictor = Predictor(model, SHAPES_SPLIT.class_names, seen=SHAPES_SPLIT.seen, crop=16, stride=12)
    scores = predictor.scores(images, size=(10, 18))
    # by hand: windows of the model's size, the penalty on the seen classes, the resize to the label
    by_hand = slide_inference(lambda x: model.predict(x, predictor.text), images, crop=16, stride=12)
    seen = torch.zeros(20, dtype=torch.bool)
    seen[list(SHAPES_SPLIT.seen)] = True
    by_hand = by_hand - 0.1 * seen.float()[None, :, None, None]
    by_hand = F.interpolate(by_hand, size=(10, 18), mode="bilinear", align_corners=False)
    torch.testing.assert_close(scores, by_hand)
    assert set(model.inputs) == {(16, 16)}
    # no seen classes (open vocabulary, transductive): no penalty
    plain = Predictor(model, SHAPES_SPLIT.class_names, crop=16, stride=12)
    assert plain.penalty == 0.0
    torch.testing.assert_close(plain.scores(images), plain.raw_scores(images))


def test_predictor_for_protocol_follows_the_experiment() -> None:
    model = _PixelwiseSegmenter(20)
    inductive = experiment_preset("shapes-sptseg")
    p = Predictor.for_protocol(model, inductive, SHAPES_SPLIT)
    assert (p.mode, p.crop, p.stride, p.penalty) == ("whole", 64, 64, 0.1)
    assert p.seen_mask.tolist() == [c in SHAPES_SPLIT.seen for c in range(20)]
    transductive = inductive.with_overrides({"train.setting": "transductive"})
    assert Predictor.for_protocol(model, transductive, SHAPES_SPLIT).penalty == 0.0
    assert Predictor.for_protocol(model, inductive, SHAPES_SPLIT, mode="slide").description == (
        "slide (crop 64, stride 64)"
    )
    with pytest.raises(ValueError, match="mode"):
        Predictor(model, ["a"], mode="tiles")
    with pytest.raises(ValueError, match="class name"):
        Predictor(model, [])


def test_padding_reaches_the_model_size_and_the_patch_grid() -> None:
    model = _PixelwiseSegmenter(3)
    text = torch.eye(3)
    small = torch.randn(2, 3, 9, 13)  # smaller than the model's input: padded to 16 x 16
    torch.testing.assert_close(padded_scores(model, small, text), model.predict(small, text))
    wide = torch.randn(1, 3, 16, 30)  # not a multiple of the patch: padded to 16 x 32
    model.inputs.clear()
    assert padded_scores(model, wide, text).shape == (1, 3, 16, 30)
    assert model.inputs == [(16, 32)]


@pytest.mark.parametrize("h,w,seen", [(30, 40, (21, 28)), (40, 30, (28, 21)), (16, 16, (16, 16))])
def test_image_scores_resize_the_short_side_and_back(h: int, w: int, seen: tuple[int, int]) -> None:
    """A raw image: short side to the crop (21 px here, the test transform's rounding), back at the end."""
    model = _PixelwiseSegmenter(3)
    predictor = Predictor(model, ["a", "b", "c"], mode="whole", crop=21 if h != w else 16)
    image = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    out = predictor.image_scores(image)
    assert out.shape == (3, h, w)
    x, _ = build_test_transform(short_side=predictor.crop)(image, np.zeros((h, w), np.uint8))
    assert tuple(x.shape[-2:]) == seen
    expected = F.interpolate(
        padded_scores(model, x[None], predictor.text), size=(h, w), mode="bilinear", align_corners=False
    )[0]
    torch.testing.assert_close(out, expected)
    with pytest.raises(ValueError, match="uint8"):
        predictor.image_scores(image.astype(np.float32))


def test_evaluate_takes_a_predictor_and_says_how_to_build_one() -> None:
    from sptseg_lib.evaluate import evaluate

    with pytest.raises(TypeError, match=r"Predictor\.for_protocol\(model, experiment, split\)"):
        evaluate(torch.nn.Identity(), [], SHAPES_SPLIT)
