"""What every figure module of :mod:`sptseg_lib.viz` shares: arrays, empty figures, PNGs, label colours.

* :func:`as_numpy` (a tensor or array as a NumPy array), :func:`to_gray`, :func:`denormalise`;
* ``_figure`` (a grid of tick-less axes on a new :class:`~matplotlib.figure.Figure`), ``_show`` (one
  ``imshow`` panel), ``_line_figure`` (named lines over one x axis), :func:`figure_png`;
* label maps: :func:`label_colormap`, :func:`colour_labels` with :data:`IGNORE_RGB` / :data:`PSEUDO_RGB`,
  and the legend of the classes present (``_class_entries``, ``_legend_patches``).

The underscored helpers are the package's own (its figure modules use them); notebooks and widgets use
the public names only.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..data.splits import IGNORE_INDEX
from ..data.transforms import IMAGENET_MEAN, IMAGENET_STD

IGNORE_RGB = (0.0, 0.0, 0.0)
"""Colour of ignored pixels (label 255) in :func:`colour_labels`: black."""
PSEUDO_RGB = (1.0, 0.0, 1.0)
"""Colour of pixels awaiting a pseudo-label (label -1, transductive setting): magenta."""


def as_numpy(x) -> np.ndarray:
    """A tensor (detached, on the CPU) or anything array-like as a NumPy array, shape unchanged."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def to_gray(image: np.ndarray) -> np.ndarray:
    """An image as a float ``(H, W)`` array in 0..1 (RGB -> luminance)."""
    x = as_numpy(image).astype(np.float64)
    if x.max() > 1.0:
        x = x / 255.0
    if x.ndim == 3:
        x = x[..., :3] @ np.array([0.299, 0.587, 0.114])
    if x.ndim != 2:
        raise ValueError(f"expected an image (H, W) or (H, W, 3), got shape {x.shape}")
    return x


def denormalise(image: torch.Tensor | np.ndarray, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> np.ndarray:
    """A normalised ``(3, H, W)`` image (the data pipelines' output) back to ``(H, W, 3)`` uint8.

    Inverts ``(x - mean) / std`` on the 0-255 scale; padded pixels (0 after normalising) become ``mean``.
    """
    x = as_numpy(image).astype(np.float64)
    if x.ndim != 3 or x.shape[0] != 3:
        raise ValueError(f"expected a normalised image (3, H, W), got shape {x.shape}")
    rgb = x.transpose(1, 2, 0) * np.asarray(std) + np.asarray(mean)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def _figure(rows: int, cols: int, size: float = 2.4) -> tuple[Figure, np.ndarray]:
    """A new figure with a ``(rows, cols)`` array of axes without ticks, ``size`` inches per panel."""
    fig = Figure(figsize=(size * cols, size * rows + 0.3), layout="constrained")
    axes = np.atleast_2d(fig.subplots(rows, cols, squeeze=False))
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig, axes


def _show(ax, array, title: str, cmap: str = "viridis", colorbar: bool = False, **kwargs) -> None:
    """``imshow`` of a 2-D map (or ``(H, W, 3)`` image) without interpolation, titled, optionally with a
    colour bar; ``kwargs`` go to ``imshow`` (``vmin``, ``vmax``)."""
    im = ax.imshow(as_numpy(array), cmap=cmap, interpolation="nearest", **kwargs)
    ax.set_title(title, fontsize=9)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, shrink=0.8)


def _line_figure(
    size: tuple[float, float],
    x: Sequence[float],
    series: Mapping[str, Sequence[float]],
    xlabel: str,
    ylabel: str,
) -> Figure:
    """One axes of lines with round markers, one per named series over the same ``x``, and a legend."""
    fig = Figure(figsize=size, layout="constrained")
    ax = fig.subplots()
    for name, y in series.items():
        ax.plot(x, y, marker="o", label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend()
    return fig


def figure_png(fig: Figure, dpi: int = 80) -> bytes:
    """The figure rendered as PNG bytes (what a widget shows)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def label_colormap(num_classes: int) -> ListedColormap:
    """Distinct colours for ``num_classes`` labels (tab20, repeated)."""
    base = colormaps["tab20"].colors
    return ListedColormap([base[i % len(base)] for i in range(num_classes)])


def colour_labels(label: np.ndarray, num_classes: int, ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """A label map ``(H, W)`` as ``(H, W, 3)`` floats in 0..1 for drawing.

    Classes ``0..num_classes-1`` take :func:`label_colormap`'s colours, ``ignore_index`` is black
    (:data:`IGNORE_RGB`), negative values (``UNSEEN_PSEUDO = -1``, pixels of the transductive setting that
    wait for a pseudo-label) magenta (:data:`PSEUDO_RGB`). Any other value is an error.
    """
    lab = as_numpy(label).astype(np.int64)
    if lab.ndim != 2:
        raise ValueError(f"label must be (H, W), got shape {lab.shape}")
    known = ((lab >= 0) & (lab < num_classes)) | (lab == ignore_index) | (lab < 0)
    if not known.all():
        bad = sorted(set(lab[~known].tolist()))[:5]
        raise ValueError(f"label values {bad} are neither classes 0..{num_classes - 1} nor {ignore_index}")
    table = np.asarray(label_colormap(num_classes).colors, dtype=np.float64)[:, :3]
    out = table[np.clip(lab, 0, num_classes - 1)]
    out[lab == ignore_index] = IGNORE_RGB
    out[lab < 0] = PSEUDO_RGB
    return out


def _legend_patches(ax, entries: Sequence[tuple[str, tuple[float, ...]]], cols: int = 1) -> None:
    """A legend of coloured squares ``(name, rgb)`` to the right of ``ax`` (nothing when empty)."""
    if entries:
        handles = [Patch(facecolor=colour, edgecolor="0.3", label=name) for name, colour in entries]
        ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), ncols=cols)


def _class_entries(
    labels: Sequence[np.ndarray],
    class_names: Sequence[str],
    unseen: Sequence[int] = (),
    ignore_index: int = IGNORE_INDEX,
) -> list[tuple[str, tuple[float, ...]]]:
    """Legend entries for the values present in ``labels``: classes (unseen ones marked), ignored, pseudo."""
    values = sorted(set().union(*(np.unique(as_numpy(lab)).tolist() for lab in labels)))
    table = label_colormap(len(class_names)).colors
    entries = []
    for v in values:
        if 0 <= v < len(class_names):
            entries.append((class_names[v] + (" (unseen)" if v in unseen else ""), tuple(table[v][:3])))
    if ignore_index in values:
        entries.append((f"ignored ({ignore_index})", IGNORE_RGB))
    if any(v < 0 for v in values):
        entries.append(("pseudo-label (-1)", PSEUDO_RGB))
    return entries


__all__ = [
    "IGNORE_RGB",
    "PSEUDO_RGB",
    "as_numpy",
    "colour_labels",
    "denormalise",
    "figure_png",
    "label_colormap",
    "to_gray",
]
