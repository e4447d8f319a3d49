"""Tests of sptseg_lib.viz.decoder (eq. 7-9): the mask figures' content."""

from __future__ import annotations

import numpy as np

from sptseg_lib.viz.decoder import masks_figure


def test_masks_figure_shows_the_argmax() -> None:
    scores = np.random.default_rng(1).random((3, 8, 8))
    fig = masks_figure(np.zeros((8, 8, 3), np.uint8), scores, ["a", "b", "c"])
    assert len(fig.axes) == 5
    np.testing.assert_array_equal(fig.axes[-1].images[0].get_array(), scores.argmax(0))
