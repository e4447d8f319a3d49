"""Interactive explorers for the notebooks: ipywidgets around the pure figure functions of :mod:`.viz`.

Each explorer is an ``ipywidgets.VBox`` of controls over an ``ipywidgets.Image`` that shows the PNG of
the current figure. A change of any control calls :meth:`redraw`, which calls one pure function of
:mod:`sptseg_lib.viz` and replaces :attr:`figure` and the image. Tests set the controls' traits and
compare figures; a browser finds the controls by their ``description`` labels, and the spectrum
explorer's band slider and every explorer's figure by the CSS classes ``sptseg-band-slider`` and
``sptseg-explorer-figure``.
"""

from __future__ import annotations

from collections.abc import Mapping

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure

from . import viz
from .hilo import HiLoAttention


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
        sources: name -> array ``(h, w, C)`` (an image's RGB channels, or the tokens entering a block).
        band: initial frequency band ``(lo, hi)``, radii normalised to 1 at the highest frequency.

    Controls (``description``): ``source`` (dropdown), ``channel`` (slider), ``band`` (range slider).
    """

    def __init__(self, sources: Mapping[str, np.ndarray], band: tuple[float, float] = (0.0, 0.3)) -> None:
        if not sources:
            raise ValueError("SpectrumExplorer needs at least one source array (h, w, C)")
        self.sources = {name: viz._numpy(a) for name, a in sources.items()}
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
        )


def hilo_explorer_figure(
    image: np.ndarray,
    tokens: torch.Tensor,
    grid: tuple[int, int],
    window_size: int,
    alpha: float,
    num_heads: int = 8,
    query: tuple[int, int] | None = None,
    seed: int = 0,
) -> Figure:
    """HiLo (eq. 4-6) with ``window_size`` and ``alpha`` on real tokens ``(1, h*w, C)``: layout + maps.

    The attention weights are freshly initialised (seeded): they show *where* each branch can look, which
    does not depend on training. The query defaults to the centre token.
    """
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        attn = HiLoAttention(tokens.shape[-1], num_heads, window_size, alpha, hifi_projection=False).eval()
    with torch.no_grad():
        _, maps = attn(tokens, grid, return_attention=True)
    query = query or (grid[0] // 2, grid[1] // 2)
    hifi, lofi = viz.hilo_query_maps(maps, grid, query)
    fig = Figure(figsize=(12.0, 2.8), layout="constrained")
    axes = fig.subplots(1, 5)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    viz.draw_hilo_layout(axes[:3], grid, window_size, alpha, num_heads)
    viz.draw_attention_maps(axes[3:], image, hifi, lofi, grid, query)
    return fig


class HiLoExplorer(_Explorer):
    """Window size and alpha of HiLo attention on real tokens: the split, and where a token looks.

    Args:
        image: the photo ``(H, W, 3)`` the tokens come from (background of the maps).
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
        return hilo_explorer_figure(
            self.image_array, self.tokens, self.grid, self.window_size.value, self.alpha.value, self.num_heads
        )


__all__ = ["HiLoExplorer", "SpectrumExplorer", "hilo_explorer_figure"]
