"""Pictures of the data, the training and the evaluation (notebooks 00, 05-09): label maps, CLIP's
zero-shot classification, loss curves, per-class IoU, predictions, one image's score maps, one class's
mask, sliding windows.

Array conventions: images ``(H, W, 3)`` uint8; label maps ``(H, W)`` with class indices, ``ignore_index``
(255) and ``-1`` (pixels awaiting a pseudo-label); mask scores ``(C, H, W)``. Label colours are
:func:`~sptseg_lib.viz.common.colour_labels`'.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import LogLocator

from ..data.splits import IGNORE_INDEX
from .common import (
    PAGE_WIDTH,
    _figure,
    _legend_patches,
    _show,
    _wrap,
    as_numpy,
    class_entries,
    colour_labels,
)

UNSEEN_COLOUR = "tab:orange"
"""The colour of unseen classes' names and marks (as :func:`per_class_iou_figure`'s bars)."""
HIGHLIGHTS = ("all", "seen", "unseen")
"""What :func:`mask_explorer_figure` colours in its argmax panel (the other classes are grey)."""
LOG_KEYS_NOT_PLOTTED = frozenset({"step", "lr", "images_per_s", "effective_batch", "time", "event"})
"""Keys of a training-log record that :func:`loss_curves_figure` does not draw as loss terms."""


# ------------------------------------------------------------------------------------------ data


def label_panels_figure(
    image: np.ndarray | None,
    panels: Mapping[str, np.ndarray],
    class_names: Sequence[str],
    unseen: Sequence[int] = (),
    title: str = "",
    ignore_index: int = IGNORE_INDEX,
) -> Figure:
    """An image (optional) and several label maps ``(H, W)`` of it side by side, one legend.

    Used for a label map under the inductive / transductive / fully supervised settings
    (:func:`~sptseg_lib.data.splits.remap_for_training`, shown in data-set class indices), or a label
    before and after ``reduce_zero_label``.
    """
    n = len(panels) + (image is not None)
    first = as_numpy(image if image is not None else next(iter(panels.values())))
    aspect = first.shape[1] / max(first.shape[0], 1)  # a wide image gets wide panels
    legend_room = 2.0
    width = min(3.6, (PAGE_WIDTH - legend_room) / n)  # at most 8 inches of panels, then the legend
    fig = Figure(figsize=(width * n + legend_room, width / aspect + 0.7), layout="constrained")
    axes = fig.subplots(1, n, squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    k = 0
    if image is not None:
        axes[0, 0].imshow(as_numpy(image))
        axes[0, 0].set_title(_wrap(title or "image", width, 9), fontsize=9)
        k = 1
    for i, (name, lab) in enumerate(panels.items()):
        axes[0, k + i].imshow(colour_labels(lab, list(class_names), ignore_index), interpolation="nearest")
        axes[0, k + i].set_title(_wrap(name, width, 9), fontsize=9)
    _legend_patches(
        axes[0, -1], class_entries(list(panels.values()), class_names, unseen, ignore_index, by_name=True)
    )
    return fig


def image_label_figure(
    images: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    class_names: Sequence[str],
    titles: Sequence[str] | None = None,
    unseen: Sequence[int] = (),
    ignore_index: int = IGNORE_INDEX,
    columns: int = 4,
    title: str = "",
) -> Figure:
    """Images ``(H, W, 3)`` uint8 above their label maps (sizes may differ), at most ``columns`` pairs per
    row (so that the figure fits a page), one legend of the classes present (unseen ones marked); ``title``
    (optional) above them all."""
    if len(images) != len(labels) or not images:
        raise ValueError(f"need as many labels as images (at least one), got {len(images)} and {len(labels)}")
    rows = math.ceil(len(images) / columns)
    cols = math.ceil(len(images) / rows)
    fig, axes = _figure(2 * rows, cols, size=2.2)
    fig.set_size_inches(2.2 * cols + 2.0, fig.get_size_inches()[1])  # room for the legend beside the panels
    for i, (image, lab) in enumerate(zip(images, labels)):
        top, bottom = axes[2 * (i // cols), i % cols], axes[2 * (i // cols) + 1, i % cols]
        top.imshow(as_numpy(image))
        if titles:
            top.set_title(titles[i], fontsize=8)
        bottom.imshow(colour_labels(lab, list(class_names), ignore_index), interpolation="nearest")
        if i % cols == 0:
            top.set_ylabel("image", fontsize=8)
            bottom.set_ylabel("label map", fontsize=8)
    for k in range(len(images), rows * cols):
        axes[2 * (k // cols), k % cols].set_axis_off()
        axes[2 * (k // cols) + 1, k % cols].set_axis_off()
    _legend_patches(axes[1, -1], class_entries(list(labels), class_names, unseen, ignore_index, by_name=True))
    if title:
        fig.suptitle(_wrap(title, fig.get_figwidth(), 10), fontsize=10)
    return fig


def _probability_text(p: float) -> str:
    return f"{p:.2f}" if p >= 0.01 else f"{p:.0e}" if p > 0 else "0"


def zero_shot_figure(
    images: Sequence[np.ndarray],
    probabilities: np.ndarray,
    class_names: Sequence[str],
    truth: Sequence[int] | None = None,
    unseen: Sequence[int] = (),
    top: int = 3,
) -> Figure:
    """CLIP zero-shot classification: each image over a bar chart of its ``top`` class probabilities.

    ``probabilities``: ``(N, C)`` softmax over the class names. The bars share one logarithmic probability
    axis, so that runners-up a thousand or a million times less likely than the winner still show; each
    bar is labelled with its class name and probability. Bars of the true class (``truth``) are green,
    others grey; unseen class names are marked ``*``.
    """
    p = as_numpy(probabilities).astype(np.float64)
    if p.shape != (len(images), len(class_names)):
        raise ValueError(f"probabilities must be (N={len(images)}, C={len(class_names)}), got {p.shape}")
    orders = [np.argsort(-row)[:top] for row in p]
    shown = np.concatenate([row[order] for row, order in zip(p, orders)]) if orders else np.ones(1)
    smallest = float(shown[shown > 0].min()) if (shown > 0).any() else 1e-12
    lo = min(1e-3, 10.0 ** (np.floor(np.log10(max(smallest, 1e-12))) - 1))  # the smallest bar: a decade long
    width = min(1.7 * len(images), PAGE_WIDTH)
    fig = Figure(figsize=(max(width, 4.0), 4.6), layout="constrained")
    axes = fig.subplots(2, len(images), squeeze=False, height_ratios=(1.0, 1.1))
    for i, (image, order) in enumerate(zip(images, orders)):
        ax = axes[0, i]
        ax.imshow(as_numpy(image))
        ax.set_xticks([])
        ax.set_yticks([])
        if truth is not None:
            ax.set_title(class_names[truth[i]] + (" *" if truth[i] in unseen else ""), fontsize=8)
        colours = ["tab:green" if truth is not None and c == truth[i] else "0.6" for c in order]
        bars = axes[1, i]
        rows = np.arange(len(order))[::-1]  # the most likely class on top
        bars.barh(rows, p[i][order], height=0.4, color=colours)
        bars.set_xscale("log")
        bars.set_xlim(lo, 1.0)
        bars.set_ylim(-0.4, len(order) - 0.15)
        bars.set_yticks([])
        for row, c in zip(rows, order):
            name = class_names[c] + (" *" if c in unseen else "")
            bars.text(lo * 1.3, row + 0.24, f"{name}: {_probability_text(p[i, c])}", fontsize=7, va="bottom")
        bars.xaxis.set_major_locator(LogLocator(numticks=4))
        bars.tick_params(labelsize=7)
        bars.set_xlabel("probability (log scale)", fontsize=7)
    text = (
        f"zero-shot classification: the top {top} class names of each image "
        "(* = unseen in segmentation training)"
    )
    fig.suptitle(_wrap(text, fig.get_figwidth(), 9), fontsize=9)
    return fig


def class_gallery_figure(
    rows: Sequence[tuple[str, Sequence[np.ndarray], Sequence[str], Sequence[int]]], title: str = ""
) -> Figure:
    """One row of images per world: ``(row label, images, their class names, indices of the unseen ones)``,
    each image titled with its class (unseen ones ``*`` and in red); rows may differ in length."""
    cols = max(len(images) for _, images, _, _ in rows)
    fig, axes = _figure(len(rows), cols, size=PAGE_WIDTH / max(cols, 1))
    for r, (label, images, names, unseen) in enumerate(rows):
        for c, ax in enumerate(axes[r]):
            if c >= len(images):
                ax.set_axis_off()
                continue
            ax.imshow(as_numpy(images[c]), interpolation="nearest")
            ax.set_title(
                names[c] + (" *" if c in unseen else ""), fontsize=7, color="tab:red" if c in unseen else "k"
            )
        axes[r, 0].set_ylabel(label, fontsize=8)
    fig.suptitle(title or "one object of each class (* = unseen in segmentation training)", fontsize=9)
    return fig


# ------------------------------------------------------------------------------------------ training


def loss_curves_figure(records: Sequence[Mapping[str, float]], title: str = "") -> Figure:
    """Weighted loss terms against the step, and the learning rate, from training-log records.

    Panels: the total ``loss`` and every term on a log scale; the terms other than ``focal`` (SSIM, dice:
    weight 1, values near 1) on a linear scale of their own, where their small changes show (only when
    the log has such a term); the learning rate.

    ``records``: dicts with ``step`` and numeric terms (``loss``, ``focal``, ``ssim``, ``dice``, ``lr``),
    e.g. the lines of a run's ``log.jsonl`` that carry a ``loss``; other records are skipped.
    """
    rows = [r for r in records if "loss" in r and "step" in r]
    steps = [r["step"] for r in rows]
    terms = [k for k in (rows[0] if rows else {}) if k not in LOG_KEYS_NOT_PLOTTED and "loss" not in k]
    small = [k for k in terms if k != "focal"]
    fig = Figure(figsize=(10.0 if small else 8.0, 3.0), layout="constrained")
    axes = fig.subplots(1, 3 if small else 2)
    ax, ax_lr = axes[0], axes[-1]
    colours = {name: f"C{k}" for k, name in enumerate(["loss", *terms])}
    for name in ["loss", *terms]:
        ax.plot(steps, [r[name] for r in rows], marker=".", label=name, color=colours[name])
    if rows:
        ax.set_yscale("log")
        ax.legend(fontsize=8)
    ax.set_xlabel("step")
    ax.set_ylabel("weighted loss (log scale)")
    ax.set_title(_wrap(title or "training loss (weighted terms, log scale)", 2.6, 9), fontsize=9)
    if small:
        for name in small:
            axes[1].plot(steps, [r[name] for r in rows], marker=".", label=name, color=colours[name])
        axes[1].axhline(1.0, color="0.6", linestyle=":", linewidth=1)
        axes[1].set_xlabel("step")
        axes[1].set_ylabel(f"{', '.join(small)} (weight 1)")
        axes[1].set_title(_wrap(f"{', '.join(small)} alone (linear scale)", 2.6, 9), fontsize=9)
        axes[1].legend(fontsize=8)
    ax_lr.plot(steps, [r.get("lr", np.nan) for r in rows], color="tab:gray")
    ax_lr.set_xlabel("step")
    ax_lr.set_ylabel("learning rate")
    ax_lr.set_title("learning rate (warm-up, then poly)", fontsize=9)
    return fig


# ------------------------------------------------------------------------------------------ evaluation


def per_class_iou_figure(
    iou: Sequence[float], class_names: Sequence[str], unseen: Sequence[int], title: str = ""
) -> Figure:
    """Per-class IoU (percent) as bars, seen classes blue and unseen orange, with mIoU(S) and mIoU(U) as
    dashed lines. NaN (a class absent from both prediction and labels) is drawn as an empty, hatched bar,
    and the legend says so when there is one."""
    values = np.asarray(iou, dtype=np.float64)
    if values.shape != (len(class_names),):
        raise ValueError(f"{len(class_names)} class names for {values.shape} IoU values")
    is_unseen = np.isin(np.arange(len(values)), list(unseen))
    fig = Figure(figsize=(max(5.0, 0.3 * len(values) + 1.5), 3.2), layout="constrained")
    ax = fig.subplots()
    colours = np.where(is_unseen, "tab:orange", "tab:blue")
    ax.bar(np.arange(len(values)), np.nan_to_num(values), color=colours)
    for i in np.flatnonzero(np.isnan(values)):
        ax.bar(i, 100.0, fill=False, hatch="//", edgecolor="0.7")
    for group, colour, name in ((~is_unseen, "tab:blue", "mIoU(S)"), (is_unseen, "tab:orange", "mIoU(U)")):
        chosen = values[group & ~np.isnan(values)]
        if chosen.size:
            ax.axhline(chosen.mean(), color=colour, linestyle="--", label=f"{name} {chosen.mean():.1f}")
    ax.set_xticks(np.arange(len(values)), class_names, rotation=70, fontsize=7)
    ax.set_ylim(0, 100)
    ax.set_ylabel("IoU (%)")
    ax.set_title(title or "per-class IoU (orange: unseen)", fontsize=9)
    handles, _ = ax.get_legend_handles_labels()
    handles += [Patch(color="tab:blue", label="seen class"), Patch(color="tab:orange", label="unseen class")]
    if np.isnan(values).any():
        handles.append(
            Patch(
                fill=False, hatch="//", edgecolor="0.7", label="IoU undefined: in no label\nand no prediction"
            )
        )
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def confusion_figure(
    matrix: np.ndarray, class_names: Sequence[str], unseen: Sequence[int] = (), title: str = ""
) -> Figure:
    """A confusion matrix ``(C, C)`` (``matrix[label, prediction]`` pixel counts, as
    :class:`~sptseg_lib.metrics.ConfusionMatrix` holds it) as a heat map of each row's shares: where the
    pixels of each true class went, in percent, written in every cell of at least 10 %.

    Class names are at least 8 pt; unseen classes are marked ``*`` and drawn in orange on both axes, and
    a line separates them from the seen ones when the unseen classes come last. A class without labelled
    pixels has an empty (grey) row. One colour bar."""
    m = as_numpy(matrix).astype(np.float64)
    n = len(class_names)
    if m.shape != (n, n):
        raise ValueError(f"matrix must be (C={n}, C), got {m.shape}")
    totals = m.sum(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(totals > 0, m / np.maximum(totals, 1), np.nan)
    unseen = sorted(int(u) for u in unseen)
    names = [name + (" *" if i in unseen else "") for i, name in enumerate(class_names)]
    side = min(PAGE_WIDTH - 1.2, 3.0 + 0.33 * n)
    fig = Figure(figsize=(side + 1.2, side), layout="constrained")
    ax = fig.subplots()
    cmap = colormaps["Blues"].with_extremes(bad="0.85")
    image = ax.imshow(shares, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    ticks = np.arange(n)
    ax.set_xticks(ticks, names, rotation=90, fontsize=8)
    ax.set_yticks(ticks, names, fontsize=8)
    for labels in (ax.get_xticklabels(), ax.get_yticklabels()):
        for i, label in enumerate(labels):
            if i in unseen:
                label.set_color(UNSEEN_COLOUR)
    if unseen and unseen == list(range(n - len(unseen), n)) and len(unseen) < n:  # unseen last: a line
        edge = n - len(unseen) - 0.5
        ax.axhline(edge, color=UNSEEN_COLOUR, linewidth=1)
        ax.axvline(edge, color=UNSEEN_COLOUR, linewidth=1)
    cell = 7 if n > 12 else 8
    for (i, j), share in np.ndenumerate(shares):
        if share >= 0.1:
            colour = "white" if share > 0.55 else "black"
            ax.text(j, i, f"{100 * share:.0f}", ha="center", va="center", fontsize=cell, color=colour)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    head = title or "confusion matrix"
    ax.set_title(
        _wrap(f"{head}\n% of each true class's pixels by predicted class (* orange: unseen)", side, 9),
        fontsize=9,
    )
    bar = fig.colorbar(image, ax=ax, shrink=0.8)
    bar.set_label("share of the row" + ("; grey: no pixels of the class" if np.isnan(shares).any() else ""))
    return fig


def error_map(prediction: np.ndarray, label: np.ndarray, ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """``(H, W, 3)``: green where the prediction is right, red where wrong, grey where the label is
    ignored."""
    pred, lab = as_numpy(prediction), as_numpy(label)
    out = np.where((pred == lab)[..., None], (0.2, 0.7, 0.2), (0.85, 0.15, 0.15))
    out[lab == ignore_index] = (0.6, 0.6, 0.6)
    return out


def prediction_figure(
    images: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    predictions: Sequence[np.ndarray],
    class_names: Sequence[str],
    unseen: Sequence[int] = (),
    ignore_index: int = IGNORE_INDEX,
) -> Figure:
    """Qualitative masks: one row per image with the image, the ground truth, the prediction and the
    right/wrong map (:func:`error_map`: green right, red wrong, grey ignored); the legend lists the classes
    present (unseen ones marked)."""
    fig, axes = _figure(len(images), 4, size=2.0)
    for row, (image, lab, pred) in enumerate(zip(images, labels, predictions)):
        axes[row, 0].imshow(as_numpy(image))
        axes[row, 1].imshow(colour_labels(lab, list(class_names), ignore_index), interpolation="nearest")
        axes[row, 2].imshow(colour_labels(pred, list(class_names), ignore_index), interpolation="nearest")
        axes[row, 3].imshow(error_map(pred, lab, ignore_index), interpolation="nearest")
        valid = as_numpy(lab) != ignore_index
        accuracy = float((as_numpy(pred) == as_numpy(lab))[valid].mean()) if valid.any() else float("nan")
        axes[row, 3].set_title(f"green right, red wrong\n({accuracy:.0%} right)", fontsize=8)
        _legend_patches(
            axes[row, 3], class_entries([lab, pred], class_names, unseen, ignore_index, by_name=True)
        )
    for ax, name in zip(axes[0], ("image", "ground truth", "prediction")):
        ax.set_title(name, fontsize=9)
    return fig


def mask_iou(mask: np.ndarray, truth: np.ndarray, valid: np.ndarray | None = None) -> float:
    """IoU of two boolean masks over the ``valid`` pixels (percent); NaN when both are empty."""
    m, t = as_numpy(mask).astype(bool), as_numpy(truth).astype(bool)
    if valid is not None:
        v = as_numpy(valid).astype(bool)
        m, t = m & v, t & v
    union = int((m | t).sum())
    return 100.0 * int((m & t).sum()) / union if union else float("nan")


def mask_explorer_figure(
    image: np.ndarray,
    scores: np.ndarray,
    label: np.ndarray,
    class_names: Sequence[str],
    unseen: Sequence[int],
    class_index: int,
    threshold: float = 0.5,
    highlight: str = "unseen",
    ignore_index: int = IGNORE_INDEX,
) -> Figure:
    """One class of one prediction: four panels.

    1. the image with the class's mask ``scores[c] >= threshold`` tinted;
    2. the score map of the class with the threshold's contour;
    3. the mask against the ground truth: true positives green, false positives red, misses blue
       (ignored pixels grey), with a legend below, titled with the mask's IoU (:func:`mask_iou`);
    4. the argmax over all classes, in colour for the ``highlight`` group (``all``, ``seen`` or
       ``unseen`` classes) and grey for the others.

    Args:
        scores: ``(C, H, W)`` per-class scores (sigmoid, after the seen-class penalty if any).
        label: ``(H, W)`` ground truth with ``ignore_index``.
    """
    s, lab = as_numpy(scores).astype(np.float64), as_numpy(label)
    if s.ndim != 3 or s.shape[0] != len(class_names) or s.shape[1:] != lab.shape:
        raise ValueError(
            f"scores must be (C={len(class_names)}, H, W) matching the label {lab.shape}, got {s.shape}"
        )
    if not 0 <= class_index < len(class_names):
        raise ValueError(f"class_index {class_index} out of range 0..{len(class_names) - 1}")
    if highlight not in HIGHLIGHTS:
        raise ValueError(f"highlight must be one of {HIGHLIGHTS}, got {highlight!r}")
    name = class_names[class_index] + (" (unseen)" if class_index in unseen else " (seen)")
    mask = s[class_index] >= threshold
    truth = lab == class_index
    valid = lab != ignore_index
    fig, axes = _figure(1, 4, size=2.2)
    fig.set_size_inches(PAGE_WIDTH, 3.4)  # four panels, a colour bar and a legend: the page's width
    room = (PAGE_WIDTH - 2.6) / 4  # a panel's width, less its share of the colour bar and the legend
    tint = as_numpy(image).astype(np.float64) / 255.0
    tint = np.where(mask[..., None], 0.45 * tint + 0.55 * np.asarray((1.0, 0.85, 0.0)), tint)
    axes[0, 0].imshow(tint)
    axes[0, 0].set_title(
        f"{_wrap(name, room, 8)}\nscore >= {threshold:.2f}:\n{mask.mean():.0%} of pixels", fontsize=8
    )
    lo = min(0.0, float(s.min()))
    _show(
        axes[0, 1],
        s[class_index],
        "score of the class\n(red: the threshold)",
        cmap="viridis",
        colorbar=True,
        vmin=lo,
        vmax=1.0,
    )
    if s[class_index].min() < threshold < s[class_index].max():
        axes[0, 1].contour(s[class_index], levels=[threshold], colors="red", linewidths=1)
    outcome = np.zeros((*lab.shape, 3))
    outcome[mask & truth] = (0.2, 0.7, 0.2)
    outcome[mask & ~truth] = (0.85, 0.15, 0.15)
    outcome[~mask & truth] = (0.15, 0.35, 0.9)
    outcome[~valid] = (0.6, 0.6, 0.6)
    iou = mask_iou(mask, truth, valid)
    iou_text = "n/a (absent)" if np.isnan(iou) else f"{iou:.1f}"
    _show(axes[0, 2], outcome, f"mask against the truth\nIoU {iou_text}")
    axes[0, 2].title.set_fontsize(8)
    outcomes = [("hit", (0.2, 0.7, 0.2)), ("false alarm", (0.85, 0.15, 0.15)), ("missed", (0.15, 0.35, 0.9))]
    outcomes += [("neither", (0.0, 0.0, 0.0))] + [("ignored", (0.6, 0.6, 0.6))] * bool((~valid).any())
    axes[0, 2].legend(
        handles=[Patch(facecolor=colour, edgecolor="0.3", label=name) for name, colour in outcomes],
        fontsize=7,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.02),
        ncols=2,
    )
    argmax = s.argmax(0)
    group = {
        "all": np.ones(len(class_names), dtype=bool),
        "seen": ~np.isin(np.arange(len(class_names)), list(unseen)),
        "unseen": np.isin(np.arange(len(class_names)), list(unseen)),
    }[highlight]
    coloured = colour_labels(argmax, list(class_names), ignore_index)
    coloured[~group[argmax]] = (0.8, 0.8, 0.8)
    axes[0, 3].imshow(coloured, interpolation="nearest")
    axes[0, 3].set_title(f"argmax,\n{highlight} classes in colour", fontsize=8)
    present = [c for c in np.unique(argmax).tolist() if group[c]]
    _legend_patches(
        axes[0, 3], class_entries([np.asarray(present)], class_names, unseen, ignore_index, by_name=True)
    )
    return fig


def score_maps_figure(
    image: np.ndarray,
    scores: np.ndarray,
    class_names: Sequence[str],
    unseen: Sequence[int] = (),
    title: str = "",
    classes: Sequence[int] | None = None,
    columns: int = 4,
) -> Figure:
    """One image's per-class score maps on a grid that fits a page, and their argmax.

    Panels, at most ``columns`` to a row and fewer for a wide image (the figure stays under 10 inches wide):
    the image; the argmax over all ``C`` classes, in class colours with a legend of the classes it shows
    (unseen ones marked); then the score map of each class in ``classes`` (default: every class), titled
    with its name, all on one colour scale with one colour bar.

    Args:
        image: ``(H, W, 3)`` uint8.
        scores: ``(C, H, W)`` per-class scores (sigmoid, after any seen-class penalty).
        class_names: the ``C`` names; ``unseen``: the indices marked "(unseen)".
        classes: indices of the score maps to draw.
    """
    s = as_numpy(scores).astype(np.float64)
    if s.ndim != 3 or s.shape[0] != len(class_names):
        raise ValueError(f"scores must be (C={len(class_names)}, H, W), got {s.shape}")
    shown = list(range(len(class_names))) if classes is None else list(classes)
    panels = 2 + len(shown)
    aspect = s.shape[2] / s.shape[1]  # a wide image gets wider panels and fewer of them to a row
    width = min(2.0 * max(aspect, 1.0), 3.6)
    cols = max(1, min(columns, panels, int(8.0 // width)))
    rows = math.ceil(panels / cols)
    fig = Figure(figsize=(width * cols + 1.6, (width / max(aspect, 1.0) + 0.35) * rows), layout="constrained")
    flat = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax in flat:
        ax.set_xticks([])
        ax.set_yticks([])
    flat[0].imshow(as_numpy(image))
    flat[0].set_title(title or "image", fontsize=9)
    argmax = s.argmax(0)
    flat[1].imshow(colour_labels(argmax, list(class_names)), interpolation="nearest")
    flat[1].set_title("argmax over the names", fontsize=9)
    lo, hi = (float(s[shown].min()), float(s[shown].max())) if shown else (0.0, 1.0)
    image_artist = None
    for k, c in enumerate(shown):
        name = class_names[c] + (" (unseen)" if c in unseen else "")
        image_artist = flat[2 + k].imshow(s[c], cmap="viridis", vmin=lo, vmax=hi, interpolation="nearest")
        flat[2 + k].set_title(name, fontsize=8)
    for ax in flat[panels:]:
        ax.set_axis_off()
    if image_artist is not None:
        fig.colorbar(image_artist, ax=list(flat[2:panels]), shrink=0.8, label="score")
    entries = class_entries([argmax], class_names, unseen, by_name=True)
    handles = [Patch(facecolor=colour, edgecolor="0.3", label=name) for name, colour in entries]
    fig.legend(handles=handles, fontsize=7, loc="outside right upper", title="argmax", title_fontsize=8)
    return fig


def sliding_windows_figure(
    image: np.ndarray, windows: Sequence[tuple[int, int, int, int]], title: str = ""
) -> Figure:
    """The windows ``(y1, y2, x1, x2)`` of a sliding-window inference
    (:func:`sptseg_lib.inference.slide_windows`) drawn over the image they tile, each in its own colour and
    numbered in its top-left corner; every outline is drawn 1 px inside its window, overlapping windows a
    little further apart, so that every outline shows."""
    h, w = as_numpy(image).shape[:2]
    width = min(8.0, 3.5 * w / h)  # a wide image stays within a page
    fig = Figure(figsize=(width, width * h / w + 0.4), layout="constrained")
    ax = fig.subplots()
    ax.set_xticks([])
    ax.set_yticks([])
    ax.imshow(as_numpy(image))
    colours = colormaps["tab10"].colors
    overlapping = any(
        min(a[1], b[1]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[2], b[2])
        for i, a in enumerate(windows)
        for b in windows[i + 1 :]
    )
    for k, (y1, y2, x1, x2) in enumerate(windows):
        inset = 1.0 + (1.5 * (k % 3) if overlapping else 0.0)  # inside the frame; overlapping ones apart
        ax.add_patch(
            Rectangle(
                (x1 - 0.5 + inset, y1 - 0.5 + inset),
                x2 - x1 - 2 * inset,
                y2 - y1 - 2 * inset,
                fill=False,
                edgecolor=colours[k % len(colours)],
                linewidth=2,
            )
        )
        ax.text(
            x1 + 1 + inset,
            y1 + 1 + inset,
            str(k + 1),
            color=colours[k % len(colours)],
            fontsize=8,
            va="top",
            ha="left",
            fontweight="bold",
        )
    ax.set_title(title or f"{len(windows)} sliding windows", fontsize=9)
    return fig


__all__ = [
    "HIGHLIGHTS",
    "LOG_KEYS_NOT_PLOTTED",
    "UNSEEN_COLOUR",
    "class_gallery_figure",
    "confusion_figure",
    "error_map",
    "image_label_figure",
    "label_panels_figure",
    "loss_curves_figure",
    "mask_explorer_figure",
    "mask_iou",
    "per_class_iou_figure",
    "prediction_figure",
    "score_maps_figure",
    "sliding_windows_figure",
    "zero_shot_figure",
]
