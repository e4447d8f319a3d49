"""The site as a course (:mod:`sptseg_lib.tools.site`, :mod:`sptseg_lib.tools.site_course`), on small
executed-looking notebooks written here: the index lists each notebook's purpose, objectives and what it
assumes, in number order; check and exercise cells are labelled and styled by inlined CSS; every image
has alt text."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import nbformat
import pytest
from PIL import Image

from sptseg_lib.tools import site
from sptseg_lib.tools.site_course import (
    CELL_LABELS,
    PLACEHOLDER_ALT,
    describe_figures,
    humanise,
    notebook_outline,
)

OPENING = """# 01 · Spectral prompts

*See what the FFT of the tokens holds, and build eq. 1 with $w_f$ by hand.*

## You will learn
- the 2-D FFT of a token grid;
- what a filter `w_f` does
  to the tokens;
* eq. 1, step by step.

**Assumes:** notebook 00 (the map),
and basic numpy.

More text that is not part of the outline; see [02](02_filters.ipynb)."""


def _png(colour: tuple[int, int, int]) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (24, 16), colour).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _code(source: str, *outputs, tags: tuple[str, ...] = ()) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source, execution_count=1)
    cell.outputs = list(outputs)
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def _figure(colour: tuple[int, int, int], metadata: dict | None = None) -> nbformat.NotebookNode:
    data = {"image/png": _png(colour), "text/plain": "<Figure>"}
    return nbformat.v4.new_output("display_data", data, metadata=metadata or {})


def _write(path: Path, cells: list, failed: bool = False) -> None:
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["papermill"] = {"exception": failed, "duration": 2.0, "end_time": "2026-01-01T00:00:00"}
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site of four notebooks: 00 the map (outline, no figures), 01 with every kind of cell and figure,
    02 without an outline (title only), 03 failed."""
    root = tmp_path_factory.mktemp("course")
    executed = root / "notebooks"
    executed.mkdir()
    md = nbformat.v4.new_markdown_cell
    _write(
        executed / "00_map.ipynb",
        [
            md(
                "# 00 · The map\n\n*Where each notebook fits.*\n\n"
                "## You will learn\n- the order\n\n**Assumes:** nothing."
            )
        ],
    )
    _write(
        executed / "01_spectral.ipynb",
        [
            md(OPENING),
            _code('fig = f()\nenv.save(fig, "eq1_steps_lowpass")\ndisplay(fig)', _figure((200, 0, 0))),
            md("## 2. Described figures"),
            _code(
                "display(Image(a, alt=...))", _figure((0, 200, 0), {"image/png": {"alt": "A green <square>"}})
            ),
            _code("display(Image(b))", _figure((0, 0, 200), {"alt": "Blue, described at the top level"})),
            _code("plt.show()", _figure((90, 90, 90))),
            md("## What you saw\n\nThe FFT holds the layout."),
            _code("assert layout_in_low_band", tags=("check",)),
            md("## Try this"),
            _code("answer = None  # your code here", tags=("exercise",)),
            _code("check_answer(answer)", tags=("exercise-check",)),
            md(
                f"## Next\n\n![](data:image/png;base64,{_png((1, 2, 3))})\n"
                f"<img src='data:image/png;base64,{_png((9, 9, 9))}'>"
            ),
        ],
    )
    _write(executed / "02_filters.ipynb", [md("# 02 · Filters\n\nPlain prose, no outline."), _code("x = 1")])
    _write(executed / "03_broken.ipynb", [md("# 03 · Broken\n\n*It fails.*"), _code("1 / 0")], failed=True)
    records = {
        "00_map": {"ok": True, "seconds": 1.0},
        "01_spectral": {"ok": True, "seconds": 3.5},
        "02_filters": {"ok": True, "seconds": 0.5},
        "03_broken": {
            "ok": False,
            "seconds": 0.2,
            "failed_cell": 1,
            "error": "ZeroDivisionError: division by zero",
        },
    }
    site.build_site(executed, root / "site", records, log=lambda *a, **k: None)
    return root / "site"


def _row(index: str, number: str) -> str:
    match = re.search(rf"<tr[^>]*><td>{number}</td>.*?</tr>", index, re.S)
    assert match, f"no row for notebook {number}"
    return match.group(0)


def test_index_is_the_course_in_reading_order(built: Path) -> None:
    index = (built / "index.html").read_text()
    titles = ["00 · The map", "01 · Spectral prompts", "02 · Filters", "03 · Broken"]
    positions = [index.index(t) for t in titles]
    assert positions == sorted(positions)
    how = index[index.index("How to read this course") : index.index("<table")]
    assert "in order" in how and 'href="00_map.html">00</a> is the map' in how
    assert "check" in how and "exercise" in how and "make lab" in how and "unattempted" in how
    row = _row(index, "01")
    assert (
        'class="purpose">See what the FFT of the tokens holds, and build eq. 1 with $w_f$ by hand.</p>' in row
    )
    items = re.findall(r"<li>(.*?)</li>", row)
    assert items == [
        "the 2-D FFT of a token grid;",
        "what a filter <code>w_f</code> does to the tokens;",
        "eq. 1, step by step.",
    ]
    assert "<strong>Assumes:</strong> notebook 00 (the map), and basic numpy." in row
    assert "1 check cell · 1 exercise" in row and "More text" not in row
    assert 'class="sptseg-page" href="01_spectral.html"' in row and "<td>ok" not in row  # status unchanged
    plain = _row(index, "02")  # no outline: its title only, linked
    assert 'href="02_filters.html">02 · Filters</a></td>' in plain and "purpose" not in plain
    failed = _row(index, "03")
    assert "FAILED at code cell 1" in failed and "ZeroDivisionError" in failed and "It fails." in failed
    assert "3 of 4 notebooks ran without error; failed: 03" in index


def test_outline_parsing_is_lenient() -> None:
    md = nbformat.v4.new_markdown_cell
    nb = nbformat.v4.new_notebook(cells=[md(OPENING)])
    outline = notebook_outline(nb, "fallback")
    assert outline.title == "01 · Spectral prompts" and outline.purpose.startswith("See what the FFT")
    assert len(outline.objectives) == 3 and outline.assumes == "notebook 00 (the map), and basic numpy."
    split = nbformat.v4.new_notebook(
        cells=[
            md("# 05 · Data\n\n_The splits._"),
            md("### You will learn:\n\n1. seen and unseen\n2. the protocol\n\n**Assumes**: 04"),
            nbformat.v4.new_code_cell("x"),
            md("## You will learn\n- not the opening"),
        ]
    )
    outline = notebook_outline(split, "fallback")
    assert outline.purpose == "The splits." and outline.objectives == ["seen and unseen", "the protocol"]
    assert outline.assumes == "04"
    bare = notebook_outline(nbformat.v4.new_notebook(cells=[md("Some text\n\n## A section")]), "07_x")
    assert (bare.title, bare.purpose, bare.objectives, bare.assumes) == ("A section", "", [], "")
    not_italic = notebook_outline(nbformat.v4.new_notebook(cells=[md("# 08 · T\n\n**Bold** lead.")]), "x")
    assert not_italic.purpose == "" and notebook_outline(None, "09_y").title == "09_y"


def test_check_and_exercise_cells_are_labelled_and_styled(built: Path) -> None:
    page = (built / "01_spectral.html").read_text()
    for tag, label in CELL_LABELS.items():
        cell = re.search(
            rf'<div [^>]*class="jp-Cell [^"]*\bcelltag_{tag}"[^>]*>\s*<div class="([^"]*)">([^<]*)', page
        )
        assert cell, f"no {tag} cell"
        assert cell.group(1) == f"sptseg-cell-label sptseg-label-{tag}" and cell.group(2).strip() == label
    assert page.count("sptseg-cell-label") == 3 + page.count(".sptseg-cell-label")  # none elsewhere
    styles = "".join(re.findall(r"<style[^>]*>(.*?)</style>", page, re.S))
    assert ".jp-Cell.celltag_check" in styles and ".jp-Cell.celltag_exercise" in styles
    assert not re.search(r"<link[^>]*stylesheet", page)  # inlined: the page is one file


def test_every_image_has_alt_text(built: Path) -> None:
    pages = {p.name: p.read_text() for p in built.glob("*.html")}
    for name, text in pages.items():
        assert PLACEHOLDER_ALT not in text, name
        images = re.findall(r"<img\b[^>]*>", text)
        assert all(re.search(r'\balt="[^"]+"', i) for i in images), name
    alts = re.findall(r'<img\b[^>]*\balt="([^"]*)"', pages["01_spectral.html"])
    assert alts == [
        "Eq1 steps lowpass (in “01 · Spectral prompts”)",  # the name the cell saved it under
        "A green &lt;square&gt;",  # the notebook's own alt text
        "Blue, described at the top level",
        "Figure (in “2. Described figures”)",  # no name: the section
        "Figure (in “Next”)",  # a Markdown image and an <img> in Markdown
        "Figure (in “Next”)",
    ]


def test_describe_figures_and_explorer_images() -> None:
    assert humanise("eq1_steps-lowpass") == "Eq1 steps lowpass"
    cells = [
        nbformat.v4.new_markdown_cell("# 04 · Losses\n\n## 1. Two figures"),
        _code('env.save(a, "focal")\nenv.save(b, "dice")', _figure((1, 1, 1)), _figure((2, 2, 2))),
        _code("show(a); show(b)", _figure((1, 1, 1)), _figure((2, 2, 2))),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    assert describe_figures(nb, "04 · Losses") == 4
    alts = [out.metadata["image/png"]["alt"] for cell in nb.cells[1:] for out in cell.outputs]
    assert alts == [
        "Focal (in “1. Two figures”)",
        "Dice (in “1. Two figures”)",
        "Figure 1 (in “1. Two figures”)",
        "Figure 2 (in “1. Two figures”)",
    ]
    state = {
        "img": {
            "model_name": "ImageModel",
            "state": {"format": "png"},
            "buffers": [{"path": ["value"], "encoding": "base64", "data": "iVBORw0KGgo="}],
        }
    }
    cell = nbformat.v4.new_code_cell("explorer")
    view = {"model_id": "img", "version_major": 2, "version_minor": 0}
    cell.outputs = [nbformat.v4.new_output("display_data", {site.WIDGET_VIEW: view})]
    explorer = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("## The spectrum explorer"), cell]
    )
    explorer.metadata["widgets"] = {site.WIDGET_STATE: {"state": state}}
    assert site.freeze_widgets(explorer) == 1
    assert (
        'alt="Explorer figure, as the notebook ran (in “The spectrum explorer”)"'
        in (cell.outputs[0]["data"]["text/html"])
    )


def test_pages_link_to_pages(built: Path) -> None:
    """A Markdown link to another notebook (``02_filters.ipynb``) leads to its page on the site."""
    page = (built / "01_spectral.html").read_text()
    assert 'href="02_filters.html"' in page and "02_filters.ipynb" not in page
