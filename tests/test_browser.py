"""The real-browser tests: notebooks in JupyterLab and the static site, in headless Chromium.

JupyterLab runs on 127.0.0.1 from this Python's environment (its kernel is this interpreter), in a
temporary home, on copies of the notebooks, with `make lab`'s options (no news pop-up, allowed as root).
Chromium (Debian's ``/usr/bin/chromium``, installed by ``.ci/install-browser.sh``) runs all cells of
notebook 01, moves the spectrum explorer's ``band`` slider with the keyboard and the test checks that the
figure's pixels changed; notebooks 01, 02, 07 and 08 are run and photographed with their figures in view
(``<runs>/browser/notebook_NN.png``, with no pop-up over them). The static site (`make run`'s
``<runs>/site/``) is opened from disk: the index links every page and the pages' images load
(``<runs>/browser/site_index.png``, ``site_page.png``). Screenshots go to ``<runs>/browser/``; the
notebooks' own outputs go there too (``SPTSEG_RUNS=<runs>/browser``).

The harness is first checked on a tiny notebook written here: a slider that changes its figure must be
seen as changing it (through an Output widget and through an ``ipywidgets.Image``, like the explorers),
and a slider whose figure ignores it must be seen as leaving it unchanged.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from browser_harness import (
    CHROMIUM,
    CHROMIUM_ARGS,
    KERNEL_NAME,
    NEWS_QUESTION,
    BrowserTestError,
    JupyterLab,
    code_cells_to_run,
    copy_notebook,
    move_slider,
    open_notebook,
    page_images,
    popups,
    run_all_cells,
    screenshot_notebook,
)

from sptseg_lib.runs import RUNS_ENV_VAR, runs_dir
from sptseg_lib.tools import site
from sptseg_lib.tools.lab import NOTIFICATION_PLUGIN

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"{CHROMIUM} is missing: run .ci/install-browser.sh (installs Debian's chromium)",
    ),
]

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_01 = REPO / "notebooks" / "01_spectral_prompts.ipynb"
PHOTOGRAPHED = ("01", "02", "07", "08")
"""The notebooks whose executed view in JupyterLab is saved as ``<runs>/browser/notebook_NN.png``."""


def committed_notebook(number: str) -> Path | None:
    found = sorted((REPO / "notebooks").glob(f"{number}_*.ipynb"))
    return found[0] if found else None


TINY = "tiny_widgets.ipynb"
FAILING = "failing.ipynb"

_TINY_CELLS = [
    "import sys\nprint('KERNEL_PYTHON=' + sys.executable)",
    """import io

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display


def draw(band: int) -> None:
    fig, ax = plt.subplots(figsize=(3, 2))
    x = np.linspace(0, 1, 200)
    ax.plot(x, np.sin(2 * np.pi * (band + 1) * x))
    ax.set_title(f"band {band}")
    plt.show()


def png(lo: float, hi: float) -> bytes:
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.axvspan(lo, hi)
    ax.set_xlim(0, 1)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()""",
    """band = widgets.IntSlider(value=1, min=0, max=5, description="band", continuous_update=False)
display(widgets.VBox([band, widgets.interactive_output(draw, {"band": band})]))""",
    """span = widgets.FloatRangeSlider(
    value=(0.0, 0.3), min=0.0, max=1.0, step=0.05, description="range", continuous_update=False
)
image = widgets.Image(value=png(*span.value), format="png")
span.observe(lambda change: setattr(image, "value", png(*change["new"])), names="value")
display(widgets.VBox([span, image]))""",
    """still = widgets.IntSlider(value=1, min=0, max=5, description="still", continuous_update=False)
display(widgets.VBox([still, widgets.interactive_output(lambda still: draw(0), {"still": still})]))""",
]


def write_notebook(path: Path, sources: list[str]) -> Path:
    """A notebook of code cells ``sources`` (for :data:`_TINY_CELLS`: three sliders, ``band`` through an
    Output widget, ``range`` through an Image widget, ``still`` redrawing a figure that ignores it)."""
    cells = [
        {"cell_type": "code", "metadata": {}, "source": src, "outputs": [], "execution_count": None}
        for src in sources
    ]
    nb = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def out_dir() -> Path:
    """``<runs>/browser``: the screenshots, and the runs folder of the notebooks opened here."""
    return runs_dir("browser")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, out_dir: Path) -> Iterator[JupyterLab]:
    """One server for the module; its root holds the tiny notebooks and a copy of notebook 01. The
    kernels import ``sptseg_lib`` from this checkout (``PYTHONPATH``) and write to ``<runs>/browser``."""
    root = tmp_path_factory.mktemp("lab-root")
    made = tmp_path_factory.mktemp("made")
    copy_notebook(write_notebook(made / TINY, _TINY_CELLS), root)
    copy_notebook(write_notebook(made / FAILING, ["x = 1", "raise ValueError('cell 2 fails')", "x"]), root)
    for number in PHOTOGRAPHED:
        notebook = committed_notebook(number)
        if notebook is not None:
            copy_notebook(notebook, root)
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    env = {RUNS_ENV_VAR: str(out_dir), "PYTHONPATH": path}
    with JupyterLab(root, tmp_path_factory.mktemp("lab-home"), env) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=list(CHROMIUM_ARGS))
        try:
            yield chromium
        finally:
            chromium.close()


@contextmanager
def page_in(browser: Browser, shot_on_failure: Path) -> Iterator[Page]:
    """A fresh page; on failure a screenshot of the whole page is saved to ``shot_on_failure``."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        yield page
    except BaseException:
        page.screenshot(path=str(shot_on_failure), full_page=True)
        raise
    finally:
        context.close()


@pytest.fixture(scope="module")
def tiny_page(lab: JupyterLab, browser: Browser, out_dir: Path) -> Iterator[Page]:
    """The tiny notebook, opened and run once for the harness tests below."""
    with page_in(browser, out_dir / "tiny_failure.png") as page:
        open_notebook(page, lab, TINY)
        run_all_cells(page, lab, len(_TINY_CELLS), timeout=90)
        yield page


def test_kernel_is_this_python(tiny_page: Page, lab: JupyterLab) -> None:
    """The kernel JupyterLab started is the interpreter running the tests (the venv's ipykernel)."""
    text = tiny_page.locator(".jp-OutputArea-output", has_text="KERNEL_PYTHON=").first.inner_text()
    assert text.strip() == f"KERNEL_PYTHON={sys.executable}"
    assert lab.api("kernelspecs")["kernelspecs"][KERNEL_NAME]["spec"]["argv"][0] == sys.executable


@pytest.mark.parametrize(
    ("label", "changes"),
    [("band", True), ("range", True), ("still", False)],
    ids=["output-widget", "image-widget", "unchanged-figure"],
)
def test_harness_sees_figure_changes(
    tiny_page: Page, lab: JupyterLab, out_dir: Path, label: str, changes: bool
) -> None:
    """The harness reports a change exactly when the slider's figure changed."""
    move = move_slider(tiny_page, lab, label, out_dir, prefix=f"tiny_{label}")
    assert move.readout_after != move.readout_before
    assert move.figure_changed is changes, f"{label}: {move.before.src[:60]} -> {move.after.src[:60]}"
    assert move.rendering_changed is changes


def test_harness_reports_a_failing_cell(lab: JupyterLab, browser: Browser, out_dir: Path) -> None:
    """A cell that raises stops "Run All"; the harness says so at once, with the traceback."""
    with page_in(browser, out_dir / "failing_failure.png") as page:
        open_notebook(page, lab, FAILING)
        with pytest.raises(BrowserTestError, match=r"(?s)stopped after 2 of 3 code cells.*cell 2 fails"):
            run_all_cells(page, lab, 3, timeout=60)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_notebook_01_spectrum_explorer_redraws(lab: JupyterLab, browser: Browser, out_dir: Path) -> None:
    """Run all of notebook 01 in Chromium, move the spectrum explorer's band: the figure changes."""
    if not NOTEBOOK_01.is_file():
        pytest.skip(f"{NOTEBOOK_01.relative_to(REPO)} does not exist yet")
    with page_in(browser, out_dir / "01_failure.png") as page:
        open_notebook(page, lab, NOTEBOOK_01.name)
        run_all_cells(page, lab, code_cells_to_run(lab.root / NOTEBOOK_01.name), timeout=180)
        move = move_slider(page, lab, "band", out_dir, prefix="01_band")
        screenshot_notebook(page, out_dir / "notebook_01.png")
    assert move.readout_after != move.readout_before
    went = f"{move.readout_before} -> {move.readout_after}"
    assert move.figure_changed, f"the spectrum explorer's figure did not change when band went {went}"
    assert move.rendering_changed


@pytest.mark.slow
@pytest.mark.timeout(400)
@pytest.mark.parametrize("number", [n for n in PHOTOGRAPHED if n != "01"])
def test_notebook_runs_in_jupyterlab_and_is_photographed(
    lab: JupyterLab, browser: Browser, out_dir: Path, number: str
) -> None:
    """Run all of notebook ``number`` in Chromium and save the window with its first figure (its explorer,
    where it has one) in view: ``<runs>/browser/notebook_NN.png``. No pop-up may cover it."""
    notebook = committed_notebook(number)
    if notebook is None:
        pytest.skip(f"notebooks/{number}_*.ipynb does not exist yet")
    with page_in(browser, out_dir / f"{number}_failure.png") as page:
        open_notebook(page, lab, notebook.name)
        run_all_cells(page, lab, code_cells_to_run(lab.root / notebook.name), timeout=300)
        shot = screenshot_notebook(page, out_dir / f"notebook_{number}.png")
        assert not [text for text in popups(page) if NEWS_QUESTION in text]
    assert shot.stat().st_size > 10_000


def test_lab_asks_no_news_question(lab: JupyterLab, browser: Browser, out_dir: Path) -> None:
    """JupyterLab started as `make lab` starts it shows no news pop-up (it would cover the figures)."""
    with page_in(browser, out_dir / "news_failure.png") as page:
        open_notebook(page, lab, TINY)
        page.wait_for_timeout(3000)  # the question appears a moment after the page loads, if at all
        assert not [text for text in popups(page) if NEWS_QUESTION in text]
    assert lab.lab_setting(NOTIFICATION_PLUGIN, "fetchNews") == "false"
    assert lab.lab_setting(NOTIFICATION_PLUGIN, "checkForUpdates") is False


def _site_notebook(path: Path, title: str, colour: tuple[int, int, int], error: bool = False) -> None:
    """An executed-looking notebook: a title and a purpose, one code cell with a PNG output (or an
    error), a ``check`` cell."""
    import base64
    import io

    import nbformat
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (120, 80), colour).save(buffer, format="PNG")
    cell = nbformat.v4.new_code_cell("show()", execution_count=1)
    data = {"image/png": base64.b64encode(buffer.getvalue()).decode(), "text/plain": "<Figure>"}
    cell.outputs = [nbformat.v4.new_output("display_data", data)]
    if error:
        cell.outputs.append(nbformat.v4.new_output("error", ename="ValueError", evalue="boom", traceback=[]))
    text = nbformat.v4.new_markdown_cell(
        f"# {title}\n\n*The colour {title}.*\n\nThe filter $w_f$ and $$S = \\mathcal{{F}}^{{-1}}(x)$$"
    )
    check = nbformat.v4.new_code_cell("assert True", execution_count=2)
    check.metadata["tags"] = ["check"]
    nb = nbformat.v4.new_notebook(cells=[text, cell, check])
    nb.metadata["papermill"] = {"exception": error, "duration": 1.5, "end_time": "2026-01-01T00:00:00"}
    nbformat.write(nb, path)


def _check_site(browser: Browser, index: Path, out_dir: Path, prefix: str) -> tuple[list, list]:
    """Open ``index`` from disk, check it links one page per listed notebook, open the first page with
    figures and check its images load and have alt text; screenshots ``<prefix>_index.png`` and
    ``<prefix>_page.png``."""
    with page_in(browser, out_dir / f"{prefix}_failure.png") as page:
        page.goto(index.as_uri())
        rows = page.locator("tbody tr")
        links = page.locator("tbody tr td:nth-child(2) a.sptseg-page")
        assert rows.count() >= 1 and links.count() == rows.count(), "every notebook has its page"
        page.screenshot(path=str(out_dir / f"{prefix}_index.png"), full_page=True)
        figures = [int(t) for t in page.locator("tbody tr td:nth-child(6)").all_inner_texts()]
        statuses = page.locator("tbody tr td:nth-child(3)").all_inner_texts()
        first = next((i for i, n in enumerate(figures) if n > 0), None)
        assert first is not None, "no page of the site holds a figure"
        links.nth(first).click()
        page.wait_for_load_state("domcontentloaded")
        images = page_images(page)
        assert len(images) == figures[first] and all(i["loaded"] for i in images), images
        assert all(i["src"].startswith("data:image/") for i in images)  # embedded: readable offline
        alts = page.evaluate("() => Array.from(document.images).map(i => i.alt)")
        assert all(alt.strip() and "No description" not in alt for alt in alts), alts
        if page.locator("script[src*='MathJax.js']").count():  # equations typeset, offline
            page.wait_for_function("() => document.querySelectorAll('.MathJax, .MathJax_Display').length > 0")
        page.locator("img").first.evaluate("i => i.scrollIntoView({block: 'center'})")  # a figure in view
        page.screenshot(path=str(out_dir / f"{prefix}_page.png"))
        page.locator(".sptseg-nav a", has_text="all notebooks").click()  # and back to the index
        page.wait_for_load_state("domcontentloaded")
        assert page.locator("tbody tr").count() == rows.count()
    return figures, statuses


def test_site_pages_load_their_images(tmp_path: Path, browser: Browser, out_dir: Path) -> None:
    """A site built from two executed notebooks, one failed: both linked, the failure marked, images load."""
    executed = tmp_path / "notebooks"
    executed.mkdir()
    _site_notebook(executed / "01_red.ipynb", "01 · Red", (220, 30, 30))
    _site_notebook(executed / "02_blue.ipynb", "02 · Blue", (30, 30, 220), error=True)
    index = site.build_site(executed, tmp_path / "site", log=lambda *a, **k: None)
    figures, statuses = _check_site(browser, index, tmp_path, "sample")
    assert figures == [1, 1]
    assert statuses[0] == "ok" and statuses[1].startswith("FAILED") and "ValueError: boom" in statuses[1]
    with page_in(browser, tmp_path / "sample_course_failure.png") as page:  # the course: purpose, labels
        page.goto(index.as_uri())
        assert page.locator("tbody tr td .purpose").first.inner_text() == "The colour 01 · Red."
        assert page.get_by_text("How to read this course").is_visible()
        page.goto((tmp_path / "site" / "01_red.html").as_uri())
        label = page.locator(".celltag_check .sptseg-label-check")
        assert label.is_visible() and label.inner_text() == "check: asserts what the text says"
        border = label.evaluate("e => getComputedStyle(e.closest('.jp-Cell')).borderLeftStyle")
        assert border == "solid"


def test_walkthrough_site_shows_the_notebooks(browser: Browser, out_dir: Path) -> None:
    """The site `make run` built (``<runs>/site``): every notebook linked, its figures load. Screenshots:
    ``<runs>/browser/site_index.png`` and ``site_page.png``."""
    index = runs_dir("site", create=False) / "index.html"
    if not index.is_file():
        pytest.skip(f"{index} does not exist: `make run` builds it")
    figures, statuses = _check_site(browser, index, out_dir, "site")
    assert sum(figures) > 0 and len(statuses) >= 1
