"""Tests of sptseg_lib.viz.losses (eq. 10): the curves follow the loss formulas."""

from __future__ import annotations

import numpy as np

from sptseg_lib.viz.losses import focal_curves_figure


def test_focal_curves_gamma_zero_is_cross_entropy() -> None:
    fig = focal_curves_figure(gammas=(0.0, 2.0))
    ce, focal = fig.axes[0].lines
    p = ce.get_xdata()
    np.testing.assert_allclose(ce.get_ydata(), -np.log(p), rtol=1e-4)
    np.testing.assert_allclose(focal.get_ydata(), -np.log(p) * (1 - p) ** 2, rtol=1e-4)
