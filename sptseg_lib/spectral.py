"""Spectral Prompt Tuning, eq. 1-3 of the paper.

For a transformer block ``l`` chosen for SPT, the patch tokens ``H^l`` entering the block receive a
spectral prompt (eq. 1)::

    S^l = IFFT2( FFT2(H^l ⊙ g^l) ⊙ w_f )

where ``g^l`` is the block's current class token (broadcast over all patches: a per-channel gain),
the 2-D transforms run over the ``h x w`` token grid, and ``w_f`` is a learnable complex filter with
one gain per (frequency, channel). As in the reference code (docs/reference.md §1.2) the transforms
are real (``rfft2`` / ``irfft2``, so ``w_f`` has ``w//2 + 1`` columns) and orthonormal, and they run in
float32 whatever the autocast dtype. Eq. 2-3: ``S`` is *added* to the patch tokens at the input of the
chosen blocks; class and prompt tokens are untouched and no token is added.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import SptGridMode


def spectral_prompt(
    patch_tokens: torch.Tensor,
    cls_token: torch.Tensor,
    weight: torch.Tensor,
    grid: tuple[int, int],
) -> torch.Tensor:
    """Eq. 1: ``S = irfft2(rfft2(H ⊙ g) ⊙ w_f)`` over the token grid (orthonormal norm).

    Args:
        patch_tokens: ``H``, shape ``(B, h*w, C)``, tokens in row-major grid order.
        cls_token: ``g``, shape ``(B, C)``.
        weight: the complex filter ``w_f``, shape ``(h, w//2 + 1, C)``.
        grid: ``(h, w)``.

    Returns:
        ``S``, shape ``(B, h*w, C)``, in the dtype of ``patch_tokens``.
    """
    h, w = grid
    b, n, c = patch_tokens.shape
    if n != h * w:
        raise ValueError(f"spectral_prompt: {n} patch tokens do not form a {h}x{w} grid")
    if cls_token.shape != (b, c):
        raise ValueError(f"spectral_prompt: cls_token must have shape {(b, c)}, got {tuple(cls_token.shape)}")
    if tuple(weight.shape) != (h, w // 2 + 1, c):
        raise ValueError(
            f"spectral_prompt: filter of shape {tuple(weight.shape)} does not fit a {h}x{w} grid with {c} "
            f"channels (expected {(h, w // 2 + 1, c)})"
        )
    if not weight.is_complex():
        raise TypeError("spectral_prompt: the filter w_f must be a complex tensor")
    with torch.autocast(device_type=patch_tokens.device.type, enabled=False):
        x = (patch_tokens.float() * cls_token.float()[:, None, :]).reshape(b, h, w, c)
        spectrum = torch.fft.rfft2(x, dim=(1, 2), norm="ortho")
        spectrum = spectrum * weight.to(torch.complex64)
        s = torch.fft.irfft2(spectrum, s=(h, w), dim=(1, 2), norm="ortho")
    return s.reshape(b, n, c).to(patch_tokens.dtype)


def spectral_prompt_steps(
    patch_tokens: torch.Tensor, cls_token: torch.Tensor, weight: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Eq. 1 one step at a time on one image (for figures): ``S = irfft2(rfft2(H ⊙ g) ⊙ w_f)``.

    Args:
        patch_tokens: ``H``, shape ``(h, w, C)`` (one image, tokens on their grid).
        cls_token: ``g``, shape ``(C,)``.
        weight: the complex filter ``w_f``, shape ``(h, w//2 + 1, C)``.

    Returns:
        ``"H"``, ``"H*g"`` = H ⊙ g, ``"spectrum"`` = rfft2(H ⊙ g) and ``"filtered"`` = spectrum ⊙ w_f
        (complex, ``(h, w//2 + 1, C)``), ``"S"`` and ``"H+S"`` (eq. 2), each ``(h, w, C)``. The transforms
        are orthonormal, as in :func:`spectral_prompt`, whose output equals ``"S"``.
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


def resize_filter(weight: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Resize a complex filter ``(h0, w0//2+1, C)`` to the half-spectrum of ``grid`` = ``(h, w)``.

    The real and imaginary parts are resized bilinearly (``align_corners=True``) over the frequency
    grid, as GFNet does when it moves a global filter to another resolution. This is an
    interpolation of a learned filter, not an exact re-expression of it: see ``spt_grid_mode``.
    """
    h, w = grid
    size = (h, w // 2 + 1)
    if tuple(weight.shape[:2]) == size:
        return weight
    parts = torch.view_as_real(weight).permute(2, 3, 0, 1)  # (C, 2, h0, w0')
    c = parts.shape[0]
    parts = parts.reshape(1, c * 2, *weight.shape[:2])
    resized = F.interpolate(parts, size=size, mode="bilinear", align_corners=True)
    resized = resized.reshape(c, 2, *size).permute(2, 3, 0, 1).contiguous()
    return torch.view_as_complex(resized)


class SpectralPrompt(nn.Module):
    """The learnable filters ``w_f`` of SPT and their application at the chosen blocks (eq. 1-3).

    Args:
        width: token width ``C`` of the ViT (768 for ViT-B/16).
        grid: token grid ``(h, w)`` the filters are built for (32x32 for 512x512 crops, patch 16).
        layers: 0-based indices of the blocks whose input patch tokens receive ``S``.
        shared: one filter for all layers (reference code) or one per layer (the paper's ``w_f^l``).
        init_std: real and imaginary parts start i.i.d. ``N(0, init_std^2)`` (reference: 0.02).
        grid_mode: what a different token grid gets: ``"error"`` or ``"interpolate"`` (:func:`resize_filter`).

    Parameters are ``filters.<k>``: real tensors ``(h, w//2+1, C, 2)`` read as complex, ``k`` = ``"shared"``
    or the block index. They are trainable (the reference code's freezing rule would silently freeze
    them: docs/reference.md §1.4).
    """

    def __init__(
        self,
        width: int,
        grid: tuple[int, int],
        layers: tuple[int, ...],
        shared: bool = True,
        init_std: float = 0.02,
        grid_mode: SptGridMode = "error",
    ) -> None:
        super().__init__()
        if not layers:
            raise ValueError("SpectralPrompt needs at least one layer")
        if grid_mode not in ("error", "interpolate"):
            raise ValueError(f"grid_mode must be 'error' or 'interpolate', got {grid_mode!r}")
        self.width = width
        self.grid = (int(grid[0]), int(grid[1]))
        self.layers = tuple(sorted(set(layers)))
        self.shared = shared
        self.grid_mode = grid_mode
        h, w = self.grid
        keys = ["shared"] if shared else [str(i) for i in self.layers]
        self.filters = nn.ParameterDict(
            {k: nn.Parameter(torch.randn(h, w // 2 + 1, width, 2) * init_std) for k in keys}
        )

    def filter(self, layer: int, grid: tuple[int, int] | None = None) -> torch.Tensor:
        """The complex filter ``w_f`` used at block ``layer``, for ``grid`` (default: the built grid)."""
        if layer not in self.layers:
            raise KeyError(f"block {layer} has no spectral prompt (SPT blocks: {self.layers})")
        weight = torch.view_as_complex(self.filters["shared" if self.shared else str(layer)])
        grid = self.grid if grid is None else (int(grid[0]), int(grid[1]))
        if grid == self.grid:
            return weight
        if self.grid_mode == "error":
            raise ValueError(
                f"the spectral filter was built for a {self.grid[0]}x{self.grid[1]} token grid but got "
                f"{grid[0]}x{grid[1]}: feed crops of the configured image_size (e.g. sliding-window "
                "inference), or set spt_grid_mode='interpolate' to resize the filter"
            )
        return resize_filter(weight, grid)

    def forward(
        self, patch_tokens: torch.Tensor, cls_token: torch.Tensor, layer: int, grid: tuple[int, int]
    ) -> torch.Tensor:
        """``S`` for block ``layer``: ``(B, h*w, C)`` to add to ``patch_tokens`` (eq. 2)."""
        return spectral_prompt(patch_tokens, cls_token, self.filter(layer, grid), grid)

    def extra_repr(self) -> str:
        return f"width={self.width}, grid={self.grid}, layers={self.layers}, shared={self.shared}"
