"""Tests of sptseg_lib.viz.results: data, training and evaluation figures (notebooks 00, 05-09)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from sptseg_lib.viz.common import PSEUDO_RGB
from sptseg_lib.viz.results import (
    error_map,
    label_panels_figure,
    loss_curves_figure,
    mask_explorer_figure,
    mask_iou,
    per_class_iou_figure,
    prediction_figure,
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
    np.testing.assert_allclose(fig.axes[1].get_lines()[0].get_ydata(), [5e-4, 1e-3, 1.5e-3])
    assert isinstance(loss_curves_figure([]), Figure)


def test_zero_shot_figure_shows_the_top_probabilities() -> None:
    rng = np.random.default_rng(7)
    probs = rng.dirichlet(np.ones(5), size=2)
    fig = zero_shot_figure([np.zeros((8, 8, 3), np.uint8)] * 2, probs, list("abcde"), truth=[1, 4], top=3)
    bars = fig.axes[3].patches  # the second image's bar chart
    widths = sorted((b.get_width() for b in bars), reverse=True)
    np.testing.assert_allclose(widths, np.sort(probs[1])[::-1][:3])
    with pytest.raises(ValueError, match="probabilities must be"):
        zero_shot_figure([np.zeros((8, 8, 3), np.uint8)], probs, list("abcde"))


def test_prediction_figure_marks_right_wrong_and_ignored() -> None:
    label = np.array([[0, 1], [255, 1]])
    pred = np.array([[0, 0], [1, 1]])
    errors = error_map(pred, label)
    np.testing.assert_allclose(errors[0, 0], (0.2, 0.7, 0.2))
    np.testing.assert_allclose(errors[0, 1], (0.85, 0.15, 0.15))
    np.testing.assert_allclose(errors[1, 0], (0.6, 0.6, 0.6))
    fig = prediction_figure([np.zeros((2, 2, 3), np.uint8)], [label], [pred], ["a", "b"], unseen=[1])
    assert "67% right" in fig.axes[3].get_title()
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

    windows = slide_windows(64, 160, crop=64, stride=48)
    fig = sliding_windows_figure(np.zeros((64, 160, 3), np.uint8), windows)
    patches = fig.axes[0].patches
    assert len(patches) == len(windows) == 3
    starts = sorted(round(p.get_x() + 0.5 - 1.5 * (k % 3)) for k, p in enumerate(patches))
    assert starts == sorted(x1 for _, _, x1, _ in windows)
