"""Small helpers of the checker: one thread for tiny tensors, short descriptions of inputs and errors."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run on one intra-op thread (put back afterwards): the inputs are tiny, and on a busy machine each
    parallel op on them pays milliseconds of thread hand-offs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def describe(inputs: dict[str, Any]) -> str:
    """``H (4, 5, 9), g (9,), window=3``: the shapes of tensors, the values of numbers, short sequences."""
    parts = []
    for k, v in inputs.items():
        if isinstance(v, torch.Tensor):
            parts.append(f"{k} {tuple(v.shape)}")
        elif isinstance(v, list | tuple) and len(v) > 4:
            parts.append(f"{k} ({len(v)} values)")
        else:
            parts.append(f"{k}={v!r}" if not isinstance(v, float) else f"{k}={v:.4g}")
    return ", ".join(parts)


def shorten(text: str, limit: int = 160) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
