"""Tests of sptseg_lib.viz: the spectral helpers against direct formulas, the figures' content."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from sptseg_lib import viz
from sptseg_lib.hilo import HiLoAttention
from sptseg_lib.spectral import spectral_prompt


def _radius_by_loops(h: int, w: int) -> np.ndarray:
    """Radius of every FFT bin from the signed integer frequencies, one bin at a time."""
    r = np.zeros((h, w))
    for i in range(h):
        for j in range(w):
            ky = (i if i <= h // 2 else i - h) / h
            kx = (j if j <= w // 2 else j - w) / w
            r[i, j] = np.hypot(ky, kx)
    return r / r.max()


@pytest.mark.parametrize("shape", [(8, 8), (7, 10), (16, 9)])
def test_radial_frequency_matches_per_bin_formula(shape: tuple[int, int]) -> None:
    np.testing.assert_allclose(viz.radial_frequency(shape), _radius_by_loops(*shape), atol=1e-12)


@pytest.mark.parametrize("cutoff", [0.0, 0.13, 0.5, 0.99])
def test_low_and_high_pass_masks_split_the_spectrum(cutoff: float) -> None:
    shape = (12, 10)
    low, high = viz.band_mask(shape, (0.0, cutoff)), viz.band_mask(shape, (cutoff, 1.0))
    np.testing.assert_array_equal(low + high, np.ones(shape))
    assert viz.band_mask(shape, (0.0, 1.0)).min() == 1.0


def test_band_filter_keeps_a_cosine_inside_the_band_and_removes_it_outside() -> None:
    n = 32
    y, x = np.mgrid[:n, :n]
    wave = np.cos(2 * np.pi * (3 * x + 4 * y) / n)  # radius 5/32 of the spectrum; corner radius = sqrt(2)/2
    radius = np.hypot(3 / n, 4 / n) / np.hypot(0.5, 0.5)
    np.testing.assert_allclose(viz.band_filter(wave, (radius - 0.02, radius + 0.02)), wave, atol=1e-10)
    np.testing.assert_allclose(viz.band_filter(wave, (radius + 0.05, 1.0)), 0.0, atol=1e-10)
    assert np.argmax(viz.radial_energy(wave, bins=10)) == int(radius * 10)


def test_band_filter_identity_and_sum_of_bands_per_channel() -> None:
    x = np.random.default_rng(0).standard_normal((9, 11, 3))
    np.testing.assert_allclose(viz.band_filter(x, (0.0, 1.0)), x, atol=1e-12)
    parts = sum(viz.band_filter(x, band) for band in ((0.0, 0.2), (0.2, 0.6), (0.6, 1.0)))
    np.testing.assert_allclose(parts, x, atol=1e-12)
    assert viz.radial_energy(x).sum() == pytest.approx(1.0)


def test_band_mask_rejects_a_reversed_band() -> None:
    with pytest.raises(ValueError, match="lo <= hi"):
        viz.band_mask((4, 4), (0.5, 0.2))


def test_spectral_prompt_steps_end_in_the_library_result() -> None:
    h, w, c = 6, 8, 5
    tokens, cls = torch.randn(h, w, c), torch.randn(c)
    weight = torch.randn(h, w // 2 + 1, c, dtype=torch.complex64)
    steps = viz.spectral_prompt_steps(tokens, cls, weight)
    expected = spectral_prompt(tokens.reshape(1, h * w, c), cls[None], weight, (h, w)).reshape(h, w, c)
    torch.testing.assert_close(steps["S"], expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(steps["H+S"], tokens + expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(steps["H*g"], tokens * cls)
    assert steps["spectrum"].shape == (h, w // 2 + 1, c)


def test_hilo_query_maps_read_the_right_entries() -> None:
    grid, ws = (6, 6), 3
    attn = HiLoAttention(16, num_heads=4, window_size=ws, alpha=0.5, hifi_projection=False)
    _, maps = attn(torch.randn(1, 36, 16), grid, return_attention=True)
    query = (4, 1)
    hifi, lofi = viz.hilo_query_maps(maps, grid, query, head=1)
    # Hi-Fi: weights only inside the query's window, summing to one.
    outside = np.ones(grid, dtype=bool)
    outside[3:6, 0:3] = False
    assert np.all(hifi[outside] == 0) and hifi.sum() == pytest.approx(1.0, abs=1e-5)
    expected = maps.hifi[0, 1, 1, 0, (4 % ws) * ws + 1 % ws].reshape(ws, ws).detach().numpy()
    np.testing.assert_allclose(hifi[3:6, 0:3], expected)
    # Lo-Fi: every cell carries the weight of the pooled key that averages it.
    row = maps.lofi[0, 1, query[0] * 6 + query[1]].detach().numpy()
    for i in range(6):
        for j in range(6):
            assert lofi[i, j] == pytest.approx(row[(i // ws) * 2 + j // ws])


def test_term_gradients_match_analytic_cross_entropy_and_respect_ignore() -> None:
    torch.manual_seed(0)
    logits = torch.randn(1, 3, 16, 16)
    labels = torch.randint(0, 3, (1, 16, 16))
    labels[0, :4] = 255
    grads = viz.term_gradients(logits, labels, ignore_as_negative=True)
    targets = torch.stack([(labels[0] == c).float() for c in range(3)])
    analytic = (torch.sigmoid(logits[0]) - targets) / targets.numel()
    np.testing.assert_allclose(grads["cross-entropy"], analytic.numpy(), atol=1e-7)
    assert np.abs(grads["focal"][:, :4]).max() > 0  # ignored pixels are negatives for every class
    excluded = viz.term_gradients(logits, labels, ignore_as_negative=False)
    for name in ("focal", "dice", "cross-entropy"):
        assert np.abs(excluded[name][:, :4]).max() == 0, name
        assert np.abs(excluded[name][:, 4:]).max() > 0, name


def test_focal_curves_gamma_zero_is_cross_entropy() -> None:
    fig = viz.focal_curves_figure(gammas=(0.0, 2.0))
    ce, focal = fig.axes[0].lines
    p = ce.get_xdata()
    np.testing.assert_allclose(ce.get_ydata(), -np.log(p), rtol=1e-4)
    np.testing.assert_allclose(focal.get_ydata(), -np.log(p) * (1 - p) ** 2, rtol=1e-4)


def test_masks_figure_shows_the_argmax() -> None:
    scores = np.random.default_rng(1).random((3, 8, 8))
    fig = viz.masks_figure(np.zeros((8, 8, 3), np.uint8), scores, ["a", "b", "c"])
    assert len(fig.axes) == 5
    np.testing.assert_array_equal(fig.axes[-1].images[0].get_array(), scores.argmax(0))


def test_token_spectrum_figure_changes_with_band_and_checks_channel() -> None:
    tokens = np.random.default_rng(2).standard_normal((8, 8, 4))
    a = viz.token_spectrum_figure(tokens, 1, (0.0, 0.3))
    b = viz.token_spectrum_figure(tokens, 1, (0.3, 1.0))
    np.testing.assert_allclose(a.axes[3].images[0].get_array(), viz.band_filter(tokens[..., 1], (0.0, 0.3)))
    assert viz.figure_png(a) != viz.figure_png(b)
    with pytest.raises(ValueError, match="channel 7 out of range"):
        viz.token_spectrum_figure(tokens, 7, (0.0, 1.0))


def test_every_figure_function_returns_a_figure() -> None:
    rng = np.random.default_rng(3)
    image = (rng.random((32, 32, 3)) * 255).astype(np.uint8)
    weight = torch.randn(4, 3, 6, dtype=torch.complex64)
    steps = viz.spectral_prompt_steps(torch.randn(4, 4, 6), torch.randn(6), weight)
    attn = HiLoAttention(16, 4, 2, 0.5, hifi_projection=False)
    _, maps = attn(torch.randn(1, 16, 16), (4, 4), return_attention=True)
    label = rng.integers(0, 3, (32, 32))
    figures = [
        viz.image_filtering_figure(image),
        viz.spectral_prompt_figure(steps, 0),
        viz.filter_figure(weight),
        viz.radial_energy_figure({"x": rng.random((4, 4, 2))}),
        viz.hilo_layout_figure((5, 5), 2, 0.5),
        viz.hilo_attention_figure(image, maps, (4, 4), (1, 2)),
        viz.cost_figure([dict(tokens=16, full_ms=2.0, hilo_ms=1.0)]),
        viz.gate_figure(image, rng.random((4, 4)), rng.random((4, 4)), rng.random((4, 4))),
        viz.decoder_comparison_figure(image, {"a": rng.random((2, 32, 32))}, ["x", "y"]),
        viz.parameter_bar_figure({"a": 10, "b": 20}),
        viz.gradient_figure(image, label, {"focal": rng.random((3, 32, 32))}, 1, "y"),
        viz.ssim_figure(rng.random((32, 32)), rng.random((32, 32))),
    ]
    for fig in figures:
        assert isinstance(fig, Figure)
        assert viz.figure_png(fig).startswith(b"\x89PNG")


def test_hilo_layout_shows_the_library_head_split() -> None:
    fig = viz.hilo_layout_figure((32, 32), 3, 0.9, num_heads=8)
    labels = fig.axes[2].get_legend_handles_labels()[1]
    assert labels == ["Hi-Fi heads: 1", "Lo-Fi heads: 7"]
    everything_global = viz.hilo_layout_figure((32, 32), 1, 0.5, num_heads=8)
    assert everything_global.axes[2].get_legend_handles_labels()[1] == ["Hi-Fi heads: 0", "Lo-Fi heads: 8"]


# ---------------------------------------------------- data, training, evaluation (notebooks 00, 05-09)


def test_denormalise_inverts_the_shapes_worlds_normalisation() -> None:
    from sptseg_lib.data.shapes import normalise

    image = np.random.default_rng(4).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    np.testing.assert_array_equal(viz.denormalise(normalise(image)), image)
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        viz.denormalise(np.zeros((4, 4, 3)))


def test_colour_labels_pixel_by_pixel() -> None:
    label = np.array([[0, 1, 2], [255, -1, 1]])
    out = viz.colour_labels(label, 3)
    table = viz.label_colormap(3).colors
    for (i, j), v in np.ndenumerate(label):
        expected = viz.IGNORE_RGB if v == 255 else viz.PSEUDO_RGB if v < 0 else table[v][:3]
        np.testing.assert_allclose(out[i, j], expected)
    with pytest.raises(ValueError, match=r"label values \[7\]"):
        viz.colour_labels(np.array([[7]]), 3)


def test_mask_iou_matches_the_confusion_matrix() -> None:
    from sptseg_lib.metrics import segmentation_metrics

    rng = np.random.default_rng(5)
    mask, truth = rng.random((12, 12)) > 0.5, rng.random((12, 12)) > 0.6
    valid = rng.random((12, 12)) > 0.2
    label = np.where(valid, truth.astype(np.int64), 255)
    expected = segmentation_metrics(
        torch.from_numpy(mask.astype(np.int64)), torch.from_numpy(label), 2, [0], [1]
    )
    assert viz.mask_iou(mask, truth, valid) == pytest.approx(expected["IoU"][1])
    assert np.isnan(viz.mask_iou(np.zeros((2, 2)), np.zeros((2, 2))))


def test_per_class_iou_figure_bars_and_means_follow_the_metrics() -> None:
    from sptseg_lib.metrics import segmentation_metrics

    rng = np.random.default_rng(6)
    label = torch.from_numpy(rng.integers(0, 5, (16, 16)))
    pred = torch.where(
        torch.from_numpy(rng.random((16, 16)) < 0.7), label, torch.from_numpy(rng.integers(0, 4, (16, 16)))
    )
    result = segmentation_metrics(pred, label, 6, seen=[0, 1, 2, 5], unseen=[3, 4])  # class 5: absent, NaN
    fig = viz.per_class_iou_figure(result["IoU"], list("abcdef"), unseen=[3, 4])
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
    fig = viz.loss_curves_figure(records)
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert set(lines) == {"loss", "focal", "ssim"}
    np.testing.assert_allclose(lines["focal"].get_xdata(), [5, 10, 15])
    np.testing.assert_allclose(lines["ssim"].get_ydata(), [1 / 5, 1 / 10, 1 / 15])
    np.testing.assert_allclose(fig.axes[1].get_lines()[0].get_ydata(), [5e-4, 1e-3, 1.5e-3])
    assert isinstance(viz.loss_curves_figure([]), Figure)


def test_zero_shot_figure_shows_the_top_probabilities() -> None:
    rng = np.random.default_rng(7)
    probs = rng.dirichlet(np.ones(5), size=2)
    fig = viz.zero_shot_figure([np.zeros((8, 8, 3), np.uint8)] * 2, probs, list("abcde"), truth=[1, 4], top=3)
    bars = fig.axes[3].patches  # the second image's bar chart
    widths = sorted((b.get_width() for b in bars), reverse=True)
    np.testing.assert_allclose(widths, np.sort(probs[1])[::-1][:3])
    with pytest.raises(ValueError, match="probabilities must be"):
        viz.zero_shot_figure([np.zeros((8, 8, 3), np.uint8)], probs, list("abcde"))


def test_prediction_figure_marks_right_wrong_and_ignored() -> None:
    label = np.array([[0, 1], [255, 1]])
    pred = np.array([[0, 0], [1, 1]])
    errors = viz.error_map(pred, label)
    np.testing.assert_allclose(errors[0, 0], (0.2, 0.7, 0.2))
    np.testing.assert_allclose(errors[0, 1], (0.85, 0.15, 0.15))
    np.testing.assert_allclose(errors[1, 0], (0.6, 0.6, 0.6))
    fig = viz.prediction_figure([np.zeros((2, 2, 3), np.uint8)], [label], [pred], ["a", "b"], unseen=[1])
    assert "67% right" in fig.axes[3].get_title()
    legend = [t.get_text() for t in fig.axes[3].get_legend().get_texts()]
    assert legend == ["a", "b (unseen)", "ignored (255)"]


def test_label_panels_figure_legend_names_ignored_and_pseudo_pixels() -> None:
    label = np.array([[0, 2], [1, 255]])
    panels = {"fully": label, "transductive": np.where(label == 2, -1, label)}
    fig = viz.label_panels_figure(np.zeros((2, 2, 3), np.uint8), panels, ["a", "b", "c"], unseen=[2])
    legend = [t.get_text() for t in fig.axes[-1].get_legend().get_texts()]
    assert legend == ["a", "b", "c (unseen)", "ignored (255)", "pseudo-label (-1)"]
    np.testing.assert_allclose(fig.axes[2].images[0].get_array()[0, 1], viz.PSEUDO_RGB)


def _explorer_inputs():
    rng = np.random.default_rng(8)
    label = rng.integers(0, 4, (10, 10))
    label[0] = 255
    scores = rng.random((4, 10, 10))
    return (rng.random((10, 10, 3)) * 255).astype(np.uint8), scores, label


def test_mask_explorer_figure_panels() -> None:
    image, scores, label = _explorer_inputs()
    fig = viz.mask_explorer_figure(
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
    assert f"IoU {viz.mask_iou(scores[2] >= 0.6, label == 2, label != 255):.1f}" in fig.axes[2].get_title()
    argmax_panel = np.asarray(fig.axes[3].images[0].get_array())
    seen_pixels = np.isin(scores.argmax(0), [0, 1])
    np.testing.assert_allclose(
        argmax_panel[seen_pixels], 0.8
    )  # seen classes are grey when unseen is highlighted
    assert not np.allclose(argmax_panel[~seen_pixels], 0.8)
    with pytest.raises(ValueError, match="highlight must be one of"):
        viz.mask_explorer_figure(image, scores, label, list("abcd"), [2], 0, highlight="some")
    with pytest.raises(ValueError, match="class_index 9 out of range"):
        viz.mask_explorer_figure(image, scores, label, list("abcd"), [2], 9)


def test_paper_tables_are_consistent_with_eq_11_and_each_other() -> None:
    from sptseg_lib.metrics import harmonic_iou

    for table in viz.PAPER_TABLES.values():
        for row, numbers in table.items():
            h = harmonic_iou(numbers["mIoU(S)"], numbers["mIoU(U)"])
            assert h == pytest.approx(numbers["hIoU"], abs=0.15), row  # printed to one decimal
    spt_seg = {k: v for k, v in viz.PAPER_TABLES["table1_voc"]["SPT-SEG"].items() if k != "pAcc"}
    assert viz.PAPER_TABLES["table2"]["+ SPT + SGD (SPT-SEG)"] == spt_seg
    assert viz.PAPER_TABLES["table3"]["layers 1-2"] == spt_seg
    assert viz.PAPER_TABLES["table4"]["3 decoder layers"] == spt_seg


def test_comparison_table_puts_ours_beside_the_papers() -> None:
    ours = {"mIoU_seen": 50.0, "mIoU_unseen": 12.345, "hIoU": float("nan")}
    text = viz.comparison_table(
        [
            ("SPT-SEG", ours, viz.PAPER_TABLES["table2"]["+ SPT + SGD (SPT-SEG)"]),
            ("other", None, {"hIoU": 1.0}),
        ],
        ours_label="(miniature)",
        paper_label="(paper, VOC)",
    )
    lines = text.splitlines()
    assert lines[0] == (
        "| row | mIoU(S) (miniature) | mIoU(U) (miniature) | hIoU (miniature) | mIoU(S) (paper, VOC) | "
        "mIoU(U) (paper, VOC) | hIoU (paper, VOC) |"
    )
    assert lines[2] == "| SPT-SEG | 50.0 | 12.3 | - | 92.9 | 87.4 | 90.1 |"
    assert lines[3] == "| other | - | - | - | - | - | 1.0 |"
    summary = {
        "mIoU_seen": {"mean": 41.26, "std": 2.04, "n": 3},
        "mIoU_unseen": {"mean": float("nan"), "std": 0.0, "n": 0},
        "hIoU": {"mean": 7.0, "std": 0.0, "n": 1},
    }
    row = viz.comparison_table([("seeds", summary, None)]).splitlines()[2]
    assert row == "| seeds | 41.3 +- 2.0 | - | 7.0 | - | - | - |"


def test_new_figure_functions_render() -> None:
    rng = np.random.default_rng(9)
    image = (rng.random((16, 16, 3)) * 255).astype(np.uint8)
    label = rng.integers(0, 3, (16, 16))
    figures = [
        viz.image_label_figure([image, image], [label, label], ["a", "b", "c"], titles=["x", "y"]),
        viz.label_panels_figure(None, {"l": label}, ["a", "b", "c"]),
        viz.mask_explorer_figure(
            image, rng.random((3, 16, 16)), label, ["a", "b", "c"], [1], 1, highlight="all"
        ),
    ]
    for fig in figures:
        assert viz.figure_png(fig).startswith(b"\x89PNG")


def test_sliding_windows_figure_draws_every_window() -> None:
    from sptseg_lib.inference import slide_windows

    windows = slide_windows(64, 160, crop=64, stride=48)
    fig = viz.sliding_windows_figure(np.zeros((64, 160, 3), np.uint8), windows)
    patches = fig.axes[0].patches
    assert len(patches) == len(windows) == 3
    starts = sorted(round(p.get_x() + 0.5 - 1.5 * (k % 3)) for k, p in enumerate(patches))
    assert starts == sorted(x1 for _, _, x1, _ in windows)
