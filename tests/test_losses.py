"""Eq. 10 losses against independent formulations: torchvision's focal loss, a direct dice loop, SSIM
evaluated pixel by pixel from its formula, and properties (chunking, ignore handling, num_masks)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import sigmoid_focal_loss

from sptseg_lib import ssim
from sptseg_lib.losses import (
    SegmentationCriterion,
    binary_targets,
    count_masks,
    dice_loss,
    focal_loss,
    ssim_loss,
)
from sptseg_lib.ssim import ssim_map, ssim_sum_of_upsampled

IGNORE = 255


def _labels(
    b: int, c: int, h: int, w: int, ignore_frac: float = 0.2, absent: tuple[int, ...] = ()
) -> torch.Tensor:
    """Random label map with some ignored pixels and some classes never used."""
    allowed = torch.tensor([k for k in range(c) if k not in absent])
    labels = allowed[torch.randint(0, len(allowed), (b, h, w))]
    labels[torch.rand(b, h, w) < ignore_frac] = IGNORE
    return labels


def _present(labels: torch.Tensor, c: int) -> torch.Tensor:
    return torch.stack([torch.stack([(lab == k).any() for k in range(c)]) for lab in labels])


# --- focal ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("alpha,gamma", [(0.25, 2.0), (0.5, 0.0), (-1.0, 1.5)])
def test_focal_matches_torchvision(alpha: float, gamma: float) -> None:
    b, c, h, w = 2, 5, 9, 7
    labels = _labels(b, c, h, w, absent=(3,))
    targets = binary_targets(labels, c)
    logits = torch.randn(b, c, h, w) * 3
    num_masks = 4.0
    ref = sigmoid_focal_loss(logits, targets, alpha=alpha, gamma=gamma, reduction="none")
    expected = ref.mean(dim=(2, 3)).sum() / num_masks
    got = focal_loss(logits, targets, num_masks, alpha=alpha, gamma=gamma)
    torch.testing.assert_close(got, expected)


def test_focal_valid_mask_means_over_valid_pixels() -> None:
    b, c, h, w = 2, 4, 8, 8
    labels = _labels(b, c, h, w, ignore_frac=0.4)
    targets = binary_targets(labels, c)
    logits = torch.randn(b, c, h, w)
    valid = labels != IGNORE
    ref = sigmoid_focal_loss(logits, targets, reduction="none")
    expected = sum(ref[i, k][valid[i]].mean() for i in range(b) for k in range(c)) / 3.0
    torch.testing.assert_close(focal_loss(logits, targets, 3.0, valid=valid), expected)


# --- dice -------------------------------------------------------------------------------------------


def test_dice_matches_direct_loop() -> None:
    b, c, h, w = 3, 4, 6, 5
    labels = _labels(b, c, h, w, absent=(1,))
    targets = binary_targets(labels, c)
    logits = torch.randn(b, c, h, w)
    expected = 0.0
    for i in range(b):
        for k in range(c):
            if not (labels[i] == k).any():
                continue
            p = torch.sigmoid(logits[i, k]).double().flatten().tolist()
            t = targets[i, k].double().flatten().tolist()
            inter = sum(pj * tj for pj, tj in zip(p, t))
            expected += 1 - (2 * inter + 1) / (sum(p) + sum(t) + 1)
    got = dice_loss(logits, targets, num_masks=5.0)
    assert got.item() == pytest.approx(expected / 5.0, rel=1e-5)
    # an explicit present mask selects pairs
    only_first = torch.zeros(b, c, dtype=torch.bool)
    only_first[0, 0] = True
    p0, t0 = torch.sigmoid(logits[0, 0]), targets[0, 0]
    direct = 1 - (2 * (p0 * t0).sum() + 1) / (p0.sum() + t0.sum() + 1)
    torch.testing.assert_close(dice_loss(logits, targets, 1.0, present=only_first), direct)


# --- SSIM -------------------------------------------------------------------------------------------


def _direct_ssim_map(x: np.ndarray, y: np.ndarray, ws: int = 11, sigma: float = 1.5) -> np.ndarray:
    """SSIM of every position, Gaussian-weighted local statistics summed pixel by pixel (zero padding)."""
    c1, c2 = 0.01**2, 0.03**2
    r = ws // 2
    grid = np.arange(ws) - r
    window = np.exp(-(grid[:, None] ** 2 + grid[None, :] ** 2) / (2 * sigma**2))
    window /= window.sum()
    out = np.empty(x.shape)
    for idx in np.ndindex(*x.shape[:-2]):
        xp, yp = np.pad(x[idx], r), np.pad(y[idx], r)
        for i in range(x.shape[-2]):
            for j in range(x.shape[-1]):
                px, py = xp[i : i + ws, j : j + ws], yp[i : i + ws, j : j + ws]
                mx, my = (window * px).sum(), (window * py).sum()
                vx = (window * px * px).sum() - mx**2
                vy = (window * py * py).sum() - my**2
                cov = (window * px * py).sum() - mx * my
                out[(*idx, i, j)] = ((2 * mx * my + c1) * (2 * cov + c2)) / (
                    (mx**2 + my**2 + c1) * (vx + vy + c2)
                )
    return out


@pytest.mark.parametrize("on", ["logits", "probabilities"])
def test_ssim_matches_direct_formula(on: str) -> None:
    b, c, h, w = 2, 3, 13, 9
    labels = _labels(b, c, h, w)
    targets = binary_targets(labels, c)
    x = torch.randn(b, c, h, w, dtype=torch.float64)
    inp = x.numpy() if on == "logits" else torch.sigmoid(x).numpy()
    expected = 1 - _direct_ssim_map(inp, targets.double().numpy()).mean()
    got = ssim_loss(x, targets.double(), on=on)
    assert got.item() == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_ssim_is_zero_for_identical_maps() -> None:
    t = binary_targets(_labels(1, 3, 16, 16), 3)
    assert ssim_loss(t, t).item() == pytest.approx(0.0, abs=1e-6)


def test_ssim_chunked_equals_unchunked_values_and_grads() -> None:
    b, c, h, w = 2, 7, 20, 18
    targets = binary_targets(_labels(b, c, h, w), c)
    x = torch.randn(b, c, h, w, requires_grad=True)
    full = ssim_loss(x, targets)
    (g_full,) = torch.autograd.grad(full, x)
    chunked = ssim_loss(x, targets, chunk_classes=3)
    (g_chunk,) = torch.autograd.grad(chunked, x)
    torch.testing.assert_close(chunked, full)
    torch.testing.assert_close(g_chunk, g_full)


def test_ssim_valid_mask_averages_only_valid_positions() -> None:
    b, c, h, w = 1, 2, 15, 12
    labels = _labels(b, c, h, w, ignore_frac=0.3)
    targets = binary_targets(labels, c).double()
    x = torch.randn(b, c, h, w, dtype=torch.float64)
    valid = labels != IGNORE
    smap = _direct_ssim_map(x.numpy(), targets.numpy())
    expected = 1 - smap[np.broadcast_to(valid.numpy()[:, None], smap.shape)].mean()
    assert ssim_loss(x, targets, valid=valid).item() == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(
    ("low", "size", "masked"),
    [((3, 5), (13, 23), False), ((4, 4), (64, 64), True), ((9, 7), (5, 12), True)],  # up, x16, down
)
def test_factorised_ssim_of_upsampled_matches_direct_formula(
    low: tuple[int, int], size: tuple[int, int], masked: bool
) -> None:
    b, c = 2, 3
    labels = _labels(b, c, *size, ignore_frac=0.3)
    targets = binary_targets(labels, c).double()
    z = torch.randn(b, c, *low, dtype=torch.float64)
    x = F.interpolate(z, size=size, mode="bilinear", align_corners=False)
    valid = labels != IGNORE if masked else None
    smap = _direct_ssim_map(x.numpy(), targets.numpy())
    expected = smap.sum() if valid is None else (smap * valid.numpy()[:, None]).sum()
    got = ssim_sum_of_upsampled(z, x, targets, valid)
    assert got.item() == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("masked", [False, True])
def test_factorised_ssim_gradient_matches_textbook_autograd_and_finite_differences(masked: bool) -> None:
    b, c, size = 1, 2, (11, 14)
    labels = _labels(b, c, *size, ignore_frac=0.3)
    targets = binary_targets(labels, c).double()
    valid = labels != IGNORE if masked else None
    weight = torch.ones(b, 1, *size, dtype=torch.float64) if valid is None else valid[:, None].double()

    def up(z: torch.Tensor) -> torch.Tensor:
        return F.interpolate(z, size=size, mode="bilinear", align_corners=False)

    def factorised(z: torch.Tensor) -> torch.Tensor:
        return ssim_sum_of_upsampled(z, up(z), targets, valid)

    z = torch.randn(b, c, 3, 4, dtype=torch.float64, requires_grad=True)
    (g_fact,) = torch.autograd.grad(factorised(z), z)
    (g_text,) = torch.autograd.grad((ssim_map(up(z), targets) * weight).sum(), z)
    torch.testing.assert_close(g_fact, g_text, rtol=1e-9, atol=1e-12)
    assert torch.autograd.gradcheck(factorised, (z,))


@pytest.mark.parametrize("block_maps", [1, 2, 64])
def test_factorised_ssim_is_independent_of_its_blocks(
    monkeypatch: pytest.MonkeyPatch, block_maps: int
) -> None:
    b, c, size = 2, 5, (20, 16)
    labels = _labels(b, c, *size, ignore_frac=0.3)
    targets = binary_targets(labels, c).double()
    valid = labels != IGNORE
    z = torch.randn(b, c, 5, 4, dtype=torch.float64, requires_grad=True)
    x = F.interpolate(z, size=size, mode="bilinear", align_corners=False)
    monkeypatch.setattr(ssim, "BLOCK_ELEMENTS", block_maps * size[0] * size[1])  # classes per block
    value = ssim_sum_of_upsampled(z, x, targets, valid)
    (grad,) = torch.autograd.grad(value, z)
    expected = (ssim_map(x, targets) * valid[:, None]).sum()
    (expected_grad,) = torch.autograd.grad(expected, z)
    torch.testing.assert_close(value, expected, rtol=1e-10, atol=0)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-9, atol=1e-12)
    with torch.no_grad():  # no gradient work, same value
        torch.testing.assert_close(ssim_sum_of_upsampled(z, x, targets, valid), value.detach())


@pytest.mark.parametrize("ignore_as_negative", [True, False])
def test_criterion_factorised_ssim_equals_textbook_ssim(ignore_as_negative: bool) -> None:
    b, c = 2, 5
    labels = _labels(b, c, 64, 48)
    logits = torch.randn(b, c, 4, 3, requires_grad=True)
    results = []
    for factorised in (True, False):
        crit = SegmentationCriterion(ssim_factorised=factorised, ignore_as_negative=ignore_as_negative)
        out = crit(logits, labels)
        (grad,) = torch.autograd.grad(out["ssim"], logits)
        results.append((out["ssim"].detach(), grad))
    (fast, g_fast), (text, g_text) = results
    torch.testing.assert_close(fast, text)
    torch.testing.assert_close(g_fast, g_text, rtol=1e-4, atol=1e-6)


# --- criterion --------------------------------------------------------------------------------------


def test_criterion_equals_terms_on_upsampled_logits() -> None:
    b, c, h, w = 2, 6, 24, 16
    labels = _labels(b, c, h, w, absent=(2,))
    logits = torch.randn(b, c, 6, 4)
    crit = SegmentationCriterion(focal_weight=100.0, ssim_weight=1.0, dice_weight=2.0)
    out = crit(logits, labels)
    up = F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False)
    targets = binary_targets(labels, c)
    n = float(_present(labels, c).sum())
    torch.testing.assert_close(out["focal"], 100.0 * focal_loss(up, targets, n))
    torch.testing.assert_close(out["ssim"], ssim_loss(up, targets))
    torch.testing.assert_close(out["dice"], 2.0 * dice_loss(up, targets, n))
    torch.testing.assert_close(out["loss"], out["focal"] + out["ssim"] + out["dice"])


def test_criterion_reports_only_used_terms() -> None:
    labels = _labels(1, 3, 8, 8)
    logits = torch.randn(1, 3, 4, 4)
    assert set(SegmentationCriterion()(logits, labels)) == {"focal", "ssim", "loss"}
    assert set(SegmentationCriterion(ssim_weight=0.0, dice_weight=1.0)(logits, labels)) == {
        "focal",
        "dice",
        "loss",
    }


@pytest.mark.parametrize("ignore_as_negative", [True, False])
def test_criterion_chunked_equals_unchunked(ignore_as_negative: bool) -> None:
    b, c, h, w = 2, 11, 32, 32
    labels = _labels(b, c, h, w)
    logits = torch.randn(b, c, 8, 8, requires_grad=True)
    results = []
    for chunk in (None, 4):
        crit = SegmentationCriterion(
            dice_weight=1.0, chunk_classes=chunk, ignore_as_negative=ignore_as_negative
        )
        out = crit(logits, labels)
        (grad,) = torch.autograd.grad(out["loss"], logits)
        results.append(({k: v.detach() for k, v in out.items()}, grad))
    (full, g_full), (chunked, g_chunked) = results
    assert set(full) == {"focal", "ssim", "dice", "loss"}
    for key in full:
        torch.testing.assert_close(chunked[key], full[key])
    torch.testing.assert_close(g_chunked, g_full)


def test_ignored_pixels_negative_vs_excluded() -> None:
    b, c, h, w = 2, 4, 16, 16
    labels = _labels(b, c, h, w, ignore_frac=0.3)
    ignored = labels == IGNORE
    logits = torch.randn(b, c, h, w)  # already at label size: the upsampling is the identity
    negative = SegmentationCriterion(ssim_weight=0.0, ignore_as_negative=True)
    excluded = SegmentationCriterion(ssim_weight=0.0, ignore_as_negative=False)
    # as negatives: identical to labelling ignored pixels with a class outside the channels, i.e.
    # all-zero targets, computed through the public function
    targets = binary_targets(labels, c)
    assert not targets.permute(1, 0, 2, 3)[:, ignored].any()
    n = float(_present(labels, c).sum())
    torch.testing.assert_close(negative(logits, labels)["focal"], 100.0 * focal_loss(logits, targets, n))
    # excluded: logits at ignored pixels do not matter at all; as negatives they do
    changed = logits.clone()
    changed.permute(1, 0, 2, 3)[:, ignored] = 10.0
    torch.testing.assert_close(excluded(changed, labels)["focal"], excluded(logits, labels)["focal"])
    assert not torch.allclose(negative(changed, labels)["focal"], negative(logits, labels)["focal"])
    # and a confident positive logit at an ignored pixel is penalised as a false positive
    assert negative(changed, labels)["focal"] > negative(logits, labels)["focal"]


def test_criterion_rejects_unknown_labels() -> None:
    logits = torch.randn(1, 3, 4, 4)
    for bad in (3, -1, 254):
        labels = torch.zeros(1, 8, 8, dtype=torch.long)
        labels[0, 0, 0] = bad
        with pytest.raises(ValueError, match=str(bad)):
            SegmentationCriterion()(logits, labels)
    with pytest.raises(TypeError, match="integer"):
        SegmentationCriterion()(logits, torch.zeros(1, 8, 8))


def test_num_masks_counts_present_pairs_and_clamps() -> None:
    labels = torch.full((3, 8, 8), IGNORE)
    labels[0, :2] = 1
    labels[0, 2:4] = 4
    labels[2, :, :3] = 4
    assert count_masks(_present(labels, 5)) == 3.0
    assert count_masks(torch.zeros(2, 5, dtype=torch.bool)) == 1.0
    # the criterion divides the focal sum over all 15 pairs (image 1: all ignored) by that count
    crit = SegmentationCriterion(ssim_weight=0.0)
    logits = torch.randn(3, 5, 8, 8)
    out = crit(logits, labels)["focal"]
    targets = binary_targets(labels, 5)
    torch.testing.assert_close(out, 100.0 * focal_loss(logits, targets, 3.0))


def test_num_masks_is_averaged_over_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two ranks holding 3 and 5 pairs each divide by (3 + 5) / 2 (a real 2-process run of the same
    reduction is in test_metrics.py::test_distributed_reductions)."""
    dist = torch.distributed
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_world_size", lambda group=None: 2)
    monkeypatch.setattr(dist, "all_reduce", lambda t, group=None: t.add_(5.0))  # the other rank's 5 pairs
    present = torch.zeros(2, 4, dtype=torch.bool)
    present.view(-1)[:3] = True
    assert count_masks(present) == 4.0


def test_losses_are_float32_under_low_precision_inputs() -> None:
    labels = _labels(1, 3, 8, 8)
    logits = torch.randn(1, 3, 4, 4).to(torch.bfloat16)
    out = SegmentationCriterion()(logits, labels)
    ref = SegmentationCriterion()(logits.float(), labels)
    assert out["loss"].dtype == torch.float32
    assert math.isclose(out["loss"].item(), ref["loss"].item(), rel_tol=1e-6)


def test_all_ignored_batch_gives_zero_loss_when_excluded() -> None:
    labels = torch.full((2, 8, 8), IGNORE)
    logits = torch.randn(2, 3, 4, 4, requires_grad=True)
    out = SegmentationCriterion(dice_weight=1.0, ignore_as_negative=False)(logits, labels)
    (grad,) = torch.autograd.grad(out["loss"], logits)
    assert out["loss"].item() == 0.0
    assert not grad.any()
    # as negatives the same batch still pushes every logit down
    out = SegmentationCriterion(ssim_weight=0.0, ignore_as_negative=True)(logits, labels)
    (grad,) = torch.autograd.grad(out["loss"], logits)
    assert out["loss"].item() > 0 and grad.gt(0).all()
