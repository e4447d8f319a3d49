"""Pictures of the spectral prompt (eq. 1-3): spectra, frequency bands, the filter ``w_f``.

Frequencies are measured as a radius normalised to 1 at the corner of the spectrum (the highest
frequency on the grid: ``sqrt(0.5² + 0.5²)`` cycles per pixel or token of a square grid), so a *band*
``(lo, hi)`` is a ring of the 2-D spectrum; :func:`band_of_periods` turns a range of wave periods in
pixels into such a band. Every spectrum is drawn on frequency axes in cycles per pixel (images) or per
token (token grids) with DC marked, every map with a colour bar.

The helpers (:func:`radial_frequency`, :func:`band_mask`, :func:`band_filter`, :func:`log_spectrum`,
:func:`radial_energy`, :func:`principal_components`, :func:`filter_radial_profile`) work on NumPy maps
``(H, W)``, token grids ``(h, w, C)`` or complex filters ``(h, w//2+1, C)`` and exist for these figures;
eq. 1 itself, step by step, is :func:`sptseg_lib.spectral.spectral_prompt_steps`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Patch, Rectangle

from .common import _figure, _line_figure, _show, _show_spectrum, _wrap, as_numpy, to_gray


def radial_frequency(shape: tuple[int, int]) -> np.ndarray:
    """The radius of every bin of an (unshifted) ``fft2`` spectrum of ``shape``, 0 at DC, 1 at the corner."""
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.fftfreq(shape[1])[None, :]
    r = np.sqrt(fy**2 + fx**2)
    return r / r.max() if r.max() > 0 else r


def _corner(shape: tuple[int, int]) -> float:
    """The radius in cycles per sample that :func:`radial_frequency` calls 1 (its largest bin)."""
    return float(np.hypot(np.abs(np.fft.fftfreq(shape[0])).max(), np.abs(np.fft.fftfreq(shape[1])).max()))


def band_of_periods(shape: tuple[int, int], periods: tuple[float, float]) -> tuple[float, float]:
    """The band ``(lo, hi)`` (radii normalised as :func:`radial_frequency`) of the waves whose period lies
    in ``periods = (shortest, longest)`` pixels (or tokens) on a grid of ``shape``: radius = 1 / period."""
    shortest, longest = periods
    if not 0 < shortest <= longest:
        raise ValueError(f"periods must satisfy 0 < shortest <= longest, got {periods}")
    corner = _corner(shape)
    return (1.0 / longest) / corner, (1.0 / shortest) / corner


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


def principal_components(tokens, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """The leading ``k`` principal components of a token grid ``(h, w, C)`` as maps, and their shares.

    Every token is a point in ``C`` dimensions; the mean token is removed and the tokens are projected on
    the ``k`` directions of largest variance. Returns ``(maps (h, w, k), variance shares (k,))``: map ``i``
    is each token's coordinate along direction ``i`` (its sign is arbitrary), the shares sum to at most 1.
    A way to look at all ``C`` channels at once: regions whose tokens differ most stand out first.
    """
    t = as_numpy(tokens).astype(np.float64)
    if t.ndim != 3:
        raise ValueError(f"tokens must be (h, w, C), got shape {t.shape}")
    h, w, c = t.shape
    flat = t.reshape(h * w, c)
    flat = flat - flat.mean(0)
    _, s, vt = np.linalg.svd(flat, full_matrices=False)
    k = min(k, len(s))
    total = max(float((s**2).sum()), 1e-30)
    return (flat @ vt[:k].T).reshape(h, w, k), (s[:k] ** 2) / total


def filter_radial_profile(weight, bins: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Mean gain ``|w_f|`` of a complex filter ``(h, w//2+1, C)`` (eq. 1; the real FFT's half-plane,
    docs/reference.md §1.2) in ``bins`` rings of frequency.

    The half-plane bin ``(ky, kx)`` has the radius :func:`radial_frequency` gives the same bin of the full
    ``h x w`` spectrum (``w`` even); the ring ``i`` holds radii in ``[i/bins, (i+1)/bins)`` (the last one
    includes 1). Returns ``(ring centres (bins,), mean |w_f| over the ring's bins and all channels
    (bins,))``; a ring without bins gets ``nan``. A low-pass filter has a falling profile.
    """
    a = np.abs(as_numpy(weight)).mean(-1)
    h, half = a.shape
    r = radial_frequency((h, 2 * (half - 1)))[:, :half]
    index = np.minimum((r * bins).astype(int), bins - 1)
    sums = np.bincount(index.ravel(), weights=a.ravel(), minlength=bins)
    counts = np.bincount(index.ravel(), minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return (np.arange(bins) + 0.5) / bins, means


def _ring(ax, radius: float, colour: str = "cyan", label: str = "") -> None:
    """A dashed circle of ``radius`` cycles per unit around DC, on axes drawn by ``_show_spectrum``."""
    ax.add_patch(Circle((0.0, 0.0), radius, fill=False, edgecolor=colour, linestyle="--", linewidth=1.0))
    if label:
        ax.annotate(
            label,
            (radius * 0.71, -radius * 0.71),
            xytext=(2, 2),
            textcoords="offset points",
            color=colour,
            fontsize=7,
        )


def image_filtering_figure(image: np.ndarray, cutoff: float = 0.15) -> Figure:
    """A photo, its centred log spectrum (the ``cutoff`` ring dashed), its low-pass and high-pass parts.

    ``cutoff`` is a radius normalised to 1 at the spectrum's corner; the two parts add up to the photo.
    """
    x = to_gray(image)
    fig, axes = _figure(1, 4, size=2.45)
    _show(axes[0, 0], x, "photo (gray)", cmap="gray", colorbar=True, label="luminance")
    _show_spectrum(axes[0, 1], log_spectrum(x), "log |FFT2(photo)|")
    _ring(axes[0, 1], cutoff * _corner(x.shape), label=f"r = {cutoff:.2f}")
    _show(axes[0, 2], band_filter(x, (0.0, cutoff)), f"low-pass: r < {cutoff:.2f}", "gray", True, "luminance")
    _show(
        axes[0, 3], band_filter(x, (cutoff, 1.0)), f"high-pass: r >= {cutoff:.2f}", "gray", True, "luminance"
    )
    return fig


def bands_figure(image: np.ndarray, bands: Mapping[str, tuple[float, float]], title: str = "image") -> Figure:
    """An image, its log spectrum with each band's rings dashed, and the image filtered to each band.

    ``bands``: name -> ``(lo, hi)`` (normalised radii, e.g. from :func:`band_of_periods`); a name is the
    panel's title (``"\\n"`` breaks it). Each filtered map has its own colour bar (luminance; the band
    removes the mean unless it holds DC) and a frame of its rings' colour.
    """
    x = to_gray(image)
    colours = ("cyan", "lime", "orange", "white")
    cols = 2 + len(bands)
    fig, axes = _figure(1, cols, size=min(2.45, 9.8 / cols))
    axes[0, 0].imshow(as_numpy(image), interpolation="nearest")
    axes[0, 0].set_title(title, fontsize=9)
    _show_spectrum(axes[0, 1], log_spectrum(x), "log |FFT2| (gray image)")
    corner = _corner(x.shape)
    for i, (name, band) in enumerate(bands.items()):
        colour = colours[i % len(colours)]
        for radius in band:
            if 0 < radius < 1:
                _ring(axes[0, 1], radius * corner, colour)
        filtered = band_filter(x, band)
        limit = float(np.abs(filtered).max()) or 1.0
        _show(axes[0, 2 + i], filtered, name, "RdBu_r", True, "luminance", vmin=-limit, vmax=limit)
        for spine in axes[0, 2 + i].spines.values():
            spine.set_edgecolor(colour)
            spine.set_linewidth(2)
    return fig


def token_spectrum_figure(
    tokens: np.ndarray, channel: int, band: tuple[float, float], title: str = "tokens", unit: str = "token"
) -> Figure:
    """One channel of a grid ``(h, w, C)``: the map, its spectrum, the band, the band-filtered map.

    ``unit`` names a grid cell on the frequency axes (``"token"``, ``"px"``). The title of the last panel
    gives the share of the channel's energy (mean removed) inside the band.
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
    fig, axes = _figure(1, 4, size=2.45)
    _show(axes[0, 0], x, f"channel {channel}", colorbar=True, label="value")
    _show_spectrum(axes[0, 1], log_spectrum(x), "log |FFT2| of the channel", unit=unit)
    _show_spectrum(
        axes[0, 2],
        np.fft.fftshift(mask),
        f"band r = {band[0]:.2f}-{band[1]:.2f}",
        unit=unit,
        cmap="gray",
        label="kept (1) / removed (0)",
        vmin=0,
        vmax=1,
    )
    _show(axes[0, 3], filtered, f"band-filtered\n({share:.0%} of the energy)", colorbar=True, label="value")
    fig.suptitle(
        _wrap(f"{title}: channel {channel}, its spectrum and one band", fig.get_figwidth(), 10), fontsize=10
    )
    return fig


def principal_components_figure(
    image: np.ndarray, maps: np.ndarray, shares: Sequence[float], title: str = "tokens"
) -> Figure:
    """An image and the principal-component maps ``(h, w, k)`` of its token grid
    (:func:`principal_components`), each with a colour bar and its share of the variance."""
    maps = as_numpy(maps)
    k = maps.shape[-1]
    limit = float(np.abs(maps).max()) or 1.0
    fig, axes = _figure(1, 1 + k, size=min(2.45, 9.8 / (1 + k)))
    axes[0, 0].imshow(as_numpy(image))
    axes[0, 0].set_title("image", fontsize=9)
    for i in range(k):
        _show(
            axes[0, 1 + i],
            maps[..., i],
            f"{title}: PC {i}\n({shares[i]:.0%} of the variance)",
            cmap="RdBu_r",
            colorbar=True,
            label="coordinate (sign arbitrary)",
            vmin=-limit,
            vmax=limit,
        )
    return fig


def _half_plane(z: torch.Tensor | np.ndarray, channel: int | None) -> np.ndarray:
    """|complex half-spectrum| ``(h, w//2+1[, C])`` of one channel (or the channel mean), rows centred."""
    a = np.abs(as_numpy(z))
    a = a.mean(-1) if channel is None else a[..., channel]
    return np.fft.fftshift(a, axes=0)


def spectral_prompt_figure(steps: Mapping[str, torch.Tensor], channel: int = 0, title: str = "") -> Figure:
    """The steps of eq. 1-2 (:func:`sptseg_lib.spectral.spectral_prompt_steps`) for one channel, in two rows:
    ``H``, ``H ⊙ g``, ``S = irfft2(...)``; the spectrum ``rfft2(H ⊙ g)``, the filtered spectrum
    (half-planes on frequency axes), ``H + S`` (maps ``(h, w)``, each with a colour bar)."""
    fig, axes = _figure(2, 3, size=2.7)
    _show(axes[0, 0], steps["H"][..., channel], f"H (channel {channel})", colorbar=True)
    _show(axes[0, 1], steps["H*g"][..., channel], "H ⊙ g", colorbar=True)
    _show(axes[0, 2], steps["S"][..., channel], "S = irfft2(rfft2(H ⊙ g) ⊙ w_f)", colorbar=True)
    spectrum = np.log1p(_half_plane(steps["spectrum"], channel))
    filtered = np.log1p(_half_plane(steps["filtered"], channel))
    log_label = "log(1 + |.|)"
    _show_spectrum(axes[1, 0], spectrum, "log |rfft2(H ⊙ g)|", unit="token", half=True, label=log_label)
    _show_spectrum(axes[1, 1], filtered, "log |rfft2(H ⊙ g) ⊙ w_f|", unit="token", half=True, label=log_label)
    _show(axes[1, 2], steps["H+S"][..., channel], "H + S (eq. 2)", colorbar=True)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


MARK_COLOURS = ("lime", "red", "deepskyblue", "orange", "white", "yellow")
"""Outline colours of the frequency bins :func:`filter_figure` marks, one per group, in order."""


def filter_figure(
    weight: torch.Tensor,
    channels: Sequence[int] = (0, 1),
    title: str = "w_f",
    marks: Mapping[str, Sequence[tuple[int, int]]] | None = None,
) -> Figure:
    """``|w_f|`` of a complex filter ``(h, w//2+1, C)`` (eq. 1, docs/reference.md §1.1-1.2) on the real
    FFT's half-plane: the mean over channels, then a few channels, all on one colour scale; then the mean
    gain per ring of frequency (:func:`filter_radial_profile`: flat = all frequencies alike, falling =
    low-pass).

    Rows are ``k_y`` (centred), columns ``k_x = 0 .. w/2``, in cycles per token; DC is marked.

    Args:
        marks: frequency bins to point out, name -> ``(k_y, k_x)`` index pairs of the half-plane (rows in
            ``fftfreq`` order, columns ``0 .. w/2``: the layout of ``w_f`` and of
            :func:`sptseg_lib.data.shapes.stripe_frequency_bins`, e.g. the fabrics world's stripe
            textures). Each group is outlined in its own colour (:data:`MARK_COLOURS`) on every map and
            drawn as a dashed line at its rings' radius on the profile, with one legend entry per group
            naming its frequencies.
    """
    maps = [_half_plane(weight, None)] + [_half_plane(weight, c) for c in channels]
    top = float(max(m.max() for m in maps))
    cols = 2 + len(channels)
    fig, axes = _figure(1, cols, size=min(2.45, 9.8 / cols))
    names = [f"mean |{title}| over channels"] + [f"|{title}|, channel {c}" for c in channels]
    width = fig.get_figwidth() / cols - 0.45  # a panel, less its colour bar
    for ax, m, name in zip(axes[0, :-1], maps, names):
        _show_spectrum(
            ax, m, _wrap(name, width, 9), unit="token", half=True, label="gain |w_f|", vmin=0, vmax=top
        )
    centres, profile = filter_radial_profile(weight)
    ax = axes[0, -1]
    ax.plot(centres, profile, marker="o")
    ax.set_ylim(0, top * 1.05)
    ax.set_xticks([0, 0.5, 1])
    ax.set_yticks(np.round(np.linspace(0, top, 3), 2))
    ax.tick_params(labelsize=7)
    ax.set_xlabel("frequency radius r (0 = DC)", fontsize=7)
    ax.set_ylabel("mean gain |w_f|", fontsize=7)
    ax.set_title("mean gain per ring", fontsize=9)
    if marks:
        fig.set_size_inches(fig.get_figwidth(), fig.get_figheight() + 0.9)  # room for the legend below
        _mark_bins(fig, axes[0, :-1], ax, as_numpy(weight).shape[:2], marks)
    return fig


def _mark_bins(
    fig: Figure, maps, profile, shape: tuple[int, int], marks: Mapping[str, Sequence[tuple[int, int]]]
) -> None:
    """Outline the half-plane bins of each group of ``marks`` on the ``maps`` axes (drawn by
    ``_show_spectrum(..., half=True)`` from a half-plane of ``shape``), a dashed line at their radius on
    the ``profile`` axes, and a legend below the figure naming each group's frequencies."""
    h, half = shape
    ky, kx = np.fft.fftfreq(h), np.fft.rfftfreq(2 * (half - 1))
    dy, dx = 1.0 / h, kx[1] - kx[0]
    corner = float(np.hypot(np.abs(ky).max(), kx.max()))  # radius 1 of filter_radial_profile's rings
    handles = []
    for k, (name, cells) in enumerate(marks.items()):
        colour = MARK_COLOURS[k % len(MARK_COLOURS)]
        for ax in maps:
            for y, x in cells:
                ax.add_patch(  # a little inside the bin, so that a bin on the map's edge shows whole
                    Rectangle(
                        (kx[x] - 0.42 * dx, ky[y] - 0.42 * dy),
                        0.84 * dx,
                        0.84 * dy,
                        fill=False,
                        edgecolor=colour,
                        linewidth=1.5,
                    )
                )
        for r in sorted({round(float(np.hypot(ky[y], kx[x])) / corner, 6) for y, x in cells}):
            profile.axvline(r, color=colour, linestyle="--", linewidth=1.2)
        where = ", ".join(
            f"k_y {ky[y]:+.2f}"
            if x == 0
            else f"k_x {kx[x]:.2f}"
            if y == 0
            else f"({ky[y]:+.2f}, {kx[x]:.2f})"
            for y, x in cells
        )
        handles.append(Patch(facecolor="0.3", edgecolor=colour, linewidth=1.5, label=f"{name}: {where}"))
    profile.plot([], [], color="0.3", linestyle="--", label="their radius")
    fig.legend(
        handles=handles + profile.get_lines()[-1:],
        loc="outside lower center",
        ncols=min(len(handles) + 1, 3),
        fontsize=7,
        title="marked bins (cycles / token)",
        title_fontsize=7,
    )


def radial_energy_figure(maps: Mapping[str, np.ndarray], bins: int = 8, title: str = "") -> Figure:
    """Line plot of :func:`radial_energy` of several token grids ``(h, w, C)`` (e.g. ``H`` and ``S``)."""
    centres = (np.arange(bins) + 0.5) / bins
    series = {name: radial_energy(x, bins) for name, x in maps.items()}
    fig = _line_figure(
        (5.0, 3.0), centres, series, "frequency radius r (0 = DC, 1 = highest)", "share of spectral energy"
    )
    if title:
        fig.axes[0].set_title(title, fontsize=9)
    return fig


def prompt_share_figure(
    image: np.ndarray,
    share: np.ndarray,
    per_class: Mapping[str, float],
    unseen: Sequence[str] = (),
    title: str = "",
) -> Figure:
    """What the spectral prompt adds to the tokens (eq. 2): ``|S| / |H|`` per token of one scene beside the
    scene, then its mean per class over many scenes as bars (unseen classes hatched).

    Args:
        image: the scene ``(H, W, 3)`` uint8.
        share: ``|S| / |H|`` of its tokens ``(h, w)`` (:func:`sptseg_lib.encoder.spectral_prompt_share`).
        per_class: class name -> mean share over the tokens whose pixels are mostly that class.
        unseen: the names of the unseen classes among ``per_class``.
        title: the figure's title.
    """
    fig = Figure(figsize=(10.0, 3.2), layout="constrained")
    grid = fig.add_gridspec(1, 4)
    ax_image, ax_share = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])
    for ax in (ax_image, ax_share):
        ax.set_xticks([])
        ax.set_yticks([])
    _show(ax_image, image, "the scene")
    _show(ax_share, share, "|S| / |H| per token", cmap="magma", colorbar=True, vmin=0.0)
    ax = fig.add_subplot(grid[0, 2:])
    names = list(per_class)
    bars = ax.bar(range(len(names)), [per_class[n] for n in names], color="tab:purple", gid="per_class")
    for bar, name in zip(bars, names, strict=True):
        if name in unseen:
            bar.set_hatch("///")
            bar.set_facecolor("white")
            bar.set_edgecolor("tab:purple")
    ax.set_xticks(range(len(names)), names, rotation=70, fontsize=6, ha="right")
    ax.set_ylabel("mean |S| / |H| of its tokens", fontsize=8)
    ax.set_title("per class, over the scenes (hatched: unseen)", fontsize=9)
    ax.tick_params(axis="y", labelsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


__all__ = [
    "band_filter",
    "band_mask",
    "band_of_periods",
    "bands_figure",
    "filter_figure",
    "filter_radial_profile",
    "image_filtering_figure",
    "log_spectrum",
    "principal_components",
    "principal_components_figure",
    "prompt_share_figure",
    "radial_energy",
    "radial_energy_figure",
    "radial_frequency",
    "spectral_prompt_figure",
    "token_spectrum_figure",
]
