"""Every widget callback in plain pytest: set a control's value, check that the figure changed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sptseg_lib import viz
from sptseg_lib.hilo import HiLoAttention
from sptseg_lib.viz.hilo import hilo_explorer_figure
from sptseg_lib.widgets import HiLoExplorer, SpectrumExplorer


@pytest.fixture()
def sources() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"photo": rng.random((16, 16, 3)), "tokens": rng.standard_normal((8, 8, 6))}


def _filtered_panel(explorer: SpectrumExplorer) -> np.ndarray:
    return np.asarray(explorer.figure.axes[3].images[0].get_array())


def test_spectrum_explorer_band_slider_redraws(sources) -> None:
    explorer = SpectrumExplorer(sources, band=(0.0, 0.3))
    assert explorer.band.description == "band"  # what the browser test looks for
    assert "sptseg-band-slider" in explorer.band._dom_classes
    assert "sptseg-explorer-figure" in explorer.image._dom_classes
    before_png, before = explorer.image.value, _filtered_panel(explorer)
    explorer.band.value = (0.3, 1.0)
    assert explorer.image.value != before_png
    np.testing.assert_allclose(
        _filtered_panel(explorer), viz.band_filter(sources["photo"][..., 0], (0.3, 1.0))
    )
    assert not np.allclose(_filtered_panel(explorer), before)


def test_spectrum_explorer_channel_slider_redraws(sources) -> None:
    explorer = SpectrumExplorer(sources)
    before = explorer.image.value
    explorer.channel.value = 2
    assert explorer.image.value != before
    np.testing.assert_allclose(explorer.figure.axes[0].images[0].get_array(), sources["photo"][..., 2])


def test_spectrum_explorer_source_dropdown_redraws_and_bounds_channel(sources) -> None:
    explorer = SpectrumExplorer(sources)
    assert explorer.channel.max == 2
    before = explorer.image.value
    explorer.source.value = "tokens"
    assert explorer.channel.max == 5
    assert explorer.image.value != before
    np.testing.assert_allclose(explorer.figure.axes[0].images[0].get_array(), sources["tokens"][..., 0])
    explorer.channel.value = 5
    explorer.source.value = "photo"  # fewer channels: the slider is clamped, the figure still draws
    assert explorer.channel.value == 2
    np.testing.assert_allclose(explorer.figure.axes[0].images[0].get_array(), sources["photo"][..., 2])


def test_spectrum_explorer_rejects_bad_sources() -> None:
    with pytest.raises(ValueError, match="at least one source"):
        SpectrumExplorer({})
    with pytest.raises(ValueError, match=r"must be \(h, w, C\)"):
        SpectrumExplorer({"flat": np.zeros((4, 4))})


@pytest.fixture()
def hilo_inputs():
    rng = np.random.default_rng(1)
    image = (rng.random((48, 48, 3)) * 255).astype(np.uint8)
    return image, torch.randn(1, 36, 32), (6, 6)


def _legend(explorer: HiLoExplorer) -> list[str]:
    return explorer.figure.axes[2].get_legend_handles_labels()[1]


def test_hilo_explorer_alpha_slider_changes_the_head_split(hilo_inputs) -> None:
    image, tokens, grid = hilo_inputs
    explorer = HiLoExplorer(image, tokens, grid, num_heads=8, window_size=2, alpha=0.5)
    assert _legend(explorer) == ["Hi-Fi heads: 4", "Lo-Fi heads: 4"]
    before = explorer.image.value
    explorer.alpha.value = 0.9
    expected = HiLoAttention(32, 8, 2, 0.9)
    assert _legend(explorer) == [f"Hi-Fi heads: {expected.h_heads}", f"Lo-Fi heads: {expected.l_heads}"]
    assert explorer.image.value != before


def test_hilo_explorer_window_slider_changes_the_maps(hilo_inputs) -> None:
    image, tokens, grid = hilo_inputs
    explorer = HiLoExplorer(image, tokens, grid, num_heads=8, window_size=2, alpha=0.5)
    hifi_before = np.asarray(explorer.figure.axes[3].images[1].get_array())
    assert np.count_nonzero(hifi_before) == 4  # a 2x2 window
    explorer.window_size.value = 3
    hifi_after = np.asarray(explorer.figure.axes[3].images[1].get_array())
    assert np.count_nonzero(hifi_after) == 9  # a 3x3 window
    assert explorer.window_size.description == "window size" and explorer.alpha.description == "alpha"


def test_hilo_explorer_figure_is_deterministic(hilo_inputs) -> None:
    image, tokens, grid = hilo_inputs
    a = hilo_explorer_figure(image, tokens, grid, 3, 0.5, num_heads=8)
    b = hilo_explorer_figure(image, tokens, grid, 3, 0.5, num_heads=8)
    np.testing.assert_array_equal(a.axes[4].images[1].get_array(), b.axes[4].images[1].get_array())


@pytest.fixture()
def mask_inputs():
    rng = np.random.default_rng(2)
    images = [(rng.random((12, 12, 3)) * 255).astype(np.uint8) for _ in range(3)]
    scores = [rng.random((4, 12, 12)) for _ in range(3)]
    labels = [rng.integers(0, 4, (12, 12)) for _ in range(3)]
    return images, scores, labels


def _score_panel(explorer) -> np.ndarray:
    return np.asarray(explorer.figure.axes[1].images[0].get_array())


def test_mask_explorer_starts_on_the_first_unseen_class_and_names_its_controls(mask_inputs) -> None:
    from sptseg_lib.widgets import MaskExplorer

    explorer = MaskExplorer(*mask_inputs, class_names=list("abcd"), unseen=[2, 3])
    assert [c.description for c in explorer.children[:-1]] == ["image", "class", "threshold", "highlight"]
    assert explorer.class_index.value == 2 and "c (unseen)" in explorer.class_index.label
    np.testing.assert_allclose(_score_panel(explorer), mask_inputs[1][0][2])


def test_mask_explorer_image_and_class_controls_redraw(mask_inputs) -> None:
    from sptseg_lib.widgets import MaskExplorer

    images, scores, labels = mask_inputs
    explorer = MaskExplorer(images, scores, labels, list("abcd"), unseen=[3])
    before = explorer.image.value
    explorer.image_index.value = 2
    np.testing.assert_allclose(_score_panel(explorer), scores[2][3])
    assert explorer.image.value != before
    explorer.class_index.value = 1
    np.testing.assert_allclose(_score_panel(explorer), scores[2][1])
    assert "b (seen)" in explorer.figure.axes[0].get_title()


def test_mask_explorer_threshold_changes_the_mask_and_its_iou(mask_inputs) -> None:
    from sptseg_lib.widgets import MaskExplorer

    images, scores, labels = mask_inputs
    explorer = MaskExplorer(images, scores, labels, list("abcd"), unseen=[0], threshold=0.2)
    low = explorer.figure.axes[2].get_title()
    explorer.threshold.value = 0.8
    high = explorer.figure.axes[2].get_title()
    expected = viz.mask_iou(scores[0][0] >= 0.8, labels[0] == 0)
    assert f"IoU {expected:.1f}" in high and low != high
    share = float((scores[0][0] >= 0.8).mean())
    assert f"{share:.0%} of pixels" in explorer.figure.axes[0].get_title()


def test_mask_explorer_highlight_greys_the_other_group(mask_inputs) -> None:
    from sptseg_lib.widgets import MaskExplorer

    images, scores, labels = mask_inputs
    explorer = MaskExplorer(images, scores, labels, list("abcd"), unseen=[2, 3])
    argmax = scores[0].argmax(0)

    def grey() -> np.ndarray:
        return np.all(np.isclose(np.asarray(explorer.figure.axes[3].images[0].get_array()), 0.8), axis=-1)

    np.testing.assert_array_equal(grey(), np.isin(argmax, [0, 1]))
    explorer.highlight.value = "seen"
    np.testing.assert_array_equal(grey(), np.isin(argmax, [2, 3]))
    explorer.highlight.value = "all"
    assert not grey().any()


def test_mask_explorer_rejects_mismatched_inputs(mask_inputs) -> None:
    from sptseg_lib.widgets import MaskExplorer

    images, scores, labels = mask_inputs
    with pytest.raises(ValueError, match="as many score maps and labels"):
        MaskExplorer(images, scores[:2], labels, list("abcd"))
    with pytest.raises(ValueError, match=r"image 0: scores must be \(C=3"):
        MaskExplorer(images, scores, labels, list("abc"))


def test_spectrum_explorer_names_the_unit_of_each_source(sources) -> None:
    explorer = SpectrumExplorer(sources, units={"photo": "px"})
    assert explorer.figure.axes[1].get_xlabel() == "k_x (cycles / px)"
    explorer.source.value = "tokens"
    assert explorer.figure.axes[1].get_xlabel() == "k_x (cycles / token)"
