"""Interactive explorers for the notebooks: ipywidgets around the pure figure functions of :mod:`.viz`.

Each explorer is an ``ipywidgets.VBox`` of controls over an ``ipywidgets.Image`` that shows the PNG of
the current figure. A change of any control calls :meth:`redraw`, which calls one pure function of
:mod:`sptseg_lib.viz` and replaces :attr:`figure` and the image. Tests set the controls' traits and
compare figures; a browser finds the controls by their ``description`` labels, and the spectrum
explorer's band slider and every explorer's figure by the CSS classes ``sptseg-band-slider`` and
``sptseg-explorer-figure``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure

from . import viz


class _Explorer(widgets.VBox):
    """Controls + the figure's PNG; subclasses define :meth:`draw` and list their controls."""

    def __init__(self, controls: list[widgets.Widget]) -> None:
        self.image = widgets.Image(format="png")
        self.image.add_class("sptseg-explorer-figure")
        self.figure: Figure | None = None
        super().__init__([*controls, self.image])
        for control in controls:
            control.observe(self.redraw, names="value")
        self.redraw()

    def draw(self) -> Figure:  # pragma: no cover - overridden
        raise NotImplementedError

    def redraw(self, _change: dict | None = None) -> None:
        """Recompute the figure from the controls' current values and show it."""
        self.figure = self.draw()
        self.image.value = viz.figure_png(self.figure)


class SpectrumExplorer(_Explorer):
    """The spectrum of one channel of a token grid, and the grid filtered to a frequency band (eq. 1).

    Args:
        sources: name -> array ``(h, w, C)`` (an image's RGB channels, the tokens entering a block, or
            their principal components: :func:`sptseg_lib.viz.principal_components`).
        band: initial frequency band ``(lo, hi)``, radii normalised to 1 at the highest frequency.
        units: name -> what one grid cell of that source is on the frequency axes (``"px"``); the
            sources not named are token grids (``"token"``).

    Controls (``description``): ``source`` (dropdown), ``channel`` (slider), ``band`` (range slider).
    """

    def __init__(
        self,
        sources: Mapping[str, np.ndarray],
        band: tuple[float, float] = (0.0, 0.3),
        units: Mapping[str, str] | None = None,
    ) -> None:
        if not sources:
            raise ValueError("SpectrumExplorer needs at least one source array (h, w, C)")
        self.sources = {name: viz.as_numpy(a) for name, a in sources.items()}
        self.units = {name: (units or {}).get(name, "token") for name in self.sources}
        for name, a in self.sources.items():
            if a.ndim != 3:
                raise ValueError(f"source {name!r} must be (h, w, C), got shape {a.shape}")
        first = next(iter(self.sources))
        self.source = widgets.Dropdown(options=list(self.sources), value=first, description="source")
        self.channel = widgets.IntSlider(
            value=0,
            min=0,
            max=self.sources[first].shape[-1] - 1,
            description="channel",
            continuous_update=False,
        )
        self.band = widgets.FloatRangeSlider(
            value=band, min=0.0, max=1.0, step=0.05, description="band", continuous_update=False
        )
        self.band.add_class("sptseg-band-slider")
        self.source.observe(self._clamp_channel, names="value")
        super().__init__([self.source, self.channel, self.band])

    def _clamp_channel(self, change: dict) -> None:
        self.channel.max = self.sources[change["new"]].shape[-1] - 1

    def draw(self) -> Figure:
        return viz.token_spectrum_figure(
            self.sources[self.source.value],
            self.channel.value,
            tuple(self.band.value),
            title=self.source.value,
            unit=self.units[self.source.value],
        )


class HiLoExplorer(_Explorer):
    """Window size and alpha of HiLo attention on real tokens: the split, and where a token looks.

    The attention weights are freshly initialised for every setting
    (:func:`sptseg_lib.viz.hilo_explorer_figure`): the explorer shows where each branch *can* look, not
    what a trained layer learned.

    Args:
        image: the image ``(H, W, 3)`` the tokens come from (background of the maps).
        tokens: ``(1, h*w, C)`` tokens in row-major grid order; grid: ``(h, w)``.
        num_heads: attention heads (``C`` must be divisible by it).

    Controls (``description``): ``window size`` (slider 1-8), ``alpha`` (slider 0-1).
    """

    def __init__(
        self,
        image: np.ndarray,
        tokens: torch.Tensor,
        grid: tuple[int, int],
        num_heads: int = 8,
        window_size: int = 2,
        alpha: float = 0.5,
    ) -> None:
        self.image_array, self.tokens, self.grid, self.num_heads = image, tokens, grid, num_heads
        self.window_size = widgets.IntSlider(
            value=window_size, min=1, max=8, description="window size", continuous_update=False
        )
        self.alpha = widgets.FloatSlider(
            value=alpha, min=0.0, max=1.0, step=0.1, description="alpha", continuous_update=False
        )
        super().__init__([self.window_size, self.alpha])

    def draw(self) -> Figure:
        return viz.hilo_explorer_figure(
            self.image_array, self.tokens, self.grid, self.window_size.value, self.alpha.value, self.num_heads
        )


class MaskExplorer(_Explorer):
    """Predicted masks of a trained model, one class at a time (:func:`sptseg_lib.viz.mask_explorer_figure`).

    Args:
        images: ``N`` images ``(H, W, 3)`` uint8.
        scores: ``N`` per-class score maps ``(C, H, W)`` (sigmoid, after the seen-class penalty if any).
        labels: ``N`` ground-truth maps ``(H, W)`` (255 = ignored).
        class_names: the ``C`` class names; unseen: indices of the unseen classes.
        class_index: the class shown first (default: the first unseen class); threshold: initial threshold.

    Controls (``description``): ``image`` (slider), ``class`` (dropdown; unseen classes are marked),
    ``threshold`` (slider 0-1), ``highlight`` (toggle: which classes the argmax panel colours: ``all``,
    ``seen``, ``unseen``).
    """

    def __init__(
        self,
        images: Sequence[np.ndarray],
        scores: Sequence[np.ndarray | torch.Tensor],
        labels: Sequence[np.ndarray | torch.Tensor],
        class_names: Sequence[str],
        unseen: Sequence[int] = (),
        class_index: int | None = None,
        threshold: float = 0.5,
    ) -> None:
        if not images or not len(images) == len(scores) == len(labels):
            raise ValueError(
                f"MaskExplorer needs as many score maps and labels as images (at least one), got "
                f"{len(images)} images, {len(scores)} score maps, {len(labels)} labels"
            )
        self.images = [np.asarray(i) for i in images]
        self.scores = [viz.as_numpy(s) for s in scores]
        self.labels = [viz.as_numpy(lab) for lab in labels]
        self.class_names, self.unseen = list(class_names), tuple(unseen)
        for k, (s, lab) in enumerate(zip(self.scores, self.labels)):
            if s.shape != (len(self.class_names), *lab.shape):
                raise ValueError(
                    f"image {k}: scores must be (C={len(self.class_names)}, H, W) matching the label "
                    f"{lab.shape}, got {s.shape}"
                )
        if class_index is None:
            class_index = self.unseen[0] if self.unseen else 0
        options = [
            (name + (" (unseen)" if i in self.unseen else ""), i) for i, name in enumerate(self.class_names)
        ]
        self.image_index = widgets.IntSlider(
            value=0, min=0, max=len(self.images) - 1, description="image", continuous_update=False
        )
        self.class_index = widgets.Dropdown(options=options, value=class_index, description="class")
        self.threshold = widgets.FloatSlider(
            value=threshold, min=0.0, max=1.0, step=0.05, description="threshold", continuous_update=False
        )
        self.highlight = widgets.ToggleButtons(
            options=list(viz.HIGHLIGHTS), value="unseen", description="highlight"
        )
        super().__init__([self.image_index, self.class_index, self.threshold, self.highlight])

    def draw(self) -> Figure:
        k = self.image_index.value
        return viz.mask_explorer_figure(
            self.images[k],
            self.scores[k],
            self.labels[k],
            self.class_names,
            self.unseen,
            self.class_index.value,
            self.threshold.value,
            self.highlight.value,
        )


__all__ = ["HiLoExplorer", "MaskExplorer", "SpectrumExplorer"]
