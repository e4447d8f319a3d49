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
from .checks import figure_text_problems
from .common import (
    IGNORE_RGB,
    PAGE_WIDTH,
    PSEUDO_RGB,
    as_numpy,
    class_colours,
    colour_labels,
    denormalise,
    figure_png,
    label_colormap,
    to_gray,
)
from .decoder import (
    decoder_comparison_figure,
    gate_figure,
    gate_layers_figure,
    masks_figure,
    parameter_bar_figure,
)
from .hilo import (
    cost_figure,
    draw_attention_maps,
    draw_hilo_layout,
    hilo_attention_figure,
    hilo_explorer_figure,
    hilo_layout_figure,
    hilo_query_steps,
    hilo_steps_figure,
)
from .losses import focal_curves_figure, gradient_figure, ssim_figure, term_gradients
from .results import (
    HIGHLIGHTS,
    LOG_KEYS_NOT_PLOTTED,
    class_gallery_figure,
    error_map,
    image_label_figure,
    label_panels_figure,
    loss_curves_figure,
    mask_explorer_figure,
    mask_iou,
    per_class_iou_figure,
    prediction_figure,
    sliding_windows_figure,
    zero_shot_figure,
)
from .spectra import (
    band_filter,
    band_mask,
    band_of_periods,
    bands_figure,
    filter_figure,
    filter_radial_profile,
    image_filtering_figure,
    log_spectrum,
    principal_components,
    principal_components_figure,
    prompt_share_figure,
    radial_energy,
    radial_energy_figure,
    radial_frequency,
    spectral_prompt_figure,
    token_spectrum_figure,
)
from .tables import ablation_figure, comparison_table, contrasts_figure, contrasts_table, study_figure

__all__ = [
    "HIGHLIGHTS",
    "IGNORE_RGB",
    "LOG_KEYS_NOT_PLOTTED",
    "METRIC_KEYS",
    "PAGE_WIDTH",
    "PAPER_TABLES",
    "PSEUDO_RGB",
    "ablation_figure",
    "as_numpy",
    "band_filter",
    "band_mask",
    "band_of_periods",
    "bands_figure",
    "class_colours",
    "class_gallery_figure",
    "colour_labels",
    "comparison_table",
    "contrasts_figure",
    "contrasts_table",
    "cost_figure",
    "decoder_comparison_figure",
    "denormalise",
    "draw_attention_maps",
    "draw_hilo_layout",
    "error_map",
    "figure_png",
    "figure_text_problems",
    "filter_figure",
    "filter_radial_profile",
    "focal_curves_figure",
    "gate_figure",
    "gate_layers_figure",
    "gradient_figure",
    "hilo_attention_figure",
    "hilo_explorer_figure",
    "hilo_layout_figure",
    "hilo_query_maps",
    "hilo_query_steps",
    "hilo_steps_figure",
    "image_filtering_figure",
    "image_label_figure",
    "label_colormap",
    "label_panels_figure",
    "log_spectrum",
    "loss_curves_figure",
    "mask_explorer_figure",
    "mask_iou",
    "masks_figure",
    "parameter_bar_figure",
    "per_class_iou_figure",
    "prediction_figure",
    "principal_components",
    "principal_components_figure",
    "prompt_share_figure",
    "radial_energy",
    "radial_energy_figure",
    "radial_frequency",
    "sliding_windows_figure",
    "spectral_prompt_figure",
    "spectral_prompt_steps",
    "ssim_figure",
    "study_figure",
    "term_gradients",
    "to_gray",
    "token_spectrum_figure",
    "zero_shot_figure",
]
