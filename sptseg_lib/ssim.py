"""SSIM (Wang et al. 2003), the second term of eq. 10, evaluated two ways that give the same numbers.

The local SSIM index of a pixel compares Gaussian-weighted local statistics of a prediction ``x`` and a
target ``y`` (11x11 window, σ = 1.5, zero padding; docs/reference.md §5.4)::

    SSIM = ((2 μx μy + C1)(2 σxy + C2)) / ((μx² + μy² + C1)(σx² + σy² + C2))

with ``μ = G*·``, ``σx² = G*(x²) - μx²``, ``σxy = G*(xy) - μx μy`` and ``G*`` the window's depthwise
2-D correlation.

* :func:`ssim_map` is the textbook evaluation: five depthwise 11x11 convolutions at full resolution.
* :func:`ssim_sum_of_upsampled` is what training uses. In eq. 10 ``x`` is not any map: it is the
  decoder's token-grid logits ``z`` ``(h, w)`` upsampled bilinearly to the label size, ``x = U_h z U_wᵀ``
  (each row of ``U`` mixes two neighbouring inputs). The window is separable too, ``G* m = Ĝ_H m Ĝ_Wᵀ``
  with banded matrices ``Ĝ``. So ``μx = (Ĝ_H U_h) z (Ĝ_W U_w)ᵀ`` and, because a product of two bilinear
  interpolations only couples neighbouring grid cells, ``G*(x²)`` is also a product of small matrices
  with neighbour products of ``z`` (see :func:`smoothed_moments`). Two of the five full-resolution
  convolutions (and their backward passes) become matrix products at the token grid; ``G*(y²) = G*y``
  for binary targets removes a third; and the pointwise formula has a closed-form gradient, computed in
  cache-sized blocks (:class:`_SsimSum`) instead of through a dozen autograd nodes on full-size maps.
  Same value and gradient up to float rounding (``tests/test_losses.py`` checks both against
  :func:`ssim_map`, the pixel-by-pixel formula and finite differences); less than half the cost of the
  textbook evaluation (``benchmarks/train_step.py``, variant ``sptseg-textbook``).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

WINDOW_SIZE = 11
SIGMA = 1.5
C1 = 0.01**2
C2 = 0.03**2
"""The reference's SSIM settings (docs/reference.md §5.4): an 11x11 Gaussian window with σ = 1.5, and
the stabilising constants for a data range of 1."""


def gaussian_window_1d(window_size: int = WINDOW_SIZE, sigma: float = SIGMA) -> torch.Tensor:
    """The normalised 1-D Gaussian ``g`` (float64); the SSIM window is its outer product ``g gᵀ``."""
    coords = torch.arange(window_size, dtype=torch.float64) - (window_size // 2)
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def _check_window(window_size: int) -> None:
    if window_size % 2 != 1:
        raise ValueError(f"window_size must be odd, got {window_size}")


def smooth(maps: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Gaussian-weighted local means ``G*m`` of ``maps`` ``(..., H, W)``, returned in the same shape.

    Every leading index is an independent channel of one depthwise 2-D convolution with the window
    ``g gᵀ`` (``g``: the ``(window_size,)`` 1-D window of :func:`gaussian_window_1d`, in the maps' dtype),
    zero padding.
    """
    h, w = maps.shape[-2:]
    n = maps[..., 0, 0].numel()
    size = g.shape[0]
    window = torch.outer(g, g).expand(n, 1, size, size)
    out = F.conv2d(maps.reshape(1, n, h, w), window, padding=size // 2, groups=n)
    return out.reshape(maps.shape)


def ssim_map(
    x: torch.Tensor,
    y: torch.Tensor,
    window_size: int = WINDOW_SIZE,
    sigma: float = SIGMA,
    C1: float = C1,
    C2: float = C2,
) -> torch.Tensor:
    """The local SSIM index of every pixel of every channel (the textbook evaluation).

    Args:
        x, y: ``(B, C, H, W)`` tensors of the same shape.
        window_size, sigma: the Gaussian window (odd size).
        C1, C2: the stabilising constants (for a data range of 1).

    Returns:
        ``(B, C, H, W)`` SSIM map.
    """
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(f"ssim_map needs two (B, C, H, W) tensors of one shape, got {x.shape} and {y.shape}")
    _check_window(window_size)
    g = gaussian_window_1d(window_size, sigma).to(device=x.device, dtype=x.dtype)
    if y.requires_grad:
        mu_x, mu_y, e_xx, e_yy, e_xy = smooth(torch.stack([x, y, x * x, y * y, x * y]), g).unbind(0)
    else:  # the usual case (y = binary targets): y's maps need no graph, which halves the backward
        with torch.no_grad():
            mu_y, e_yy = smooth(torch.stack([y, y * y]), g).unbind(0)
        mu_x, e_xx, e_xy = smooth(torch.stack([x, x * x, x * y]), g).unbind(0)
    var_x = e_xx - mu_x * mu_x
    var_y = e_yy - mu_y * mu_y
    cov = e_xy - mu_x * mu_y
    numerator = (2 * mu_x * mu_y + C1) * (2 * cov + C2)
    denominator = (mu_x * mu_x + mu_y * mu_y + C1) * (var_x + var_y + C2)
    return numerator / denominator


# --- the factorised evaluation for upsampled logits ------------------------------------------------


def interpolation_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """``U`` ``(n_out, n_in)`` float64: 1-D linear interpolation with ``align_corners=False``, exactly the
    weights ``F.interpolate(..., mode="bilinear")`` applies along one axis (row ``p`` holds the weights of
    the inputs for output ``p``; at most two neighbouring entries are non-zero).

    So ``F.interpolate(z, size=(H, W), mode="bilinear", align_corners=False) == U_h z U_wᵀ`` for ``z``
    ``(..., h, w)``, with ``U_h = interpolation_matrix(h, H)`` and ``U_w = interpolation_matrix(w, W)``
    (up to float rounding), and a gradient ``g`` ``(..., H, W)`` of the upsampled maps returns to the
    grid as ``U_hᵀ g U_w``.
    """
    eye = torch.eye(n_in, dtype=torch.float64)[None]
    return F.interpolate(eye, size=n_out, mode="linear", align_corners=False)[0].T


@functools.lru_cache(maxsize=16)
def interpolation_operator(n_in: int, n_out: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """:func:`interpolation_matrix` ``(n_out, n_in)`` in ``dtype`` on ``device`` (cached: a constant of the
    two sizes)."""
    return interpolation_matrix(n_in, n_out).to(device=device, dtype=dtype)


def window_matrix(n: int, window_size: int, sigma: float) -> torch.Tensor:
    """``Ĝ`` ``(n, n)`` float64, banded: ``Ĝ m`` is the 1-D Gaussian correlation of the columns of ``m``
    with zero padding (``Ĝ[p, q] = g[q - p + r]`` for ``|q - p| <= r``)."""
    g = gaussian_window_1d(window_size, sigma)
    r = window_size // 2
    offset = torch.arange(n)[None, :] - torch.arange(n)[:, None] + r
    inside = (offset >= 0) & (offset < window_size)
    return torch.where(inside, g[offset.clamp(0, window_size - 1)], torch.zeros((), dtype=torch.float64))


@functools.lru_cache(maxsize=8)
def window_operator(
    n: int, window_size: int, sigma: float, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """:func:`window_matrix` ``(n, n)`` in ``dtype`` on ``device`` (cached).

    ``(Ĝ_H m) Ĝ_Wᵀ`` of maps ``m`` ``(..., H, W)`` is :func:`smooth` of them by two matrix products
    (equal up to float rounding; cheaper than the depthwise convolution for small maps).
    """
    return window_matrix(n, window_size, sigma).to(device=device, dtype=dtype)


@functools.lru_cache(maxsize=16)
def axis_operators(
    n_in: int, n_out: int, window_size: int, sigma: float, dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """For one axis: ``A = Ĝ U`` ``(n_out, n_in)`` and ``B = [Ĝ (U∘U) | Ĝ V]`` ``(n_out, 2 n_in)`` where
    ``V[p, i] = U[p, i] U[p, i+1]`` (0 for the last ``i``): the smoothed interpolation and the smoothed
    products of interpolation weights of the same and of neighbouring inputs (cached, in ``dtype`` on
    ``device``).

    For ``z`` ``(..., h, w)`` upsampled to ``x`` ``(..., H, W)``: ``μx = A_h z A_wᵀ`` and
    ``G*(x²) = B_h P B_wᵀ`` with ``P`` the ``(..., 2h, 2w)`` :func:`neighbour_products` of ``z``
    (:func:`smoothed_moments`); gradients ``(..., H, W)`` of ``μx`` and ``G*(x²)`` return as ``A_hᵀ g A_w``
    (to ``z``) and ``B_hᵀ g B_w`` (to ``P``).
    """
    u = interpolation_matrix(n_in, n_out)
    g = window_matrix(n_out, window_size, sigma)
    neighbours = F.pad(u[:, :-1] * u[:, 1:], (0, 1))
    a = g @ u
    b = torch.cat([g @ (u * u), g @ neighbours], 1)
    return a.to(device=device, dtype=dtype), b.to(device=device, dtype=dtype)


def smoothed_moments(
    z: torch.Tensor, size: tuple[int, int], window_size: int, sigma: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``μx = G*x`` and ``G*(x²)`` of ``x = upsample(z)`` without forming ``x``.

    With ``x[p, q] = Σ_ij U_h[p, i] U_w[q, j] z[i, j]``, the square pairs ``z[i, j]`` with ``z[i', j']``
    only where ``|i - i'| <= 1`` and ``|j - j'| <= 1`` (both weights non-zero). Grouping the nine
    neighbour offsets (the pairs ``(i, j)-(i+1, j-1)`` re-indexed onto the ``V`` of ``(i, j+1)-(i+1, j)``)::

        x² = U²·(z z)·U²ᵀ + 2 U²·(z z→)·Vᵀ + 2 V·(z z↓)·U²ᵀ + 2 V·(z z↘ + z→ z↓)·Vᵀ

    where ``U² = U∘U`` and ``z→``, ``z↓``, ``z↘`` are ``z`` shifted by one column, row, and both (zero
    outside). Smoothing multiplies ``U`` and ``V`` by ``Ĝ`` on the left (:func:`axis_operators`).

    Args:
        z: ``(..., h, w)`` token-grid logits.
        size: the label size ``(H, W)``.

    Returns:
        ``μx`` and ``G*(x²)``, each ``(..., H, W)``.
    """
    h, w = z.shape[-2:]
    a_h, b_h = axis_operators(h, size[0], window_size, sigma, z.dtype, z.device)
    a_w, b_w = axis_operators(w, size[1], window_size, sigma, z.dtype, z.device)
    mu = a_h @ z @ a_w.T
    return mu, b_h @ neighbour_products(z) @ b_w.T


def neighbour_products(z: torch.Tensor) -> torch.Tensor:
    """The neighbour products of :func:`smoothed_moments` as one ``(..., 2h, 2w)`` map of ``z (..., h, w)``:
    ``[[z z, 2 z z→], [2 z z↓, 2 (z z↘ + z→ z↓)]]``, so that ``G*(x²) = B_h · products · B_wᵀ``."""
    h, w = z.shape[-2:]
    padded = F.pad(z, (0, 1, 0, 1))
    right, down, diagonal = padded[..., :h, 1:], padded[..., 1:, :w], padded[..., 1:, 1:]
    return torch.cat(
        [
            torch.cat([z * z, 2 * z * right], -1),
            torch.cat([2 * z * down, 2 * (z * diagonal + right * down)], -1),
        ],
        -2,
    )


BLOCK_ELEMENTS = 2**18
"""Elements per block of :class:`_SsimSum`'s pointwise work (one 512x512 map, 1 MiB in float32): small
enough to stay in a core's cache, so the dozen pointwise passes do not each stream and freshly allocate
full ``(B, C, H, W)`` tensors (which made them 4-5x slower on a 2-core CPU)."""


def _blocks(shape: torch.Size) -> list[tuple[int, slice]]:
    """``(image, class slice)`` blocks of about :data:`BLOCK_ELEMENTS` elements covering ``(B, C, H, W)``."""
    b, c, h, w = shape
    per = max(1, BLOCK_ELEMENTS // (h * w))
    return [(i, slice(k, min(k + per, c))) for i in range(b) for k in range(0, c, per)]


def target_maps(y: torch.Tensor) -> torch.Tensor | None:
    """Flat indices of the ``(image, class)`` maps of ``y`` ``(B, C, H, W)`` that hold a non-zero value, or
    ``None`` when more than half of them do (too little to skip to pay for gathering the others)."""
    nonzero = y.flatten(2).ne(0).any(-1).flatten()
    return None if 2 * int(nonzero.sum()) > len(nonzero) else nonzero.nonzero().squeeze(1)


def smooth_maps(maps: torch.Tensor, index: torch.Tensor | None, g: torch.Tensor) -> torch.Tensor:
    """``G*m`` of ``maps`` ``(B, C, H, W)`` whose maps outside ``index`` (flat ``(image, class)`` indices, see
    :func:`target_maps`) are known to be zero: only the indexed maps are convolved, the others stay
    exactly zero (the convolution of a zero map). ``index=None`` smooths every map.

    A depthwise convolution treats each map on its own, so the smoothed maps are those of :func:`smooth`
    (bit for bit on the CPU: ``tests/test_fast_step.py``); with binary targets most maps belong to absent
    classes (a scene shows a few of the classes), so this skips most of the work of the three
    full-resolution convolutions of :class:`_SsimSum`.
    """
    if index is None:
        return smooth(maps, g)
    b, c, h, w = maps.shape
    out = maps.new_zeros(b * c, h, w)
    if index.numel():
        out[index] = smooth(maps.reshape(b * c, h, w)[index], g)
    return out.reshape(maps.shape)


def ssim_terms(
    mu_x: torch.Tensor, e_xx: torch.Tensor, e_xy: torch.Tensor, mu_y: torch.Tensor, C1: float, C2: float
) -> tuple[torch.Tensor, ...]:
    """The SSIM index from the local statistics of ``x`` and a *binary* ``y``, in the factors of its
    closed-form gradient.

    ``n1 = 2 μx μy + C1``, ``n2 = 2 (G*(xy) - μx μy) + C2``, ``d1 = μx² + μy² + C1``,
    ``d2 = G*(x²) - μx² + μy - μy² + C2`` (binary ``y``: ``G*(y²) = μy``) and ``S = n1 n2 / (d1 d2)``, whose
    partial derivatives are::

        ∂S/∂G*(xy) = 2 n1 / (d1 d2),   ∂S/∂G*(x²) = -S / d2,
        ∂S/∂μx = 2 (μy (n2 - n1) - μx S (d2 - d1)) / (d1 d2).

    Args:
        mu_x, e_xx, e_xy, mu_y: ``μx``, ``G*(x²)``, ``G*(xy)``, ``μy``, tensors of one shape (a block of
            ``(B, C, H, W)`` maps).
        C1, C2: the stabilising constants.

    Returns:
        ``n1, n2, d1, d2, S``, each of the inputs' shape.
    """
    a = mu_x * mu_y
    n1 = a.mul(2).add_(C1)
    n2 = e_xy.sub(a).mul_(2).add_(C2)
    mx2 = mu_x * mu_x
    yy = mu_y * mu_y
    d1 = yy.add(mx2).add_(C1)
    d2 = mu_y.sub(yy).add_(C2).add_(e_xx).sub_(mx2)
    return n1, n2, d1, d2, (n1 * n2).div_(d1 * d2)


class _SsimSum(torch.autograd.Function):
    """``Σ weight · SSIM`` from the local statistics, with the closed-form gradient of :func:`ssim_terms`.

    The gradient of ``x`` through ``G*(xy)`` is ``y · G*(∂S/∂G*(xy))`` (the window is symmetric), so the
    ``G*(xy)`` convolution runs without a graph. The output is a scalar, so the forward pass computes the
    gradients for an incoming gradient of 1 while the pointwise terms are at hand, block by block
    (:func:`_blocks`); the backward pass only scales them. The three convolutions skip the maps whose
    target is empty (:func:`smooth_maps`), where all three are zero.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx,
        x: torch.Tensor,
        mu_x: torch.Tensor,
        e_xx: torch.Tensor,
        y: torch.Tensor,
        weight: torch.Tensor | None,
        g: torch.Tensor,
        C1: float,
        C2: float,
        grad_enabled: bool,
    ) -> torch.Tensor:
        maps = target_maps(y)  # G*y, G*(xy) and y · G*(...) vanish on the maps of absent classes
        mu_y, e_xy = smooth_maps(y, maps, g), smooth_maps(x * y, maps, g)
        need_grad = grad_enabled and any(ctx.needs_input_grad[:3])
        if need_grad:
            g_exy, g_mu, g_exx = torch.empty_like(x), torch.empty_like(x), torch.empty_like(x)
        total = x.new_zeros(())
        for i, c in _blocks(x.shape):
            mx, my = mu_x[i, c], mu_y[i, c]
            n1, n2, d1, d2, s = ssim_terms(mx, e_xx[i, c], e_xy[i, c], my, C1, C2)
            total += s.sum() if weight is None else (s * weight[i]).sum()
            if need_grad:
                scale = (d1 * d2).reciprocal_()
                if weight is not None:
                    scale.mul_(weight[i])
                torch.mul(n1, scale, out=g_exy[i, c]).mul_(2)
                torch.mul(s, scale, out=g_exx[i, c]).mul_(d1).neg_()  # -S / d2 (times the weight)
                g_mu[i, c] = n2.sub_(n1).mul_(my).sub_(d2.sub_(d1).mul_(s).mul_(mx)).mul_(scale).mul_(2)
        if need_grad:
            g_x = smooth_maps(g_exy, maps, g).mul_(y) if ctx.needs_input_grad[0] else None
            ctx.save_for_backward(g_x, g_mu, g_exx)
        return total

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        g_x, g_mu, g_exx = ctx.saved_tensors
        g_x = None if g_x is None else g_x * grad
        return g_x, g_mu * grad, g_exx * grad, None, None, None, None, None, None


def ssim_sum_of_upsampled(
    z: torch.Tensor,
    x: torch.Tensor,
    targets: torch.Tensor,
    valid: torch.Tensor | None = None,
    window_size: int = WINDOW_SIZE,
    sigma: float = SIGMA,
    C1: float = C1,
    C2: float = C2,
) -> torch.Tensor:
    """``Σ SSIM(x, targets)`` over all (or the valid) positions for ``x`` = upsampled ``z``, factorised.

    Equals ``ssim_map(x, targets).sum()`` (weighted by ``valid``) in value and gradient; see the module
    docstring for how it is computed.

    Args:
        z: ``(B, C, h, w)`` token-grid logits.
        x: ``(B, C, H, W)``: ``F.interpolate(z, size=(H, W), mode="bilinear", align_corners=False)``, the
            tensor the other loss terms use (its gradient joins theirs before the upsampling's backward).
        targets: ``(B, C, H, W)`` *binary* targets (0 or 1; :func:`~sptseg_lib.losses.binary_targets`).
        valid: optional ``(B, H, W)`` bool; positions outside it are left out of the sum.
        window_size, sigma, C1, C2: as in :func:`ssim_map`.

    Returns:
        Scalar tensor.
    """
    if z.dim() != 4 or x.shape[:2] != z.shape[:2] or x.shape != targets.shape:
        raise ValueError(
            f"ssim_sum_of_upsampled needs z (B, C, h, w) and x, targets (B, C, H, W) with the same B, C; got "
            f"{tuple(z.shape)}, {tuple(x.shape)}, {tuple(targets.shape)}"
        )
    _check_window(window_size)
    mu_x, e_xx = smoothed_moments(z, (x.shape[-2], x.shape[-1]), window_size, sigma)
    g = gaussian_window_1d(window_size, sigma).to(device=x.device, dtype=x.dtype)
    weight = None if valid is None else valid[:, None].to(x.dtype)
    return _SsimSum.apply(x, mu_x, e_xx, targets.to(x.dtype), weight, g, C1, C2, torch.is_grad_enabled())


__all__ = [
    "BLOCK_ELEMENTS",
    "C1",
    "C2",
    "SIGMA",
    "WINDOW_SIZE",
    "axis_operators",
    "gaussian_window_1d",
    "interpolation_matrix",
    "interpolation_operator",
    "neighbour_products",
    "smooth",
    "smooth_maps",
    "smoothed_moments",
    "ssim_map",
    "ssim_sum_of_upsampled",
    "ssim_terms",
    "target_maps",
    "window_matrix",
    "window_operator",
]
