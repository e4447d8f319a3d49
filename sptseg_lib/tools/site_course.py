"""The course side of the site (:mod:`sptseg_lib.tools.site`): what the index says of each notebook, how
its check and exercise cells look, and the alt text of its figures.

* :func:`notebook_outline` reads a notebook's opening (its first Markdown cells, before any code): the
  title ``# NN · Title``, the one-line purpose (a paragraph in italics), the objectives (the bullets
  under ``## You will learn``) and what it assumes (the line starting ``**Assumes:**``). Whatever is
  missing stays empty: a notebook without them is listed with its title only.
* :data:`CELL_LABELS` and :data:`CELL_CSS`: cells tagged ``check`` (they assert what the text says),
  ``exercise`` (the reader's stub) and ``exercise-check`` (it checks the stub) get a label above their
  code and a border; nbconvert's lab template marks a cell with a class per tag (``celltag_check``).
* :func:`describe_figures`: every image output gets alt text, kept in its output metadata
  (``metadata["image/png"]["alt"]``, where ``IPython.display.Image(alt=...)`` puts it too): the alt text
  the notebook gave the figure, else the name the cell saved it under (``env.save(fig, "eq1_steps")``:
  "Eq1 steps") and the heading of the section it sits in.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

import nbformat
from nbconvert.filters.markdown_mistune import markdown2html_mistune

IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml")
PLACEHOLDER_ALT = "No description has been provided for this image"
"""What nbconvert writes into an ``<img>`` that has no alt text; no page of the site keeps it."""

CELL_LABELS = {
    "check": "check: asserts what the text says",
    "exercise": "exercise: your turn, in Jupyter (make lab); shown here unattempted",
    "exercise-check": "exercise check: tests your answer to the exercise above",
}
"""The label above a code cell with one of these tags (nbconvert adds the class ``celltag_<tag>``)."""

CELL_CSS = """
.jp-Cell.celltag_check { border-left: 4px solid #8c959f; background: #f6f8fa; padding-left: 0.4em; }
.jp-Cell.celltag_exercise, .jp-Cell.celltag_exercise-check {
  border-left: 4px solid #bf8700; background: #fff8e5; padding-left: 0.4em; }
.sptseg-cell-label { font-family: system-ui, sans-serif; font-size: 12px; font-weight: 600;
  margin: 0.1em 0 0.3em var(--jp-cell-prompt-width, 64px); letter-spacing: 0.02em; }
.sptseg-label-check { color: #57606a; }
.sptseg-label-exercise, .sptseg-label-exercise-check { color: #7d4e00; }
"""

_TITLE_RE = re.compile(r"^\s{0,3}#\s+(.+?)\s*#*\s*$")
_HEADING_RE = re.compile(r"^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$")
_LEARN_RE = re.compile(r"^\s{0,3}#{2,6}\s+you will learn\b", re.I)
_ITEM_RE = re.compile(r"^\s{0,3}(?:[-*+]|\d{1,2}[.)])\s+(.*\S)")
_ASSUMES_RE = re.compile(r"^\s*\*\*assumes:?\*\*:?\s*(.*)", re.I)
_ITALIC_RE = re.compile(r"^(?:\*(?!\*)(?P<star>.+)(?<!\*)\*|_(?!_)(?P<under>.+)(?<!_)_)$", re.S)
_SAVED_NAME_RE = re.compile(r"""\benv\.(?:save|show)\([^\n]*?,\s*["']([^"'\n]+)["']\s*[,)]""")
_NOTEBOOK_LINK_RE = re.compile(r"(\]\(\s*(?:\./)?)(\d{2}_[^)\s#/]+)\.ipynb(?=[)#\s])")


@dataclass
class Outline:
    """What the index says of a notebook besides its status: Markdown text, as the notebook wrote it."""

    title: str
    purpose: str = ""
    objectives: list[str] = field(default_factory=list)
    assumes: str = ""
    checks: int = 0
    exercises: int = 0


def _opening(nb: nbformat.NotebookNode) -> list[str]:
    """The lines of the Markdown cells before the first code cell (fenced code left out)."""
    lines: list[str] = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            break
        if cell.cell_type == "markdown":
            lines.extend(_prose_lines(cell.source))
            lines.append("")
    return lines


def _prose_lines(source: str) -> list[str]:
    lines, fenced = [], False
    for line in source.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def _paragraphs(lines: list[str]) -> list[str]:
    out, current = [], []
    for line in [*lines, ""]:
        if line.strip():
            current.append(line.strip())
        elif current:
            out.append(" ".join(current))
            current = []
    return out


def _objectives(lines: list[str]) -> list[str]:
    items: list[str] = []
    blank = False
    for line in lines:
        match = _ITEM_RE.match(line)
        if not line.strip():
            blank = True
        elif _HEADING_RE.match(line) or _ASSUMES_RE.match(line):
            break
        elif match:
            items.append(match.group(1))
            blank = False
        elif items and (line[:1] in (" ", "\t") or not blank):
            items[-1] += " " + line.strip()  # a continuation of the item
        elif items:
            break
    return items


def _assumes(lines: list[str]) -> str:
    for i, line in enumerate(lines):
        match = _ASSUMES_RE.match(line)
        if match is None:
            continue
        text = [match.group(1).strip()]
        for more in lines[i + 1 :]:
            if not more.strip() or _HEADING_RE.match(more) or _ITEM_RE.match(more):
                break
            text.append(more.strip())
        return " ".join(t for t in text if t)
    return ""


def notebook_outline(nb: nbformat.NotebookNode | None, fallback: str) -> Outline:
    """The notebook's title, purpose, objectives and assumptions (see the module's docstring), and how
    many cells it tags ``check`` and ``exercise``; ``fallback`` is the title of a notebook without one."""
    if nb is None:
        return Outline(fallback)
    lines = _opening(nb)
    title_at = next((i for i, line in enumerate(lines) if _TITLE_RE.match(line)), None)
    if title_at is None:
        return _counted(Outline(_first_heading(nb) or fallback), nb)
    title = _TITLE_RE.match(lines[title_at]).group(1)  # type: ignore[union-attr]
    rest = lines[title_at + 1 :]
    learn_at = next((i for i, line in enumerate(rest) if _LEARN_RE.match(line)), None)
    before = rest if learn_at is None else rest[:learn_at]
    purpose = ""
    for paragraph in _paragraphs(before):
        if _HEADING_RE.match(paragraph) or _ASSUMES_RE.match(paragraph):
            continue
        match = _ITALIC_RE.match(paragraph)
        if match:
            purpose = (match.group("star") or match.group("under")).strip()
        break  # only the first paragraph after the title can be the purpose
    objectives = _objectives(rest[learn_at + 1 :]) if learn_at is not None else []
    return _counted(Outline(title, purpose, objectives, _assumes(rest)), nb)


def _first_heading(nb: nbformat.NotebookNode) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in _prose_lines(cell.source):
                match = _HEADING_RE.match(line)
                if match:
                    return match.group(2)
    return ""


def _counted(outline: Outline, nb: nbformat.NotebookNode) -> Outline:
    tags = [cell.get("metadata", {}).get("tags", []) for cell in nb.cells if cell.cell_type == "code"]
    outline.checks = sum("check" in t for t in tags)
    outline.exercises = sum("exercise" in t for t in tags)
    return outline


def inline_markdown(text: str) -> str:
    """``text`` (one paragraph of Markdown) as inline HTML; math stays as ``$...$`` for MathJax."""
    try:
        rendered = markdown2html_mistune(text).strip()
    except Exception:  # an odd construct: show the text as it is
        return html.escape(text)
    if rendered.startswith("<p>") and rendered.endswith("</p>") and rendered.count("<p>") == 1:
        rendered = rendered[3:-4]
    return rendered


def outline_html(outline: Outline) -> str:
    """The purpose, objectives, assumptions and counts of ``outline`` as the index shows them (under the
    notebook's linked title); empty for a notebook that has none."""
    parts = []
    if outline.purpose:
        parts.append(f'<p class="purpose">{inline_markdown(outline.purpose)}</p>')
    if outline.objectives:
        items = "".join(f"<li>{inline_markdown(item)}</li>" for item in outline.objectives)
        parts.append(f'<div class="learn"><span class="label">You will learn</span><ul>{items}</ul></div>')
    if outline.assumes:
        parts.append(f'<p class="assumes"><strong>Assumes:</strong> {inline_markdown(outline.assumes)}</p>')
    counts = []
    if outline.checks:
        counts.append(f"{outline.checks} check cell{'s' if outline.checks != 1 else ''}")
    if outline.exercises:
        counts.append(f"{outline.exercises} exercise{'s' if outline.exercises != 1 else ''}")
    if counts:
        parts.append(f'<p class="counts">{" · ".join(counts)}</p>')
    return "".join(parts)


def how_to_read_html(map_href: str | None) -> str:
    """The index's "How to read this course": in order, from the map (notebook 00, at ``map_href``);
    what check cells and exercises are."""
    map_link = f'<a href="{html.escape(map_href)}">00</a>' if map_href else "00"
    return (
        '<h2>How to read this course</h2>\n<p class="how-to-read">Read the notebooks in order: '
        f"{map_link} is the map of the series, and each notebook builds on the ones before it (what it "
        "assumes is listed with it). Each opens with its purpose and what you will learn, and ends with "
        "<em>What you saw</em>, <em>Try this</em> and <em>Next</em>. Cells labelled "
        '<span class="tag tag-check">check</span> assert what the text around them claims, so a claim '
        "that stops holding fails its notebook (the status below). Cells labelled "
        '<span class="tag tag-exercise">exercise</span> are yours: a stub to fill in, then the cell that '
        "checks it. Exercises run in Jupyter (<code>make lab</code>); these pages show them unattempted."
        "</p>"
    )


# --- figures' alt text ------------------------------------------------------------------------------


def _plain(text: str) -> str:
    """A heading without its Markdown: no emphasis, code or math markers."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"\s+", " ", re.sub(r"[*`$\\]", "", text)).strip()


def humanise(name: str) -> str:
    """``"eq1_steps_lowpass"`` -> ``"Eq1 steps lowpass"``."""
    words = re.sub(r"[_\-\s]+", " ", name).strip()
    return words[:1].upper() + words[1:]


def section_headings(nb: nbformat.NotebookNode, fallback: str = "") -> list[str]:
    """For each cell of ``nb``, the last heading at or before it (plain text), ``fallback`` before any."""
    current, out = fallback, []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in _prose_lines(cell.source):
                match = _HEADING_RE.match(line)
                if match and not _LEARN_RE.match(line):  # "You will learn" is no section
                    current = _plain(match.group(2)) or current
        out.append(current)
    return out


def _image_outputs(cell: Any) -> list[tuple[Any, str]]:
    found = []
    for out in cell.get("outputs", []):
        data = out.get("data", {})
        mime = next((m for m in IMAGE_TYPES if m in data), None)
        if mime is not None and out.get("output_type") in ("display_data", "execute_result"):
            found.append((out, mime))
    return found


def _given_alt(out: Any, mime: str) -> str:
    metadata = out.get("metadata") or {}
    value = (metadata.get(mime) or {}).get("alt") if isinstance(metadata.get(mime), dict) else None
    value = value or metadata.get("alt")
    return str(value).strip() if value else ""


def describe_figures(nb: nbformat.NotebookNode, title: str) -> int:
    """Give every image output of ``nb`` alt text (in place, ``metadata[mime]["alt"]``): its own, else the
    name its cell saved it under, humanised, with the section it is in. Returns how many were filled."""
    filled = 0
    for cell, heading in zip(nb.cells, section_headings(nb, _plain(title)), strict=True):
        images = _image_outputs(cell) if cell.cell_type == "code" else []
        if not images:
            continue
        names = [humanise(n) for n in _SAVED_NAME_RE.findall(cell.source)]
        for k, (out, mime) in enumerate(images):
            given = _given_alt(out, mime)
            if given:
                alt = given
            else:
                if len(names) == len(images):
                    name = names[k]
                elif len(names) == 1:
                    name = names[0]
                else:
                    name = f"Figure {k + 1}" if len(images) > 1 else "Figure"
                alt = f"{name} (in “{heading}”)" if heading else name
                filled += 1
            metadata = out.setdefault("metadata", {})
            if not isinstance(metadata.get(mime), dict):
                metadata[mime] = {}
            metadata[mime]["alt"] = alt  # (a NotebookNode copies a dict it is given: set it in place)
    return filled


def fill_missing_alts(body: str, fallback: str) -> str:
    """Replace nbconvert's placeholder alt text, and an empty one, (an image no output metadata described:
    a Markdown image, an ``<img>`` in Markdown or in an HTML output) by the heading before it on the page,
    else ``fallback``."""
    if PLACEHOLDER_ALT not in body and not re.search(r"<img\b[^>]*\balt=(\"\"|'')", body):
        return body
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(body, features="html.parser")
    for img in soup.find_all("img", alt=lambda alt: not alt or alt.strip() in ("", PLACEHOLDER_ALT)):
        text = ""
        for heading in img.find_all_previous(["h1", "h2", "h3", "h4", "h5", "h6"]):
            text = heading.get_text(" ", strip=True).rstrip("¶").strip()
            if text and not text.lower().startswith("you will learn"):
                break
            text = ""
        img["alt"] = f"Figure (in “{text or fallback}”)"
    return str(soup)


def link_pages(nb: nbformat.NotebookNode) -> None:
    """Point the Markdown links between notebooks (``02_hilo_attention.ipynb``) at their pages (in place)."""
    for cell in nb.cells:
        if cell.cell_type == "markdown" and ".ipynb" in cell.source:
            cell.source = _NOTEBOOK_LINK_RE.sub(r"\1\2.html", cell.source)
