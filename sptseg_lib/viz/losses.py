"""Pictures of the loss (eq. 10, ``L = γ · L_focal + σ · L_ssim``): what each term asks of a logit, the
focal term against the probability, the local SSIM map, and what SSIM asks of a logit or a probability.

The gradients come from :func:`term_gradients` (``{term: (C, H, W)}``, by autograd); maps are
``(H, W)``; label maps hold data-set class indices and ``ignore_index`` (255).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from ..data.splits import IGNORE_INDEX
from ..losses import binary_targets, dice_loss, focal_loss, ssim_loss
from ..ssim import WINDOW_SIZE, ssim_map
from .common import _figure, _show, _wrap, as_numpy, class_entries, colour_labels

# --- the analysis behind the gradient figure: what each term asks of a logit ------------------------


def term_gradients(
    logits: torch.Tensor,
    labels: torch.Tensor,
    ignore_as_negative: bool = True,
    ignore_index: int = 255,
) -> dict[str, np.ndarray]:
    """The gradient of each loss term of eq. 10 (and dice) with respect to every logit, by autograd.

    Args:
        logits: ``(1, C, H, W)`` mask logits at label resolution.
        labels: ``(1, H, W)`` channel indices and ``ignore_index``.
        ignore_as_negative: the reference's rule (ignored pixels are negatives for every class) or
            leaving them out (``valid`` mask), as in :class:`~sptseg_lib.losses.SegmentationCriterion`.

    Returns:
        ``{"focal", "ssim", "dice", "cross-entropy"}`` -> ``(C, H, W)`` arrays of ``d term / d logit``
        (unweighted terms; cross-entropy = the binary cross-entropy per class, for comparison).
    """
    c = logits.shape[1]
    targets = binary_targets(labels, c, ignore_index)
    valid = None if ignore_as_negative else labels != ignore_index
    num_masks = max(float((targets.flatten(2).amax(-1) > 0).sum()), 1.0)
    terms = {
        "focal": lambda x: focal_loss(x, targets, num_masks, valid=valid),
        "ssim": lambda x: ssim_loss(x, targets, valid=valid),
        "dice": lambda x: dice_loss(x, targets, num_masks, valid=valid),
        "cross-entropy": lambda x: _bce(x, targets, valid),
    }
    out = {}
    for name, fn in terms.items():
        x = logits.detach().float().clone().requires_grad_(True)
        fn(x).backward()
        out[name] = x.grad[0].numpy()
    return out


def _bce(x: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """Mean binary cross-entropy of logits ``(B, C, H, W)``, over the ``valid`` ``(B, H, W)`` pixels."""
    loss = F.binary_cross_entropy_with_logits(x, targets, reduction="none")
    if valid is None:
        return loss.mean()
    return (loss * valid[:, None]).sum() / (valid.sum() * x.shape[1]).clamp(min=1)


# --- figures ---------------------------------------------------------------------------------------


def _label_panel(ax, label: np.ndarray, class_names: Sequence[str], unseen: Sequence[int], ignore_index: int):
    """A label map ``(H, W)`` in class colours with a legend of the values present below it."""
    ax.imshow(colour_labels(label, list(class_names), ignore_index), interpolation="nearest")
    entries = class_entries([label], class_names, unseen, ignore_index, by_name=True)
    handles = [Patch(facecolor=colour, edgecolor="0.3", label=name) for name, colour in entries]
    if handles:
        ax.legend(handles=handles, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.02), ncols=2)


def gradient_figure(
    image: np.ndarray,
    label: np.ndarray,
    gradients: Mapping[str, np.ndarray],
    channel: int,
    class_name: str = "",
    class_names: Sequence[str] | None = None,
    unseen: Sequence[int] = (),
    ignore_index: int = IGNORE_INDEX,
) -> Figure:
    """The image and its label map (left column, with a legend), then ``-d term / d logit`` of one class
    channel for every term (two rows; red: gradient descent raises the logit, blue: lowers it; each map
    with its own symmetric colour bar, since the terms' scales differ).

    Args:
        image: ``(H, W, 3)`` uint8.
        label: ``(H, W)`` data-set class indices and ``ignore_index`` (255, shown black: "ignored").
        gradients: term name -> ``(C, H, W)``, as :func:`term_gradients` returns them.
        channel: the channel ``c`` whose gradients are drawn.
        class_name: that channel's class name (titles).
        class_names, unseen: the names of the label values and the unseen ones (legend); default: the
            values themselves.
    """
    lab = as_numpy(label).astype(np.int64)
    if class_names is None:
        known = lab[lab != ignore_index]
        class_names = [str(i) for i in range(int(known.max()) + 1 if known.size else 1)]
    cols = 1 + math.ceil(len(gradients) / 2)
    fig, axes = _figure(2, cols, size=2.5)
    axes[0, 0].imshow(as_numpy(image))
    axes[0, 0].set_title("image", fontsize=9)
    _label_panel(axes[1, 0], lab, class_names, unseen, ignore_index)
    axes[1, 0].set_title("training labels", fontsize=9)
    for i, (name, g) in enumerate(gradients.items()):
        ax = axes[i % 2, 1 + i // 2]
        g = -as_numpy(g)[channel]  # the descent direction: positive = the logit goes up
        bound = float(np.abs(g).max()) or 1.0
        _show(ax, g, f"-d {name} / d logit", cmap="RdBu_r", colorbar=True, vmin=-bound, vmax=bound)
    for k in range(len(gradients), 2 * (cols - 1)):
        axes[k % 2, 1 + k // 2].set_axis_off()
    what = f"channel {channel}" + (f" ({class_name})" if class_name else "")
    text = f"descent direction of each term on {what}\nred raises the logit, blue lowers it"
    fig.suptitle(_wrap(text, fig.get_figwidth(), 10), fontsize=10)
    return fig


def focal_curves_figure(gammas: Sequence[float] = (0.0, 1.0, 2.0, 5.0), alpha: float = -1.0) -> Figure:
    """Loss of one positive pixel against its probability ``p`` (computed with :func:`focal_loss`).

    ``gamma = 0`` with ``alpha < 0`` is the binary cross-entropy; larger ``gamma`` silences easy pixels.
    """
    p = torch.linspace(0.01, 0.99, 99)
    logits = torch.log(p / (1 - p))
    fig = Figure(figsize=(4.5, 3.0), layout="constrained")
    ax = fig.subplots()
    for gamma in gammas:
        values = [
            float(focal_loss(z.reshape(1, 1, 1, 1), torch.ones(1, 1, 1, 1), 1.0, alpha=alpha, gamma=gamma))
            for z in logits
        ]
        ax.plot(p.numpy(), values, label=f"gamma = {gamma:g}" + (" (cross-entropy)" if gamma == 0 else ""))
    ax.set_xlabel("p of the true class")
    ax.set_ylabel("loss of one positive pixel")
    ax.set_title("focal loss (1 - p)^gamma · (-log p), no alpha", fontsize=9)
    ax.legend(fontsize=8)
    return fig


def _window_box(ax, centre: tuple[int, int], size: int = WINDOW_SIZE) -> None:
    """The ``size x size`` window around pixel ``centre = (row, column)``, drawn as a square outline."""
    r = size // 2
    row, col = centre
    ax.add_patch(
        Rectangle((col - r - 0.5, row - r - 0.5), size, size, fill=False, edgecolor="lime", linewidth=1.2)
    )


def ssim_figure(
    predictions: Mapping[str, np.ndarray] | np.ndarray,
    target: np.ndarray,
    title: str = "",
    window_at: tuple[int, int] | None = None,
) -> Figure:
    """SSIM of one class's mask logits against its binary target, on logits and on probabilities.

    One row per prediction: the logits (the target's outline in black), their local SSIM against the target
    (:func:`~sptseg_lib.ssim.ssim_map`: 11x11 Gaussian window, C1 = 0.01², C2 = 0.03², eq. 10), the
    probabilities ``sigmoid(logits)`` and their local SSIM; each panel with its colour bar, each SSIM panel
    titled with its mean (``1 - mean`` is the loss).

    Args:
        predictions: name -> ``(H, W)`` logits (or one ``(H, W)`` array).
        target: ``(H, W)`` binary target.
        window_at: ``(row, column)`` of a pixel whose 11x11 window is outlined on every panel.
    """
    if not isinstance(predictions, Mapping):
        predictions = {"prediction": predictions}
    y = torch.as_tensor(as_numpy(target), dtype=torch.float32)[None, None]
    fig, axes = _figure(len(predictions), 4, size=2.1)
    for row, (name, logits) in enumerate(predictions.items()):
        x = torch.as_tensor(as_numpy(logits), dtype=torch.float32)[None, None]
        p = torch.sigmoid(x)
        on_logits, on_probs = ssim_map(x, y)[0, 0], ssim_map(p, y)[0, 0]
        bound = float(x.abs().max()) or 1.0
        ax = axes[row]
        _show(ax[0], x[0, 0], "logits", cmap="RdBu_r", colorbar=True, vmin=-bound, vmax=bound)
        ax[0].set_ylabel(name, fontsize=9)
        _show(
            ax[1],
            on_logits,
            f"SSIM on logits\nmean {float(on_logits.mean()):.3f}",
            cmap="RdBu",
            colorbar=True,
            vmin=-1,
            vmax=1,
        )
        _show(ax[2], p[0, 0], "sigmoid(logits)", cmap="gray", colorbar=True, vmin=0, vmax=1)
        _show(
            ax[3],
            on_probs,
            f"SSIM on probabilities\nmean {float(on_probs.mean()):.3f}",
            cmap="RdBu",
            colorbar=True,
            vmin=-1,
            vmax=1,
        )
        for k in (0, 2):
            ax[k].contour(y[0, 0].numpy(), levels=[0.5], colors="black", linewidths=0.8)
        if window_at is not None:
            for a in ax:
                _window_box(a, window_at)
    fig.suptitle(title or "local SSIM against the binary target (black outline)", fontsize=10)
    return fig


def constant_map_ssim(values: Sequence[float] | np.ndarray, target: float, on: str = "logits") -> np.ndarray:
    """SSIM of a region where the prediction is the constant logit ``v`` and the target the constant ``t``.

    Evaluated by :func:`~sptseg_lib.ssim.ssim_map` at the centre of uniform 11x11 maps (the window sees
    nothing but the region): with no variance the structure factor is ``C2 / C2 = 1`` and
    ``SSIM = (2 x t + C1) / (x² + t² + C1)``, with ``x = v`` on logits (the reference, docs/reference.md
    §5.4) or ``x = sigmoid(v)`` on probabilities.

    Args:
        values: ``(N,)`` logits.
        target: 0 (the pixel is not the class) or 1 (it is).
        on: ``"logits"`` or ``"probabilities"``.

    Returns:
        ``(N,)`` float64 SSIM values.
    """
    if on not in ("logits", "probabilities"):
        raise ValueError(f"on must be 'logits' or 'probabilities', got {on!r}")
    v = torch.as_tensor(np.asarray(values, dtype=np.float64))
    x = v if on == "logits" else torch.sigmoid(v)
    size = WINDOW_SIZE
    maps = x[None, :, None, None].expand(1, len(v), size, size).contiguous()
    y = torch.full_like(maps, float(target))
    return ssim_map(maps, y)[0, :, size // 2, size // 2].numpy()


def ssim_response_figure(values: Sequence[float] | np.ndarray | None = None) -> Figure:
    """What SSIM asks of one logit ``v`` inside a uniform region (:func:`constant_map_ssim`), against ``v``:
    left on logits (the reference's choice), right on probabilities; one line where the target is 1 (the
    pixel is the class), one where it is 0. The dotted lines mark the logits where SSIM is 1 on logits
    (``v = 0`` for target 0, ``v = 1`` for target 1); on probabilities SSIM only approaches 1 as the
    probability goes to the target, as the focal term asks."""
    if values is None:
        values = np.unique(np.concatenate([np.linspace(-8, 8, 321), np.linspace(-0.1, 0.1, 81)]))
    v = np.asarray(values, dtype=np.float64)
    fig = Figure(figsize=(8.0, 3.0), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, on in zip(axes, ("logits", "probabilities")):
        for target, colour in ((1.0, "tab:green"), (0.0, "tab:red")):
            what = "the pixel is the class" if target else "it is not"
            ax.plot(v, constant_map_ssim(v, target, on), color=colour, label=f"target {target:g} ({what})")
        if on == "logits":
            for peak, colour in ((0.0, "tab:red"), (1.0, "tab:green")):
                ax.axvline(peak, color=colour, linestyle=":", linewidth=1)
        ax.set_xlabel("logit v of every pixel in the window")
        ax.set_title(
            f"SSIM on {on}" + (" (the reference)" if on == "logits" else " (sigmoid first)"), fontsize=9
        )
        ax.axhline(0, color="0.7", linewidth=0.8)
    axes[0].set_ylabel("local SSIM (the loss is 1 - SSIM)")
    axes[0].legend(fontsize=8)
    return fig


__all__ = [
    "constant_map_ssim",
    "focal_curves_figure",
    "gradient_figure",
    "ssim_figure",
    "ssim_response_figure",
    "term_gradients",
]
