"""Pictures of HiLo attention (eq. 4-6): how the heads and the grid are split, where one token looks, one
query's attention computed by hand (:func:`hilo_query_steps`, checked against the layer), and what the
split saves (:func:`cost_figure`).

The attention weights come from :class:`sptseg_lib.hilo.HiLoAttention` itself (``return_attention=True``)
and are laid out on the token grid by :func:`sptseg_lib.hilo.hilo_query_maps`, or from the by-hand
:func:`hilo_query_steps`; the ``draw_*`` functions draw onto given axes so that
:func:`hilo_explorer_figure` (the widget's figure) composes them. Grids are drawn with token rows and
columns on the axes; attention maps carry a colour bar, categorical panels a legend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from ..hilo import HiLoAttention, HiLoAttentionMaps, hilo_query_maps
from .common import _colorbar, _figure, _line_figure, as_numpy

_WINDOW_COLOURS = ListedColormap(["#dbe9f6", "#9ecae1", "#bdbdbd"])  # window (two shades), padding


def _rectangle(x: float, y: float, w: float, h: float, colour: str = "red"):
    """An outline (the query patch in red, its window in cyan)."""
    return Rectangle((x, y), w, h, fill=False, edgecolor=colour, linewidth=1.5)


def _grid_axes(ax, h: int, w: int) -> None:
    """Token rows and columns as ticks (every 2nd on larger grids), labelled."""
    step = 1 if max(h, w) <= 10 else max(h, w) // 8
    ax.set_xticks(np.arange(0, w, step) + 0.5, [str(i) for i in range(0, w, step)])
    ax.set_yticks(np.arange(0, h, step) + 0.5, [str(i) for i in range(0, h, step)])
    ax.tick_params(labelsize=6, length=2)
    ax.set_xlabel("token column", fontsize=7)
    ax.set_ylabel("token row", fontsize=7)


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
    ax = axes[0]
    ax.imshow(np.where(padded, 2, windows), cmap=_WINDOW_COLOURS, vmin=0, vmax=2, extent=(0, wp, hp, 0))
    _grid_axes(ax, hp, wp)
    ax.set_title(f"Hi-Fi: {ws}x{ws} windows\n(grid {h}x{w}, padded to {hp}x{wp})", fontsize=9)
    handles = [Patch(facecolor=_WINDOW_COLOURS(0), label="windows (alternating shades)")]
    if hp > h or wp > w:
        handles.append(Patch(facecolor=_WINDOW_COLOURS(2), label="zero padding"))
    ax.legend(handles=handles, fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncols=1)
    gh, gw = hp // ws, wp // ws
    ax = axes[1]
    pooled = (np.arange(gh)[:, None] + np.arange(gw)[None, :]) % 2
    ax.imshow(pooled, cmap=_WINDOW_COLOURS, vmin=0, vmax=2, extent=(0, gw, gh, 0))
    for i in range(gh):
        for j in range(gw):
            ax.text(j + 0.5, i + 0.5, str(i * gw + j), ha="center", va="center", fontsize=6)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"Lo-Fi keys: {ws}x{ws} average-pooled\n({gh}x{gw} = {gh * gw} keys, numbered)", fontsize=9)
    ax = axes[2]
    ax.barh([0], [attn.h_heads], color="tab:orange", label=f"Hi-Fi heads: {attn.h_heads}")
    ax.barh([0], [attn.l_heads], left=[attn.h_heads], color="tab:blue", label=f"Lo-Fi heads: {attn.l_heads}")
    ax.set_xlim(0, num_heads)
    ax.set_xticks(range(num_heads + 1))
    ax.tick_params(labelsize=7)
    ax.set_xlabel("heads", fontsize=7)
    ax.set_title(f"alpha = {alpha:.2f}: {num_heads} heads", fontsize=9)
    ax.legend(fontsize=7, loc="upper center")


def hilo_layout_figure(grid: tuple[int, int], window_size: int, alpha: float, num_heads: int = 8) -> Figure:
    """How HiLo (eq. 4-6) splits work: Hi-Fi windows on the (padded) grid, Lo-Fi pooled keys, head split.

    The head split is :class:`~sptseg_lib.hilo.HiLoAttention`'s own (``l_heads = int(num_heads * alpha)``;
    ``window_size == 1`` makes every head a global Lo-Fi head).
    """
    fig, axes = _figure(1, 3, size=2.8)
    draw_hilo_layout(axes[0], grid, window_size, alpha, num_heads)
    return fig


def draw_attention_maps(
    axes: Sequence,
    image: np.ndarray,
    hifi: np.ndarray | None,
    lofi: np.ndarray | None,
    grid,
    query,
    names: tuple[str, str] = ("Hi-Fi (inside its window)", "Lo-Fi (pooled keys)"),
    window_size: int | None = None,
) -> None:
    """Draw the Hi-Fi and Lo-Fi maps ``(h, w)`` of :func:`~sptseg_lib.hilo.hilo_query_maps` over the image,
    onto two axes, each with a colour bar of the attention weight (a branch without heads says so); with
    ``window_size`` the query's Hi-Fi window is outlined in cyan."""
    h, w = grid
    for ax, attn, name in ((axes[0], hifi, names[0]), (axes[1], lofi, names[1])):
        ax.imshow(as_numpy(image), extent=(0, w, h, 0))
        _grid_axes(ax, h, w)
        if attn is None:
            ax.set_title(f"{name}: no heads", fontsize=9)
            continue
        im = ax.imshow(attn, cmap="inferno", extent=(0, w, h, 0), alpha=0.75, interpolation="nearest", vmin=0)
        ax.add_patch(_rectangle(query[1], query[0], 1, 1))
        if window_size and ax is axes[0]:
            top, left = query[0] // window_size * window_size, query[1] // window_size * window_size
            ax.add_patch(_rectangle(left, top, window_size, window_size, "cyan"))
            ax.set_xlim(0, w)
            ax.set_ylim(h, 0)
        ax.set_title(f"{name}\nquery {tuple(query)}", fontsize=9)
        _colorbar(ax, im, "attention weight")


def hilo_attention_figure(
    image: np.ndarray,
    maps: HiLoAttentionMaps,
    grid: tuple[int, int],
    query: tuple[int, int],
    head: int = 0,
    lofi_head: int | None = None,
) -> Figure:
    """Where one token looks (eq. 4-5): the image with the query token, then the attention weights of the
    Hi-Fi head ``head`` (inside the query's window) and of the Lo-Fi head ``lofi_head`` (default: ``head``;
    each cell gets the weight of the pooled key that averages it) over the ``(h, w)`` token grid."""
    lo = head if lofi_head is None else lofi_head
    hifi, _ = hilo_query_maps(maps._replace(lofi=None), grid, query, head)
    _, lofi = hilo_query_maps(maps._replace(hifi=None), grid, query, lo)
    img = as_numpy(image)
    h, w = grid
    fig, axes = _figure(1, 3, size=2.9)
    axes[0, 0].imshow(img, extent=(0, w, h, 0))
    _grid_axes(axes[0, 0], h, w)
    axes[0, 0].add_patch(_rectangle(query[1], query[0], 1, 1))
    axes[0, 0].set_title(f"query token {tuple(query)} (red)", fontsize=9)
    names = (f"Hi-Fi head {head}: its window (cyan)", f"Lo-Fi head {lo}: pooled keys")
    ws = maps.padded_grid[0] // maps.hifi.shape[2] if maps.hifi is not None else None
    draw_attention_maps(axes[0, 1:], img, hifi, lofi, grid, query, names, ws)
    return fig


@torch.no_grad()
def hilo_query_steps(
    attn: HiLoAttention, x: torch.Tensor, grid: tuple[int, int], query: tuple[int, int]
) -> dict[str, torch.Tensor]:
    """Eq. 4-6 for the one token at ``query = (row, col)``, written out by hand (for teaching and checks).

    Independent of :meth:`~sptseg_lib.hilo.HiLoAttention.forward`'s batched code: the query's window is
    sliced out of the zero-padded map, the pooled keys are plain means of ``ws x ws`` blocks, and each
    softmax is over one query's keys only, with ``attn``'s own weights (docs/reference.md §4)::

        Hi-Fi (eq. 4): q, k, v = h_qkv(window tokens);  a_hi = softmax(q_i · k^T / sqrt(d)) over ws² tokens
                       hifi = a_hi · v  (then h_proj when ``attn.hifi_projection``)
        Lo-Fi (eq. 5): pooled = mean of each ws x ws block;  q = l_q(x_i);  k, v = l_kv(pooled)
                       a_lo = softmax(q · k^T / sqrt(d)) over the pooled keys;  lofi = l_proj(a_lo · v)
        eq. 6:         z_i = [hifi ; lofi]

    Args:
        attn: the :class:`~sptseg_lib.hilo.HiLoAttention` whose weights are used.
        x: tokens ``(1, H*W, dim)`` (one image) in row-major grid order; grid: ``(H, W)``.
        query: the token's ``(row, col)`` on the unpadded grid.

    Returns (per-head tensors put the head first; a branch without heads is left out):
        ``"padded"`` ``(Hp, Wp, dim)``; ``"window_origin"`` ``(2,)`` the window's top-left cell;
        ``"hifi_weights"`` ``(h_heads, ws, ws)``, the query's softmax over its window (sums to 1 per head);
        ``"hifi"`` ``(h_dim,)``; ``"pooled"`` ``(Hp/ws, Wp/ws, dim)``; ``"lofi_weights"``
        ``(l_heads, Hp/ws, Wp/ws)``, the softmax over the pooled keys; ``"lofi"`` ``(l_dim,)``; ``"z"``
        ``(dim,)``, which equals ``attn(x, grid)[0, row * W + col]``.
    """
    h, w = grid
    r, c = query
    if x.dim() != 3 or x.shape[0] != 1 or x.shape[1] != h * w or x.shape[2] != attn.dim:
        raise ValueError(f"hilo_query_steps: expected tokens (1, {h * w}, {attn.dim}), got {tuple(x.shape)}")
    if not (0 <= r < h and 0 <= c < w):
        raise ValueError(f"hilo_query_steps: query {query} is outside the {h}x{w} grid")
    ws, hd, dim = attn.window_size, attn.head_dim, attn.dim
    padded = F.pad(x[0].reshape(h, w, dim), (0, 0, 0, (-w) % ws, 0, (-h) % ws))  # zeros right and bottom
    hp, wp = padded.shape[:2]
    steps: dict[str, torch.Tensor] = {"padded": padded}
    parts = []
    if attn.h_heads:
        top, left = r // ws * ws, c // ws * ws
        window = padded[top : top + ws, left : left + ws].reshape(ws * ws, dim)  # the window's tokens
        qkv = F.linear(window, attn.h_qkv.weight, attn.h_qkv.bias).reshape(ws * ws, 3, attn.h_heads, hd)
        q, k, v = qkv[:, 0], qkv[:, 1], qkv[:, 2]  # each (ws*ws, heads, hd)
        i = (r - top) * ws + (c - left)  # the query's place inside its window
        weights = torch.softmax((k * q[i]).sum(-1) * hd**-0.5, dim=0)  # (ws*ws, heads)
        hifi = (weights[..., None] * v).sum(0).reshape(attn.h_dim)
        if attn.hifi_projection:
            hifi = attn.h_proj(hifi)
        steps.update(
            window_origin=torch.tensor([top, left]),
            hifi_weights=weights.T.reshape(attn.h_heads, ws, ws),
            hifi=hifi,
        )
        parts.append(hifi)
    if attn.l_heads:
        gh, gw = hp // ws, wp // ws
        pooled = padded.reshape(gh, ws, gw, ws, dim).mean(dim=(1, 3))  # one key per ws x ws block
        q = F.linear(padded[r, c], attn.l_q.weight, attn.l_q.bias).reshape(attn.l_heads, hd)
        kv = F.linear(pooled.reshape(gh * gw, dim), attn.l_kv.weight, attn.l_kv.bias)
        kv = kv.reshape(gh * gw, 2, attn.l_heads, hd)
        k, v = kv[:, 0], kv[:, 1]  # each (gh*gw, heads, hd)
        weights = torch.softmax((k * q).sum(-1) * hd**-0.5, dim=0)  # (gh*gw, heads)
        lofi = attn.l_proj((weights[..., None] * v).sum(0).reshape(attn.l_dim))
        steps.update(pooled=pooled, lofi_weights=weights.T.reshape(attn.l_heads, gh, gw), lofi=lofi)
        parts.append(lofi)
    steps["z"] = torch.cat(parts)
    return steps


def _weights_panel(ax, weights: np.ndarray, title: str, xlabels: Sequence[str], ylabels: Sequence[str]):
    """A small matrix of attention weights with the value written in every cell and a colour bar."""
    im = ax.imshow(weights, cmap="inferno", vmin=0, vmax=max(float(weights.max()), 1e-6))
    for (i, j), v in np.ndenumerate(weights):
        colour = "white" if v < 0.6 * im.norm.vmax else "black"
        ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6, color=colour)
    ax.set_xticks(range(len(xlabels)), xlabels, fontsize=6)
    ax.set_yticks(range(len(ylabels)), ylabels, fontsize=6)
    ax.set_title(title, fontsize=9)
    _colorbar(ax, im, "attention weight")


def hilo_steps_figure(
    image: np.ndarray, steps: Mapping[str, torch.Tensor], grid: tuple[int, int], query: tuple[int, int]
) -> Figure:
    """The by-hand eq. 4-5 of one query (:func:`hilo_query_steps`): the image with the
    query (red), its Hi-Fi window (cyan) and the pooled-key blocks (dashed); the Hi-Fi weights over the
    window's ``ws x ws`` tokens (first Hi-Fi head); the Lo-Fi weights, one row per head, one column per
    pooled key (numbered row-major, as in :func:`hilo_layout_figure`)."""
    h, w = grid
    hp, wp = steps["padded"].shape[:2]
    has_hifi, has_lofi = "hifi_weights" in steps, "lofi_weights" in steps
    ws = steps["hifi_weights"].shape[-1] if has_hifi else hp // steps["lofi_weights"].shape[1]
    fig, axes = _figure(1, 3, size=3.0)
    ax = axes[0, 0]
    ax.imshow(as_numpy(image), extent=(0, w, h, 0))
    _grid_axes(ax, h, w)
    for i in range(0, hp + 1, ws):
        ax.axhline(i, color="white", linestyle="--", linewidth=0.6)
    for j in range(0, wp + 1, ws):
        ax.axvline(j, color="white", linestyle="--", linewidth=0.6)
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    if has_hifi:
        top, left = (int(v) for v in steps["window_origin"])
        ax.add_patch(_rectangle(left, top, ws, ws, "cyan"))
    ax.add_patch(_rectangle(query[1], query[0], 1, 1))
    ax.set_title(f"query {tuple(query)} (red), its window (cyan)\n{ws}x{ws} blocks = pooled keys", fontsize=9)
    if has_hifi:
        weights = as_numpy(steps["hifi_weights"][0])
        top, left = (int(v) for v in steps["window_origin"])
        _weights_panel(
            axes[0, 1],
            weights,
            "eq. 4: Hi-Fi weights of the query\nover its window's tokens",
            [str(left + j) for j in range(ws)],
            [str(top + i) for i in range(ws)],
        )
        beyond = left + ws > w or top + ws > h
        axes[0, 1].set_xlabel("token column" + (" (beyond the grid: padding)" if beyond else ""), fontsize=7)
        axes[0, 1].set_ylabel("token row", fontsize=7)
    else:
        axes[0, 1].set_title("no Hi-Fi heads", fontsize=9)
    if has_lofi:
        lofi = as_numpy(steps["lofi_weights"])
        heads = lofi.shape[0]
        matrix = lofi.reshape(heads, -1)
        _weights_panel(
            axes[0, 2],
            matrix,
            "eq. 5: Lo-Fi weights of the query\nover the pooled keys",
            [str(k) for k in range(matrix.shape[1])],
            [f"head {k}" for k in range(heads)],
        )
        axes[0, 2].set_xlabel("pooled key", fontsize=7)
    else:
        axes[0, 2].set_title("no Lo-Fi heads", fontsize=9)
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
    """HiLo (eq. 4-6) with ``window_size`` and ``alpha`` on tokens ``(1, h*w, C)``: layout (top row) and
    where the query looks (bottom row).

    The attention weights are freshly initialised (seeded): they show *where* each branch can look, which
    does not depend on training. The query defaults to the centre token. This is the figure of
    :class:`sptseg_lib.widgets.HiLoExplorer`; its axes are, in order, the three layout panels, then the
    Hi-Fi and the Lo-Fi map (colour bars come after them).
    """
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        attn = HiLoAttention(tokens.shape[-1], num_heads, window_size, alpha, hifi_projection=False).eval()
    with torch.no_grad():
        _, maps = attn(tokens, grid, return_attention=True)
    query = query or (grid[0] // 2, grid[1] // 2)
    hifi, lofi = hilo_query_maps(maps, grid, query)
    fig = Figure(figsize=(8.6, 6.0), layout="constrained")
    grid_spec = fig.add_gridspec(2, 6)
    axes = [fig.add_subplot(grid_spec[0, 2 * i : 2 * i + 2]) for i in range(3)]
    axes += [fig.add_subplot(grid_spec[1, 0:3]), fig.add_subplot(grid_spec[1, 3:6])]
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    draw_hilo_layout(axes[:3], grid, window_size, alpha, num_heads)
    draw_attention_maps(
        axes[3:], image, hifi, lofi, grid, query, window_size=window_size if hifi is not None else None
    )
    return fig


def cost_figure(rows: Sequence[Mapping[str, float]]) -> Figure:
    """Milliseconds of full attention and HiLo against the number of tokens (rows of
    :func:`sptseg_lib.tools.timing.attention_cost`: each the fastest of its samples)."""
    series = {"full attention": [r["full_ms"] for r in rows], "HiLo": [r["hilo_ms"] for r in rows]}
    fig = _line_figure((4.5, 3.0), [r["tokens"] for r in rows], series, "tokens N", "CPU ms (fastest sample)")
    fig.axes[0].set_title("one attention layer, measured", fontsize=9)
    return fig


__all__ = [
    "cost_figure",
    "draw_attention_maps",
    "draw_hilo_layout",
    "hilo_attention_figure",
    "hilo_explorer_figure",
    "hilo_layout_figure",
    "hilo_query_steps",
    "hilo_steps_figure",
]
