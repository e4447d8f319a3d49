"""The ground truth of each exercise, computed by the library itself, and the notebooks' input helpers.

Each ``*_library`` function takes the exercise's parameters (those of the reference solution) and answers
with the library's own code: :func:`~sptseg_lib.spectral.spectral_prompt`,
:class:`~sptseg_lib.hilo.HiLoAttention`, :class:`~sptseg_lib.decoder.SpectralGate`,
:func:`~sptseg_lib.losses.focal_loss`, :func:`~sptseg_lib.ssim.ssim_map`,
:func:`~sptseg_lib.data.splits.remap_for_training`, ``PolyWarmupSchedule`` and
:class:`~sptseg_lib.metrics.ConfusionMatrix`; the reference solutions are proved equal to them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from ..data.splits import ZeroShotSplit, remap_for_training
from ..decoder import SpectralGate
from ..hilo import HiLoAttention
from ..losses import focal_loss
from ..metrics import ConfusionMatrix
from ..spectral import spectral_prompt
from ..ssim import WINDOW_SIZE, ssim_map


def spectral_library(H: torch.Tensor, g: torch.Tensor, w_f: torch.Tensor) -> torch.Tensor:
    """Eq. 1 by :func:`~sptseg_lib.spectral.spectral_prompt`: ``(h, w, C)``."""
    h, w, c = H.shape
    return spectral_prompt(H.reshape(1, h * w, c), g.reshape(1, c), w_f, (h, w)).reshape(h, w, c)


def head_split_library(num_heads: int, alpha: float) -> tuple[int, int]:
    """``(h_heads, l_heads)`` of a :class:`~sptseg_lib.hilo.HiLoAttention` with windows (``ws = 2``)."""
    attn = HiLoAttention(num_heads, num_heads=num_heads, window_size=2, alpha=alpha, hifi_projection=False)
    return attn.h_heads, attn.l_heads


def lofi_library(
    q: torch.Tensor, x: torch.Tensor, w_k: torch.Tensor, w_v: torch.Tensor, window: int
) -> torch.Tensor:
    """One Lo-Fi head's output for query ``q`` (eq. 5), by running :class:`HiLoAttention` itself.

    A module with all heads Lo-Fi and head width ``d`` is set up so that its head 0 has this key/value
    projection and the query ``q`` everywhere (``l_q``'s weight 0, its bias ``q``), and ``l_proj`` is the
    identity; its output's first ``d`` channels at any position are then the head's answer for ``q``. The
    input width ``D`` is padded with zero channels to a multiple of ``d``.
    """
    h, w, dim_in = x.shape
    d = q.shape[0]
    heads = -(-dim_in // d)
    dim = heads * d
    attn = HiLoAttention(
        dim, num_heads=heads, window_size=window, alpha=1.0, qkv_bias=True, hifi_projection=False
    )
    with torch.no_grad():
        for p in attn.parameters():
            p.zero_()
        attn.l_q.bias[:d] = q.float()
        attn.l_kv.weight[:d, :dim_in] = w_k.float().T
        attn.l_kv.weight[dim : dim + d, :dim_in] = w_v.float().T
        attn.l_proj.weight.copy_(torch.eye(dim))
        tokens = F.pad(x.float(), (0, dim - dim_in)).reshape(1, h * w, dim)
        return attn(tokens, (h, w))[0, 0, :d]


def lofi_query_inputs(
    hilo: HiLoAttention, x_tokens: torch.Tensor, grid: tuple[int, int], query: tuple[int, int], head: int = 0
) -> dict[str, Any]:
    """The ``lofi_query`` exercise's inputs taken from a (trained) HiLo layer, for the notebook.

    Args:
        hilo: the layer (``qkv_bias=False``, as in SPT); x_tokens: its input ``(1, h*w, D)``;
            grid: ``(h, w)``.
        query: ``(row, col)`` of the query token; head: the Lo-Fi head (``0 <= head < hilo.l_heads``).

    Returns:
        ``dict(q=(d,), x=(h, w, D), w_k=(D, d), w_v=(D, d), window=ws)``: ``q`` is ``l_q`` of the query
        token for that head, ``w_k`` / ``w_v`` the head's rows of ``l_kv`` (transposed). The head's answer
        is the Lo-Fi output before ``l_proj``; ``l_proj`` of all heads' answers is the layer's Lo-Fi output
        at the query.
    """
    h, w = grid
    r, c = query
    if hilo.l_heads == 0:
        raise ValueError("this HiLo layer has no Lo-Fi heads")
    if not 0 <= head < hilo.l_heads:
        raise ValueError(f"head must lie in 0..{hilo.l_heads - 1} (the Lo-Fi heads), got {head}")
    if hilo.l_kv.bias is not None:
        raise ValueError("lofi_query_inputs covers layers without qkv bias (SPT's qkv_bias=False)")
    if not (0 <= r < h and 0 <= c < w):
        raise ValueError(f"query {query} is outside the {h}x{w} grid")
    d, l_dim = hilo.head_dim, hilo.l_dim
    x = x_tokens.detach()[0].reshape(h, w, hilo.dim).cpu().float()
    weight = hilo.l_kv.weight.detach().cpu().float()
    rows = slice(head * d, (head + 1) * d)
    q = F.linear(x[r, c], hilo.l_q.weight.detach().cpu().float())[rows]
    w_k = weight[rows].T.contiguous()
    w_v = weight[l_dim + head * d : l_dim + (head + 1) * d].T.contiguous()
    return dict(q=q, x=x, w_k=w_k, w_v=w_v, window=hilo.window_size)


def gate_library(z: torch.Tensor, xi: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    """Eq. 7 by :class:`~sptseg_lib.decoder.SpectralGate`: ``(N, D)``."""
    gate = SpectralGate(z.shape[1])
    with torch.no_grad():
        gate.xi.copy_(xi)
        gate.P.copy_(P)
        return gate(z[None])[0]


def focal_library(
    logits: torch.Tensor, targets: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0
) -> torch.Tensor:
    """The focal loss of every pixel: :func:`~sptseg_lib.losses.focal_loss` of each pixel as its own
    one-pixel (image, class) pair with ``num_masks = 1`` (vectorised with ``torch.func.vmap``)."""

    def one(logit: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return focal_loss(
            logit.reshape(1, 1, 1, 1), target.reshape(1, 1, 1, 1), 1.0, alpha=alpha, gamma=gamma
        )

    flat = torch.func.vmap(one)(logits.reshape(-1), targets.reshape(-1).to(logits.dtype))
    return flat.reshape(logits.shape)


def ssim_window_library(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The SSIM of one ``(11, 11)`` window: :func:`~sptseg_lib.ssim.ssim_map` of the window (zero padded)
    at its centre pixel, where the Gaussian window covers exactly the given patch. Float64."""
    centre = WINDOW_SIZE // 2
    return ssim_map(x.double()[None, None], y.double()[None, None])[0, 0, centre, centre]


def ssim_window_inputs(x: torch.Tensor, y: torch.Tensor, pixel: tuple[int, int]) -> dict[str, torch.Tensor]:
    """The ``ssim_window`` exercise's inputs: the ``(11, 11)`` windows of two ``(H, W)`` maps around
    ``pixel = (row, col)``, zero outside the maps (the zero padding of ``ssim_map``), so that the window's
    SSIM is ``ssim_map(x, y)`` at that pixel."""
    r = WINDOW_SIZE // 2
    i, j = pixel
    pad = (r, r, r, r)
    xs, ys = (F.pad(t.detach().cpu().float()[None], pad)[0] for t in (x, y))
    return dict(
        x=xs[i : i + WINDOW_SIZE, j : j + WINDOW_SIZE], y=ys[i : i + WINDOW_SIZE, j : j + WINDOW_SIZE]
    )


def inductive_library(
    label: torch.Tensor, seen: Sequence[int], unseen: Sequence[int], ignore_index: int = 255
) -> torch.Tensor:
    """:func:`~sptseg_lib.data.splits.remap_for_training` in the inductive setting, with a split made of
    ``seen`` and ``unseen`` (which must partition ``0..K-1``; the library's ignore index is 255)."""
    num_classes = len(seen) + len(unseen)
    split = ZeroShotSplit("exercise", tuple(f"class {i}" for i in range(num_classes)), tuple(sorted(unseen)))
    if tuple(split.seen) != tuple(seen):
        raise ValueError(f"seen {tuple(seen)} and unseen {tuple(unseen)} must partition 0..{num_classes - 1}")
    return remap_for_training(label, split, "inductive")


def lr_library(
    step: int, lr: float, iterations: int, power: float, min_lr: float, warmup_iters: int, warmup_ratio: float
) -> float:
    """``PolyWarmupSchedule(...).lr_at(step)`` (imported here: :mod:`sptseg_lib.train` is a heavy import)."""
    from ..train import PolyWarmupSchedule

    return PolyWarmupSchedule(lr, iterations, power, min_lr, warmup_iters, warmup_ratio).lr_at(step)


def metrics_library(confusion: torch.Tensor, seen: Sequence[int], unseen: Sequence[int]) -> dict[str, float]:
    """pAcc, mIoU(S), mIoU(U) and hIoU of :meth:`~sptseg_lib.metrics.ConfusionMatrix.compute`."""
    cm = ConfusionMatrix(confusion.shape[0])
    cm.matrix = confusion.detach().cpu().long().clone()
    result = cm.compute(list(seen), list(unseen))
    return {k: result[k] for k in ("pAcc", "mIoU_seen", "mIoU_unseen", "hIoU")}
