"""The project's own promises: lint clean, conda file in step with pyproject, two commands documented."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

# PyPI name -> conda-forge name, where they differ.
CONDA_NAMES = {"torch": "pytorch", "open_clip_torch": "open-clip-torch"}


def _requirements(specs: list[str]) -> dict[str, str]:
    out = {}
    for spec in specs:
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*(.*)", spec.strip())
        assert match, spec
        name, constraint = match.groups()
        out[CONDA_NAMES.get(name, name).lower()] = constraint.replace(" ", "")
    return out


def test_environment_yml_matches_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = _requirements(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        wanted.update(_requirements(extra))
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"], "environment.yml must use conda-forge only"
    conda = _requirements([d for d in env["dependencies"] if isinstance(d, str) and d not in ("pip",)])
    conda.pop("python")
    missing = sorted(set(wanted) - set(conda))
    extra = sorted(set(conda) - set(wanted))
    assert not missing, f"in pyproject.toml but not in environment.yml: {missing}"
    assert not extra, f"in environment.yml but not in pyproject.toml: {extra}"
    differing = {k: (wanted[k], conda[k]) for k in wanted if wanted[k] != conda[k]}
    assert not differing, f"version constraints differ (pyproject, environment.yml): {differing}"


def test_lock_pins_every_dependency_exactly() -> None:
    lock = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"requirements.lock line is not an exact pin: {line!r}"
            lock[name.lower().replace("-", "_")] = version
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + [s for e in project["optional-dependencies"].values() for s in e]
    for spec in specs:
        name = re.match(r"[A-Za-z0-9_.\-]+", spec).group(0).lower().replace("-", "_")
        assert name in lock, f"{name} is a dependency but not pinned in requirements.lock"


def test_readme_opens_with_the_two_commands() -> None:
    head = (ROOT / "README.md").read_text()[:1500]
    assert "make run" in head and "make test" in head
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_ruff_lint_and_format() -> None:
    pytest.importorskip("ruff")
    paths = ["sptseg_lib", "tests", "benchmarks"]
    check = subprocess.run(
        [sys.executable, "-m", "ruff", "check", *paths], cwd=ROOT, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", *paths], cwd=ROOT, capture_output=True, text=True
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


# --- citations: the library cites docs/reference.md, never a document outside the repository ---------

REFERENCE_DOC = ROOT / "docs" / "reference.md"

# "docs/reference.md" followed by one or more sections: "§2.1", "§1.3 and §2.1", "§3.1, §6.1", "§5.2-5.4"
_CITATION = re.compile(
    r"docs/reference\.md((?:\s*(?:,|/|and|or)?\s*§\d+(?:\.\d+)*(?:\s*[-–]\s*§?\d+(?:\.\d+)*)?)+)"
)
_SECTION = re.compile(r"(\d+(?:\.\d+)*)")
_HEADING = re.compile(r"^#{1,6}\s+§(\d+(?:\.\d+)*)\b", re.MULTILINE)
# the old outside documents, bare "reference §N" / "reference N.M" citations, and issue numbers
_OUTSIDE = re.compile(
    r"reference-code|shared/(?:reference|paper)|spt-seg-aaai2024"
    r"|(?<!docs/)\breference(?:\.md)?\s+§|\breference \d"
    r"|\bissues? #?\d+|\bPR #?\d+",
    re.IGNORECASE,
)


def _cited_texts() -> dict[str, str]:
    """Path (relative to the root) -> text of every file whose docstrings, comments or prose may cite."""
    files = [
        *sorted((ROOT / "sptseg_lib").rglob("*.py")),
        *sorted((ROOT / "sptseg_lib").rglob("*.json")),
        *sorted((ROOT / "sptseg_lib").rglob("*.md")),
        ROOT / "README.md",
        *sorted((ROOT / "tests").glob("*.py")),
        *sorted((ROOT / "benchmarks").glob("*.py")),
    ]
    texts = {str(p.relative_to(ROOT)): p.read_text() for p in files if "__pycache__" not in p.parts}
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        texts[str(nb.relative_to(ROOT))] = "\n".join("".join(c["source"]) for c in cells)
    texts.pop(str(Path(__file__).resolve().relative_to(ROOT)))  # this file spells out the patterns
    return texts


def test_reference_doc_has_the_numbered_sections() -> None:
    headings = set(_HEADING.findall(REFERENCE_DOC.read_text()))
    for n in range(10):
        assert f"{n}" in headings, f"docs/reference.md lacks a heading for §{n}"
    head = REFERENCE_DOC.read_text()[:600]
    assert "what the public reference code does" in head and "docs/reference.md §N" in head


def test_no_citation_of_documents_outside_the_repository() -> None:
    found = [
        f"{path}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)!r}"
        for path, text in _cited_texts().items()
        for m in _OUTSIDE.finditer(text)
    ]
    assert not found, "cite docs/reference.md §N (or state the fact) instead of:\n" + "\n".join(found)


def test_every_cited_reference_section_exists() -> None:
    headings = set(_HEADING.findall(REFERENCE_DOC.read_text()))
    cited = 0
    missing = []
    for path, text in _cited_texts().items():
        for m in _CITATION.finditer(text):
            for section in _SECTION.findall(m.group(1)):
                cited += 1
                if section not in headings:
                    line = text.count("\n", 0, m.start()) + 1
                    missing.append(f"{path}:{line}: §{section} in {m.group(0)!r}")
    assert cited > 50, f"only {cited} citations of docs/reference.md found: is the pattern still right?"
    assert not missing, "no such heading in docs/reference.md:\n" + "\n".join(missing)


def test_no_library_module_exceeds_600_lines() -> None:
    """The house rule: a module of ``sptseg_lib/`` that grows past 600 lines is split along its jobs."""
    root = Path(__file__).resolve().parent.parent / "sptseg_lib"
    long = {
        str(p.relative_to(root)): n
        for p in root.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 600
    }
    assert not long, f"modules over 600 lines (split them along their jobs): {long}"
