"""Tests of sptseg_lib.viz.hilo (eq. 4-6): the layout figure shows the library's own head split."""

from __future__ import annotations

from sptseg_lib.viz.hilo import hilo_layout_figure


def test_hilo_layout_shows_the_library_head_split() -> None:
    fig = hilo_layout_figure((32, 32), 3, 0.9, num_heads=8)
    labels = fig.axes[2].get_legend_handles_labels()[1]
    assert labels == ["Hi-Fi heads: 1", "Lo-Fi heads: 7"]
    everything_global = hilo_layout_figure((32, 32), 1, 0.5, num_heads=8)
    assert everything_global.axes[2].get_legend_handles_labels()[1] == ["Hi-Fi heads: 0", "Lo-Fi heads: 8"]
