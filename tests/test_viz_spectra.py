"""Tests of sptseg_lib.viz.spectra (eq. 1-3): the frequency helpers against direct formulas, the
spectrum figures' content, their frequency axes (DC marked) and colour bars."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sptseg_lib.spectral import spectral_prompt_steps
from sptseg_lib.viz.common import PAGE_WIDTH, figure_png
from sptseg_lib.viz.spectra import (
    band_filter,
    band_mask,
    band_of_periods,
    bands_figure,
    filter_figure,
    filter_radial_profile,
    image_filtering_figure,
    principal_components,
    principal_components_figure,
    radial_energy,
    radial_frequency,
    spectral_prompt_figure,
    token_spectrum_figure,
)


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
    np.testing.assert_allclose(radial_frequency(shape), _radius_by_loops(*shape), atol=1e-12)


@pytest.mark.parametrize("cutoff", [0.0, 0.13, 0.5, 0.99])
def test_low_and_high_pass_masks_split_the_spectrum(cutoff: float) -> None:
    shape = (12, 10)
    low, high = band_mask(shape, (0.0, cutoff)), band_mask(shape, (cutoff, 1.0))
    np.testing.assert_array_equal(low + high, np.ones(shape))
    assert band_mask(shape, (0.0, 1.0)).min() == 1.0


def test_band_filter_keeps_a_cosine_inside_the_band_and_removes_it_outside() -> None:
    n = 32
    y, x = np.mgrid[:n, :n]
    wave = np.cos(2 * np.pi * (3 * x + 4 * y) / n)  # radius 5/32 of the spectrum; corner radius = sqrt(2)/2
    radius = np.hypot(3 / n, 4 / n) / np.hypot(0.5, 0.5)
    np.testing.assert_allclose(band_filter(wave, (radius - 0.02, radius + 0.02)), wave, atol=1e-10)
    np.testing.assert_allclose(band_filter(wave, (radius + 0.05, 1.0)), 0.0, atol=1e-10)
    assert np.argmax(radial_energy(wave, bins=10)) == int(radius * 10)


def test_band_filter_identity_and_sum_of_bands_per_channel() -> None:
    x = np.random.default_rng(0).standard_normal((9, 11, 3))
    np.testing.assert_allclose(band_filter(x, (0.0, 1.0)), x, atol=1e-12)
    parts = sum(band_filter(x, band) for band in ((0.0, 0.2), (0.2, 0.6), (0.6, 1.0)))
    np.testing.assert_allclose(parts, x, atol=1e-12)
    assert radial_energy(x).sum() == pytest.approx(1.0)


def test_band_mask_rejects_a_reversed_band() -> None:
    with pytest.raises(ValueError, match="lo <= hi"):
        band_mask((4, 4), (0.5, 0.2))


def test_token_spectrum_figure_changes_with_band_and_checks_channel() -> None:
    tokens = np.random.default_rng(2).standard_normal((8, 8, 4))
    a = token_spectrum_figure(tokens, 1, (0.0, 0.3))
    b = token_spectrum_figure(tokens, 1, (0.3, 1.0))
    np.testing.assert_allclose(a.axes[3].images[0].get_array(), band_filter(tokens[..., 1], (0.0, 0.3)))
    assert figure_png(a) != figure_png(b)
    with pytest.raises(ValueError, match="channel 7 out of range"):
        token_spectrum_figure(tokens, 7, (0.0, 1.0))


def test_band_of_periods_is_the_ring_of_those_waves() -> None:
    n = 64
    _, x = np.mgrid[:n, :n]
    wave = np.cos(2 * np.pi * x / 8)  # period 8 px along x
    assert band_of_periods((n, n), (8, 8))[0] == pytest.approx(1 / 8 / np.hypot(0.5, 0.5))
    np.testing.assert_allclose(band_filter(wave, band_of_periods((n, n), (7, 9))), wave, atol=1e-10)
    np.testing.assert_allclose(band_filter(wave, band_of_periods((n, n), (3, 5))), 0.0, atol=1e-10)
    with pytest.raises(ValueError, match="0 < shortest <= longest"):
        band_of_periods((n, n), (5, 3))


def test_principal_components_find_the_direction_tokens_differ_in() -> None:
    rng = np.random.default_rng(0)
    region = np.zeros((6, 6))
    region[:3] = 1.0
    direction = rng.standard_normal(5)
    tokens = region[..., None] * 10 * direction + 0.01 * rng.standard_normal((6, 6, 5))
    maps, shares = principal_components(tokens, k=2)
    assert maps.shape == (6, 6, 2) and shares[0] > 0.99 and shares.sum() <= 1 + 1e-12
    assert abs(np.corrcoef(maps[..., 0].ravel(), region.ravel())[0, 1]) > 0.999
    with pytest.raises(ValueError, match=r"\(h, w, C\)"):
        principal_components(np.zeros((4, 4)))


def test_filter_radial_profile_of_a_flat_and_a_low_pass_filter() -> None:
    flat = torch.full((8, 5, 3), 2.0, dtype=torch.complex64)
    centres, profile = filter_radial_profile(flat)
    np.testing.assert_allclose(centres, [0.125, 0.375, 0.625, 0.875])
    np.testing.assert_allclose(profile, 2.0)
    low = torch.from_numpy(band_mask((8, 8), (0.0, 0.3))[:, :5]).to(torch.complex64)[..., None]
    _, profile = filter_radial_profile(low)
    assert profile[0] == pytest.approx(1.0) and profile[-1] == 0.0 and np.all(np.diff(profile) <= 0)


def _has_dc_marker(ax) -> bool:
    return any(t.get_text() == "DC" for t in ax.texts) and ax.get_xlabel().startswith("k_x (cycles /")


def test_every_spectrum_has_frequency_axes_with_dc_and_a_colour_bar() -> None:
    rng = np.random.default_rng(1)
    image = (rng.random((32, 32, 3)) * 255).astype(np.uint8)
    weight = torch.randn(8, 5, 4, dtype=torch.complex64)
    steps = spectral_prompt_steps(torch.randn(8, 8, 4), torch.randn(4), weight)
    figures = {
        "image": (image_filtering_figure(image), [1]),
        "bands": (bands_figure(image, {"a": (0.1, 0.2), "b": (0.3, 0.5)}), [1]),
        "tokens": (token_spectrum_figure(rng.standard_normal((8, 8, 2)), 0, (0.0, 0.3)), [1, 2]),
        "steps": (spectral_prompt_figure(steps, 1), [3, 4]),
        "filter": (filter_figure(weight), [0, 1, 2]),
    }
    for name, (fig, spectra) in figures.items():
        assert fig.get_size_inches()[0] <= PAGE_WIDTH, name
        for i in spectra:
            assert _has_dc_marker(fig.axes[i]), (name, i)
        assert sum(ax.get_label() == "<colorbar>" for ax in fig.axes) >= len(spectra), name
    token_axes = figures["tokens"][0].axes[1]
    assert token_axes.get_xlabel() == "k_x (cycles / token)"
    # the half-plane of an 8-wide grid: k_x from 0 to 1/2 cycles per token, DC at the left edge's bin
    left, right, _, _ = figures["filter"][0].axes[0].images[0].get_extent()
    assert (left, right) == pytest.approx((-0.0625, 0.5625))


def test_principal_components_figure_is_centred_on_zero() -> None:
    maps = np.random.default_rng(2).standard_normal((4, 4, 3))
    fig = principal_components_figure(np.zeros((8, 8, 3), np.uint8), maps, [0.5, 0.3, 0.1])
    for ax in fig.axes[1:4]:
        lo, hi = ax.images[0].get_clim()
        assert lo == -hi
    assert "50% of the variance" in fig.axes[1].get_title()


def test_filter_figure_marks_the_given_bins_with_a_legend() -> None:
    from matplotlib.patches import Rectangle

    from sptseg_lib.data.shapes import stripe_frequency_bins
    from sptseg_lib.viz import figure_text_problems

    weight = torch.randn(8, 5, 6, dtype=torch.complex64)
    bins = stripe_frequency_bins((8, 8), 8)  # the fabrics world's textures on the 8 x 8 token grid
    fig = filter_figure(weight, title="w_f (fabrics)", marks=bins)
    cells = sum(len(c) for c in bins.values())
    for ax in fig.axes[:3]:  # the three maps (then the profile, then the colour bars)
        boxes = [p for p in ax.patches if isinstance(p, Rectangle)]
        assert len(boxes) == cells, ax.get_title()
        left, right, bottom, top = ax.images[0].get_extent()
        for box in boxes:  # every mark on the map, centred on its bin
            cx, cy = box.get_x() + box.get_width() / 2, box.get_y() + box.get_height() / 2
            assert left < cx < right and top < cy < bottom
    centres = {
        (round(b.get_x() + b.get_width() / 2, 4), round(b.get_y() + b.get_height() / 2, 4))
        for b in fig.axes[0].patches
        if isinstance(b, Rectangle)
    }
    assert (0.5, 0.0) in centres and (0.0, -0.5) in centres  # the fine stripes, at the Nyquist limit
    assert (0.375, 0.0) in centres and (0.0, 0.375) in centres and (0.0, -0.375) in centres
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[:4] == [
        "pinstriped: k_x 0.50",
        "corded: k_y -0.50",
        "barred: k_x 0.38",
        "banded: k_y +0.38, k_y -0.38",
    ]
    profile = fig.axes[3]
    assert profile.get_title() == "mean gain per ring"
    assert len([line for line in profile.get_lines() if line.get_linestyle() == "--"]) >= 4
    assert figure_text_problems(fig) == []
    plain = filter_figure(weight)
    assert not plain.legends and fig.get_size_inches()[0] == plain.get_size_inches()[0]
