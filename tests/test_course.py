"""The notebooks as a course: every numbered notebook opens with its objectives and ends with what the
reader saw (asserted), what to try and where to go next; 01-07 hold exercises whose checkers pass the
reference solutions when the series runs with ``exercise_solutions: true``; executed notebooks hold no
folder of the machine that ran them.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

from sptseg_lib.tools import run_notebooks

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
WITH_EXERCISES = {f"{n:02d}" for n in range(1, 8)}


def _cells(path: Path) -> list:
    return nbformat.read(path, as_version=4).cells


def _tags(cell) -> list[str]:
    return cell.metadata.get("tags", [])


def _heading_index(cells: list, heading: str) -> int:
    found = [i for i, c in enumerate(cells) if c.cell_type == "markdown" and heading in c.source.splitlines()]
    assert len(found) == 1, f"expected one markdown cell with the line {heading!r}, found {len(found)}"
    return found[0]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem[:2])
def test_opens_with_purpose_objectives_and_assumptions(path: Path) -> None:
    first = _cells(path)[0]
    assert first.cell_type == "markdown"
    lines = first.source.splitlines()
    assert re.match(rf"# {path.stem[:2]} · \S", lines[0]), lines[0]
    purpose = next(line for line in lines[1:] if line.strip())
    assert purpose.startswith("*") and purpose.endswith("*"), f"no one-line purpose in italics: {purpose!r}"
    assert "## You will learn" in lines, "no 'You will learn' section in the first cell"
    after = lines[lines.index("## You will learn") + 1 :]
    bullets = []
    for line in after:
        if line.startswith("- "):
            bullets.append(line)
        elif bullets and not line.startswith("  "):
            break
    assert 2 <= len(bullets) <= 4, f"{len(bullets)} objectives (want 2-4)"
    assert any(line.startswith("**Assumes:**") for line in after), "no '**Assumes:**' line"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem[:2])
def test_ends_with_what_you_saw_checked_try_this_and_next(path: Path) -> None:
    cells = _cells(path)
    saw = _heading_index(cells, "## What you saw")
    following = next(c for c in cells[saw + 1 :] if c.cell_type == "code")
    assert "check" in _tags(following), "the cell after 'What you saw' must be a check cell asserting it"
    assert "assert" in following.source
    try_this = _heading_index(cells, "## Try this")
    nxt = _heading_index(cells, "## Next")
    assert saw < try_this <= nxt, "order: What you saw, Try this, Next"
    assert nxt >= len(cells) - 2, "'Next' closes the notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem[:2])
def test_exercises_are_stubs_checked_by_the_library(path: Path) -> None:
    from sptseg_lib import exercises

    cells = _cells(path)
    stubs = [i for i, c in enumerate(cells) if "exercise" in _tags(c)]
    if path.stem[:2] not in WITH_EXERCISES:
        assert not stubs
        return
    assert stubs, f"{path.name} has no exercise"
    for i in stubs:
        assert "raise NotImplementedError" in cells[i].source, "an exercise cell starts as a stub"
        checker = cells[i + 1]
        assert "exercise-check" in _tags(checker)
        name = re.search(r"exercises\.check\(\s*\"(\w+)\"", checker.source)
        assert name and name.group(1) in exercises.EXERCISES, checker.source
        assert cells[i].source.strip() == exercises.stub_source(name.group(1)).strip(), (
            "the stub is the library's (stub_source)"
        )
        assert "solutions=exercise_solutions" in checker.source
    parameters = next(c for c in cells if "parameters" in _tags(c))
    assert "exercise_solutions = False" in parameters.source.splitlines()


def _machine_paths(text: str, folders: list[Path]) -> list[str]:
    return sorted(
        {m for folder in folders for m in re.findall(re.escape(str(folder)) + r"[^\"'\s\\]*", text)}
    )


@pytest.mark.slow
def test_the_series_runs_with_the_reference_solutions_and_shows_no_machine_path(
    tmp_path, monkeypatch
) -> None:
    """The whole series, executed as `make run` does but with every exercise's reference solution: every
    checker passes it (a failing one raises, failing its notebook), and no executed copy names a folder
    of this machine (the checkout, the runs folder, the home folder)."""
    runs = tmp_path / "runs"
    monkeypatch.setenv("SPTSEG_RUNS", str(runs))
    out = runs / "notebooks"
    code = run_notebooks.main(["--out", str(out), "--no-site", "-y", "exercise_solutions: true"])
    assert code == 0, (out / "summary.txt").read_text()
    folders = [
        f for f in (ROOT, tmp_path, Path.home()) if len(f.parts) > 2
    ]  # never "/" or "/root"-like roots
    for path in NOTEBOOKS:
        executed = out / path.name
        text = executed.read_text(encoding="utf-8")
        assert not _machine_paths(text, folders), (path.name, _machine_paths(text, folders))
        nb = json.loads(text)
        checks = [c for c in nb["cells"] if "exercise-check" in c["metadata"].get("tags", [])]
        assert len(checks) >= (path.stem[:2] in WITH_EXERCISES)
        for cell in checks:
            printed = "".join("".join(o.get("text", "")) for o in cell["outputs"])
            assert "passed" in printed, (path.name, printed)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem[:2])
def test_without_the_library_the_first_code_cell_says_how_to_install_it(path: Path, monkeypatch) -> None:
    """On a hosted Jupyter without the project, the cell after the parameters stops with one line giving
    the two install commands (README, "Colab or a hosted Jupyter"), not an ImportError traceback."""
    cells = _cells(path)
    first = next(i for i, c in enumerate(cells) if "parameters" in _tags(c))
    source = next(c for c in cells[first + 1 :] if c.cell_type == "code").source
    guard = source.split("\n\n", 1)[0]
    assert guard.startswith("try:") and "import sptseg_lib" in guard
    monkeypatch.setitem(sys.modules, "sptseg_lib", None)  # import sptseg_lib now raises ImportError
    with pytest.raises(SystemExit) as stopped:
        exec(compile(guard, path.name, "exec"), {})
    message = str(stopped.value)
    assert "\n" not in message and "git clone" in message
    assert 'pip install -e "./sptseg[notebooks]"' in message
