"""Tests of sptseg_lib.viz.spectra (eq. 1-3): the frequency helpers against direct formulas, the
spectrum figures' content."""

from __future__ import annotations

import numpy as np
import pytest

from sptseg_lib.viz.common import figure_png
from sptseg_lib.viz.spectra import (
    band_filter,
    band_mask,
    radial_energy,
    radial_frequency,
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
