"""Tests of the sptseg_lib.viz package as a whole: every figure renders, the shared helpers of
viz.common, and every attribute of viz that the notebooks, tests, benchmarks and library use resolves.

The figures of each part are tested in tests/test_viz_<module>.py; the computations they show where
those computations live (tests/test_spectral.py, test_hilo.py, test_losses.py, test_ablations.py).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from sptseg_lib import viz
from sptseg_lib.hilo import HiLoAttention

ROOT = Path(__file__).resolve().parents[1]

NAMES_BEFORE_THE_SPLIT = """
    HIGHLIGHTS IGNORE_RGB LOG_KEYS_NOT_PLOTTED METRIC_KEYS PAPER_TABLES PSEUDO_RGB band_filter band_mask
    colour_labels comparison_table cost_figure decoder_comparison_figure denormalise draw_attention_maps
    draw_hilo_layout error_map figure_png filter_figure focal_curves_figure gate_figure gradient_figure
    hilo_attention_figure hilo_layout_figure hilo_query_maps image_filtering_figure image_label_figure
    label_colormap label_panels_figure log_spectrum loss_curves_figure mask_explorer_figure mask_iou
    masks_figure parameter_bar_figure per_class_iou_figure prediction_figure radial_energy
    radial_energy_figure radial_frequency sliding_windows_figure spectral_prompt_figure spectral_prompt_steps
    ssim_figure term_gradients to_gray token_spectrum_figure zero_shot_figure
""".split()
"""``viz.__all__`` when viz was one module: every name still resolves on the package."""


def test_every_public_name_resolves() -> None:
    assert set(NAMES_BEFORE_THE_SPLIT) <= set(viz.__all__)
    missing = [name for name in viz.__all__ if not hasattr(viz, name)]
    assert not missing, missing


def test_every_viz_attribute_used_in_the_project_exists() -> None:
    files = [
        *ROOT.glob("notebooks/*.ipynb"),
        *ROOT.glob("tests/*.py"),
        *ROOT.glob("benchmarks/*.py"),
        *(ROOT / "sptseg_lib").rglob("*.py"),
    ]
    used = {
        (path.name, name)
        for path in files
        for name in re.findall(r"(?<![\w.])viz\.([A-Za-z_]\w*)", path.read_text())
    }
    assert len({name for _, name in used}) > 30, "is the pattern still right?"
    missing = sorted((file, name) for file, name in used if not hasattr(viz, name))
    assert not missing, missing


def test_network_modules_do_not_import_viz() -> None:
    code = (
        "import sys; import sptseg_lib.spectral, sptseg_lib.hilo, sptseg_lib.decoder, sptseg_lib.losses, "
        "sptseg_lib.ablations; assert 'sptseg_lib.viz' not in sys.modules, 'viz imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_as_numpy_takes_tensors_and_arrays() -> None:
    t = torch.arange(6.0, requires_grad=True).reshape(2, 3)
    np.testing.assert_array_equal(viz.as_numpy(t), np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(viz.as_numpy([[1, 2]]), np.array([[1, 2]]))
    gray = viz.to_gray(np.full((2, 2, 3), 255, np.uint8))
    np.testing.assert_allclose(gray, 1.0)


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


# --- the palette: colour words for the shapes world, tab20 for the rest ---------------------------------


def test_shapes_classes_are_drawn_in_their_colour_word() -> None:
    import colorsys

    from sptseg_lib.data.splits import SHAPES_CLASS_NAMES, SHAPES_OBJECT_CLASSES, SHAPES_STUFF

    table = viz.class_colours(SHAPES_CLASS_NAMES)
    assert table.shape == (len(SHAPES_CLASS_NAMES), 3)
    for (colour, _), (r, g, b) in zip(SHAPES_OBJECT_CLASSES, table):
        hue, _, saturation = colorsys.rgb_to_hls(r, g, b)
        if colour == "red":
            assert r > g and r > b
        elif colour == "green":
            assert g > r and g > b
        elif colour == "blue":
            assert b > r and b > g
        else:  # yellow: red and green well above blue
            assert min(r, g) > b + 0.1 and 0.1 < hue < 0.2
        assert saturation > 0.5
    objects = {tuple(np.round(c, 3)) for c in table[: len(SHAPES_OBJECT_CLASSES)]}
    assert len(objects) == len(SHAPES_OBJECT_CLASSES)  # four shades of each colour, all different
    for (r, g, b), name in zip(table[len(SHAPES_OBJECT_CLASSES) :], SHAPES_STUFF):
        assert colorsys.rgb_to_hls(r, g, b)[2] < 0.35, name  # stuff in muted tones
    # the same class keeps its colour in any subset and order of names
    np.testing.assert_allclose(viz.class_colours(["water", "red star"]), table[[18, 3]])


def test_other_names_fall_back_to_tab20_by_index() -> None:
    from matplotlib import colormaps

    from sptseg_lib.data.splits import get_split

    voc = get_split("voc").class_names
    tab20 = np.asarray(colormaps["tab20"].colors)[:, :3]
    np.testing.assert_allclose(viz.class_colours(voc), tab20[: len(voc)])
    np.testing.assert_allclose(viz.class_colours(3), tab20[:3])
    np.testing.assert_allclose(viz.class_colours(["red circle", "sky"]), tab20[:2])  # one unknown name
    np.testing.assert_allclose(viz.label_colormap(voc).colors, tab20[: len(voc)])


def test_colour_labels_and_legend_entries_agree_by_name() -> None:
    from sptseg_lib.data.splits import SHAPES_CLASS_NAMES
    from sptseg_lib.viz.common import class_entries

    names = list(SHAPES_CLASS_NAMES)
    label = np.array([[0, 3], [16, 255]])
    drawn = viz.colour_labels(label, names)
    entries = dict(class_entries([label], names, unseen=[3], by_name=True))
    np.testing.assert_allclose(drawn[0, 0], entries["red circle"])
    np.testing.assert_allclose(drawn[0, 1], entries["red star (unseen)"])
    np.testing.assert_allclose(drawn[1, 0], entries["grass"])
    np.testing.assert_allclose(drawn[1, 1], entries["ignored (255)"])
    by_count = dict(class_entries([label], names))  # maps coloured from their number: tab20
    np.testing.assert_allclose(viz.colour_labels(label, len(names))[0, 1], by_count["red star"])


def test_figures_of_the_part_modules_fit_a_notebook_page() -> None:
    rng = np.random.default_rng(5)
    image = (rng.random((32, 32, 3)) * 255).astype(np.uint8)
    weight = torch.randn(8, 5, 6, dtype=torch.complex64)
    steps = viz.spectral_prompt_steps(torch.randn(8, 8, 6), torch.randn(6), weight)
    attn = HiLoAttention(16, 8, 3, 0.9, hifi_projection=False)
    x = torch.randn(1, 64, 16)
    _, maps = attn(x, (8, 8), return_attention=True)
    names = [f"class {i}" for i in range(20)]
    figures = [
        viz.image_filtering_figure(image),
        viz.bands_figure(image, {"a": (0.1, 0.2), "b": (0.2, 0.3)}),
        viz.token_spectrum_figure(rng.standard_normal((8, 8, 3)), 0, (0.0, 0.3)),
        viz.principal_components_figure(image, rng.standard_normal((8, 8, 3)), [0.4, 0.3, 0.2]),
        viz.spectral_prompt_figure(steps, 0),
        viz.filter_figure(weight),
        viz.radial_energy_figure({"x": rng.random((4, 4, 2))}),
        viz.hilo_layout_figure((32, 32), 3, 0.9),
        viz.hilo_attention_figure(image, maps, (8, 8), (3, 4)),
        viz.hilo_steps_figure(image, viz.hilo_query_steps(attn, x, (8, 8), (7, 7)), (8, 8), (7, 7)),
        viz.hilo_explorer_figure(image, x, (8, 8), 3, 0.9),
        viz.cost_figure([dict(tokens=16, full_ms=2.0, hilo_ms=1.0)]),
        viz.gate_figure(image, rng.random((8, 8)), rng.random((8, 8)), rng.random((8, 8))),
        viz.gate_layers_figure(image, {"a": rng.random((8, 8)), "b": rng.random((8, 8))}),
        viz.masks_figure(image, rng.random((20, 32, 32)), names, label=rng.integers(0, 20, (32, 32))),
        viz.decoder_comparison_figure(image, {"a": rng.random((20, 32, 32))}, names),
        viz.parameter_bar_figure({"a": 10, "b": 20}),
    ]
    for fig in figures:
        assert fig.get_size_inches()[0] <= viz.PAGE_WIDTH, fig.axes[0].get_title()
