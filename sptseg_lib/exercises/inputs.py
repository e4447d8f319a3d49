"""Fresh random inputs for every exercise (small, typed like the notebooks' tensors) and fixed edge cases.

Each generator draws from the ``torch.Generator`` it is given and returns a dict in the reference
solution's parameter order. Sizes are chosen so that the catalogued mistakes show: distinct grid sides and
an odd width for eq. 1, grids that the window does not divide for Lo-Fi pooling, tokens on both sides of
the gate's direction, an unseen class below a seen one for the inductive target, an absent class in the
confusion matrix.
"""

from __future__ import annotations

import math
from typing import Any

import torch


def _int(gen: torch.Generator, low: int, high: int) -> int:
    """A uniform integer in ``[low, high]``."""
    return int(torch.randint(low, high + 1, (1,), generator=gen))


def _uniform(gen: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=gen))


def spectral_inputs(gen: torch.Generator) -> dict[str, Any]:
    """``H (h, w, C)``, ``g (C,)``, ``w_f (h, w//2+1, C)`` complex; ``w`` odd; ``h``, ``w``, ``C`` differ."""
    w = 2 * _int(gen, 1, 4) + 1
    h = _int(gen, 3, 8)
    while h == w:
        h = _int(gen, 3, 8)
    c = _int(gen, 3, 9)
    while c in (h, w, w // 2 + 1):
        c = _int(gen, 3, 9)
    w_f = torch.complex(
        torch.randn(h, w // 2 + 1, c, generator=gen), torch.randn(h, w // 2 + 1, c, generator=gen)
    )
    return dict(H=torch.randn(h, w, c, generator=gen), g=torch.randn(c, generator=gen), w_f=w_f)


def head_split_inputs(gen: torch.Generator) -> dict[str, Any]:
    """``num_heads`` in 1..16 and an ``alpha`` with two decimals (0 or 1 one time in five)."""
    num_heads = _int(gen, 1, 16)
    mode = _int(gen, 0, 9)
    alpha = 0.0 if mode == 0 else 1.0 if mode == 1 else round(_uniform(gen, 0.05, 0.95), 2)
    return dict(num_heads=num_heads, alpha=alpha)


def head_split_edges() -> list[dict[str, Any]]:
    """SPT's 8 heads at 0.9, a fraction above one half (12 x 0.9 = 10.8, 10 x 0.75 = 7.5), alpha 0 and 1."""
    return [dict(num_heads=n, alpha=a) for n, a in ((8, 0.9), (12, 0.9), (10, 0.75), (8, 0.0), (8, 1.0))]


def lofi_inputs(gen: torch.Generator) -> dict[str, Any]:
    """``q (d,)``, ``x (h, w, D)``, ``w_k``, ``w_v (D, d)``, ``window``; ``window`` divides neither side."""
    window = _int(gen, 2, 3)
    h, w = (window * _int(gen, 1, 3) + _int(gen, 1, window - 1) for _ in range(2))
    d = 2 ** _int(gen, 1, 3)
    dim = d * _int(gen, 1, 3) + _int(gen, 0, 1)
    return dict(
        q=2 * torch.randn(d, generator=gen),
        x=torch.randn(h, w, dim, generator=gen),
        w_k=torch.randn(dim, d, generator=gen) / math.sqrt(dim),
        w_v=torch.randn(dim, d, generator=gen) / math.sqrt(dim),
        window=window,
    )


def gate_inputs(gen: torch.Generator) -> dict[str, Any]:
    """``z (N, D)``, ``xi (D,)``, ``P (D, D)`` not symmetric; token 0 points away from ``xi``, 1 along."""
    n, dim = _int(gen, 6, 16), _int(gen, 3, 5)
    z = 2 * torch.randn(n, dim, generator=gen)
    xi = torch.randn(dim, generator=gen)
    if float(z[0] @ xi) > 0:
        z[0] = -z[0]
    if float(z[1] @ xi) < 0:
        z[1] = -z[1]
    return dict(z=z, xi=xi, P=torch.randn(dim, dim, generator=gen) / math.sqrt(dim))


def focal_inputs(gen: torch.Generator) -> dict[str, Any]:
    """``logits (N,)``, 0/1 ``targets (N,)`` holding both values, ``alpha`` in (0.1, 0.45), ``gamma``."""
    n = _int(gen, 16, 48)
    targets = (torch.rand(n, generator=gen) < 0.4).float()
    targets[0], targets[1] = 1.0, 0.0
    alpha = round(_uniform(gen, 0.1, 0.45), 3)
    gamma = (1.5, 2.0, 3.0)[_int(gen, 0, 2)]
    return dict(logits=3 * torch.randn(n, generator=gen), targets=targets, alpha=alpha, gamma=gamma)


def focal_edges() -> list[dict[str, Any]]:
    """The paper's alpha = 0.25, gamma = 2 on a few logits of both signs."""
    logits = torch.tensor([-4.0, -1.0, -0.2, 0.0, 0.3, 1.5, 4.0, 2.0])
    targets = torch.tensor([0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0])
    return [dict(logits=logits, targets=targets, alpha=0.25, gamma=2.0)]


def ssim_inputs(gen: torch.Generator) -> dict[str, Any]:
    """``x``, ``y (11, 11)``: logits against a binary mask (a random half-plane) or two soft maps."""
    coords = torch.arange(11.0)
    if _int(gen, 0, 1):
        angle = _uniform(gen, 0, 2 * math.pi)
        offset = _uniform(gen, -3, 3)
        y = (
            (coords[:, None] - 5) * math.cos(angle) + (coords[None, :] - 5) * math.sin(angle) > offset
        ).float()
        x = 2 * (2 * y - 1) + 1.5 * torch.randn(11, 11, generator=gen)
    else:
        y = torch.rand(11, 11, generator=gen)
        x = y + 0.3 * torch.randn(11, 11, generator=gen)
    return dict(x=x, y=y)


def ssim_edges() -> list[dict[str, Any]]:
    """Faint maps (means and variances the size of C1 and C2) and an empty target."""
    gen = torch.Generator().manual_seed(0)
    faint = dict(x=0.03 * torch.randn(11, 11, generator=gen), y=0.02 * torch.rand(11, 11, generator=gen))
    return [faint, dict(x=0.05 * torch.randn(11, 11, generator=gen), y=torch.zeros(11, 11))]


def inductive_inputs(gen: torch.Generator) -> dict[str, Any]:
    """``label (H, W)`` int64 with ignored pixels, ``seen``, ``unseen`` partitioning ``0..K-1``; some
    unseen class lies below a seen one, so seen classes must be renumbered."""
    k = _int(gen, 5, 10)
    order = torch.randperm(k, generator=gen).tolist()
    unseen = sorted(order[: _int(gen, 1, k // 2)])
    seen = [c for c in range(k) if c not in unseen]
    if min(unseen) > max(seen):
        unseen, seen = sorted([seen[0], *unseen[1:]]), sorted([unseen[0], *seen[1:]])
    h, w = _int(gen, 5, 10), _int(gen, 5, 10)
    label = torch.randint(0, k, (h, w), generator=gen)
    label[torch.rand(h, w, generator=gen) < 0.15] = 255
    label[0, 0], label[0, 1], label[0, 2] = unseen[0], 255, seen[-1]
    return dict(label=label, seen=tuple(seen), unseen=tuple(unseen), ignore_index=255)


def lr_inputs(gen: torch.Generator) -> dict[str, Any]:
    """A schedule with a large ``min_lr`` (so that its handling shows) and a step in or after the warm-up."""
    iterations = _int(gen, 40, 5000)
    warmup = _int(gen, 2, iterations // 2)
    lr = 10 ** _uniform(gen, -5, -2)
    step = _int(gen, 0, warmup - 1) if _int(gen, 0, 1) else _int(gen, warmup, iterations - 1)
    power = round(_uniform(gen, 1.3, 2.5) if _int(gen, 0, 1) else _uniform(gen, 0.4, 0.8), 2)
    return dict(
        step=step,
        lr=lr,
        iterations=iterations,
        power=power,
        min_lr=lr * _uniform(gen, 0.05, 0.3),
        warmup_iters=warmup,
        warmup_ratio=_uniform(gen, 0.05, 0.3),
    )


def lr_edges() -> list[dict[str, Any]]:
    """One step inside the warm-up and one after it, with ``min_lr`` a tenth of ``lr``."""
    base = dict(lr=1e-3, iterations=200, power=0.9, min_lr=1e-4, warmup_iters=50, warmup_ratio=0.1)
    return [dict(step=s, **base) for s in (10, 120)]


def metrics_inputs(gen: torch.Generator) -> dict[str, Any]:
    """``confusion (K, K)`` int64 with a strong diagonal, one class absent from labels and predictions
    (a seen one), one predicted but never labelled; ``seen``, ``unseen`` (at least 2 each)."""
    k = _int(gen, 6, 10)
    order = torch.randperm(k, generator=gen).tolist()
    unseen = sorted(order[: _int(gen, 2, k // 2)])
    seen = [c for c in range(k) if c not in unseen]
    confusion = torch.randint(0, 40, (k, k), generator=gen) + torch.diag(
        torch.randint(40, 300, (k,), generator=gen)
    )
    absent, unlabelled = seen[0], unseen[0]
    confusion[absent, :] = 0
    confusion[:, absent] = 0
    confusion[unlabelled, :] = 0
    return dict(confusion=confusion, seen=tuple(seen), unseen=tuple(unseen))
