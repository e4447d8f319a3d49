"""Tests of sptseg_lib.viz.losses (eq. 10): the curves and maps follow the loss formulas."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from sptseg_lib.ssim import C1, ssim_map
from sptseg_lib.viz.losses import (
    constant_map_ssim,
    focal_curves_figure,
    gradient_figure,
    ssim_figure,
    ssim_response_figure,
    term_gradients,
)


def test_focal_curves_gamma_zero_is_cross_entropy() -> None:
    fig = focal_curves_figure(gammas=(0.0, 2.0))
    ce, focal = fig.axes[0].lines
    p = ce.get_xdata()
    np.testing.assert_allclose(ce.get_ydata(), -np.log(p), rtol=1e-4)
    np.testing.assert_allclose(focal.get_ydata(), -np.log(p) * (1 - p) ** 2, rtol=1e-4)


@pytest.mark.parametrize("on", ["logits", "probabilities"])
@pytest.mark.parametrize("target", [0.0, 1.0])
def test_constant_map_ssim_is_the_luminance_factor(on: str, target: float) -> None:
    v = np.linspace(-6, 6, 49)
    x = v if on == "logits" else 1 / (1 + np.exp(-v))
    expected = (2 * x * target + C1) / (x**2 + target**2 + C1)
    np.testing.assert_allclose(constant_map_ssim(v, target, on), expected, atol=1e-9)
    with pytest.raises(ValueError, match="on must be"):
        constant_map_ssim(v, target, "softmax")


def test_ssim_response_figure_draws_both_inputs_and_both_targets() -> None:
    values = np.linspace(-2, 2, 9)
    fig = ssim_response_figure(values)
    for ax, on in zip(fig.axes, ("logits", "probabilities")):
        lines = {
            line.get_label().split()[1]: line
            for line in ax.get_lines()
            if line.get_label().startswith("target")
        }
        for target in (0.0, 1.0):
            np.testing.assert_allclose(
                lines[f"{target:g}"].get_ydata(), constant_map_ssim(values, target, on)
            )


def test_ssim_figure_shows_ssim_on_logits_and_on_probabilities() -> None:
    rng = np.random.default_rng(2)
    target = (rng.random((24, 24)) > 0.5).astype(np.float32)
    logits = rng.normal(size=(24, 24)).astype(np.float32) * 3
    fig = ssim_figure({"a": logits, "b": -logits}, target, window_at=(12, 12))
    x, y = torch.from_numpy(logits)[None, None], torch.from_numpy(target)[None, None]
    on_logits, on_probs = ssim_map(x, y)[0, 0].numpy(), ssim_map(torch.sigmoid(x), y)[0, 0].numpy()
    images = [ax for ax in fig.axes if ax.images]
    assert len(images) == 8  # 2 rows of 4 maps (the colour bars are extra axes)
    np.testing.assert_allclose(images[1].images[0].get_array(), on_logits, rtol=1e-6)
    np.testing.assert_allclose(images[3].images[0].get_array(), on_probs, rtol=1e-6)
    assert f"mean {on_logits.mean():.3f}" in images[1].get_title()
    assert len(fig.axes) == 16  # every map has its colour bar
    assert any(p.get_width() == 11 for p in images[0].patches)  # the 11x11 window is outlined


def test_gradient_figure_names_the_ignored_pixels_and_keys_every_map() -> None:
    rng = np.random.default_rng(3)
    label = rng.integers(0, 3, (16, 16))
    label[:4] = 255
    grads = {name: rng.normal(size=(3, 16, 16)) for name in ("focal", "ssim", "dice", "cross-entropy")}
    fig = gradient_figure(np.zeros((16, 16, 3), np.uint8), label, grads, 1, "b", class_names=["a", "b", "c"])
    labels_panel = next(ax for ax in fig.axes if ax.get_title() == "training labels")
    legend = [t.get_text() for t in labels_panel.get_legend().get_texts()]
    assert legend == ["a", "b", "c", "ignored (255)"]
    maps = {ax.get_title(): ax for ax in fig.axes if ax.images and "d " in ax.get_title()}
    assert set(maps) == {f"-d {n} / d logit" for n in grads}
    for name, g in grads.items():
        image = maps[f"-d {name} / d logit"].images[0]
        np.testing.assert_allclose(image.get_array(), -g[1])
        assert image.colorbar is not None


def test_term_gradients_match_analytic_cross_entropy_and_respect_ignore() -> None:
    torch.manual_seed(0)
    logits = torch.randn(1, 3, 16, 16)
    labels = torch.randint(0, 3, (1, 16, 16))
    labels[0, :4] = 255
    grads = term_gradients(logits, labels, ignore_as_negative=True)
    targets = torch.stack([(labels[0] == c).float() for c in range(3)])
    analytic = (torch.sigmoid(logits[0]) - targets) / targets.numel()
    np.testing.assert_allclose(grads["cross-entropy"], analytic.numpy(), atol=1e-7)
    assert np.abs(grads["focal"][:, :4]).max() > 0  # ignored pixels are negatives for every class
    excluded = term_gradients(logits, labels, ignore_as_negative=False)
    for name in ("focal", "dice", "cross-entropy"):
        assert np.abs(excluded[name][:, :4]).max() == 0, name
        assert np.abs(excluded[name][:, 4:]).max() > 0, name


def test_term_gradients_stays_reachable_from_losses_without_importing_matplotlib() -> None:
    """``sptseg_lib.losses.term_gradients`` is the function of viz.losses, imported only when asked."""
    code = (
        "import sys; import sptseg_lib.losses as losses; assert 'matplotlib' not in sys.modules; "
        "from sptseg_lib.viz.losses import term_gradients; assert losses.term_gradients is term_gradients"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
