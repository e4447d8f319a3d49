"""Pictures of the spectral prompt (eq. 1-3): spectra, frequency bands, the learnt filter ``w_f``.

Frequencies are measured as a radius normalised to 1 at the corner of the spectrum (the highest
frequency on the grid), so a *band* ``(lo, hi)`` is a ring of the 2-D spectrum. The helpers
(:func:`radial_frequency`, :func:`band_mask`, :func:`band_filter`, :func:`log_spectrum`,
:func:`radial_energy`) work on NumPy maps ``(H, W)`` or token grids ``(h, w, C)`` and exist for these
figures; eq. 1 itself, step by step, is :func:`sptseg_lib.spectral.spectral_prompt_steps`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from .common import _figure, _line_figure, _show, as_numpy, to_gray


def radial_frequency(shape: tuple[int, int]) -> np.ndarray:
    """The radius of every bin of an (unshifted) ``fft2`` spectrum of ``shape``, 0 at DC, 1 at the corner."""
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.fftfreq(shape[1])[None, :]
    r = np.sqrt(fy**2 + fx**2)
    return r / r.max() if r.max() > 0 else r


def band_mask(shape: tuple[int, int], band: tuple[float, float]) -> np.ndarray:
    """A ``(H, W)`` 0/1 mask over an unshifted ``fft2`` spectrum: 1 where ``lo <= radius < hi``.

    ``hi >= 1`` keeps the highest frequencies too, so ``band_mask(s, (0, c)) + band_mask(s, (c, 1))`` is 1
    everywhere (a low-pass and a high-pass filter that split the spectrum exactly).
    """
    lo, hi = band
    if not 0.0 <= lo <= hi:
        raise ValueError(f"band must satisfy 0 <= lo <= hi, got {band}")
    r = radial_frequency(shape)
    upper = np.ones_like(r, dtype=bool) if hi >= 1.0 else r < hi
    return ((r >= lo) & upper).astype(np.float64)


def band_filter(x: np.ndarray, band: tuple[float, float]) -> np.ndarray:
    """Keep only the frequencies of ``band`` of ``x`` ``(H, W)`` or ``(H, W, C)`` (per channel, 2-D FFT)."""
    x = as_numpy(x).astype(np.float64)
    mask = band_mask(x.shape[:2], band)
    if x.ndim == 3:
        mask = mask[..., None]
    return np.real(np.fft.ifft2(np.fft.fft2(x, axes=(0, 1)) * mask, axes=(0, 1)))


def log_spectrum(x: np.ndarray) -> np.ndarray:
    """``log(1 + |FFT2(x - mean)|)``, centred (DC in the middle), of a ``(H, W)`` map."""
    x = as_numpy(x).astype(np.float64)
    return np.log1p(np.abs(np.fft.fftshift(np.fft.fft2(x - x.mean()))))


def radial_energy(x: np.ndarray, bins: int = 8) -> np.ndarray:
    """Share of the spectral energy of ``x`` ``(h, w)`` or ``(h, w, C)`` in ``bins`` rings of radius
    (DC excluded); sums to 1 (Parseval: the same split as the energy of the band-filtered maps)."""
    x = as_numpy(x).astype(np.float64)
    if x.ndim == 2:
        x = x[..., None]
    power = (np.abs(np.fft.fft2(x - x.mean(axis=(0, 1)), axes=(0, 1))) ** 2).sum(-1)
    r = radial_frequency(x.shape[:2])
    index = np.minimum((r * bins).astype(int), bins - 1)
    energy = np.bincount(index.ravel(), weights=power.ravel(), minlength=bins)
    return energy / max(energy.sum(), 1e-30)


def image_filtering_figure(image: np.ndarray, cutoff: float = 0.15) -> Figure:
    """A photo, its centred log spectrum, and its low-pass / high-pass parts split at ``cutoff``."""
    x = to_gray(image)
    fig, axes = _figure(1, 4)
    _show(axes[0, 0], x, "photo (gray)", cmap="gray")
    _show(axes[0, 1], log_spectrum(x), "log |FFT2| (DC at centre)", cmap="magma")
    _show(axes[0, 2], band_filter(x, (0.0, cutoff)), f"low-pass (r < {cutoff:.2f})", cmap="gray")
    _show(axes[0, 3], band_filter(x, (cutoff, 1.0)), f"high-pass (r >= {cutoff:.2f})", cmap="gray")
    return fig


def token_spectrum_figure(
    tokens: np.ndarray, channel: int, band: tuple[float, float], title: str = "tokens"
) -> Figure:
    """One channel of a token grid ``(h, w, C)``: the map, its spectrum, the band, the band-filtered map.

    The title of the last panel gives the share of the channel's energy (mean removed) inside the band.
    """
    t = as_numpy(tokens).astype(np.float64)
    if t.ndim == 2:
        t = t[..., None]
    if not 0 <= channel < t.shape[-1]:
        raise ValueError(f"channel {channel} out of range: the tokens have {t.shape[-1]} channels")
    x = t[..., channel]
    mask = band_mask(x.shape, band)
    filtered = band_filter(x, band)
    energy = np.abs(np.fft.fft2(x - x.mean())) ** 2
    share = float((energy * mask).sum() / max(energy.sum(), 1e-30))
    fig, axes = _figure(1, 4)
    _show(axes[0, 0], x, f"{title}, channel {channel}", colorbar=False)
    _show(axes[0, 1], log_spectrum(x), "log |FFT2| (centred)", cmap="magma")
    _show(axes[0, 2], np.fft.fftshift(mask), f"band {band[0]:.2f}-{band[1]:.2f}", cmap="gray", vmin=0, vmax=1)
    _show(axes[0, 3], filtered, f"filtered ({share:.0%} of energy)")
    return fig


def _half_plane(z: torch.Tensor | np.ndarray, channel: int | None) -> np.ndarray:
    """|complex half-spectrum| ``(h, w//2+1[, C])`` of one channel (or the channel mean), rows centred."""
    a = np.abs(as_numpy(z))
    a = a.mean(-1) if channel is None else a[..., channel]
    return np.fft.fftshift(a, axes=0)


def spectral_prompt_figure(steps: Mapping[str, torch.Tensor], channel: int = 0) -> Figure:
    """The steps of eq. 1-2 (:func:`sptseg_lib.spectral.spectral_prompt_steps`) for one channel, left to
    right: ``H``, ``H ⊙ g``, the spectrum, the filtered spectrum, ``S`` and ``H + S`` (maps ``(h, w)``)."""
    fig, axes = _figure(1, 6, size=2.2)
    _show(axes[0, 0], steps["H"][..., channel], f"H (channel {channel})")
    _show(axes[0, 1], steps["H*g"][..., channel], "H ⊙ g")
    _show(axes[0, 2], np.log1p(_half_plane(steps["spectrum"], channel)), "log |rfft2(H ⊙ g)|", cmap="magma")
    _show(axes[0, 3], np.log1p(_half_plane(steps["filtered"], channel)), "log |… ⊙ w_f|", cmap="magma")
    _show(axes[0, 4], steps["S"][..., channel], "S = irfft2(…)")
    _show(axes[0, 5], steps["H+S"][..., channel], "H + S (eq. 2)")
    return fig


def filter_figure(weight: torch.Tensor, channels: Sequence[int] = (0, 1, 2), title: str = "w_f") -> Figure:
    """``|w_f|`` of a complex filter ``(h, w//2+1, C)`` (eq. 1): the mean over channels, then a few channels.

    Rows are frequency ``k_y`` (centred), columns ``k_x = 0 .. w/2`` (the real FFT's half-plane).
    """
    fig, axes = _figure(1, 1 + len(channels))
    _show(axes[0, 0], _half_plane(weight, None), f"mean |{title}| over channels", cmap="magma", colorbar=True)
    for i, c in enumerate(channels):
        _show(axes[0, 1 + i], _half_plane(weight, c), f"|{title}|, channel {c}", cmap="magma")
    return fig


def radial_energy_figure(maps: Mapping[str, np.ndarray], bins: int = 8) -> Figure:
    """Line plot of :func:`radial_energy` of several token grids ``(h, w, C)`` (e.g. ``H`` and ``S``)."""
    centres = (np.arange(bins) + 0.5) / bins
    series = {name: radial_energy(x, bins) for name, x in maps.items()}
    return _line_figure(
        (5.0, 3.0), centres, series, "frequency radius (0 = DC, 1 = highest)", "share of spectral energy"
    )


__all__ = [
    "band_filter",
    "band_mask",
    "filter_figure",
    "image_filtering_figure",
    "log_spectrum",
    "radial_energy",
    "radial_energy_figure",
    "radial_frequency",
    "spectral_prompt_figure",
    "token_spectrum_figure",
]
