"""Pictures of SPT-SEG's parts: pure functions that return matplotlib figures (and the arrays behind them).

Every ``*_figure`` function takes arrays and returns a new :class:`matplotlib.figure.Figure`; none touches
pyplot's global state, so the same function serves a static notebook figure, a widget's redraw
(:mod:`sptseg_lib.widgets`) and a test. One module per part of the paper:

* :mod:`.spectra`: spectra and filters of the spectral prompt (eq. 1-3);
* :mod:`.hilo`: HiLo attention (eq. 4-6) and its cost;
* :mod:`.decoder`: the spectral guided decoder (eq. 7-9);
* :mod:`.losses`: the loss (eq. 10);
* :mod:`.results`: data, training and evaluation (notebooks 00, 05-09);
* :mod:`.tables`: our numbers beside the paper's (:func:`comparison_table`, :func:`ablation_figure`,
  :func:`contrasts_table`, :func:`contrasts_figure`, :func:`study_figure`);
* :mod:`.common`: what they share (:func:`as_numpy`, :func:`figure_png`, label colours);
* :mod:`.checks`: :func:`figure_text_problems`, whether every text of a figure is on its canvas and
  no title runs into another text (every figure a notebook saves is checked).

``from sptseg_lib import viz`` gives every name of these modules, and, for the notebooks, the
computations the figures show, which live with the network: :func:`~sptseg_lib.spectral.spectral_prompt_steps`
(eq. 1 step by step), :func:`~sptseg_lib.hilo.hilo_query_maps` (one query's HiLo attention) and the
paper's tables (:data:`~sptseg_lib.ablations.PAPER_TABLES`, :data:`~sptseg_lib.ablations.METRIC_KEYS`).
:func:`~sptseg_lib.viz.losses.term_gradients` (the gradient of each loss term, by autograd) lives with
its figure.
:func:`~sptseg_lib.viz.hilo.hilo_query_steps` writes eq. 4-6 out by hand for one query, to check
:class:`~sptseg_lib.hilo.HiLoAttention` against.

Array conventions: images ``(H, W, 3)`` uint8 or ``(H, W)`` floats; token grids ``(h, w, C)``; mask
scores ``(C, H, W)``.
"""

from __future__ import annotations

from ..ablations import METRIC_KEYS, PAPER_TABLES
from ..hilo import hilo_query_maps
from ..spectral import spectral_prompt_steps
from . import checks, common, decoder, hilo, losses, results, spectra, tables
from .checks import *  # noqa: F403
from .common import *  # noqa: F403
from .decoder import *  # noqa: F403
from .hilo import *  # noqa: F403
from .losses import *  # noqa: F403
from .results import *  # noqa: F403
from .spectra import *  # noqa: F403
from .tables import *  # noqa: F403

__all__ = [
    "METRIC_KEYS",
    "PAPER_TABLES",
    "hilo_query_maps",
    "spectral_prompt_steps",
    *checks.__all__,
    *common.__all__,
    *decoder.__all__,
    *hilo.__all__,
    *losses.__all__,
    *results.__all__,
    *spectra.__all__,
    *tables.__all__,
]
