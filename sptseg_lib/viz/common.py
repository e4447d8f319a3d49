"""What every figure module of :mod:`sptseg_lib.viz` shares: arrays, empty figures, PNGs, label colours.

* :func:`as_numpy` (a tensor or array as a NumPy array), :func:`to_gray`, :func:`denormalise`;
* ``_figure`` (a grid of tick-less axes on a new :class:`~matplotlib.figure.Figure`), ``_show`` (one
  ``imshow`` panel), ``_line_figure`` (named lines over one x axis), :func:`figure_png`;
* spectra: ``_show_spectrum`` (a centred spectrum or a real FFT's half-plane on frequency axes in cycles
  per pixel or per token, DC marked, with a colour bar), ``_colorbar``;
* label maps: :func:`class_colours` (the palette, name-aware for the shapes world), :func:`label_colormap`,
  :func:`colour_labels` with :data:`IGNORE_RGB` / :data:`PSEUDO_RGB`, and the legend of the classes present
  (:func:`class_entries`, ``_legend_patches``);
* :data:`PAGE_WIDTH`: no figure of the package is wider.

The underscored helpers are the package's own (its figure modules use them); notebooks and widgets use
the public names only.
"""

from __future__ import annotations

import colorsys
import io
import textwrap
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
PAGE_WIDTH = 10.0
"""The widest figure in inches (about a notebook page at the inline 80 dpi); tests hold every figure to it."""


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


def _wrap(text: str, width: float, fontsize: float = 9.0) -> str:
    """``text`` with each of its lines wrapped to fit ``width`` inches at ``fontsize`` points (an estimate
    on the generous side: 0.6 em per character). Constrained layout makes room for a title's height only,
    never its width, so a title wider than its axes, or a suptitle wider than the figure, is cut off at
    the canvas' edges; wrap them instead."""
    chars = max(8, int(width * 72.0 / (0.6 * fontsize)))
    return "\n".join(textwrap.fill(line, chars) if line else line for line in text.split("\n"))


def _colorbar(ax, mappable, label: str = "") -> None:
    """A colour bar beside ``ax`` for ``mappable`` (an ``imshow`` result), labelled ``label``."""
    bar = ax.figure.colorbar(mappable, ax=ax, shrink=0.8)
    bar.ax.tick_params(labelsize=7)
    if label:
        bar.set_label(label, fontsize=7)


def _show(
    ax, array, title: str, cmap: str = "viridis", colorbar: bool = False, label: str = "", **kwargs
) -> None:
    """``imshow`` of a 2-D map (or ``(H, W, 3)`` image) without interpolation, titled, optionally with a
    colour bar labelled ``label``; ``kwargs`` go to ``imshow`` (``vmin``, ``vmax``, ``extent``)."""
    im = ax.imshow(as_numpy(array), cmap=cmap, interpolation="nearest", **kwargs)
    ax.set_title(title, fontsize=9)
    if colorbar:
        _colorbar(ax, im, label)


def _frequencies(n: int) -> np.ndarray:
    """The centred FFT frequencies of ``n`` samples in cycles per sample (``fftshift(fftfreq(n))``)."""
    return np.fft.fftshift(np.fft.fftfreq(n))


def _show_spectrum(
    ax,
    spectrum,
    title: str,
    unit: str = "px",
    half: bool = False,
    cmap: str = "magma",
    label: str = "log(1 + |F|)",
    **kwargs,
) -> None:
    """A spectrum on frequency axes: ``k_x`` across, ``k_y`` down, in cycles per ``unit``, DC marked.

    ``spectrum`` is centred (``fftshift``: DC in the middle, shape ``(h, w)``), or with ``half`` the
    half-plane of a real FFT ``(h, w//2 + 1)`` with its rows centred (``fftshift`` over axis 0) and its
    columns ``k_x = 0 .. w/2``. Every bin is a square of the frequency step; a colour bar is labelled
    ``label``; ``kwargs`` go to ``imshow``.
    """
    s = as_numpy(spectrum)
    h, w = s.shape[:2]
    ky = _frequencies(h)
    kx = np.arange(w) / max(2 * (w - 1), 1) if half else _frequencies(w)
    dy = 1.0 / h
    dx = (kx[1] - kx[0]) if w > 1 else 1.0
    extent = (kx[0] - dx / 2, kx[-1] + dx / 2, ky[-1] + dy / 2, ky[0] - dy / 2)
    im = ax.imshow(s, cmap=cmap, interpolation="nearest", extent=extent, **kwargs)
    ax.plot([0.0], [0.0], marker="+", color="cyan", markersize=9, markeredgewidth=1.5, linestyle="none")
    ax.annotate(  # beside the marker, inside the map (a half-plane's DC is on its left edge)
        "DC",
        (0.0, 0.0),
        xytext=(4, -4) if half else (-4, -4),
        textcoords="offset points",
        color="cyan",
        fontsize=7,
        ha="left" if half else "right",
        va="top",
    )
    ticks = [t for t in (-0.5, -0.25, 0.0, 0.25, 0.5) if extent[0] <= t <= extent[1]]
    ax.set_xticks(ticks)
    ax.set_yticks([t for t in (-0.5, -0.25, 0.0, 0.25, 0.5) if extent[3] <= t <= extent[2]])
    ax.tick_params(labelsize=7)
    ax.set_xlabel(f"k_x (cycles / {unit})", fontsize=7)
    ax.set_ylabel(f"k_y (cycles / {unit})", fontsize=7)
    ax.set_title(title, fontsize=9)
    _colorbar(ax, im, label)


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


COLOUR_WORDS: dict[str, float] = {
    "red": 0.0,
    "orange": 0.08,
    "yellow": 0.15,
    "green": 0.33,
    "cyan": 0.5,
    "blue": 0.62,
    "purple": 0.78,
    "pink": 0.92,
}
"""Hue (0..1, HLS) of each colour word a class name may start with (``"red circle"`` is drawn red)."""
SHAPE_SHADES: dict[str, int] = {"circle": 0, "square": 1, "triangle": 2, "star": 3}
"""Which shade of its colour a class ending in a shape word takes (the shapes world's four shapes)."""
_SHADE_LIGHTNESS = (0.5, 0.36, 0.62, 0.74)  # dark enough to read as its colour word, far enough apart
STUFF_COLOURS: dict[str, tuple[float, float, float]] = {
    "grass": (0.56, 0.64, 0.46),
    "sand": (0.82, 0.77, 0.64),
    "water": (0.52, 0.62, 0.72),
    "brick": (0.68, 0.52, 0.47),
}
"""Muted tones of the shapes world's stuff classes (low saturation: never mistaken for an object colour)."""


def _named_colour(name: str, shade_of: dict[str, int]) -> tuple[float, float, float] | None:
    """The palette colour of one class name, or ``None`` when the name is not one the palette knows."""
    words = name.lower().split()
    if len(words) == 1 and words[0] in STUFF_COLOURS:
        return STUFF_COLOURS[words[0]]
    if len(words) < 2 or words[0] not in COLOUR_WORDS:
        return None
    shade = SHAPE_SHADES.get(words[-1])
    if shade is None:  # another object word: the next free shade of this colour, in order of appearance
        shade = shade_of.setdefault(name, sum(1 for n in shade_of if n.split()[0] == words[0]))
    lightness = _SHADE_LIGHTNESS[shade % len(_SHADE_LIGHTNESS)]
    return colorsys.hls_to_rgb(COLOUR_WORDS[words[0]], lightness, 0.85)


def class_colours(classes: int | Sequence[str]) -> np.ndarray:
    """The colour of every class, ``(C, 3)`` floats in 0..1.

    Given class *names* that the palette knows, every one of them (the shapes world's: ``"<colour>
    <shape>"`` and its stuff words), each class is drawn in its own colour word: ``"red circle"`` red,
    ``"green triangle"`` green, the four shapes of a colour told apart by shade (circle medium, square dark,
    triangle light, star lightest), and the stuff classes in muted tones (:data:`STUFF_COLOURS`). Otherwise
    (a count, or names like VOC's and COCO-Stuff's) the fallback: tab20's colours by index, repeated.
    """
    if not isinstance(classes, int):
        names = list(classes)
        shade_of: dict[str, int] = {}
        named = [_named_colour(n, shade_of) for n in names]
        if names and all(c is not None for c in named):
            return np.asarray(named, dtype=np.float64)
        classes = len(names)
    base = colormaps["tab20"].colors
    return np.asarray([base[i % len(base)][:3] for i in range(classes)], dtype=np.float64)


def label_colormap(classes: int | Sequence[str]) -> ListedColormap:
    """A colour map of :func:`class_colours` (names: the name-aware palette; a count: tab20, repeated)."""
    return ListedColormap([tuple(c) for c in class_colours(classes)])


def colour_labels(
    label: np.ndarray, classes: int | Sequence[str], ignore_index: int = IGNORE_INDEX
) -> np.ndarray:
    """A label map ``(H, W)`` as ``(H, W, 3)`` floats in 0..1 for drawing.

    ``classes`` is the number of classes or, better, their names (then :func:`class_colours`'s name-aware
    palette). Classes ``0..C-1`` take their colours, ``ignore_index`` is black (:data:`IGNORE_RGB`),
    negative values (``UNSEEN_PSEUDO = -1``, pixels of the transductive setting that wait for a
    pseudo-label) magenta (:data:`PSEUDO_RGB`). Any other value is an error.
    """
    table = class_colours(classes)
    num_classes = len(table)
    lab = as_numpy(label).astype(np.int64)
    if lab.ndim != 2:
        raise ValueError(f"label must be (H, W), got shape {lab.shape}")
    known = ((lab >= 0) & (lab < num_classes)) | (lab == ignore_index) | (lab < 0)
    if not known.all():
        bad = sorted(set(lab[~known].tolist()))[:5]
        raise ValueError(f"label values {bad} are neither classes 0..{num_classes - 1} nor {ignore_index}")
    out = table[np.clip(lab, 0, num_classes - 1)]
    out[lab == ignore_index] = IGNORE_RGB
    out[lab < 0] = PSEUDO_RGB
    return out


def _legend_patches(ax, entries: Sequence[tuple[str, tuple[float, ...]]], cols: int = 1) -> None:
    """A legend of coloured squares ``(name, rgb)`` to the right of ``ax`` (nothing when empty)."""
    if entries:
        handles = [Patch(facecolor=colour, edgecolor="0.3", label=name) for name, colour in entries]
        ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), ncols=cols)


def class_entries(
    labels: Sequence[np.ndarray],
    class_names: Sequence[str],
    unseen: Sequence[int] = (),
    ignore_index: int = IGNORE_INDEX,
    by_name: bool = False,
) -> list[tuple[str, tuple[float, ...]]]:
    """Legend entries for the values present in ``labels``: classes (unseen ones marked), ignored, pseudo.

    The colours are those :func:`colour_labels` drew with: ``by_name=True`` for maps coloured from the
    class names (``colour_labels(label, class_names)``), ``False`` for maps coloured from their number.
    """
    values = sorted(set().union(*(np.unique(as_numpy(lab)).tolist() for lab in labels)))
    table = class_colours(list(class_names) if by_name else len(class_names))
    entries = []
    for v in values:
        if 0 <= v < len(class_names):
            entries.append((class_names[v] + (" (unseen)" if v in unseen else ""), tuple(table[v])))
    if ignore_index in values:
        entries.append((f"ignored ({ignore_index})", IGNORE_RGB))
    if any(v < 0 for v in values):
        entries.append(("pseudo-label (-1)", PSEUDO_RGB))
    return entries


__all__ = [
    "COLOUR_WORDS",
    "IGNORE_RGB",
    "PAGE_WIDTH",
    "PSEUDO_RGB",
    "SHAPE_SHADES",
    "STUFF_COLOURS",
    "as_numpy",
    "class_colours",
    "class_entries",
    "colour_labels",
    "denormalise",
    "figure_png",
    "label_colormap",
    "to_gray",
]
