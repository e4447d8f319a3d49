"""Tests of sptseg_lib.viz.results: data, training and evaluation figures (notebooks 00, 05-09)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from sptseg_lib import viz
from sptseg_lib.viz.common import PSEUDO_RGB, colour_labels
from sptseg_lib.viz.results import (
    class_gallery_figure,
    confusion_figure,
    error_map,
    image_label_figure,
    label_panels_figure,
    loss_curves_figure,
    mask_explorer_figure,
    mask_iou,
    per_class_iou_figure,
    prediction_figure,
    score_maps_figure,
    sliding_windows_figure,
    zero_shot_figure,
)


def test_mask_iou_matches_the_confusion_matrix() -> None:
    from sptseg_lib.metrics import segmentation_metrics

    rng = np.random.default_rng(5)
    mask, truth = rng.random((12, 12)) > 0.5, rng.random((12, 12)) > 0.6
    valid = rng.random((12, 12)) > 0.2
    label = np.where(valid, truth.astype(np.int64), 255)
    expected = segmentation_metrics(
        torch.from_numpy(mask.astype(np.int64)), torch.from_numpy(label), 2, [0], [1]
    )
    assert mask_iou(mask, truth, valid) == pytest.approx(expected["IoU"][1])
    assert np.isnan(mask_iou(np.zeros((2, 2)), np.zeros((2, 2))))


def test_per_class_iou_figure_bars_and_means_follow_the_metrics() -> None:
    from sptseg_lib.metrics import segmentation_metrics

    rng = np.random.default_rng(6)
    label = torch.from_numpy(rng.integers(0, 5, (16, 16)))
    pred = torch.where(
        torch.from_numpy(rng.random((16, 16)) < 0.7), label, torch.from_numpy(rng.integers(0, 4, (16, 16)))
    )
    result = segmentation_metrics(pred, label, 6, seen=[0, 1, 2, 5], unseen=[3, 4])  # class 5: absent, NaN
    fig = per_class_iou_figure(result["IoU"], list("abcdef"), unseen=[3, 4])
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches[:6]]
    np.testing.assert_allclose(heights, np.nan_to_num(result["IoU"]))
    assert ax.patches[3].get_facecolor() != ax.patches[0].get_facecolor()  # unseen bars differ
    assert ax.patches[6].get_hatch() == "//"  # the NaN class
    lines = {line.get_label().split()[0]: line.get_ydata()[0] for line in ax.get_lines()}
    assert lines["mIoU(S)"] == pytest.approx(result["mIoU_seen"])
    assert lines["mIoU(U)"] == pytest.approx(result["mIoU_unseen"])
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[2:4] == ["seen class", "unseen class"] and legend[4].startswith("IoU undefined")
    no_nan = per_class_iou_figure([50.0] * 3, list("abc"), unseen=[2])
    assert not any("undefined" in t.get_text() for t in no_nan.axes[0].get_legend().get_texts())


def test_loss_curves_figure_plots_the_logged_terms() -> None:
    records = [{"event": "start", "step": 0}] + [
        {"step": s, "loss": 10.0 / s, "focal": 9.0 / s, "ssim": 1.0 / s, "lr": 1e-4 * s, "images_per_s": 3.0}
        for s in (5, 10, 15)
    ]
    fig = loss_curves_figure(records)
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert set(lines) == {"loss", "focal", "ssim"}
    np.testing.assert_allclose(lines["focal"].get_xdata(), [5, 10, 15])
    np.testing.assert_allclose(lines["ssim"].get_ydata(), [1 / 5, 1 / 10, 1 / 15])
    alone = [line for line in fig.axes[1].get_lines() if line.get_label() == "ssim"]  # SSIM on a linear scale
    np.testing.assert_allclose(alone[0].get_ydata(), [1 / 5, 1 / 10, 1 / 15])
    assert fig.axes[1].get_yscale() == "linear" and fig.axes[0].get_yscale() == "log"
    np.testing.assert_allclose(fig.axes[-1].get_lines()[0].get_ydata(), [5e-4, 1e-3, 1.5e-3])
    assert all(ax.get_ylabel() for ax in fig.axes)  # every panel says what its y axis is
    assert fig.axes[-1].get_ylabel() == "learning rate"
    focal_only = loss_curves_figure([{"step": 1, "loss": 2.0, "focal": 2.0, "lr": 1.0}])
    assert len(focal_only.axes) == 2  # no second panel without a unit-weight term
    assert isinstance(loss_curves_figure([]), Figure)


def test_class_gallery_figure_titles_each_image_and_marks_the_unseen() -> None:
    images = [np.full((4, 4, 3), v, np.uint8) for v in (0, 100, 200)]
    fig = class_gallery_figure(
        [("world a", images, ["x", "y", "z"], [1]), ("world b", images[:1], ["w"], [])]
    )
    axes = fig.axes
    assert len(axes) == 6 and [ax.get_title() for ax in axes[:4]] == ["x", "y *", "z", "w"]
    assert axes[1].title.get_color() == "tab:red" and axes[0].title.get_color() == "k"
    assert not axes[4].axison and not axes[5].axison  # the shorter row leaves its empty panels blank
    assert axes[0].get_ylabel() == "world a" and axes[3].get_ylabel() == "world b"
    np.testing.assert_array_equal(axes[2].images[0].get_array(), images[2])


def test_zero_shot_figure_shows_the_top_probabilities() -> None:
    rng = np.random.default_rng(7)
    probs = rng.dirichlet(np.ones(5), size=2)
    fig = zero_shot_figure([np.zeros((8, 8, 3), np.uint8)] * 2, probs, list("abcde"), truth=[1, 4], top=3)
    bars = fig.axes[3].patches  # the second image's bar chart
    widths = sorted((b.get_width() for b in bars), reverse=True)
    np.testing.assert_allclose(widths, np.sort(probs[1])[::-1][:3])
    with pytest.raises(ValueError, match="probabilities must be"):
        zero_shot_figure([np.zeros((8, 8, 3), np.uint8)], probs, list("abcde"))


def test_zero_shot_figure_shows_runners_up_a_million_times_less_likely() -> None:
    probs = np.array([[1.0 - 2e-6, 1e-6, 1e-6, 0.0], [0.5, 0.3, 0.2, 0.0]])
    fig = zero_shot_figure([np.zeros((8, 8, 3), np.uint8)] * 2, probs, list("abcd"), truth=[0, 1], top=3)
    bars = fig.axes[2]  # the first image's bar chart
    assert bars.get_xscale() == "log" and "probability" in bars.get_xlabel()
    lo, hi = bars.get_xlim()
    assert lo <= 1e-6 / 2 and hi == pytest.approx(1.0)
    visible = [b for b in bars.patches if b.get_width() > lo]
    assert len(visible) == 3  # the runners-up have bars to see, not only the winner
    labels = sorted(t.get_text() for t in bars.texts)
    assert labels == ["a: 1.00", "b: 1e-06", "c: 1e-06"]
    assert viz.figure_text_problems(fig) == []


def test_prediction_figure_marks_right_wrong_and_ignored() -> None:
    label = np.array([[0, 1], [255, 1]])
    pred = np.array([[0, 0], [1, 1]])
    errors = error_map(pred, label)
    np.testing.assert_allclose(errors[0, 0], (0.2, 0.7, 0.2))
    np.testing.assert_allclose(errors[0, 1], (0.85, 0.15, 0.15))
    np.testing.assert_allclose(errors[1, 0], (0.6, 0.6, 0.6))
    fig = prediction_figure([np.zeros((2, 2, 3), np.uint8)], [label], [pred], ["a", "b"], unseen=[1])
    assert "67% right" in fig.axes[3].get_title() and "green right, red wrong" in fig.axes[3].get_title()
    legend = [t.get_text() for t in fig.axes[3].get_legend().get_texts()]
    assert legend == ["a", "b (unseen)", "ignored (255)"]


def test_label_panels_figure_legend_names_ignored_and_pseudo_pixels() -> None:
    label = np.array([[0, 2], [1, 255]])
    panels = {"fully": label, "transductive": np.where(label == 2, -1, label)}
    fig = label_panels_figure(np.zeros((2, 2, 3), np.uint8), panels, ["a", "b", "c"], unseen=[2])
    legend = [t.get_text() for t in fig.axes[-1].get_legend().get_texts()]
    assert legend == ["a", "b", "c (unseen)", "ignored (255)", "pseudo-label (-1)"]
    np.testing.assert_allclose(fig.axes[2].images[0].get_array()[0, 1], PSEUDO_RGB)


def _explorer_inputs():
    rng = np.random.default_rng(8)
    label = rng.integers(0, 4, (10, 10))
    label[0] = 255
    scores = rng.random((4, 10, 10))
    return (rng.random((10, 10, 3)) * 255).astype(np.uint8), scores, label


def test_mask_explorer_figure_panels() -> None:
    image, scores, label = _explorer_inputs()
    fig = mask_explorer_figure(
        image, scores, label, list("abcd"), unseen=[2, 3], class_index=2, threshold=0.6
    )
    np.testing.assert_allclose(fig.axes[1].images[0].get_array(), scores[2])
    outcome = np.asarray(fig.axes[2].images[0].get_array())
    for (i, j), v in np.ndenumerate(label):
        hit, truth = scores[2, i, j] >= 0.6, v == 2
        expected = (
            (0.6, 0.6, 0.6)
            if v == 255
            else (0.2, 0.7, 0.2)
            if hit and truth
            else (0.85, 0.15, 0.15)
            if hit
            else (0.15, 0.35, 0.9)
            if truth
            else (0.0, 0.0, 0.0)
        )
        np.testing.assert_allclose(outcome[i, j], expected)
    assert f"IoU {mask_iou(scores[2] >= 0.6, label == 2, label != 255):.1f}" in fig.axes[2].get_title()
    outcomes = [t.get_text() for t in fig.axes[2].get_legend().get_texts()]
    assert outcomes == ["hit", "false alarm", "missed", "neither", "ignored"]
    assert fig.axes[1].images[0].colorbar is not None  # the score map has its colour bar
    argmax_panel = np.asarray(fig.axes[3].images[0].get_array())
    seen_pixels = np.isin(scores.argmax(0), [0, 1])
    np.testing.assert_allclose(
        argmax_panel[seen_pixels], 0.8
    )  # seen classes are grey when unseen is highlighted
    assert not np.allclose(argmax_panel[~seen_pixels], 0.8)
    with pytest.raises(ValueError, match="highlight must be one of"):
        mask_explorer_figure(image, scores, label, list("abcd"), [2], 0, highlight="some")
    with pytest.raises(ValueError, match="class_index 9 out of range"):
        mask_explorer_figure(image, scores, label, list("abcd"), [2], 9)


def test_sliding_windows_figure_draws_every_window() -> None:
    from sptseg_lib.inference import slide_windows

    windows = slide_windows(64, 160, crop=64, stride=48)  # overlapping windows
    fig = sliding_windows_figure(np.zeros((64, 160, 3), np.uint8), windows)
    patches = fig.axes[0].patches
    assert len(patches) == len(windows) == 3
    starts = sorted(round(p.get_x() + 0.5 - 1.0 - 1.5 * (k % 3)) for k, p in enumerate(patches))
    assert starts == sorted(x1 for _, _, x1, _ in windows)
    assert [t.get_text() for t in fig.axes[0].texts] == ["1", "2", "3"]
    tiles = slide_windows(64, 192, crop=64, stride=64)  # no overlap: every outline 1 px inside its window
    fig = sliding_windows_figure(np.zeros((64, 192, 3), np.uint8), tiles)
    assert sorted(round(p.get_x() + 0.5 - 1.0) for p in fig.axes[0].patches) == [0, 64, 128]
    assert fig.get_size_inches()[0] <= 8.0


def test_score_maps_figure_shows_every_map_the_argmax_and_its_key() -> None:
    rng = np.random.default_rng(10)
    scores = rng.random((5, 12, 36))
    names = list("abcde")
    fig = score_maps_figure(np.zeros((12, 36, 3), np.uint8), scores, names, unseen=[4], classes=[1, 4])
    panels = {ax.get_title(): ax for ax in fig.axes if ax.images}
    np.testing.assert_allclose(
        panels["argmax over the names"].images[0].get_array(), colour_labels(scores.argmax(0), 5)
    )
    np.testing.assert_allclose(panels["b"].images[0].get_array(), scores[1])
    np.testing.assert_allclose(panels["e (unseen)"].images[0].get_array(), scores[4])
    assert panels["b"].images[0].get_clim() == panels["e (unseen)"].images[0].get_clim()  # one colour scale
    assert sum(ax.get_ylabel() == "score" for ax in fig.axes) == 1  # ... with one colour bar
    present = sorted(set(scores.argmax(0).ravel().tolist()))
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == [names[c] + (" (unseen)" if c == 4 else "") for c in present]
    assert fig.get_size_inches()[0] <= 10.0  # a wide image keeps the figure within a page
    many = score_maps_figure(
        np.zeros((8, 8, 3), np.uint8), rng.random((20, 8, 8)), [str(i) for i in range(20)]
    )
    assert many.get_size_inches()[0] <= 10.0
    with pytest.raises(ValueError, match="scores must be"):
        score_maps_figure(np.zeros((8, 8, 3), np.uint8), scores, names[:3])


def test_confusion_figure_shows_each_true_class_shares() -> None:
    matrix = np.array([[8, 2, 0], [1, 1, 2], [0, 0, 0]])
    fig = confusion_figure(matrix, ["a", "b", "c"], unseen=[1])
    shares = np.ma.filled(np.ma.masked_invalid(fig.axes[0].images[0].get_array()), -1.0)
    # rows normalised; the class without labelled pixels has an empty (grey, NaN) row
    np.testing.assert_allclose(shares, [[0.8, 0.2, 0.0], [0.25, 0.25, 0.5], [-1.0, -1.0, -1.0]])
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["a", "b *", "c"]
    assert fig.axes[0].images[0].colorbar is not None
    assert "grey" in fig.axes[0].images[0].colorbar.ax.get_ylabel()
    # the values of at least 10 % are written in their cells, in percent
    assert sorted(t.get_text() for t in fig.axes[0].texts) == ["20", "25", "25", "50", "80"]


def test_confusion_figure_class_names_are_legible_and_unseen_marked() -> None:
    from matplotlib.colors import to_rgb

    from sptseg_lib.data.splits import SHAPES_CLASS_NAMES, SHAPES_SPLIT

    n = len(SHAPES_CLASS_NAMES)
    matrix = np.random.default_rng(3).integers(0, 100, (n, n)) + 500 * np.eye(n, dtype=int)
    fig = confusion_figure(matrix, SHAPES_CLASS_NAMES, unseen=SHAPES_SPLIT.unseen)
    ax = fig.axes[0]
    for labels in (ax.get_xticklabels(), ax.get_yticklabels()):
        assert len(labels) == n
        assert min(t.get_fontsize() for t in labels) >= 8
        for i, t in enumerate(labels):
            unseen = i in SHAPES_SPLIT.unseen
            assert t.get_text().endswith(" *") == unseen
            assert (to_rgb(t.get_color()) == to_rgb("tab:orange")) == unseen
    assert fig.get_size_inches()[0] <= 10.0
    assert viz.figure_text_problems(fig) == []


def test_image_label_figure_wraps_to_fit_a_page() -> None:
    image, label = np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.int64)
    fig = image_label_figure([image] * 6, [label] * 6, ["a"], titles=[str(i) for i in range(6)])
    assert fig.get_size_inches()[0] == pytest.approx(3 * 2.2 + 2.0)  # two rows of three pairs and the legend
    assert sum(1 for ax in fig.axes if ax.images) == 12
    titled = image_label_figure([image] * 2, [label] * 2, ["a"], title="two of them")
    assert titled.get_suptitle() == "two of them" and not fig.get_suptitle()
