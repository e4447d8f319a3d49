"""Pictures of the loss (eq. 10, ``L = γ · L_focal + σ · L_ssim``): what each term asks of a logit, the
focal term against the probability, and the local SSIM map.

The gradients come from :func:`sptseg_lib.losses.term_gradients` (``{term: (C, H, W)}``); maps are
``(H, W)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from ..losses import focal_loss
from ..ssim import ssim_map
from .common import _figure, _show, as_numpy


def gradient_figure(
    image: np.ndarray,
    label: np.ndarray,
    gradients: Mapping[str, np.ndarray],
    channel: int,
    class_name: str = "",
) -> Figure:
    """Image, label map, then ``d term / d logit`` of one class channel for every term (red: push up).

    ``gradients``: term name -> ``(C, H, W)``, as :func:`sptseg_lib.losses.term_gradients` returns them.
    """
    lab = as_numpy(label)
    fig, axes = _figure(1, 2 + len(gradients), size=2.2)
    axes[0, 0].imshow(as_numpy(image))
    axes[0, 0].set_title("image", fontsize=9)
    shown = np.where(lab == 255, -1, lab)
    _show(axes[0, 1], shown, "labels (-1: ignored)", cmap="tab20")
    for i, (name, g) in enumerate(gradients.items()):
        g = -g[channel]  # the descent direction: positive = the logit goes up
        bound = float(np.abs(g).max()) or 1.0
        _show(axes[0, 2 + i], g, f"-d {name} / d logit", cmap="RdBu_r", vmin=-bound, vmax=bound)
    if class_name:
        fig.suptitle(f"class channel {channel}: {class_name}", fontsize=10)
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
    ax.set_ylabel("loss")
    ax.legend(fontsize=8)
    return fig


def ssim_figure(prediction: np.ndarray, target: np.ndarray, title: str = "") -> Figure:
    """A prediction map ``(H, W)``, its target and their local SSIM (11x11 Gaussian window,
    :func:`~sptseg_lib.ssim.ssim_map`)."""
    x = torch.as_tensor(as_numpy(prediction), dtype=torch.float32)[None, None]
    y = torch.as_tensor(as_numpy(target), dtype=torch.float32)[None, None]
    smap = ssim_map(x, y)[0, 0]
    fig, axes = _figure(1, 3)
    _show(axes[0, 0], x[0, 0], title or "prediction", cmap="gray")
    _show(axes[0, 1], y[0, 0], "target", cmap="gray")
    _show(axes[0, 2], smap, f"local SSIM (mean {float(smap.mean()):.3f})", cmap="RdBu", vmin=-1, vmax=1)
    return fig


__all__ = ["focal_curves_figure", "gradient_figure", "ssim_figure"]
