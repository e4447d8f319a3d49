"""Wall-clock comparisons the notebooks show: HiLo attention (eq. 4-6) against full self-attention.

Timings are warm medians: one untimed round first, then ``repeats`` rounds in which both variants run
alternately on the same input, so that drifts in machine speed affect both alike.
"""

from __future__ import annotations

import statistics
import time

import torch

from ..hilo import HiLoAttention


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

    Both run on the same input, alternately, ``repeats`` times after one warm-up, on ``threads`` torch
    threads (one thread is the steadiest on a shared machine); medians. Returns one row per grid:
    ``grid``, ``tokens``, ``full_ms``, ``hilo_ms``, ``ratio`` (full / HiLo).
    """
    hilo = HiLoAttention(dim, heads, window_size, alpha, hifi_projection=False).eval()
    full = full_attention(dim, heads).eval()
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    rows = []
    try:
        for side in grids:
            x = torch.randn(1, side * side, dim)
            runs = {
                "hilo": lambda x=x, side=side: hilo(x, (side, side)),
                "full": lambda x=x: full(x, x, x, need_weights=False),
            }
            times: dict[str, list[float]] = {name: [] for name in runs}
            for repeat in range(repeats + 1):
                for name, fn in runs.items():
                    start = time.perf_counter()
                    fn()
                    if repeat:  # the first round is a warm-up
                        times[name].append(time.perf_counter() - start)
            full_ms = statistics.median(times["full"]) * 1000
            hilo_ms = statistics.median(times["hilo"]) * 1000
            rows.append(
                dict(grid=side, tokens=side * side, full_ms=full_ms, hilo_ms=hilo_ms, ratio=full_ms / hilo_ms)
            )
    finally:
        torch.set_num_threads(previous)
    return rows


__all__ = ["attention_cost", "full_attention"]
