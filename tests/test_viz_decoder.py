"""Tests of sptseg_lib.viz.decoder (eq. 7-9): the mask figures' content, their legends and colour bars."""

from __future__ import annotations

import numpy as np

from sptseg_lib.data.splits import SHAPES_CLASS_NAMES
from sptseg_lib.viz.common import PAGE_WIDTH, class_colours, colour_labels
from sptseg_lib.viz.decoder import decoder_comparison_figure, gate_layers_figure, masks_figure


def _axes_titled(fig, start: str):
    return [ax for ax in fig.axes if ax.get_title().startswith(start)]


def test_masks_figure_shows_the_argmax_in_name_colours_with_a_legend() -> None:
    names = list(SHAPES_CLASS_NAMES)
    scores = np.random.default_rng(1).random((len(names), 8, 8))
    label = np.random.default_rng(2).integers(0, len(names), (8, 8))
    fig = masks_figure(np.zeros((8, 8, 3), np.uint8), scores, names, label=label, unseen=[3], shown=[0, 3])
    (argmax,) = _axes_titled(fig, "argmax")
    np.testing.assert_allclose(argmax.images[0].get_array(), colour_labels(scores.argmax(0), names))
    (truth,) = _axes_titled(fig, "ground truth")
    np.testing.assert_allclose(truth.images[0].get_array(), colour_labels(label, names))
    legend = next(ax.get_legend() for ax in fig.axes if ax.get_legend() is not None)
    shown = set(np.unique(label)) | set(np.unique(scores.argmax(0)))
    assert len(legend.get_texts()) == len(shown)
    assert any("(unseen)" in t.get_text() for t in legend.get_texts()) == (3 in shown)
    assert _axes_titled(fig, "red star (unseen)")  # a score map names its class
    assert any(ax.get_label() == "<colorbar>" for ax in fig.axes)  # one colour bar for the score maps
    assert fig.get_size_inches()[0] <= PAGE_WIDTH


def test_decoder_comparison_and_gate_layers_figures_fit_the_page() -> None:
    rng = np.random.default_rng(3)
    names = list(SHAPES_CLASS_NAMES)
    scores = {"a": rng.random((len(names), 8, 8)), "b": rng.random((len(names), 8, 8))}
    fig = decoder_comparison_figure(np.zeros((8, 8, 3), np.uint8), scores, names)
    assert fig.get_size_inches()[0] <= PAGE_WIDTH
    assert sum(ax.get_legend() is not None for ax in fig.axes) == 1
    colours = {tuple(c) for c in class_colours(names)}
    drawn = _axes_titled(fig, "argmax")[0].images[0].get_array().reshape(-1, 3)
    assert {tuple(c) for c in drawn} <= colours
    gates = {f"layer {k}": rng.random((4, 4)) * (k > 0) for k in range(3)}
    fig = gate_layers_figure(np.zeros((8, 8, 3), np.uint8), gates)
    assert "100% of the tokens off" in fig.axes[1].get_title()
    assert fig.get_size_inches()[0] <= PAGE_WIDTH
