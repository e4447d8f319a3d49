"""Pictures of SPT-SEG's parts: pure functions that return matplotlib figures (and the arrays behind them).

Every ``*_figure`` function takes arrays and returns a new :class:`matplotlib.figure.Figure`; none touches
pyplot's global state, so the same function serves a static notebook figure, a widget's redraw
(:mod:`sptseg_lib.widgets`) and a test. Sections follow the paper:

* spectra and filters (eq. 1-3): :func:`band_mask`, :func:`band_filter`, :func:`spectral_prompt_steps`;
* HiLo attention (eq. 4-6): :func:`hilo_layout_figure`, :func:`hilo_attention_figure`;
* the decoder (eq. 7-9): :func:`gate_figure`, :func:`masks_figure`;
* the loss (eq. 10): :func:`term_gradients`, :func:`focal_curves_figure`, :func:`gradient_figure`;
* data, training and evaluation (notebooks 00, 05-09): :func:`colour_labels`, :func:`image_label_figure`,
  :func:`zero_shot_figure`, :func:`loss_curves_figure`, :func:`per_class_iou_figure`,
  :func:`prediction_figure`, :func:`mask_explorer_figure`, the paper's tables and :func:`comparison_table`.

Array conventions: images ``(H, W, 3)`` uint8 or ``(H, W)`` floats; token grids ``(h, w, C)``; mask
scores ``(C, H, W)``. Frequencies are measured as a radius normalised to 1 at the corner of the spectrum
(the highest frequency on the grid), so a *band* ``(lo, hi)`` is a ring of the 2-D spectrum.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from .data.splits import IGNORE_INDEX
from .data.transforms import IMAGENET_MEAN, IMAGENET_STD
from .hilo import HiLoAttention, HiLoAttentionMaps
from .losses import binary_targets, dice_loss, focal_loss, ssim_loss
from .ssim import ssim_map

# ============================================================================================ helpers


def _numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def to_gray(image: np.ndarray) -> np.ndarray:
    """An image as a float ``(H, W)`` array in 0..1 (RGB -> luminance)."""
    x = _numpy(image).astype(np.float64)
    if x.max() > 1.0:
        x = x / 255.0
    if x.ndim == 3:
        x = x[..., :3] @ np.array([0.299, 0.587, 0.114])
    if x.ndim != 2:
        raise ValueError(f"expected an image (H, W) or (H, W, 3), got shape {x.shape}")
    return x


def _figure(rows: int, cols: int, size: float = 2.4) -> tuple[Figure, np.ndarray]:
    fig = Figure(figsize=(size * cols, size * rows + 0.3), layout="constrained")
    axes = np.atleast_2d(fig.subplots(rows, cols, squeeze=False))
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig, axes


def _show(ax, array, title: str, cmap: str = "viridis", colorbar: bool = False, **kwargs) -> None:
    im = ax.imshow(_numpy(array), cmap=cmap, interpolation="nearest", **kwargs)
    ax.set_title(title, fontsize=9)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, shrink=0.8)


def figure_png(fig: Figure, dpi: int = 80) -> bytes:
    """The figure rendered as PNG bytes (what a widget shows)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def label_colormap(num_classes: int) -> ListedColormap:
    """Distinct colours for ``num_classes`` labels (tab20, repeated)."""
    base = colormaps["tab20"].colors
    return ListedColormap([base[i % len(base)] for i in range(num_classes)])


# ============================================================================================ spectra


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
    x = _numpy(x).astype(np.float64)
    mask = band_mask(x.shape[:2], band)
    if x.ndim == 3:
        mask = mask[..., None]
    return np.real(np.fft.ifft2(np.fft.fft2(x, axes=(0, 1)) * mask, axes=(0, 1)))


def log_spectrum(x: np.ndarray) -> np.ndarray:
    """``log(1 + |FFT2(x - mean)|)``, centred (DC in the middle), of a ``(H, W)`` map."""
    x = _numpy(x).astype(np.float64)
    return np.log1p(np.abs(np.fft.fftshift(np.fft.fft2(x - x.mean()))))


def radial_energy(x: np.ndarray, bins: int = 8) -> np.ndarray:
    """Share of the spectral energy of ``x`` ``(h, w)`` or ``(h, w, C)`` in ``bins`` rings of radius
    (DC excluded); sums to 1 (Parseval: the same split as the energy of the band-filtered maps)."""
    x = _numpy(x).astype(np.float64)
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
    t = _numpy(tokens).astype(np.float64)
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


def spectral_prompt_steps(
    patch_tokens: torch.Tensor, cls_token: torch.Tensor, weight: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Eq. 1 one step at a time on one image, for pictures: ``S = irfft2(rfft2(H ⊙ g) ⊙ w_f)``.

    Args:
        patch_tokens: ``H`` ``(h, w, C)``; cls_token: ``g`` ``(C,)``; weight: ``w_f`` ``(h, w//2+1, C)``.

    Returns:
        ``H``, ``H*g``, ``spectrum`` = rfft2(H ⊙ g), ``filtered`` = spectrum ⊙ w_f (complex
        ``(h, w//2+1, C)``), ``S`` and ``H+S`` ``(h, w, C)``. Orthonormal transforms, as
        :func:`sptseg_lib.spectral.spectral_prompt` (whose output equals ``S``: tested).
    """
    h, w, _ = patch_tokens.shape
    gated = patch_tokens.float() * cls_token.float()
    spectrum = torch.fft.rfft2(gated, dim=(0, 1), norm="ortho")
    filtered = spectrum * weight.to(torch.complex64)
    s = torch.fft.irfft2(filtered, s=(h, w), dim=(0, 1), norm="ortho")
    return {
        "H": patch_tokens,
        "H*g": gated,
        "spectrum": spectrum,
        "filtered": filtered,
        "S": s,
        "H+S": patch_tokens + s,
    }


def _half_plane(z: torch.Tensor | np.ndarray, channel: int | None) -> np.ndarray:
    """|complex half-spectrum| ``(h, w//2+1[, C])`` of one channel (or the channel mean), rows centred."""
    a = np.abs(_numpy(z))
    a = a.mean(-1) if channel is None else a[..., channel]
    return np.fft.fftshift(a, axes=0)


def spectral_prompt_figure(steps: Mapping[str, torch.Tensor], channel: int = 0) -> Figure:
    """The steps of :func:`spectral_prompt_steps` for one channel, left to right."""
    fig, axes = _figure(1, 6, size=2.2)
    _show(axes[0, 0], steps["H"][..., channel], f"H (channel {channel})")
    _show(axes[0, 1], steps["H*g"][..., channel], "H ⊙ g")
    _show(axes[0, 2], np.log1p(_half_plane(steps["spectrum"], channel)), "log |rfft2(H ⊙ g)|", cmap="magma")
    _show(axes[0, 3], np.log1p(_half_plane(steps["filtered"], channel)), "log |… ⊙ w_f|", cmap="magma")
    _show(axes[0, 4], steps["S"][..., channel], "S = irfft2(…)")
    _show(axes[0, 5], steps["H+S"][..., channel], "H + S (eq. 2)")
    return fig


def filter_figure(weight: torch.Tensor, channels: Sequence[int] = (0, 1, 2), title: str = "w_f") -> Figure:
    """``|w_f|`` of a complex filter ``(h, w//2+1, C)``: the mean over channels, then a few channels.

    Rows are frequency ``k_y`` (centred), columns ``k_x = 0 .. w/2`` (the real FFT's half-plane).
    """
    fig, axes = _figure(1, 1 + len(channels))
    _show(axes[0, 0], _half_plane(weight, None), f"mean |{title}| over channels", cmap="magma", colorbar=True)
    for i, c in enumerate(channels):
        _show(axes[0, 1 + i], _half_plane(weight, c), f"|{title}|, channel {c}", cmap="magma")
    return fig


def radial_energy_figure(maps: Mapping[str, np.ndarray], bins: int = 8) -> Figure:
    """Line plot of :func:`radial_energy` of several token grids (e.g. ``H`` and ``S``)."""
    fig = Figure(figsize=(5.0, 3.0), layout="constrained")
    ax = fig.subplots()
    centres = (np.arange(bins) + 0.5) / bins
    for name, x in maps.items():
        ax.plot(centres, radial_energy(x, bins), marker="o", label=name)
    ax.set_xlabel("frequency radius (0 = DC, 1 = highest)")
    ax.set_ylabel("share of spectral energy")
    ax.legend()
    return fig


# ============================================================================================ HiLo


def draw_hilo_layout(
    axes: Sequence, grid: tuple[int, int], window_size: int, alpha: float, num_heads: int
) -> None:
    """Draw :func:`hilo_layout_figure`'s three panels onto three given axes."""
    attn = HiLoAttention(num_heads, num_heads, window_size, alpha, hifi_projection=False)
    h, w = grid
    ws = window_size
    hp, wp = h + (-h) % ws, w + (-w) % ws
    windows = (np.arange(hp)[:, None] // ws + np.arange(wp)[None, :] // ws) % 2
    padded = np.zeros((hp, wp), dtype=bool)
    padded[h:, :] = True
    padded[:, w:] = True
    title = f"Hi-Fi: {ws}x{ws} windows\n(grid {h}x{w}, padded {hp}x{wp})"
    _show(axes[0], np.where(padded, 2, windows), title, cmap="Pastel1", vmin=0, vmax=8)
    gh, gw = hp // ws, wp // ws
    pooled = (np.arange(gh)[:, None] + np.arange(gw)[None, :]) % 2
    _show(axes[1], pooled, f"Lo-Fi keys: {ws}x{ws} avg-pooled\n({gh}x{gw} = {gh * gw} keys)", cmap="Pastel2")
    ax = axes[2]
    ax.barh([0], [attn.h_heads], color="tab:orange", label=f"Hi-Fi heads: {attn.h_heads}")
    ax.barh([0], [attn.l_heads], left=[attn.h_heads], color="tab:blue", label=f"Lo-Fi heads: {attn.l_heads}")
    ax.set_xlim(0, num_heads)
    ax.set_title(f"alpha = {alpha:.2f}: {num_heads} heads", fontsize=9)
    ax.legend(fontsize=8, loc="upper center")


def hilo_layout_figure(grid: tuple[int, int], window_size: int, alpha: float, num_heads: int = 8) -> Figure:
    """How HiLo (eq. 4-6) splits work: Hi-Fi windows on the (padded) grid, Lo-Fi pooled keys, head split.

    The head split is :class:`~sptseg_lib.hilo.HiLoAttention`'s own (``l_heads = int(num_heads * alpha)``;
    ``window_size == 1`` makes every head a global Lo-Fi head).
    """
    fig, axes = _figure(1, 3, size=2.6)
    draw_hilo_layout(axes[0], grid, window_size, alpha, num_heads)
    return fig


def hilo_query_maps(
    maps: HiLoAttentionMaps, grid: tuple[int, int], query: tuple[int, int], head: int = 0, batch: int = 0
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The attention of the token at ``query = (row, col)`` over the ``grid``, for both branches.

    Returns ``(hifi, lofi)``: ``(h, w)`` maps (``None`` for a branch without heads). Hi-Fi is non-zero only
    inside the query's window; Lo-Fi weights each pooled key, spread over the ``ws x ws`` cells it averages.
    """
    h, w = grid
    r, c = query
    hp, wp = maps.padded_grid
    gh, gw = maps.pooled_grid
    hifi = lofi = None
    if maps.hifi is not None:
        ws = hp // maps.hifi.shape[2]
        window = _numpy(maps.hifi[batch, head, r // ws, c // ws, (r % ws) * ws + (c % ws)]).reshape(ws, ws)
        full = np.zeros((hp, wp))
        full[r // ws * ws : r // ws * ws + ws, c // ws * ws : c // ws * ws + ws] = window
        hifi = full[:h, :w]
    if maps.lofi is not None:
        row = _numpy(maps.lofi[batch, head, r * wp + c]).reshape(gh, gw)
        lofi = np.kron(row, np.ones((hp // gh, wp // gw)))[:h, :w]
    return hifi, lofi


def draw_attention_maps(
    axes: Sequence, image: np.ndarray, hifi: np.ndarray | None, lofi: np.ndarray | None, grid, query
) -> None:
    """Draw the Hi-Fi and Lo-Fi maps of :func:`hilo_query_maps` over the image, onto two axes."""
    h, w = grid
    for ax, attn, name in (
        (axes[0], hifi, "Hi-Fi (inside its window)"),
        (axes[1], lofi, "Lo-Fi (pooled keys)"),
    ):
        ax.imshow(_numpy(image), extent=(0, w, h, 0), alpha=0.5)
        if attn is None:
            ax.set_title(f"{name}: no heads", fontsize=9)
            continue
        ax.imshow(attn, cmap="inferno", extent=(0, w, h, 0), alpha=0.7, interpolation="nearest")
        ax.add_patch(_rectangle(query[1], query[0], 1, 1))
        ax.set_title(f"{name}\nquery {query}", fontsize=9)


def hilo_attention_figure(
    image: np.ndarray, maps: HiLoAttentionMaps, grid: tuple[int, int], query: tuple[int, int], head: int = 0
) -> Figure:
    """Where one token looks: the photo with the query patch, then the Hi-Fi and Lo-Fi attention maps."""
    hifi, lofi = hilo_query_maps(maps, grid, query, head)
    img = _numpy(image)
    h, w = grid
    fig, axes = _figure(1, 3)
    axes[0, 0].imshow(img, extent=(0, w, h, 0))
    axes[0, 0].add_patch(_rectangle(query[1], query[0], 1, 1))
    axes[0, 0].set_title(f"query token {query}, head {head}", fontsize=9)
    draw_attention_maps(axes[0, 1:], img, hifi, lofi, grid, query)
    return fig


def _rectangle(x: float, y: float, w: float, h: float):
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), w, h, fill=False, edgecolor="red", linewidth=1.5)


def cost_figure(rows: Sequence[Mapping[str, float]]) -> Figure:
    """Milliseconds of full attention and HiLo against the number of tokens (rows of
    :func:`sptseg_lib.notebook_env.attention_cost`)."""
    fig = Figure(figsize=(4.5, 3.0), layout="constrained")
    ax = fig.subplots()
    tokens = [r["tokens"] for r in rows]
    ax.plot(tokens, [r["full_ms"] for r in rows], marker="o", label="full attention")
    ax.plot(tokens, [r["hilo_ms"] for r in rows], marker="o", label="HiLo")
    ax.set_xlabel("tokens")
    ax.set_ylabel("CPU ms (median)")
    ax.legend()
    return fig


# ============================================================================================ decoder


def gate_figure(
    image: np.ndarray, similarity: np.ndarray, norm_in: np.ndarray, norm_out: np.ndarray
) -> Figure:
    """Eq. 7 on a grid: the photo, ``sim(z, xi)`` per token, ``|z|`` and ``|z_hat|`` per token."""
    fig, axes = _figure(1, 4)
    axes[0, 0].imshow(_numpy(image))
    axes[0, 0].set_title("image", fontsize=9)
    _show(axes[0, 1], similarity, "sim(z, xi) = clamp(cos, 0, 1)", cmap="gray", vmin=0, vmax=1)
    _show(axes[0, 2], norm_in, "|z| (HiLo output)")
    _show(axes[0, 3], norm_out, "|z_hat| = |P sim z|")
    return fig


def masks_figure(
    image: np.ndarray,
    scores: np.ndarray,
    class_names: Sequence[str],
    title: str = "",
    max_classes: int = 6,
) -> Figure:
    """Per-class mask scores ``(C, H, W)`` (the first ``max_classes``, on one colour scale) and the argmax."""
    s = _numpy(scores)
    shown = min(len(class_names), max_classes)
    fig, axes = _figure(1, shown + 2, size=2.0)
    axes[0, 0].imshow(_numpy(image))
    axes[0, 0].set_title(title or "image", fontsize=9)
    lo, hi = float(s[:shown].min()), float(s[:shown].max())
    for i in range(shown):
        _show(axes[0, 1 + i], s[i], class_names[i], cmap="viridis", vmin=lo, vmax=hi)
    _show(
        axes[0, -1],
        s.argmax(0),
        "argmax",
        cmap=label_colormap(len(class_names)),
        vmin=-0.5,
        vmax=len(class_names) - 0.5,
    )
    return fig


def decoder_comparison_figure(
    image: np.ndarray, scores: Mapping[str, np.ndarray], class_names: Sequence[str], max_classes: int = 4
) -> Figure:
    """One row per decoder (e.g. ZegCLIP, SGD): image, per-class scores ``(C, H, W)`` (one colour scale per
    row), argmax."""
    rows = len(scores)
    shown = min(len(class_names), max_classes)
    fig, axes = _figure(rows, shown + 2, size=2.0)
    cmap = label_colormap(len(class_names))
    for row, (name, s) in enumerate(scores.items()):
        s = _numpy(s)
        axes[row, 0].imshow(_numpy(image))
        axes[row, 0].set_ylabel(name)
        axes[row, 0].set_title(name, fontsize=9)
        lo, hi = float(s[:shown].min()), float(s[:shown].max())
        for i in range(shown):
            _show(axes[row, 1 + i], s[i], class_names[i], vmin=lo, vmax=hi)
        _show(axes[row, -1], s.argmax(0), "argmax", cmap=cmap, vmin=-0.5, vmax=len(class_names) - 0.5)
    return fig


def parameter_bar_figure(counts: Mapping[str, int]) -> Figure:
    """Horizontal bars of parameter counts (e.g. per decoder)."""
    fig = Figure(figsize=(5.0, 0.5 + 0.5 * len(counts)), layout="constrained")
    ax = fig.subplots()
    names = list(counts)
    ax.barh(names, [counts[n] for n in names], color="tab:blue")
    for i, n in enumerate(names):
        ax.text(counts[n], i, f" {counts[n]:,}", va="center", fontsize=8)
    ax.set_xlabel("parameters")
    return fig


# ============================================================================================ losses


def term_gradients(
    logits: torch.Tensor,
    labels: torch.Tensor,
    ignore_as_negative: bool = True,
    ignore_index: int = 255,
) -> dict[str, np.ndarray]:
    """The gradient of each loss term of eq. 10 (and dice) with respect to every logit.

    Args:
        logits: ``(1, C, H, W)`` mask logits at label resolution.
        labels: ``(1, H, W)`` channel indices and ``ignore_index``.
        ignore_as_negative: the reference's rule (ignored pixels are negatives for every class) or
            leaving them out (``valid`` mask), as in :class:`~sptseg_lib.losses.SegmentationCriterion`.

    Returns:
        ``{"focal", "ssim", "dice", "cross-entropy"}`` -> ``(C, H, W)`` arrays of ``d term / d logit``
        (unweighted terms; cross-entropy = the binary cross-entropy per class, for comparison).
    """
    c = logits.shape[1]
    targets = binary_targets(labels, c, ignore_index)
    valid = None if ignore_as_negative else labels != ignore_index
    num_masks = max(float((targets.flatten(2).amax(-1) > 0).sum()), 1.0)
    terms = {
        "focal": lambda x: focal_loss(x, targets, num_masks, valid=valid),
        "ssim": lambda x: ssim_loss(x, targets, valid=valid),
        "dice": lambda x: dice_loss(x, targets, num_masks, valid=valid),
        "cross-entropy": lambda x: _bce(x, targets, valid),
    }
    out = {}
    for name, fn in terms.items():
        x = logits.detach().float().clone().requires_grad_(True)
        fn(x).backward()
        out[name] = x.grad[0].numpy()
    return out


def _bce(x: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    loss = torch.nn.functional.binary_cross_entropy_with_logits(x, targets, reduction="none")
    if valid is None:
        return loss.mean()
    return (loss * valid[:, None]).sum() / (valid.sum() * x.shape[1]).clamp(min=1)


def gradient_figure(
    image: np.ndarray,
    label: np.ndarray,
    gradients: Mapping[str, np.ndarray],
    channel: int,
    class_name: str = "",
) -> Figure:
    """Image, label map, then ``d term / d logit`` of one class channel for every term (red: push up)."""
    lab = _numpy(label)
    fig, axes = _figure(1, 2 + len(gradients), size=2.2)
    axes[0, 0].imshow(_numpy(image))
    axes[0, 0].set_title("image", fontsize=9)
    shown = np.where(lab == 255, -1, lab)
    _show(axes[0, 1], shown, "labels (-1: ignored)", cmap="tab20")
    for i, (name, g) in enumerate(gradients.items()):
        g = -g[channel]  # the descent direction: positive = the logit goes up
        bound = float(np.abs(g).max()) or 1.0
        _show(axes[0, 2 + i], g, f"-d {name} / d logit", cmap="RdBu_r", vmin=-bound, vmax=bound)
    if class_name:
        fig.suptitle(f"class channel {channel}: {class_name}", fontsize=10)
    return fig


def focal_curves_figure(gammas: Sequence[float] = (0.0, 1.0, 2.0, 5.0), alpha: float = -1.0) -> Figure:
    """Loss of one positive pixel against its probability ``p`` (computed with :func:`focal_loss`).

    ``gamma = 0`` with ``alpha < 0`` is the binary cross-entropy; larger ``gamma`` silences easy pixels.
    """
    p = torch.linspace(0.01, 0.99, 99)
    logits = torch.log(p / (1 - p))
    fig = Figure(figsize=(4.5, 3.0), layout="constrained")
    ax = fig.subplots()
    for gamma in gammas:
        values = [
            float(focal_loss(z.reshape(1, 1, 1, 1), torch.ones(1, 1, 1, 1), 1.0, alpha=alpha, gamma=gamma))
            for z in logits
        ]
        ax.plot(p.numpy(), values, label=f"gamma = {gamma:g}" + (" (cross-entropy)" if gamma == 0 else ""))
    ax.set_xlabel("p of the true class")
    ax.set_ylabel("loss")
    ax.legend(fontsize=8)
    return fig


def ssim_figure(prediction: np.ndarray, target: np.ndarray, title: str = "") -> Figure:
    """A prediction map, its target and their local SSIM (11x11 Gaussian window, :func:`ssim_map`)."""
    x = torch.as_tensor(_numpy(prediction), dtype=torch.float32)[None, None]
    y = torch.as_tensor(_numpy(target), dtype=torch.float32)[None, None]
    smap = ssim_map(x, y)[0, 0]
    fig, axes = _figure(1, 3)
    _show(axes[0, 0], x[0, 0], title or "prediction", cmap="gray")
    _show(axes[0, 1], y[0, 0], "target", cmap="gray")
    _show(axes[0, 2], smap, f"local SSIM (mean {float(smap.mean()):.3f})", cmap="RdBu", vmin=-1, vmax=1)
    return fig


# ============================================================================================ data, training,
# evaluation (notebooks 00 and 05-09)

IGNORE_RGB = (0.0, 0.0, 0.0)
"""Colour of ignored pixels (label 255) in :func:`colour_labels`: black."""
PSEUDO_RGB = (1.0, 0.0, 1.0)
"""Colour of pixels awaiting a pseudo-label (label -1, transductive setting): magenta."""
HIGHLIGHTS = ("all", "seen", "unseen")
"""What :func:`mask_explorer_figure` colours in its argmax panel (the other classes are grey)."""


def denormalise(image: torch.Tensor | np.ndarray, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> np.ndarray:
    """A normalised ``(3, H, W)`` image (the data pipelines' output) back to ``(H, W, 3)`` uint8.

    Inverts ``(x - mean) / std`` on the 0-255 scale; padded pixels (0 after normalising) become ``mean``.
    """
    x = _numpy(image).astype(np.float64)
    if x.ndim != 3 or x.shape[0] != 3:
        raise ValueError(f"expected a normalised image (3, H, W), got shape {x.shape}")
    rgb = x.transpose(1, 2, 0) * np.asarray(std) + np.asarray(mean)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def colour_labels(label: np.ndarray, num_classes: int, ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """A label map ``(H, W)`` as ``(H, W, 3)`` floats in 0..1 for drawing.

    Classes ``0..num_classes-1`` take :func:`label_colormap`'s colours, ``ignore_index`` is black
    (:data:`IGNORE_RGB`), negative values (``UNSEEN_PSEUDO = -1``, pixels of the transductive setting that
    wait for a pseudo-label) magenta (:data:`PSEUDO_RGB`). Any other value is an error.
    """
    lab = _numpy(label).astype(np.int64)
    if lab.ndim != 2:
        raise ValueError(f"label must be (H, W), got shape {lab.shape}")
    known = ((lab >= 0) & (lab < num_classes)) | (lab == ignore_index) | (lab < 0)
    if not known.all():
        bad = sorted(set(lab[~known].tolist()))[:5]
        raise ValueError(f"label values {bad} are neither classes 0..{num_classes - 1} nor {ignore_index}")
    table = np.asarray(label_colormap(num_classes).colors, dtype=np.float64)[:, :3]
    out = table[np.clip(lab, 0, num_classes - 1)]
    out[lab == ignore_index] = IGNORE_RGB
    out[lab < 0] = PSEUDO_RGB
    return out


def _legend_patches(ax, entries: Sequence[tuple[str, tuple[float, ...]]], cols: int = 1) -> None:
    from matplotlib.patches import Patch

    if entries:
        handles = [Patch(facecolor=colour, edgecolor="0.3", label=name) for name, colour in entries]
        ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), ncols=cols)


def _class_entries(
    labels: Sequence[np.ndarray],
    class_names: Sequence[str],
    unseen: Sequence[int] = (),
    ignore_index: int = IGNORE_INDEX,
) -> list[tuple[str, tuple[float, ...]]]:
    """Legend entries for the values present in ``labels``: classes (unseen ones marked), ignored, pseudo."""
    values = sorted(set().union(*(np.unique(_numpy(lab)).tolist() for lab in labels)))
    table = label_colormap(len(class_names)).colors
    entries = []
    for v in values:
        if 0 <= v < len(class_names):
            entries.append((class_names[v] + (" (unseen)" if v in unseen else ""), tuple(table[v][:3])))
    if ignore_index in values:
        entries.append((f"ignored ({ignore_index})", IGNORE_RGB))
    if any(v < 0 for v in values):
        entries.append(("pseudo-label (-1)", PSEUDO_RGB))
    return entries


def label_panels_figure(
    image: np.ndarray | None,
    panels: Mapping[str, np.ndarray],
    class_names: Sequence[str],
    unseen: Sequence[int] = (),
    title: str = "",
    ignore_index: int = IGNORE_INDEX,
) -> Figure:
    """An image (optional) and several label maps ``(H, W)`` of it side by side, one legend.

    Used for a label map under the inductive / transductive / fully supervised settings
    (:func:`~sptseg_lib.data.splits.remap_for_training`, shown in data-set class indices), or a label
    before and after ``reduce_zero_label``.
    """
    n = len(panels) + (image is not None)
    fig, axes = _figure(1, n, size=2.4)
    k = 0
    if image is not None:
        axes[0, 0].imshow(_numpy(image))
        axes[0, 0].set_title(title or "image", fontsize=9)
        k = 1
    for i, (name, lab) in enumerate(panels.items()):
        axes[0, k + i].imshow(colour_labels(lab, len(class_names), ignore_index), interpolation="nearest")
        axes[0, k + i].set_title(name, fontsize=9)
    _legend_patches(axes[0, -1], _class_entries(list(panels.values()), class_names, unseen, ignore_index))
    return fig


def image_label_figure(
    images: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    class_names: Sequence[str],
    titles: Sequence[str] | None = None,
    unseen: Sequence[int] = (),
    ignore_index: int = IGNORE_INDEX,
) -> Figure:
    """Images ``(H, W, 3)`` uint8 on the top row, their label maps below (sizes may differ), one legend
    of the classes present (unseen ones marked)."""
    if len(images) != len(labels) or not images:
        raise ValueError(f"need as many labels as images (at least one), got {len(images)} and {len(labels)}")
    fig, axes = _figure(2, len(images), size=2.2)
    for i, (image, lab) in enumerate(zip(images, labels)):
        axes[0, i].imshow(_numpy(image))
        if titles:
            axes[0, i].set_title(titles[i], fontsize=8)
        axes[1, i].imshow(colour_labels(lab, len(class_names), ignore_index), interpolation="nearest")
    _legend_patches(axes[1, -1], _class_entries(list(labels), class_names, unseen, ignore_index))
    return fig


def zero_shot_figure(
    images: Sequence[np.ndarray],
    probabilities: np.ndarray,
    class_names: Sequence[str],
    truth: Sequence[int] | None = None,
    unseen: Sequence[int] = (),
    top: int = 3,
) -> Figure:
    """CLIP zero-shot classification: each image over a bar chart of its ``top`` class probabilities.

    ``probabilities``: ``(N, C)`` softmax over the class names. Bars of the true class (``truth``) are
    green, others grey; unseen class names are marked ``*``.
    """
    p = _numpy(probabilities)
    if p.shape != (len(images), len(class_names)):
        raise ValueError(f"probabilities must be (N={len(images)}, C={len(class_names)}), got {p.shape}")
    fig = Figure(figsize=(2.1 * len(images), 4.0), layout="constrained")
    axes = fig.subplots(2, len(images), squeeze=False, height_ratios=(1.2, 1.0))
    for i, image in enumerate(images):
        ax = axes[0, i]
        ax.imshow(_numpy(image))
        ax.set_xticks([])
        ax.set_yticks([])
        if truth is not None:
            ax.set_title(class_names[truth[i]] + (" *" if truth[i] in unseen else ""), fontsize=8)
        order = np.argsort(-p[i])[:top]
        colours = ["tab:green" if truth is not None and c == truth[i] else "0.6" for c in order]
        bars = axes[1, i]
        bars.barh(range(len(order))[::-1], p[i][order], color=colours)
        bars.set_yticks(
            range(len(order))[::-1], [class_names[c] + (" *" if c in unseen else "") for c in order]
        )
        bars.tick_params(labelsize=7)
        bars.set_xlim(0, 1)
    fig.suptitle("zero-shot classification (top classes; * = unseen in segmentation training)", fontsize=9)
    return fig


LOG_KEYS_NOT_PLOTTED = frozenset({"step", "lr", "images_per_s", "effective_batch", "time", "event"})


def loss_curves_figure(records: Sequence[Mapping[str, float]], title: str = "") -> Figure:
    """Loss terms against the step (log scale) from training-log records, and the learning rate.

    ``records``: dicts with ``step`` and numeric terms (``loss``, ``focal``, ``ssim``, ``dice``, ``lr``),
    e.g. the lines of a run's ``log.jsonl`` that carry a ``loss``; other records are skipped.
    """
    rows = [r for r in records if "loss" in r and "step" in r]
    fig = Figure(figsize=(8.0, 3.0), layout="constrained")
    ax, ax_lr = fig.subplots(1, 2)
    steps = [r["step"] for r in rows]
    terms = [k for k in (rows[0] if rows else {}) if k not in LOG_KEYS_NOT_PLOTTED and "loss" not in k]
    for name in ["loss", *terms]:
        ax.plot(steps, [r[name] for r in rows], marker=".", label=name)
    if rows:
        ax.set_yscale("log")
        ax.legend(fontsize=8)
    ax.set_xlabel("step")
    ax.set_title(title or "training loss (weighted terms)", fontsize=9)
    ax_lr.plot(steps, [r.get("lr", np.nan) for r in rows], color="tab:gray")
    ax_lr.set_xlabel("step")
    ax_lr.set_title("learning rate (warm-up, then poly)", fontsize=9)
    return fig


def per_class_iou_figure(
    iou: Sequence[float], class_names: Sequence[str], unseen: Sequence[int], title: str = ""
) -> Figure:
    """Per-class IoU (percent) as bars, seen classes blue and unseen orange, with mIoU(S) and mIoU(U) as
    dashed lines. NaN (a class absent from both prediction and labels) is drawn as an empty, hatched bar."""
    values = np.asarray(iou, dtype=np.float64)
    if values.shape != (len(class_names),):
        raise ValueError(f"{len(class_names)} class names for {values.shape} IoU values")
    is_unseen = np.isin(np.arange(len(values)), list(unseen))
    fig = Figure(figsize=(max(5.0, 0.3 * len(values) + 1.5), 3.2), layout="constrained")
    ax = fig.subplots()
    colours = np.where(is_unseen, "tab:orange", "tab:blue")
    ax.bar(np.arange(len(values)), np.nan_to_num(values), color=colours)
    for i in np.flatnonzero(np.isnan(values)):
        ax.bar(i, 100.0, fill=False, hatch="//", edgecolor="0.7")
    for group, colour, name in ((~is_unseen, "tab:blue", "mIoU(S)"), (is_unseen, "tab:orange", "mIoU(U)")):
        chosen = values[group & ~np.isnan(values)]
        if chosen.size:
            ax.axhline(chosen.mean(), color=colour, linestyle="--", label=f"{name} {chosen.mean():.1f}")
    ax.set_xticks(np.arange(len(values)), class_names, rotation=70, fontsize=7)
    ax.set_ylim(0, 100)
    ax.set_ylabel("IoU (%)")
    ax.set_title(title or "per-class IoU (orange: unseen)", fontsize=9)
    ax.legend(fontsize=8)
    return fig


def error_map(prediction: np.ndarray, label: np.ndarray, ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """``(H, W, 3)``: green where the prediction is right, red where wrong, grey where the label is
    ignored."""
    pred, lab = _numpy(prediction), _numpy(label)
    out = np.where((pred == lab)[..., None], (0.2, 0.7, 0.2), (0.85, 0.15, 0.15))
    out[lab == ignore_index] = (0.6, 0.6, 0.6)
    return out


def prediction_figure(
    images: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    predictions: Sequence[np.ndarray],
    class_names: Sequence[str],
    unseen: Sequence[int] = (),
    ignore_index: int = IGNORE_INDEX,
) -> Figure:
    """Qualitative masks: one row per image with the image, the ground truth, the prediction and the
    right/wrong map (:func:`error_map`); the legend lists the classes present (unseen ones marked)."""
    fig, axes = _figure(len(images), 4, size=2.0)
    n = len(class_names)
    for row, (image, lab, pred) in enumerate(zip(images, labels, predictions)):
        axes[row, 0].imshow(_numpy(image))
        axes[row, 1].imshow(colour_labels(lab, n, ignore_index), interpolation="nearest")
        axes[row, 2].imshow(colour_labels(pred, n, ignore_index), interpolation="nearest")
        axes[row, 3].imshow(error_map(pred, lab, ignore_index), interpolation="nearest")
        valid = _numpy(lab) != ignore_index
        accuracy = float((_numpy(pred) == _numpy(lab))[valid].mean()) if valid.any() else float("nan")
        axes[row, 3].set_title(f"right / wrong ({accuracy:.0%} right)", fontsize=8)
        _legend_patches(axes[row, 3], _class_entries([lab, pred], class_names, unseen, ignore_index))
    for ax, name in zip(axes[0], ("image", "ground truth", "prediction")):
        ax.set_title(name, fontsize=9)
    return fig


def mask_iou(mask: np.ndarray, truth: np.ndarray, valid: np.ndarray | None = None) -> float:
    """IoU of two boolean masks over the ``valid`` pixels (percent); NaN when both are empty."""
    m, t = _numpy(mask).astype(bool), _numpy(truth).astype(bool)
    if valid is not None:
        v = _numpy(valid).astype(bool)
        m, t = m & v, t & v
    union = int((m | t).sum())
    return 100.0 * int((m & t).sum()) / union if union else float("nan")


def mask_explorer_figure(
    image: np.ndarray,
    scores: np.ndarray,
    label: np.ndarray,
    class_names: Sequence[str],
    unseen: Sequence[int],
    class_index: int,
    threshold: float = 0.5,
    highlight: str = "unseen",
    ignore_index: int = IGNORE_INDEX,
) -> Figure:
    """One class of one prediction: four panels.

    1. the image with the class's mask ``scores[c] >= threshold`` tinted;
    2. the score map of the class with the threshold's contour;
    3. the mask against the ground truth: true positives green, false positives red, misses blue
       (ignored pixels grey), titled with the mask's IoU (:func:`mask_iou`);
    4. the argmax over all classes, in colour for the ``highlight`` group (``all``, ``seen`` or
       ``unseen`` classes) and grey for the others.

    Args:
        scores: ``(C, H, W)`` per-class scores (sigmoid, after the seen-class penalty if any).
        label: ``(H, W)`` ground truth with ``ignore_index``.
    """
    s, lab = _numpy(scores).astype(np.float64), _numpy(label)
    if s.ndim != 3 or s.shape[0] != len(class_names) or s.shape[1:] != lab.shape:
        raise ValueError(
            f"scores must be (C={len(class_names)}, H, W) matching the label {lab.shape}, got {s.shape}"
        )
    if not 0 <= class_index < len(class_names):
        raise ValueError(f"class_index {class_index} out of range 0..{len(class_names) - 1}")
    if highlight not in HIGHLIGHTS:
        raise ValueError(f"highlight must be one of {HIGHLIGHTS}, got {highlight!r}")
    name = class_names[class_index] + (" (unseen)" if class_index in unseen else " (seen)")
    mask = s[class_index] >= threshold
    truth = lab == class_index
    valid = lab != ignore_index
    fig, axes = _figure(1, 4, size=2.4)
    tint = _numpy(image).astype(np.float64) / 255.0
    tint = np.where(mask[..., None], 0.45 * tint + 0.55 * np.asarray((1.0, 0.85, 0.0)), tint)
    axes[0, 0].imshow(tint)
    axes[0, 0].set_title(f"{name}\nscore >= {threshold:.2f}: {mask.mean():.0%} of pixels", fontsize=8)
    lo = min(0.0, float(s.min()))
    _show(axes[0, 1], s[class_index], "score of the class", cmap="viridis", vmin=lo, vmax=1.0)
    if s[class_index].min() < threshold < s[class_index].max():
        axes[0, 1].contour(s[class_index], levels=[threshold], colors="red", linewidths=1)
    outcome = np.zeros((*lab.shape, 3))
    outcome[mask & truth] = (0.2, 0.7, 0.2)
    outcome[mask & ~truth] = (0.85, 0.15, 0.15)
    outcome[~mask & truth] = (0.15, 0.35, 0.9)
    outcome[~valid] = (0.6, 0.6, 0.6)
    iou = mask_iou(mask, truth, valid)
    iou_text = "n/a (absent)" if np.isnan(iou) else f"{iou:.1f}"
    _show(axes[0, 2], outcome, f"green hit, red false, blue missed\nIoU {iou_text}")
    argmax = s.argmax(0)
    group = {
        "all": np.ones(len(class_names), dtype=bool),
        "seen": ~np.isin(np.arange(len(class_names)), list(unseen)),
        "unseen": np.isin(np.arange(len(class_names)), list(unseen)),
    }[highlight]
    coloured = colour_labels(argmax, len(class_names), ignore_index)
    coloured[~group[argmax]] = (0.8, 0.8, 0.8)
    axes[0, 3].imshow(coloured, interpolation="nearest")
    axes[0, 3].set_title(f"argmax, {highlight} classes in colour", fontsize=8)
    present = [c for c in np.unique(argmax).tolist() if group[c]]
    _legend_patches(axes[0, 3], _class_entries([np.asarray(present)], class_names, unseen, ignore_index))
    return fig


def sliding_windows_figure(
    image: np.ndarray, windows: Sequence[tuple[int, int, int, int]], title: str = ""
) -> Figure:
    """The windows ``(y1, y2, x1, x2)`` of a sliding-window inference
    (:func:`sptseg_lib.inference.slide_windows`) drawn over the image they tile, each in its own colour."""
    from matplotlib.patches import Rectangle

    fig, axes = _figure(1, 1, size=4.0)
    ax = axes[0, 0]
    ax.imshow(_numpy(image))
    colours = colormaps["tab10"].colors
    for k, (y1, y2, x1, x2) in enumerate(windows):
        inset = 1.5 * (k % 3)  # overlapping windows stay visible
        ax.add_patch(
            Rectangle(
                (x1 - 0.5 + inset, y1 - 0.5 + inset),
                x2 - x1 - 2 * inset,
                y2 - y1 - 2 * inset,
                fill=False,
                edgecolor=colours[k % len(colours)],
                linewidth=2,
            )
        )
    ax.set_title(title or f"{len(windows)} sliding windows", fontsize=9)
    return fig


PAPER_TABLES: dict[str, dict[str, dict[str, float]]] = {
    "table1_voc": {
        "ZegCLIP": {"pAcc": 94.6, "mIoU(S)": 91.9, "mIoU(U)": 77.8, "hIoU": 84.3},
        "SPT-SEG": {"pAcc": 96.7, "mIoU(S)": 92.9, "mIoU(U)": 87.4, "hIoU": 90.1},
        "ZegCLIP*": {"pAcc": 96.3, "mIoU(S)": 92.4, "mIoU(U)": 90.9, "hIoU": 91.6},
        "SPT-SEG*": {"pAcc": 97.6, "mIoU(S)": 93.6, "mIoU(U)": 92.9, "hIoU": 93.2},
    },
    "table1_coco_stuff": {
        "ZegCLIP": {"pAcc": 62.0, "mIoU(S)": 40.2, "mIoU(U)": 41.4, "hIoU": 40.8},
        "SPT-SEG": {"pAcc": 62.9, "mIoU(S)": 40.6, "mIoU(U)": 43.8, "hIoU": 42.1},
        "ZegCLIP*": {"pAcc": 69.9, "mIoU(S)": 40.7, "mIoU(U)": 63.2, "hIoU": 49.6},
        "SPT-SEG*": {"pAcc": 72.5, "mIoU(S)": 41.6, "mIoU(U)": 66.0, "hIoU": 51.0},
    },
    "table2": {
        "baseline (ZegCLIP)": {"mIoU(S)": 91.9, "mIoU(U)": 77.8, "hIoU": 84.3},
        "+ SPT": {"mIoU(S)": 92.6, "mIoU(U)": 86.7, "hIoU": 89.6},
        "+ SGD": {"mIoU(S)": 92.0, "mIoU(U)": 79.9, "hIoU": 85.5},
        "+ SPT + SGD (SPT-SEG)": {"mIoU(S)": 92.9, "mIoU(U)": 87.4, "hIoU": 90.1},
    },
    "table3": {
        "layers 1-6": {"mIoU(S)": 92.5, "mIoU(U)": 86.4, "hIoU": 89.3},
        "layers 6-12": {"mIoU(S)": 92.1, "mIoU(U)": 80.9, "hIoU": 86.1},
        "layers 1-12": {"mIoU(S)": 92.6, "mIoU(U)": 86.5, "hIoU": 89.4},
        "layers 11-12": {"mIoU(S)": 92.0, "mIoU(U)": 78.3, "hIoU": 84.6},
        "layers 1-2": {"mIoU(S)": 92.9, "mIoU(U)": 87.4, "hIoU": 90.1},
    },
    "table4": {
        "1 decoder layer": {"mIoU(S)": 91.9, "mIoU(U)": 82.8, "hIoU": 87.1},
        "3 decoder layers": {"mIoU(S)": 92.9, "mIoU(U)": 87.4, "hIoU": 90.1},
        "5 decoder layers": {"mIoU(S)": 92.2, "mIoU(U)": 83.7, "hIoU": 87.7},
    },
}
"""The paper's numbers (percent; ``../shared/paper/spt-seg-aaai2024.md``): Table 1's ZegCLIP and SPT-SEG
rows (``*`` = every class supervised), Tables 2-4 (VOC ablations: SPT/SGD, SPT depth, decoder layers).
Table 1's COCO-Stuff ZegCLIP mIoU(U) is printed as 41.4 in the SPT-SEG paper (ZegCLIP's own paper may
say 41.1; reference-code.md)."""

METRIC_KEYS: dict[str, str] = {
    "pAcc": "pAcc",
    "mIoU(S)": "mIoU_seen",
    "mIoU(U)": "mIoU_unseen",
    "hIoU": "hIoU",
}
"""Printed column name -> key of :meth:`sptseg_lib.metrics.ConfusionMatrix.compute`'s result."""


def comparison_table(
    rows: Sequence[tuple[str, Mapping[str, float] | None, Mapping[str, float] | None]],
    metrics: Sequence[str] = ("mIoU(S)", "mIoU(U)", "hIoU"),
    ours_label: str = "ours",
    paper_label: str = "paper",
) -> str:
    """A Markdown table of ``(row name, our result, the paper's row)`` triples: ours beside the paper's.

    Our result may use the printed names (``mIoU(S)``) or the keys of
    :meth:`~sptseg_lib.metrics.ConfusionMatrix.compute` (``mIoU_seen``), values in percent, each a number or
    a ``{"mean", "std", "n"}`` summary over seeds (``mean +- std``; the mean alone for ``n < 2``); ``None``,
    NaN or a missing value
    prints ``-``. Column headers carry ``ours_label`` / ``paper_label`` so that nobody mistakes one for the
    other.
    """

    def number(v) -> str:
        return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{float(v):.1f}"

    def value(row: Mapping[str, float] | None, metric: str) -> str:
        if row is None:
            return "-"
        v = row.get(metric, row.get(METRIC_KEYS.get(metric, metric)))
        if isinstance(v, Mapping):
            mean = number(v.get("mean"))
            single = v.get("std") is None or v.get("n", 2) < 2  # no spread from one seed
            return mean if mean == "-" or single else f"{mean} +- {number(v['std'])}"
        return number(v)

    head = ["row"] + [f"{m} {ours_label}" for m in metrics] + [f"{m} {paper_label}" for m in metrics]
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for name, ours, paper in rows:
        cells = [value(ours, m) for m in metrics] + [value(paper, m) for m in metrics]
        lines.append("| " + " | ".join([name, *cells]) + " |")
    return "\n".join(lines)


__all__ = [
    "HIGHLIGHTS",
    "IGNORE_RGB",
    "LOG_KEYS_NOT_PLOTTED",
    "METRIC_KEYS",
    "PAPER_TABLES",
    "PSEUDO_RGB",
    "band_filter",
    "band_mask",
    "colour_labels",
    "comparison_table",
    "cost_figure",
    "decoder_comparison_figure",
    "denormalise",
    "draw_attention_maps",
    "draw_hilo_layout",
    "error_map",
    "figure_png",
    "filter_figure",
    "focal_curves_figure",
    "gate_figure",
    "gradient_figure",
    "hilo_attention_figure",
    "hilo_layout_figure",
    "hilo_query_maps",
    "image_filtering_figure",
    "image_label_figure",
    "label_colormap",
    "label_panels_figure",
    "log_spectrum",
    "loss_curves_figure",
    "mask_explorer_figure",
    "mask_iou",
    "masks_figure",
    "parameter_bar_figure",
    "per_class_iou_figure",
    "prediction_figure",
    "radial_energy",
    "radial_energy_figure",
    "radial_frequency",
    "sliding_windows_figure",
    "spectral_prompt_figure",
    "spectral_prompt_steps",
    "ssim_figure",
    "term_gradients",
    "to_gray",
    "token_spectrum_figure",
    "zero_shot_figure",
]
