"""Pictures of the spectral guided decoder (eq. 7-9): the gate of eq. 7, per-class masks (eq. 8-9), a
comparison of decoders and their parameter counts.

Mask scores are ``(C, H, W)`` arrays (one map per class name), token maps ``(h, w)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from .common import _figure, _show, as_numpy, label_colormap


def gate_figure(
    image: np.ndarray, similarity: np.ndarray, norm_in: np.ndarray, norm_out: np.ndarray
) -> Figure:
    """Eq. 7 on a grid: the photo, then per token ``(h, w)``: ``sim(z, xi)``, ``|z|`` and ``|z_hat|``."""
    fig, axes = _figure(1, 4)
    axes[0, 0].imshow(as_numpy(image))
    axes[0, 0].set_title("image", fontsize=9)
    _show(axes[0, 1], similarity, "sim(z, xi) = clamp(cos, 0, 1)", cmap="gray", vmin=0, vmax=1)
    _show(axes[0, 2], norm_in, "|z| (HiLo output)")
    _show(axes[0, 3], norm_out, "|z_hat| = |P sim z|")
    return fig


def masks_figure(
    image: np.ndarray,
    scores: np.ndarray,
    class_names: Sequence[str],
    title: str = "",
    max_classes: int = 6,
) -> Figure:
    """Per-class mask scores ``(C, H, W)`` (the first ``max_classes``, on one colour scale) and the argmax."""
    s = as_numpy(scores)
    shown = min(len(class_names), max_classes)
    fig, axes = _figure(1, shown + 2, size=2.0)
    axes[0, 0].imshow(as_numpy(image))
    axes[0, 0].set_title(title or "image", fontsize=9)
    lo, hi = float(s[:shown].min()), float(s[:shown].max())
    for i in range(shown):
        _show(axes[0, 1 + i], s[i], class_names[i], cmap="viridis", vmin=lo, vmax=hi)
    _show(
        axes[0, -1],
        s.argmax(0),
        "argmax",
        cmap=label_colormap(len(class_names)),
        vmin=-0.5,
        vmax=len(class_names) - 0.5,
    )
    return fig


def decoder_comparison_figure(
    image: np.ndarray, scores: Mapping[str, np.ndarray], class_names: Sequence[str], max_classes: int = 4
) -> Figure:
    """One row per decoder (e.g. ZegCLIP, SGD): image, per-class scores ``(C, H, W)`` (one colour scale per
    row), argmax."""
    rows = len(scores)
    shown = min(len(class_names), max_classes)
    fig, axes = _figure(rows, shown + 2, size=2.0)
    cmap = label_colormap(len(class_names))
    for row, (name, s) in enumerate(scores.items()):
        s = as_numpy(s)
        axes[row, 0].imshow(as_numpy(image))
        axes[row, 0].set_ylabel(name)
        axes[row, 0].set_title(name, fontsize=9)
        lo, hi = float(s[:shown].min()), float(s[:shown].max())
        for i in range(shown):
            _show(axes[row, 1 + i], s[i], class_names[i], vmin=lo, vmax=hi)
        _show(axes[row, -1], s.argmax(0), "argmax", cmap=cmap, vmin=-0.5, vmax=len(class_names) - 0.5)
    return fig


def parameter_bar_figure(counts: Mapping[str, int]) -> Figure:
    """Horizontal bars of parameter counts (e.g. per decoder)."""
    fig = Figure(figsize=(5.0, 0.5 + 0.5 * len(counts)), layout="constrained")
    ax = fig.subplots()
    names = list(counts)
    ax.barh(names, [counts[n] for n in names], color="tab:blue")
    for i, n in enumerate(names):
        ax.text(counts[n], i, f" {counts[n]:,}", va="center", fontsize=8)
    ax.set_xlabel("parameters")
    return fig


__all__ = ["decoder_comparison_figure", "gate_figure", "masks_figure", "parameter_bar_figure"]
