"""Wall-clock comparisons the notebooks show: HiLo attention (eq. 4-6) against full self-attention
(notebook 02), and the SSIM term's two evaluations (notebook 04).

One policy, :func:`per_call_seconds`, the way Python's ``timeit`` recommends: after an untimed warm-up
call, each variant is timed in samples of as many calls as last at least ``min_sample_s``, the variants
alternating sample by sample so that drifts in machine speed affect them alike, and each variant's
**fastest** sample counts. On a shared machine other processes only ever add time, so the fastest sample
is the least disturbed one; a median of single sub-millisecond calls is not (notebook 02's 64-token
layer takes about 1 ms).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping

import torch

from ..hilo import HiLoAttention


def per_call_seconds(
    calls: Mapping[str, Callable[[], object]], repeats: int = 5, min_sample_s: float = 0.02
) -> dict[str, float]:
    """Seconds per call of each of ``calls`` (name -> function of no argument): the best of ``repeats``
    interleaved samples, each of ``max(1, ceil(min_sample_s / t))`` calls, ``t`` one warm call's time."""
    if repeats < 1 or min_sample_s < 0:
        raise ValueError(f"repeats must be >= 1 and min_sample_s >= 0, got {repeats} and {min_sample_s}")
    number = {}
    for name, fn in calls.items():
        fn()  # warm-up: allocations, cached operators
        start = time.perf_counter()
        fn()
        number[name] = max(1, math.ceil(min_sample_s / max(time.perf_counter() - start, 1e-9)))
    best = dict.fromkeys(calls, math.inf)
    for _ in range(repeats):
        for name, fn in calls.items():
            start = time.perf_counter()
            for _ in range(number[name]):
                fn()
            best[name] = min(best[name], (time.perf_counter() - start) / number[name])
    return best


def full_attention(dim: int, heads: int) -> torch.nn.MultiheadAttention:
    """Plain multi-head self-attention over all tokens (the baseline HiLo is compared with)."""
    return torch.nn.MultiheadAttention(dim, heads, bias=False, batch_first=True)


@torch.no_grad()
def attention_cost(
    grids: tuple[int, ...] = (16, 32),
    dim: int = 256,
    heads: int = 8,
    window_size: int = 3,
    alpha: float = 0.9,
    repeats: int = 5,
    threads: int = 1,
) -> list[dict[str, float]]:
    """CPU time of HiLo attention (eq. 4-6) and of full self-attention on ``side x side`` grids.

    Both run on the same random ``(1, side * side, dim)`` input, timed by :func:`per_call_seconds` with
    ``repeats`` samples, on ``threads`` torch threads (one thread is the steadiest on a shared machine).
    Returns one row per grid: ``grid``, ``tokens``, ``full_ms``, ``hilo_ms``, ``ratio`` (full / HiLo).
    """
    hilo = HiLoAttention(dim, heads, window_size, alpha, hifi_projection=False).eval()
    full = full_attention(dim, heads).eval()
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    rows = []
    try:
        for side in grids:
            x = torch.randn(1, side * side, dim)
            seconds = per_call_seconds(
                {
                    "hilo": lambda x=x, side=side: hilo(x, (side, side)),
                    "full": lambda x=x: full(x, x, x, need_weights=False),
                },
                repeats,
            )
            full_ms, hilo_ms = seconds["full"] * 1000, seconds["hilo"] * 1000
            rows.append(
                dict(grid=side, tokens=side * side, full_ms=full_ms, hilo_ms=hilo_ms, ratio=full_ms / hilo_ms)
            )
    finally:
        torch.set_num_threads(previous)
    return rows


__all__ = ["attention_cost", "full_attention", "per_call_seconds"]
