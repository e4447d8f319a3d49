"""Is every text of a figure readable? :func:`figure_text_problems` draws a figure and says which texts
fall off its canvas and which titles run into other texts.

A figure is shown inline (the notebook's PNG) without ``bbox_inches="tight"``: whatever lies outside the
figure's canvas is cut off there, even when a saved ``bbox_inches="tight"`` PNG shows it whole. So the
check looks at the canvas itself. :meth:`sptseg_lib.notebook_env.NotebookEnv.save` runs it on every
figure a notebook saves and refuses a figure with a problem.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure, SubFigure
from matplotlib.text import Text

TOLERANCE_PX = 1.0
"""How far (pixels) a text may poke out of the canvas, or into another text, before it counts."""


@contextlib.contextmanager
def _recording_text_draws(drawn: list[Text]) -> Iterator[None]:
    """While active, every :class:`~matplotlib.text.Text` (annotations included) that draws itself is
    appended to ``drawn``: exactly the texts a renderer shows (tick labels outside the view limits, empty
    or invisible texts never draw)."""
    original = Text.draw

    def draw(self, renderer):
        original(self, renderer)
        if self.get_visible() and self.get_text().strip():
            drawn.append(self)

    Text.draw = draw
    try:
        yield
    finally:
        Text.draw = original


def _short(text: str, limit: int = 40) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _axes_name(ax: Axes, index: int) -> str:
    if hasattr(ax, "_colorbar"):
        return f"colour bar {index}"
    title = ax.get_title() or ax.get_title("left") or ax.get_title("right")
    return f"axes {index} ({_short(title, 30)!r})" if title else f"axes {index}"


def _text_roles(fig: Figure | SubFigure, roles: dict[int, tuple[str, bool]], prefix: str = "") -> None:
    """``roles[id(text)] = (description, is_title)`` for the texts of ``fig`` whose role is known."""

    def add(text: Text | None, role: str, title: bool = False) -> None:
        if text is not None and id(text) not in roles:
            roles[id(text)] = (f"{prefix}{role} {_short(text.get_text())!r}", title)

    add(getattr(fig, "_suptitle", None), "suptitle", title=True)
    add(getattr(fig, "_supxlabel", None), "figure x label")
    add(getattr(fig, "_supylabel", None), "figure y label")
    for legend in fig.legends:
        add(legend.get_title(), "figure legend title")
        for t in legend.get_texts():
            add(t, "figure legend entry")
    for t in fig.texts:
        add(t, "figure text")
    for k, ax in enumerate(fig.axes):
        where = _axes_name(ax, k)
        for attribute in ("title", "_left_title", "_right_title"):
            add(getattr(ax, attribute, None), f"title of axes {k}", title=True)
        for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            colour_bar = hasattr(ax, "_colorbar")
            add(axis.label, f"{'label' if colour_bar else name + ' label'} of {where}")
            add(axis.offsetText, f"{name} offset text of {where}")
            for tick in [*axis.majorTicks, *axis.minorTicks]:
                add(tick.label1, f"{name} tick label of {where}")
                add(tick.label2, f"{name} tick label of {where}")
        legend = ax.get_legend()
        if legend is not None:
            add(legend.get_title(), f"legend title of {where}")
            for t in legend.get_texts():
                add(t, f"legend entry of {where}")
        for t in ax.texts:
            add(t, f"text of {where}")
    for sub in getattr(fig, "subfigs", []):
        _text_roles(sub, roles, prefix=f"{prefix}subfigure: ")


def _overlap(a, b, tolerance: float) -> bool:
    """Do two window extents overlap by more than ``tolerance`` pixels both ways?"""
    return (min(a.x1, b.x1) - max(a.x0, b.x0) > tolerance) and (min(a.y1, b.y1) - max(a.y0, b.y0) > tolerance)


def figure_text_problems(fig: Figure, dpi: float | None = None, tolerance: float = TOLERANCE_PX) -> list[str]:
    """Every problem with the texts of ``fig``, one plain sentence each (empty: the texts are fine).

    Draws the figure on an Agg canvas (at ``dpi``, default the figure's own; its layout engine runs) and
    takes the window extent of every text that draws: the suptitle, axes titles, axis labels, tick labels,
    legend entries and titles, annotations and other texts, colour-bar labels, figure texts. Reports

    * a text lying (partly) outside the canvas by more than ``tolerance`` pixels: it is cut off when the
      figure is shown as it is (inline, without ``bbox_inches="tight"``);
    * a title (an axes title or the suptitle) overlapping another title or any other text.

    Each sentence names the text (its role, its axes and its words) and the problem.
    """
    roles: dict[int, tuple[str, bool]] = {}
    drawn: list[Text] = []
    original_canvas, original_dpi = fig.canvas, fig.dpi
    try:
        if dpi is not None:
            fig.set_dpi(dpi)
        canvas = FigureCanvasAgg(fig)
        with _recording_text_draws(drawn):
            canvas.draw()
        renderer = canvas.get_renderer()
        _text_roles(fig, roles)
        width, height = canvas.get_width_height()
        seen: set[int] = set()
        items = []
        for text in drawn:
            if id(text) in seen:
                continue
            seen.add(id(text))
            name, is_title = roles.get(id(text), (f"text {_short(text.get_text())!r}", False))
            items.append((name, is_title, text.get_window_extent(renderer)))
    finally:
        fig.set_canvas(original_canvas)
        if dpi is not None:
            fig.set_dpi(original_dpi)
    problems = []
    for name, _, box in items:
        sides = [
            side
            for side, out in (
                ("left", box.x0 < -tolerance),
                ("right", box.x1 > width + tolerance),
                ("bottom", box.y0 < -tolerance),
                ("top", box.y1 > height + tolerance),
            )
            if out
        ]
        if sides:
            problems.append(f"{name} is cut off: it runs past the {' and '.join(sides)} edge of the canvas")
    for i, (name, is_title, box) in enumerate(items):
        if not is_title:
            continue
        for j, (other, other_is_title, other_box) in enumerate(items):
            if j == i or (other_is_title and j < i):  # each pair of titles once
                continue
            if _overlap(box, other_box, tolerance):
                problems.append(f"{name} overlaps {other}")
    return problems


__all__ = ["TOLERANCE_PX", "figure_text_problems"]
