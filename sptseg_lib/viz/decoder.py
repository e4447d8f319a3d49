"""Pictures of the spectral guided decoder (eq. 7-9): the gate of eq. 7, per-class masks (eq. 8-9), a
comparison of decoders and their parameter counts.

Mask scores are ``(C, H, W)`` arrays (one map per class name), token maps ``(h, w)``. Score maps share
one colour bar per figure row; every argmax or label panel is coloured by class name
(:func:`~sptseg_lib.viz.common.class_colours`) and has a legend of the classes it shows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from .common import (
    PAGE_WIDTH,
    _figure,
    _show,
    as_numpy,
    class_entries,
    colour_labels,
)


def gate_figure(
    image: np.ndarray, similarity: np.ndarray, norm_in: np.ndarray, norm_out: np.ndarray
) -> Figure:
    """Eq. 7 on a token grid ``(h, w)``: the image, ``sim(z, xi)``, ``|z|`` and ``|z_hat|`` per token."""
    fig, axes = _figure(1, 4, size=2.45)
    axes[0, 0].imshow(as_numpy(image))
    axes[0, 0].set_title("image", fontsize=9)
    _show(
        axes[0, 1],
        similarity,
        "gate sim(z, xi) per token\n= clamp(cos, 0, 1)",
        "viridis",
        True,
        "sim (0 = switched off)",
        vmin=0,
        vmax=1,
    )
    _show(axes[0, 2], norm_in, "|z| per token\n(HiLo output)", colorbar=True, label="norm")
    _show(axes[0, 3], norm_out, "|z_hat| = |P sim z| per token", colorbar=True, label="norm")
    return fig


def gate_layers_figure(image: np.ndarray, similarities: Mapping[str, np.ndarray]) -> Figure:
    """The gate ``sim(z, xi)`` (eq. 7) of several decoder layers, ``name -> (h, w)``, on one colour scale
    (0 = token switched off, 1 = passed whole), beside the image."""
    cols = 1 + len(similarities)
    fig, axes = _figure(1, cols, size=min(2.45, (PAGE_WIDTH - 1.0) / cols))
    axes[0, 0].imshow(as_numpy(image))
    axes[0, 0].set_title("image", fontsize=9)
    im = None
    for ax, (name, sim) in zip(axes[0, 1:], similarities.items()):
        sim = as_numpy(sim)
        im = ax.imshow(sim, cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(f"{name}\n{float((sim == 0).mean()):.0%} of the tokens off", fontsize=9)
    if im is not None:
        bar = fig.colorbar(im, ax=list(axes[0, 1:]), shrink=0.8)
        bar.set_label("sim(z, xi) (0 = switched off)", fontsize=7)
        bar.ax.tick_params(labelsize=7)
    return fig


def _legend_axis(ax, maps: Sequence[np.ndarray], class_names, unseen, title: str) -> None:
    """An axis without frame holding the legend of the classes in ``maps`` (colours by class name)."""
    ax.set_axis_off()
    entries = class_entries(list(maps), class_names, unseen, by_name=True)
    if entries:
        handles = [Patch(facecolor=colour, edgecolor="0.3", label=name) for name, colour in entries]
        ax.legend(
            handles=handles, fontsize=7, loc="center left", title=title, title_fontsize=7, frameon=False
        )


def masks_figure(
    image: np.ndarray,
    scores: np.ndarray,
    class_names: Sequence[str],
    title: str = "",
    max_classes: int = 4,
    label: np.ndarray | None = None,
    unseen: Sequence[int] = (),
    shown: Sequence[int] | None = None,
    score_label: str = "score",
) -> Figure:
    """Per-class mask scores ``(C, H, W)`` on one colour scale, and their argmax with a legend.

    Top row: the image (titled ``title``), the ground truth ``label`` ``(H, W)`` when given, the argmax
    over all ``C`` classes, and the legend of the classes either shows (unseen ones marked; colours by
    class name). Below, four to a row: the score maps of the classes ``shown`` (default: the first
    ``max_classes``), with one colour bar (``score_label``).
    """
    s = as_numpy(scores)
    shown = list(range(min(len(class_names), max_classes))) if shown is None else list(shown)
    cols = 4
    score_rows = math.ceil(len(shown) / cols)
    fig, axes = _figure(1 + score_rows, cols, size=(PAGE_WIDTH - 0.8) / cols)
    top = list(axes[0])
    top[0].imshow(as_numpy(image))
    top[0].set_title(title or "image", fontsize=9)
    argmax = s.argmax(0)
    maps = [argmax] if label is None else [as_numpy(label), argmax]
    k = 1
    if label is not None:
        top[k].imshow(colour_labels(as_numpy(label), list(class_names)), interpolation="nearest")
        top[k].set_title("ground truth", fontsize=9)
        k += 1
    top[k].imshow(colour_labels(argmax, list(class_names)), interpolation="nearest")
    top[k].set_title(f"argmax over the {len(class_names)} classes", fontsize=9)
    for ax in top[k + 1 :]:
        ax.set_axis_off()
    _legend_axis(top[-1], maps, class_names, unseen, "classes")
    score_axes = list(axes[1:].flat)
    for ax in score_axes[len(shown) :]:
        ax.set_axis_off()
    lo, hi = (float(s[shown].min()), float(s[shown].max())) if shown else (0.0, 1.0)
    im = None
    for ax, c in zip(score_axes, shown):
        im = ax.imshow(s[c], cmap="viridis", vmin=lo, vmax=hi, interpolation="nearest")
        ax.set_title(class_names[c] + (" (unseen)" if c in unseen else ""), fontsize=9)
    if im is not None:
        bar = fig.colorbar(im, ax=score_axes[: len(shown)], shrink=0.8)
        bar.set_label(score_label, fontsize=7)
        bar.ax.tick_params(labelsize=7)
    return fig


def decoder_comparison_figure(
    image: np.ndarray,
    scores: Mapping[str, np.ndarray],
    class_names: Sequence[str],
    max_classes: int = 3,
    unseen: Sequence[int] = (),
) -> Figure:
    """One row per decoder (e.g. CLIP alone, SPT-SEG): the image, per-class scores ``(C, H, W)`` of the first
    ``max_classes`` (one colour bar per row), the argmax; a last column holds the legend of every row's
    argmax classes (colours by class name)."""
    rows = len(scores)
    shown = min(len(class_names), max_classes)
    cols = shown + 3
    fig, axes = _figure(rows, cols, size=min(2.1, (PAGE_WIDTH - 0.8) / cols))
    argmaxes = [as_numpy(s).argmax(0) for s in scores.values()]
    for row, (name, s) in enumerate(scores.items()):
        s = as_numpy(s)
        axes[row, 0].imshow(as_numpy(image))
        axes[row, 0].set_title(name, fontsize=9)
        lo, hi = float(s[:shown].min()), float(s[:shown].max())
        for i in range(shown):
            im = axes[row, 1 + i].imshow(s[i], cmap="viridis", vmin=lo, vmax=hi, interpolation="nearest")
            axes[row, 1 + i].set_title(class_names[i], fontsize=9)
        if shown:
            fig.colorbar(im, ax=list(axes[row, 1 : 1 + shown]), shrink=0.7).ax.tick_params(labelsize=7)
        axes[row, -2].imshow(colour_labels(argmaxes[row], list(class_names)), interpolation="nearest")
        axes[row, -2].set_title("argmax", fontsize=9)
        axes[row, -1].set_axis_off()
    _legend_axis(axes[0, -1], argmaxes, class_names, unseen, "argmax classes")
    return fig


def parameter_bar_figure(counts: Mapping[str, int]) -> Figure:
    """Horizontal bars of parameter counts (e.g. per decoder)."""
    fig = Figure(figsize=(6.0, 0.6 + 0.5 * len(counts)), layout="constrained")
    ax = fig.subplots()
    names = list(counts)
    ax.barh(names, [counts[n] for n in names], color="tab:blue")
    for i, n in enumerate(names):
        ax.text(counts[n], i, f" {counts[n]:,}", va="center", fontsize=8)
    ax.set_xlim(0, max(counts.values()) * 1.3)
    ax.set_xlabel("parameters")
    ax.set_title("trainable decoder parameters", fontsize=9)
    return fig


__all__ = [
    "decoder_comparison_figure",
    "gate_figure",
    "gate_layers_figure",
    "masks_figure",
    "parameter_bar_figure",
]
