"""HiLo attention (LITv2, Pan et al. 2022), eq. 4-6 of the paper.

The ``num_heads`` heads of a multi-head self-attention over an ``H x W`` token grid are split in two:

* **Hi-Fi** (high frequency, eq. 4): ``h_heads`` heads attend *inside* non-overlapping ``ws x ws``
  windows, so they see fine local detail::

      MSA_hi(X) = Concat_h SA_h(window(X)),   then h_proj (LITv2; SPT skips it)

* **Lo-Fi** (low frequency, eq. 5): ``l_heads = int(num_heads * alpha)`` heads let every position
  query keys and values taken from the ``ws x ws`` *average-pooled* map, a coarse global context::

      MSA_lo(X) = l_proj(Concat_h SA_h(q = X, kv = AvgPool(X)))

* the output is the channel concatenation ``z = [MSA_hi ; MSA_lo]`` (eq. 6), of width
  ``h_dim + l_dim = dim``; there is no joint projection and no residual.

``head_dim = dim // num_heads`` and the softmax scale is ``head_dim ** -0.5`` in both branches.
Following LITv2, ``window_size == 1`` makes every head Lo-Fi with no pooling, i.e. plain global
multi-head self-attention. Grids that ``ws`` does not divide are zero-padded right and bottom to a
multiple of ``ws``; both branches run on the padded map (Lo-Fi queries include the padded positions,
the pooled keys include the zeros) and both outputs are cropped back before the concatenation. This is
LITv2's segmentation variant, which the SPT code uses with ``ws = 3`` on a 32x32 grid (padded to 33).

Switches against the reference (docs/reference.md §3.2, §4):
``hifi_projection=True`` applies LITv2's ``h_proj`` to the Hi-Fi output; the SPT code defines it but
never applies it, so ``hifi_projection=False`` reproduces SPT and does not create the parameter.
LITv2's ``attn_drop`` / ``proj_drop`` arguments are accepted there but never used, so they are not
offered here.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def _attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float, with_maps: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``softmax(q kᵀ · scale) v`` over the last two dims (any leading dims); with ``with_maps`` also the
    softmax maps, else through PyTorch's fused kernel (same result, no ``(L, S)`` maps kept for backward)."""
    if with_maps:
        attn = torch.softmax((q @ k.transpose(-2, -1)) * scale, dim=-1)
        return attn @ v, attn
    lead = q.shape[:-2]
    fused = F.scaled_dot_product_attention(
        q.reshape(-1, *q.shape[-3:]) if q.dim() > 4 else q,
        k.reshape(-1, *k.shape[-3:]) if k.dim() > 4 else k,
        v.reshape(-1, *v.shape[-3:]) if v.dim() > 4 else v,
        scale=scale,
    )
    return fused.reshape(*lead, *fused.shape[-2:]), None


class HiLoAttentionMaps(NamedTuple):
    """The softmax attention maps of both HiLo branches, over the *padded* grid ``(Hp, Wp)``.

    Attributes:
        hifi: Hi-Fi maps ``(B, h_heads, Hp/ws, Wp/ws, ws*ws, ws*ws)``: for each window, query token
            (row-major inside the window) by key token. ``None`` when there are no Hi-Fi heads.
        lofi: Lo-Fi maps ``(B, l_heads, Hp*Wp, (Hp/ws)*(Wp/ws))``: each padded-grid position (row-major)
            by each pooled key (row-major over the pooled grid). ``None`` when there are no Lo-Fi heads.
        padded_grid: ``(Hp, Wp)``, the grid after zero padding to a multiple of ``ws``.
        pooled_grid: ``(Hp/ws, Wp/ws)``, the grid of the pooled Lo-Fi keys (the full grid when ``ws == 1``).
    """

    hifi: torch.Tensor | None
    lofi: torch.Tensor | None
    padded_grid: tuple[int, int]
    pooled_grid: tuple[int, int]


def hilo_query_maps(
    maps: HiLoAttentionMaps, grid: tuple[int, int], query: tuple[int, int], head: int = 0, batch: int = 0
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Where the token at ``query = (row, col)`` of the ``(h, w)`` grid looks, in both branches (eq. 4-5).

    Reads one query's row of :class:`HiLoAttentionMaps` (of image ``batch``, branch head ``head``) and lays
    it out on the grid. Returns ``(hifi, lofi)``, each an ``(h, w)`` array of attention weights (``None``
    for a branch without heads): the Hi-Fi map is non-zero only inside the query's ``ws x ws`` window; the
    Lo-Fi map gives every cell the weight of the pooled key that averages it. Padding is cut off.
    """
    h, w = grid
    r, c = query
    hp, wp = maps.padded_grid
    gh, gw = maps.pooled_grid
    hifi = lofi = None
    if maps.hifi is not None:
        ws = hp // maps.hifi.shape[2]
        top, left = r // ws * ws, c // ws * ws
        window = _as_numpy(maps.hifi[batch, head, r // ws, c // ws, (r % ws) * ws + (c % ws)]).reshape(ws, ws)
        full = np.zeros((hp, wp))
        full[top : top + ws, left : left + ws] = window
        hifi = full[:h, :w]
    if maps.lofi is not None:
        row = _as_numpy(maps.lofi[batch, head, r * wp + c]).reshape(gh, gw)
        lofi = np.kron(row, np.ones((hp // gh, wp // gw)))[:h, :w]
    return hifi, lofi


def _as_numpy(x: torch.Tensor) -> np.ndarray:
    return torch.as_tensor(x).detach().cpu().numpy()


class HiLoAttention(nn.Module):
    """HiLo attention over a grid of tokens (eq. 4-6).

    Args:
        dim: token width ``D``; must be divisible by ``num_heads``.
        num_heads: total heads ``N_h``, split between the branches.
        window_size: ``ws``, the Hi-Fi window side and the Lo-Fi pooling size (``1``: plain MSA).
        alpha: fraction of heads given to Lo-Fi, ``l_heads = int(num_heads * alpha)``. LITv2's class
            default is 0.5; LITv2's models and SPT use 0.9.
        qkv_bias: bias in ``h_qkv``, ``l_q`` and ``l_kv`` (LITv2 and SPT: ``False``).
        hifi_projection: apply ``h_proj: Linear(h_dim, h_dim)`` to the Hi-Fi output (LITv2 ``True``,
            SPT ``False``; when ``False`` the parameter is not created).

    Parameters created (only for a branch that has heads): ``h_qkv: Linear(dim, 3*h_dim)``,
    ``h_proj: Linear(h_dim, h_dim)``, ``l_q: Linear(dim, l_dim)``, ``l_kv: Linear(dim, 2*l_dim)``,
    ``l_proj: Linear(l_dim, l_dim)``.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        window_size: int = 2,
        alpha: float = 0.5,
        qkv_bias: bool = False,
        hifi_projection: bool = True,
    ) -> None:
        super().__init__()
        if num_heads < 1 or dim % num_heads != 0:
            raise ValueError(f"HiLoAttention: dim={dim} must be a positive multiple of num_heads={num_heads}")
        if window_size < 1:
            raise ValueError(f"HiLoAttention: window_size must be >= 1, got {window_size}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"HiLoAttention: alpha is the Lo-Fi share of heads, in [0, 1]; got {alpha}")
        self.dim = dim
        self.num_heads = num_heads
        self.window_size = window_size
        self.alpha = alpha
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        # ws == 1 has no windows to split: every head is a global (Lo-Fi, unpooled) head, as in LITv2.
        self.l_heads = num_heads if window_size == 1 else int(num_heads * alpha)
        self.h_heads = num_heads - self.l_heads
        self.l_dim = self.l_heads * self.head_dim
        self.h_dim = self.h_heads * self.head_dim
        self.hifi_projection = hifi_projection

        if self.h_heads > 0:
            self.h_qkv = nn.Linear(dim, 3 * self.h_dim, bias=qkv_bias)
            if hifi_projection:
                self.h_proj = nn.Linear(self.h_dim, self.h_dim)
        if self.l_heads > 0:
            self.l_q = nn.Linear(dim, self.l_dim, bias=qkv_bias)
            self.l_kv = nn.Linear(dim, 2 * self.l_dim, bias=qkv_bias)
            self.l_proj = nn.Linear(self.l_dim, self.l_dim)

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, heads={self.num_heads} (hifi {self.h_heads}, lofi {self.l_heads}), "
            f"window_size={self.window_size}, hifi_projection={self.hifi_projection}"
        )

    def _hifi(self, x: torch.Tensor, with_maps: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Eq. 4 on the padded map ``x (B, Hp, Wp, D)`` -> ``((B, Hp, Wp, h_dim), maps)``."""
        b, hp, wp, _ = x.shape
        ws, heads, hd = self.window_size, self.h_heads, self.head_dim
        gh, gw = hp // ws, wp // ws
        # (B, Hp, Wp, D) -> (B, gh, gw, ws*ws, D): the tokens of each window, row-major inside it
        windows = x.reshape(b, gh, ws, gw, ws, -1).transpose(2, 3).reshape(b, gh, gw, ws * ws, -1)
        qkv = self.h_qkv(windows).reshape(b, gh, gw, ws * ws, 3, heads, hd)
        q, k, v = qkv.permute(4, 0, 5, 1, 2, 3, 6)  # each (B, heads, gh, gw, ws*ws, hd)
        out, attn = _attention(q, k, v, self.scale, with_maps)  # (B, heads, gh, gw, ws*ws, hd)
        # back to the grid: (B, gh, ws, gw, ws, heads*hd)
        out = out.permute(0, 2, 3, 4, 1, 5).reshape(b, gh, gw, ws, ws, self.h_dim)
        out = out.transpose(2, 3).reshape(b, hp, wp, self.h_dim)
        if self.hifi_projection:
            out = self.h_proj(out)
        return out, attn

    def _lofi(
        self, x: torch.Tensor, with_maps: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None, tuple[int, int]]:
        """Eq. 5 on the padded map ``x (B, Hp, Wp, D)`` -> ``((B, Hp, Wp, l_dim), maps, pooled grid)``."""
        b, hp, wp, _ = x.shape
        ws, heads, hd = self.window_size, self.l_heads, self.head_dim
        q = self.l_q(x).reshape(b, hp * wp, heads, hd).transpose(1, 2)  # (B, heads, Hp*Wp, hd)
        if ws > 1:
            pooled = F.avg_pool2d(x.permute(0, 3, 1, 2), kernel_size=ws, stride=ws)  # (B, D, gh, gw)
            pooled_grid = (pooled.shape[2], pooled.shape[3])
            kv_source = pooled.flatten(2).transpose(1, 2)  # (B, gh*gw, D)
        else:
            pooled_grid = (hp, wp)
            kv_source = x.reshape(b, hp * wp, -1)
        kv = self.l_kv(kv_source).reshape(b, -1, 2, heads, hd)
        k, v = kv.permute(2, 0, 3, 1, 4)  # each (B, heads, M, hd)
        out, attn = _attention(q, k, v, self.scale, with_maps)
        out = out.transpose(1, 2).reshape(b, hp, wp, self.l_dim)
        return self.l_proj(out), attn, pooled_grid

    def forward(
        self, x: torch.Tensor, grid: tuple[int, int], return_attention: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, HiLoAttentionMaps]:
        """Eq. 6: ``z = [MSA_hi(X) ; MSA_lo(X)]``.

        Args:
            x: tokens ``(B, H*W, dim)`` in row-major grid order.
            grid: ``(H, W)``.
            return_attention: also return the branches' softmax maps (for figures and teaching).

        Returns:
            ``z`` of shape ``(B, H*W, dim)``, channels ``[hifi (h_dim) | lofi (l_dim)]``; with
            ``return_attention`` the pair ``(z, HiLoAttentionMaps)``.
        """
        if x.dim() != 3 or x.shape[-1] != self.dim:
            raise ValueError(f"HiLoAttention: expected tokens (B, H*W, {self.dim}), got {tuple(x.shape)}")
        h, w = grid
        b, n, _ = x.shape
        if h < 1 or w < 1 or n != h * w:
            raise ValueError(
                f"HiLoAttention: {n} tokens do not form the grid {h}x{w}; pass grid=(H, W) with H*W == {n}"
            )
        ws = self.window_size
        pad_h, pad_w = (-h) % ws, (-w) % ws
        x = x.reshape(b, h, w, self.dim)
        if pad_h or pad_w:
            x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))  # zeros on the right and at the bottom
        hp, wp = h + pad_h, w + pad_w

        parts = []
        hifi_attn = lofi_attn = None
        pooled_grid = (hp // ws, wp // ws)
        if self.h_heads > 0:
            hifi, hifi_attn = self._hifi(x, return_attention)
            parts.append(hifi[:, :h, :w])
        if self.l_heads > 0:
            lofi, lofi_attn, pooled_grid = self._lofi(x, return_attention)
            parts.append(lofi[:, :h, :w])
        z = torch.cat(parts, dim=-1).reshape(b, n, self.dim)
        if not return_attention:
            return z
        return z, HiLoAttentionMaps(hifi_attn, lofi_attn, (hp, wp), pooled_grid)
