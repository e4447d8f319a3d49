"""Pictures of HiLo attention (eq. 4-6): how the heads and the grid are split, where one token looks, and
what the split saves (:func:`cost_figure`).

The attention weights come from :class:`sptseg_lib.hilo.HiLoAttention` itself (``return_attention=True``)
and are laid out on the token grid by :func:`sptseg_lib.hilo.hilo_query_maps`; the ``draw_*`` functions
draw onto given axes so that :func:`hilo_explorer_figure` (the widget's figure) composes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..hilo import HiLoAttention, HiLoAttentionMaps, hilo_query_maps
from .common import _figure, _line_figure, _show, as_numpy


def _rectangle(x: float, y: float, w: float, h: float):
    """A red outline (the query patch)."""
    return Rectangle((x, y), w, h, fill=False, edgecolor="red", linewidth=1.5)


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


def draw_attention_maps(
    axes: Sequence, image: np.ndarray, hifi: np.ndarray | None, lofi: np.ndarray | None, grid, query
) -> None:
    """Draw the Hi-Fi and Lo-Fi maps ``(h, w)`` of :func:`~sptseg_lib.hilo.hilo_query_maps` over the image,
    onto two axes (a branch without heads is said so in its title)."""
    h, w = grid
    for ax, attn, name in (
        (axes[0], hifi, "Hi-Fi (inside its window)"),
        (axes[1], lofi, "Lo-Fi (pooled keys)"),
    ):
        ax.imshow(as_numpy(image), extent=(0, w, h, 0), alpha=0.5)
        if attn is None:
            ax.set_title(f"{name}: no heads", fontsize=9)
            continue
        ax.imshow(attn, cmap="inferno", extent=(0, w, h, 0), alpha=0.7, interpolation="nearest")
        ax.add_patch(_rectangle(query[1], query[0], 1, 1))
        ax.set_title(f"{name}\nquery {query}", fontsize=9)


def hilo_attention_figure(
    image: np.ndarray, maps: HiLoAttentionMaps, grid: tuple[int, int], query: tuple[int, int], head: int = 0
) -> Figure:
    """Where one token looks (eq. 4-5): the photo with the query patch, then the Hi-Fi and Lo-Fi attention
    maps of ``head`` over the ``(h, w)`` grid."""
    hifi, lofi = hilo_query_maps(maps, grid, query, head)
    img = as_numpy(image)
    h, w = grid
    fig, axes = _figure(1, 3)
    axes[0, 0].imshow(img, extent=(0, w, h, 0))
    axes[0, 0].add_patch(_rectangle(query[1], query[0], 1, 1))
    axes[0, 0].set_title(f"query token {query}, head {head}", fontsize=9)
    draw_attention_maps(axes[0, 1:], img, hifi, lofi, grid, query)
    return fig


def hilo_explorer_figure(
    image: np.ndarray,
    tokens: torch.Tensor,
    grid: tuple[int, int],
    window_size: int,
    alpha: float,
    num_heads: int = 8,
    query: tuple[int, int] | None = None,
    seed: int = 0,
) -> Figure:
    """HiLo (eq. 4-6) with ``window_size`` and ``alpha`` on real tokens ``(1, h*w, C)``: layout + maps.

    The attention weights are freshly initialised (seeded): they show *where* each branch can look, which
    does not depend on training. The query defaults to the centre token. This is the figure of
    :class:`sptseg_lib.widgets.HiLoExplorer`.
    """
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        attn = HiLoAttention(tokens.shape[-1], num_heads, window_size, alpha, hifi_projection=False).eval()
    with torch.no_grad():
        _, maps = attn(tokens, grid, return_attention=True)
    query = query or (grid[0] // 2, grid[1] // 2)
    hifi, lofi = hilo_query_maps(maps, grid, query)
    fig = Figure(figsize=(12.0, 2.8), layout="constrained")
    axes = fig.subplots(1, 5)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    draw_hilo_layout(axes[:3], grid, window_size, alpha, num_heads)
    draw_attention_maps(axes[3:], image, hifi, lofi, grid, query)
    return fig


def cost_figure(rows: Sequence[Mapping[str, float]]) -> Figure:
    """Milliseconds of full attention and HiLo against the number of tokens (rows of
    :func:`sptseg_lib.notebook_env.attention_cost`)."""
    series = {"full attention": [r["full_ms"] for r in rows], "HiLo": [r["hilo_ms"] for r in rows]}
    return _line_figure((4.5, 3.0), [r["tokens"] for r in rows], series, "tokens", "CPU ms (median)")


__all__ = [
    "cost_figure",
    "draw_attention_maps",
    "draw_hilo_layout",
    "hilo_attention_figure",
    "hilo_explorer_figure",
    "hilo_layout_figure",
]
