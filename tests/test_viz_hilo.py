"""Tests of sptseg_lib.viz.hilo (eq. 4-6): the layout figure shows the library's own head split, the
by-hand eq. 4-6 of one query matches HiLoAttention, the figures have colour bars and fit the page."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sptseg_lib.hilo import HiLoAttention, hilo_query_maps
from sptseg_lib.viz.common import PAGE_WIDTH
from sptseg_lib.viz.hilo import (
    hilo_attention_figure,
    hilo_explorer_figure,
    hilo_layout_figure,
    hilo_query_steps,
    hilo_steps_figure,
)


def test_hilo_layout_shows_the_library_head_split() -> None:
    fig = hilo_layout_figure((32, 32), 3, 0.9, num_heads=8)
    labels = fig.axes[2].get_legend_handles_labels()[1]
    assert labels == ["Hi-Fi heads: 1", "Lo-Fi heads: 7"]
    assert "padded to 33x33" in fig.axes[0].get_title() and "121 keys" in fig.axes[1].get_title()
    assert fig.axes[0].get_legend() is not None  # the windows and the padding are named
    everything_global = hilo_layout_figure((32, 32), 1, 0.5, num_heads=8)
    assert everything_global.axes[2].get_legend_handles_labels()[1] == ["Hi-Fi heads: 0", "Lo-Fi heads: 8"]


@pytest.mark.parametrize(
    ("window", "alpha", "projection", "grid"),
    [
        (3, 0.9, False, (8, 8)),
        (2, 0.5, True, (5, 7)),
        (1, 0.5, False, (4, 4)),
        (3, 1.0, False, (6, 6)),
        (3, 0.0, False, (7, 5)),
    ],
)
def test_hilo_query_steps_match_the_layer(window, alpha, projection, grid) -> None:
    torch.manual_seed(0)
    attn = HiLoAttention(32, 4, window, alpha, qkv_bias=True, hifi_projection=projection).eval()
    x = torch.randn(1, grid[0] * grid[1], 32)
    with torch.no_grad():
        z, maps = attn(x, grid, return_attention=True)
    for query in [(0, 0), (grid[0] - 1, grid[1] - 1), (1, 2)]:
        steps = hilo_query_steps(attn, x, grid, query)
        torch.testing.assert_close(steps["z"], z[0, query[0] * grid[1] + query[1]], atol=1e-5, rtol=1e-5)
        hifi, _ = hilo_query_maps(maps, grid, query)
        if attn.h_heads:
            top, left = (int(v) for v in steps["window_origin"])
            inside = hifi[top : top + window, left : left + window]
            np.testing.assert_allclose(
                steps["hifi_weights"][0, : inside.shape[0], : inside.shape[1]], inside, atol=1e-6
            )
            torch.testing.assert_close(steps["hifi_weights"].sum((1, 2)), torch.ones(attn.h_heads))
        else:
            assert "hifi_weights" not in steps and hifi is None
        if attn.l_heads:
            wp = maps.padded_grid[1]
            row = maps.lofi[0, :, query[0] * wp + query[1]]
            torch.testing.assert_close(
                steps["lofi_weights"].reshape(attn.l_heads, -1), row, atol=1e-6, rtol=0
            )


def test_hilo_query_steps_rejects_bad_queries() -> None:
    attn = HiLoAttention(16, 4, 2, 0.5)
    with pytest.raises(ValueError, match="outside the 4x4 grid"):
        hilo_query_steps(attn, torch.randn(1, 16, 16), (4, 4), (4, 0))
    with pytest.raises(ValueError, match=r"expected tokens \(1, 16, 16\)"):
        hilo_query_steps(attn, torch.randn(2, 16, 16), (4, 4), (0, 0))


def test_attention_and_steps_figures_have_colour_bars_and_fit_the_page() -> None:
    rng = np.random.default_rng(0)
    image = (rng.random((24, 24, 3)) * 255).astype(np.uint8)
    attn = HiLoAttention(16, 8, 3, 0.9, hifi_projection=False).eval()
    x = torch.randn(1, 9, 16)
    with torch.no_grad():
        _, maps = attn(x, (3, 3), return_attention=True)
    figures = [
        hilo_attention_figure(image, maps, (3, 3), (1, 1), head=0, lofi_head=6),
        hilo_steps_figure(image, hilo_query_steps(attn, x, (3, 3), (1, 1)), (3, 3), (1, 1)),
        hilo_explorer_figure(image, x, (3, 3), 3, 0.9),
    ]
    for fig in figures:
        assert fig.get_size_inches()[0] <= PAGE_WIDTH
        assert sum(ax.get_label() == "<colorbar>" for ax in fig.axes) >= 2
    assert figures[0].axes[2].get_title().startswith("Lo-Fi head 6")
