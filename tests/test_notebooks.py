"""The notebook infrastructure: committed notebooks, the parameters cell, the runner, the environment.

Executing the real notebooks is nbval's job (``pytest --nbval-lax notebooks/``); here the runner is
tested on tiny temporary notebooks.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import nbformat
import pytest
import torch

from sptseg_lib import notebook_env
from sptseg_lib.clip_loading import tiny_clip_weights
from sptseg_lib.tools import run_notebooks

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_there_are_numbered_notebooks() -> None:
    names = [p.stem[:2] for p in NOTEBOOKS]
    assert {"01", "02", "03", "04"} <= set(names)
    assert len(names) == len(set(names)), f"two notebooks share a number: {names}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebook_carries_no_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    dirty = [
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count)
    ]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_exactly_one_parameters_cell_of_literals(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{path.name}: {len(cells)} cells tagged 'parameters'"
    tree = ast.parse(cells[0].source)
    names = {}
    for node in tree.body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, ast.dump(node)
        assert isinstance(node.targets[0], ast.Name)
        names[node.targets[0].id] = ast.literal_eval(node.value)  # raises unless a literal
    assert names.get("profile") == "smoke" and names.get("device") == "auto"


def _notebook(path: Path, *sources: str, parameters: str = "x = 1") -> None:
    cell = nbformat.v4.new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=[cell] + [nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_runner_reports_the_failing_notebook_and_cell_and_runs_the_others(
    tmp_path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("SPTSEG_RUNS", str(tmp_path / "runs"))
    source = tmp_path / "nbs"
    source.mkdir()
    _notebook(source / "01_ok.ipynb", "print(x + 1)")
    _notebook(source / "02_fail.ipynb", "y = x", "raise ValueError('boom')", "print('never')")
    _notebook(source / "03_after.ipynb", "print('ran with', x)")
    out = tmp_path / "out"
    environment = {key: os.environ.get(key) for key in ("PYTHONPATH", "SPTSEG_RUNS")}
    code = run_notebooks.main(["--notebooks-dir", str(source), "--out", str(out), "-p", "x", "41"])
    assert {key: os.environ.get(key) for key in environment} == environment  # restored
    printed = capsys.readouterr().out
    assert code == 1
    assert "FAILED 02_fail" in printed and "code cell 3" in printed and "ValueError: boom" in printed
    assert "raise ValueError('boom')" in printed
    assert "ok     01_ok" in printed and "ok     03_after" in printed
    after = nbformat.read(out / "03_after.ipynb", as_version=4)
    assert "ran with 41" in after.cells[-1].outputs[0].text  # the -p value reached the kernel as an int
    assert (out / "02_fail.ipynb").is_file() and "02_fail" in (out / "summary.txt").read_text()


def test_runner_only_selects_and_succeeds(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("SPTSEG_RUNS", str(tmp_path / "runs"))
    source = tmp_path / "nbs"
    source.mkdir()
    _notebook(source / "01_ok.ipynb", "print('one')")
    _notebook(source / "02_fail.ipynb", "raise RuntimeError('not selected')")
    assert (
        run_notebooks.main(["--notebooks-dir", str(source), "--out", str(tmp_path / "o"), "--only", "1"]) == 0
    )
    assert "02_fail" not in capsys.readouterr().out
    with pytest.raises(SystemExit, match="no notebook numbered"):
        run_notebooks.find_notebooks(source, ["07"])


def test_parameters_are_read_as_yaml() -> None:
    params = run_notebooks.parse_parameters([["iterations", "100"], ["use_widgets", "false"]], ["name: x"])
    assert params == {"iterations": 100, "use_widgets": False, "name": "x"}
    with pytest.raises(SystemExit, match="YAML mapping"):
        run_notebooks.parse_parameters([], ["- a list"])


def test_resolve_device() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert notebook_env.resolve_device("auto").type == expected
    assert notebook_env.resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            notebook_env.resolve_device("cuda")


def test_clip_choice_says_plainly_what_it_loads(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SPTSEG_RUNS", str(tmp_path))
    monkeypatch.delenv("SPTSEG_CLIP_WEIGHTS", raising=False)
    env = notebook_env.setup("smoke", "cpu", clip="random", notebook="t")
    assert env.clip_source == "random" and "RANDOM WEIGHTS" in env.clip_description
    assert env.grid == (8, 8) and env.out == tmp_path / "notebooks" / "t"  # 64-px images, 8-px patches
    expected = "tiny" if tiny_clip_weights() is not None else "random"
    assert notebook_env.choose_clip("smoke", "auto") == expected
    assert notebook_env.choose_clip("full", "auto") == "real"
    with pytest.raises(ValueError, match="profile must be one of"):
        notebook_env.setup("medium")


def test_full_profile_fails_clearly_offline(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("SPTSEG_CLIP_WEIGHTS", raising=False)
    from sptseg_lib.clip_loading import PretrainedWeightsError

    with pytest.raises(PretrainedWeightsError, match="To provide the ViT-B-16 'openai' weights"):
        notebook_env.load_notebook_clip("real", torch.device("cpu"))


def test_runner_stops_on_ctrl_c_and_keeps_what_ran(tmp_path, capsys, monkeypatch) -> None:
    import shutil

    import papermill

    monkeypatch.setenv("SPTSEG_RUNS", str(tmp_path / "runs"))
    source = tmp_path / "nbs"
    source.mkdir()
    for name in ("01_a", "02_b", "03_c"):
        _notebook(source / f"{name}.ipynb", "print(1)")

    def fake_execute(input_path, output_path, **kwargs):
        if "02_b" in input_path:
            raise KeyboardInterrupt
        shutil.copy(input_path, output_path)

    monkeypatch.setattr(papermill, "execute_notebook", fake_execute)
    out = tmp_path / "out"
    assert run_notebooks.main(["--notebooks-dir", str(source), "--out", str(out)]) == 130
    printed = capsys.readouterr().out
    assert "FAILED 02_b" in printed and "interrupted" in printed and "03_c" not in printed
    assert (out / "01_a.ipynb").is_file() and "02_b" in (out / "summary.txt").read_text()


_PNG_CELL = """import io
from IPython.display import Image, display
from PIL import Image as PILImage
buffer = io.BytesIO()
PILImage.new("RGB", (40, 30), (200, 30, 30)).save(buffer, format="PNG")
display(Image(data=buffer.getvalue()))"""


def test_runner_builds_a_static_site_marking_failures(tmp_path, capsys, monkeypatch) -> None:
    """`make run`'s site: an index linking one self-contained page per notebook, with its title, status
    and figures; a failed notebook is marked in the index and on its page; `--only` keeps the others."""
    import re

    monkeypatch.setenv("SPTSEG_RUNS", str(tmp_path / "runs"))
    source = tmp_path / "nbs"
    source.mkdir()
    _notebook(source / "01_figure.ipynb", _PNG_CELL)
    nb = nbformat.read(source / "01_figure.ipynb", as_version=4)
    nb.cells.insert(0, nbformat.v4.new_markdown_cell("# 01 · A red rectangle\n\nText with $x^2$."))
    nbformat.write(nb, source / "01_figure.ipynb")
    _notebook(source / "02_fail.ipynb", "raise ValueError('site boom')")
    out = tmp_path / "runs" / "notebooks"
    assert run_notebooks.main(["--notebooks-dir", str(source), "--out", str(out)]) == 1
    site = tmp_path / "runs" / "site"
    assert f"site: {site / 'index.html'}" in capsys.readouterr().out
    index = (site / "index.html").read_text()
    assert 'href="01_figure.html"' in index and 'href="02_fail.html"' in index
    assert "01 · A red rectangle" in index
    assert re.search(r"FAILED at code cell 2.*ValueError: site boom", index, re.S)
    assert "1 of 2 notebooks ran without error; failed: 02" in index
    page = (site / "01_figure.html").read_text()
    assert page.count('src="data:image/png;base64,') == 1  # the figure, embedded
    assert 'href="index.html"' in page and 'href="02_fail.html"' in page  # the navigation bar
    scripts = re.findall(r"<script[^>]*\bsrc=\"([^\"]+)\"", page)
    assert all("mathjax" in url.lower() for url in scripts), scripts  # nothing else is fetched
    assert re.search(r"<script async[^>]*mathjax", page, re.I)  # and MathJax never blocks the page
    assert (site / "mathjax" / "MathJax.js").is_file()  # the site carries it: equations offline too
    failed = (site / "02_fail.html").read_text()
    assert "This notebook failed at code cell 2" in failed and "site boom" in failed

    # A later run of one notebook replaces its record and page; the other stays listed.
    _notebook(source / "02_fail.ipynb", "print('fixed')")
    assert run_notebooks.main(["--notebooks-dir", str(source), "--out", str(out), "--only", "02"]) == 0
    index = (site / "index.html").read_text()
    assert "FAILED" not in index and "2 of 2 notebooks ran without error" in index
    assert (site / "01_figure.html").is_file()


def test_site_freezes_explorers_and_lists_unrenderable_notebooks(tmp_path) -> None:
    """A saved widget becomes its controls' values and its image; a missing or unreadable executed copy is
    listed with the reason instead of stopping the site."""
    from sptseg_lib.tools import site

    png = "iVBORw0KGgo="
    state = {
        "box": {"model_name": "VBoxModel", "state": {"children": ["IPY_MODEL_slider", "IPY_MODEL_img"]}},
        "slider": {
            "model_name": "FloatRangeSliderModel",
            "state": {"description": "band", "value": [0, 0.3]},
        },
        "img": {
            "model_name": "ImageModel",
            "state": {"format": "png"},
            "buffers": [{"path": ["value"], "encoding": "base64", "data": png}],
        },
    }
    cell = nbformat.v4.new_code_cell("explorer")
    view = {"model_id": "box", "version_major": 2, "version_minor": 0}
    cell.outputs = [nbformat.v4.new_output("display_data", {site.WIDGET_VIEW: view, "text/plain": "VBox()"})]
    nb = nbformat.v4.new_notebook(cells=[cell])
    nb.metadata["widgets"] = {site.WIDGET_STATE: {"state": state, "version_major": 2, "version_minor": 0}}
    assert site.freeze_widgets(nb) == 1
    frozen = cell.outputs[0]["data"]["text/html"]
    assert "band: 0 – 0.3" in frozen and f"data:image/png;base64,{png}" in frozen and "make lab" in frozen
    executed = tmp_path / "executed"
    executed.mkdir()
    nbformat.write(nb, executed / "01_explorer.ipynb")
    (executed / "02_broken.ipynb").write_text("{ not json")
    records = {"03_missing": {"ok": False, "seconds": 0.1, "error": "DeadKernelError: kernel died"}}
    index = site.build_site(executed, tmp_path / "site", records, log=lambda *a, **k: None).read_text()
    assert 'href="01_explorer.html"' in index and "band: 0" not in index
    assert "cannot read 02_broken.ipynb" in index and "DeadKernelError: kernel died" in index
    assert "band: 0 – 0.3" in (tmp_path / "site" / "01_explorer.html").read_text()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_checks_its_own_claims(path: Path) -> None:
    """At least one ``check``-tagged cell asserts what the notebook's text says about its outputs."""
    nb = nbformat.read(path, as_version=4)
    checks = [c for c in nb.cells if c.cell_type == "code" and "check" in c.metadata.get("tags", [])]
    assert checks, f"{path.name}: no cell tagged 'check'"
    for cell in checks:
        assert "assert" in cell.source, f"{path.name}: a 'check' cell without an assertion:\n{cell.source}"
