"""Tests of sptseg_lib.viz: the spectral helpers against direct formulas, the figures' content."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from sptseg_lib import viz
from sptseg_lib.hilo import HiLoAttention
from sptseg_lib.spectral import spectral_prompt


def _radius_by_loops(h: int, w: int) -> np.ndarray:
    """Radius of every FFT bin from the signed integer frequencies, one bin at a time."""
    r = np.zeros((h, w))
    for i in range(h):
        for j in range(w):
            ky = (i if i <= h // 2 else i - h) / h
            kx = (j if j <= w // 2 else j - w) / w
            r[i, j] = np.hypot(ky, kx)
    return r / r.max()


@pytest.mark.parametrize("shape", [(8, 8), (7, 10), (16, 9)])
def test_radial_frequency_matches_per_bin_formula(shape: tuple[int, int]) -> None:
    np.testing.assert_allclose(viz.radial_frequency(shape), _radius_by_loops(*shape), atol=1e-12)


@pytest.mark.parametrize("cutoff", [0.0, 0.13, 0.5, 0.99])
def test_low_and_high_pass_masks_split_the_spectrum(cutoff: float) -> None:
    shape = (12, 10)
    low, high = viz.band_mask(shape, (0.0, cutoff)), viz.band_mask(shape, (cutoff, 1.0))
    np.testing.assert_array_equal(low + high, np.ones(shape))
    assert viz.band_mask(shape, (0.0, 1.0)).min() == 1.0


def test_band_filter_keeps_a_cosine_inside_the_band_and_removes_it_outside() -> None:
    n = 32
    y, x = np.mgrid[:n, :n]
    wave = np.cos(2 * np.pi * (3 * x + 4 * y) / n)  # radius 5/32 of the spectrum; corner radius = sqrt(2)/2
    radius = np.hypot(3 / n, 4 / n) / np.hypot(0.5, 0.5)
    np.testing.assert_allclose(viz.band_filter(wave, (radius - 0.02, radius + 0.02)), wave, atol=1e-10)
    np.testing.assert_allclose(viz.band_filter(wave, (radius + 0.05, 1.0)), 0.0, atol=1e-10)
    assert np.argmax(viz.radial_energy(wave, bins=10)) == int(radius * 10)


def test_band_filter_identity_and_sum_of_bands_per_channel() -> None:
    x = np.random.default_rng(0).standard_normal((9, 11, 3))
    np.testing.assert_allclose(viz.band_filter(x, (0.0, 1.0)), x, atol=1e-12)
    parts = sum(viz.band_filter(x, band) for band in ((0.0, 0.2), (0.2, 0.6), (0.6, 1.0)))
    np.testing.assert_allclose(parts, x, atol=1e-12)
    assert viz.radial_energy(x).sum() == pytest.approx(1.0)


def test_band_mask_rejects_a_reversed_band() -> None:
    with pytest.raises(ValueError, match="lo <= hi"):
        viz.band_mask((4, 4), (0.5, 0.2))


def test_spectral_prompt_steps_end_in_the_library_result() -> None:
    h, w, c = 6, 8, 5
    tokens, cls = torch.randn(h, w, c), torch.randn(c)
    weight = torch.randn(h, w // 2 + 1, c, dtype=torch.complex64)
    steps = viz.spectral_prompt_steps(tokens, cls, weight)
    expected = spectral_prompt(tokens.reshape(1, h * w, c), cls[None], weight, (h, w)).reshape(h, w, c)
    torch.testing.assert_close(steps["S"], expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(steps["H+S"], tokens + expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(steps["H*g"], tokens * cls)
    assert steps["spectrum"].shape == (h, w // 2 + 1, c)


def test_hilo_query_maps_read_the_right_entries() -> None:
    grid, ws = (6, 6), 3
    attn = HiLoAttention(16, num_heads=4, window_size=ws, alpha=0.5, hifi_projection=False)
    _, maps = attn(torch.randn(1, 36, 16), grid, return_attention=True)
    query = (4, 1)
    hifi, lofi = viz.hilo_query_maps(maps, grid, query, head=1)
    # Hi-Fi: weights only inside the query's window, summing to one.
    outside = np.ones(grid, dtype=bool)
    outside[3:6, 0:3] = False
    assert np.all(hifi[outside] == 0) and hifi.sum() == pytest.approx(1.0, abs=1e-5)
    expected = maps.hifi[0, 1, 1, 0, (4 % ws) * ws + 1 % ws].reshape(ws, ws).detach().numpy()
    np.testing.assert_allclose(hifi[3:6, 0:3], expected)
    # Lo-Fi: every cell carries the weight of the pooled key that averages it.
    row = maps.lofi[0, 1, query[0] * 6 + query[1]].detach().numpy()
    for i in range(6):
        for j in range(6):
            assert lofi[i, j] == pytest.approx(row[(i // ws) * 2 + j // ws])


def test_term_gradients_match_analytic_cross_entropy_and_respect_ignore() -> None:
    torch.manual_seed(0)
    logits = torch.randn(1, 3, 16, 16)
    labels = torch.randint(0, 3, (1, 16, 16))
    labels[0, :4] = 255
    grads = viz.term_gradients(logits, labels, ignore_as_negative=True)
    targets = torch.stack([(labels[0] == c).float() for c in range(3)])
    analytic = (torch.sigmoid(logits[0]) - targets) / targets.numel()
    np.testing.assert_allclose(grads["cross-entropy"], analytic.numpy(), atol=1e-7)
    assert np.abs(grads["focal"][:, :4]).max() > 0  # ignored pixels are negatives for every class
    excluded = viz.term_gradients(logits, labels, ignore_as_negative=False)
    for name in ("focal", "dice", "cross-entropy"):
        assert np.abs(excluded[name][:, :4]).max() == 0, name
        assert np.abs(excluded[name][:, 4:]).max() > 0, name


def test_focal_curves_gamma_zero_is_cross_entropy() -> None:
    fig = viz.focal_curves_figure(gammas=(0.0, 2.0))
    ce, focal = fig.axes[0].lines
    p = ce.get_xdata()
    np.testing.assert_allclose(ce.get_ydata(), -np.log(p), rtol=1e-4)
    np.testing.assert_allclose(focal.get_ydata(), -np.log(p) * (1 - p) ** 2, rtol=1e-4)


def test_masks_figure_shows_the_argmax() -> None:
    scores = np.random.default_rng(1).random((3, 8, 8))
    fig = viz.masks_figure(np.zeros((8, 8, 3), np.uint8), scores, ["a", "b", "c"])
    assert len(fig.axes) == 5
    np.testing.assert_array_equal(fig.axes[-1].images[0].get_array(), scores.argmax(0))


def test_token_spectrum_figure_changes_with_band_and_checks_channel() -> None:
    tokens = np.random.default_rng(2).standard_normal((8, 8, 4))
    a = viz.token_spectrum_figure(tokens, 1, (0.0, 0.3))
    b = viz.token_spectrum_figure(tokens, 1, (0.3, 1.0))
    np.testing.assert_allclose(a.axes[3].images[0].get_array(), viz.band_filter(tokens[..., 1], (0.0, 0.3)))
    assert viz.figure_png(a) != viz.figure_png(b)
    with pytest.raises(ValueError, match="channel 7 out of range"):
        viz.token_spectrum_figure(tokens, 7, (0.0, 1.0))


def test_every_figure_function_returns_a_figure() -> None:
    rng = np.random.default_rng(3)
    image = (rng.random((32, 32, 3)) * 255).astype(np.uint8)
    weight = torch.randn(4, 3, 6, dtype=torch.complex64)
    steps = viz.spectral_prompt_steps(torch.randn(4, 4, 6), torch.randn(6), weight)
    attn = HiLoAttention(16, 4, 2, 0.5, hifi_projection=False)
    _, maps = attn(torch.randn(1, 16, 16), (4, 4), return_attention=True)
    label = rng.integers(0, 3, (32, 32))
    figures = [
        viz.image_filtering_figure(image),
        viz.spectral_prompt_figure(steps, 0),
        viz.filter_figure(weight),
        viz.radial_energy_figure({"x": rng.random((4, 4, 2))}),
        viz.hilo_layout_figure((5, 5), 2, 0.5),
        viz.hilo_attention_figure(image, maps, (4, 4), (1, 2)),
        viz.cost_figure([dict(tokens=16, full_ms=2.0, hilo_ms=1.0)]),
        viz.gate_figure(image, rng.random((4, 4)), rng.random((4, 4)), rng.random((4, 4))),
        viz.decoder_comparison_figure(image, {"a": rng.random((2, 32, 32))}, ["x", "y"]),
        viz.parameter_bar_figure({"a": 10, "b": 20}),
        viz.gradient_figure(image, label, {"focal": rng.random((3, 32, 32))}, 1, "y"),
        viz.ssim_figure(rng.random((32, 32)), rng.random((32, 32))),
    ]
    for fig in figures:
        assert isinstance(fig, Figure)
        assert viz.figure_png(fig).startswith(b"\x89PNG")


def test_hilo_layout_shows_the_library_head_split() -> None:
    fig = viz.hilo_layout_figure((32, 32), 3, 0.9, num_heads=8)
    labels = fig.axes[2].get_legend_handles_labels()[1]
    assert labels == ["Hi-Fi heads: 1", "Lo-Fi heads: 7"]
    everything_global = viz.hilo_layout_figure((32, 32), 1, 0.5, num_heads=8)
    assert everything_global.axes[2].get_legend_handles_labels()[1] == ["Hi-Fi heads: 0", "Lo-Fi heads: 8"]
