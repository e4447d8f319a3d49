"""A static HTML site of the executed walkthrough: ``index.html`` and one page per notebook.

``python -m sptseg_lib.tools.site [--notebooks DIR] [--out DIR]`` renders the executed notebooks that
:mod:`sptseg_lib.tools.run_notebooks` wrote (``<runs>/notebooks/NN_*.ipynb``, which ``make run`` also
turns into this site) into ``<runs>/site/``:

* ``NN_name.html``: the notebook as nbconvert's JupyterLab template renders it (code, text, tables,
  figures), with a bar linking the index and the neighbouring pages. Every figure is embedded in the page
  as a ``data:`` URL and the styles are inlined, so a page is one file that reads offline without Jupyter.
  An interactive explorer (ipywidgets) becomes a static copy: its controls' values and the figure it
  showed when the notebook ran. Equations are typeset by MathJax 2, which the site carries
  (``mathjax/``, 2.8 MB, copied from the ``jupyter-server-mathjax`` package: the TeX input, the HTML-CSS
  output with its STIX web fonts) and loads asynchronously, so the text shows at once. Cells tagged
  ``check`` (they assert what the text says) and ``exercise``/``exercise-check`` carry a label and a
  border; every image has alt text (the figure's own, else its saved name and section).
* ``index.html``: the course. How to read it (in order, from the map, notebook 00; what check cells and
  exercises are), then each notebook in number order with its title, its purpose, what you will learn
  and what it assumes (read from its opening, :mod:`sptseg_lib.tools.site_course`), its status (ok, or
  where it failed), its run time, when it ran and how many figures its page holds.

The status comes from the runner's ``summary.json`` (or, without one, papermill's record in the
notebook). A failed notebook gets its page too, with a banner naming the failing cell, and is marked in
the index; a notebook whose page cannot be rendered is listed with the reason. The site is always built.
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import importlib.metadata
import json
import re
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from jinja2 import DictLoader
from nbconvert import HTMLExporter

from ..runs import runs_dir
from .site_course import (
    CELL_CSS,
    CELL_LABELS,
    Outline,
    describe_figures,
    fill_missing_alts,
    how_to_read_html,
    link_pages,
    notebook_outline,
    outline_html,
    section_headings,
)

NOTEBOOK_RE = re.compile(r"^(\d{2})_.+\.ipynb$")
SUMMARY_JSON = "summary.json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"
MATHJAX_CDN = f"https://cdnjs.cloudflare.com/ajax/libs/mathjax/2.7.9/MathJax.js?config={MATHJAX_CONFIG}"
"""Where pages load MathJax from when the ``jupyter-server-mathjax`` package is missing (online only)."""

_SITE_CSS = (
    """
.sptseg-nav { position: sticky; top: 0; z-index: 10; display: flex; gap: 1.5em; align-items: baseline;
  padding: 0.6em 1em; margin: 0 0 1em 0; background: #f3f5f7; border-bottom: 1px solid #d0d7de;
  font-family: system-ui, sans-serif; font-size: 14px; }
.sptseg-nav a { color: #0b5cad; text-decoration: none; }
.sptseg-nav .sptseg-here { font-weight: 600; flex: 1; }
.sptseg-failed { margin: 0 1em 1em 1em; padding: 0.8em 1em; background: #fdecea; color: #7a1c14;
  border: 1px solid #f1aeb5; border-radius: 4px; font-family: system-ui, sans-serif; }
.sptseg-explorer { border-left: 3px solid #9ab; padding-left: 0.8em; }
.sptseg-explorer .sptseg-control { font-family: monospace; margin: 0.15em 0; }
.sptseg-explorer .sptseg-note { color: #555; font-style: italic; margin: 0.3em 0; }
"""
    + CELL_CSS
)

# The JupyterLab look of nbconvert's "lab" template without what a page offline cannot load: require.js,
# the widget manager and mermaid from CDNs go; MathJax is loaded asynchronously (typesets when online).
_PAGE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_js_mathjax -%}
<script type="text/x-mathjax-config">
MathJax.Hub.Config({
  tex2jax: {inlineMath: [["$", "$"], ["\\\\(", "\\\\)"]], processEscapes: true},
  "HTML-CSS": {availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null, scale: 110},
  messageStyle: "none"
});
</script>
<script async src="{{ resources.sptseg_mathjax_url }}"></script>
{%- endblock html_head_js_mathjax -%}
{%- block extra_css -%}<style type="text/css">{{ resources.sptseg_css }}</style>{%- endblock extra_css -%}
{%- block body_header -%}{{ super() }}{{ resources.sptseg_header }}{%- endblock body_header -%}
{%- block input_group -%}
{%- for tag in cell.metadata.get("tags", []) if tag in resources.sptseg_cell_labels -%}
<div class="sptseg-cell-label sptseg-label-{{ tag | escape_html }}">
{{- resources.sptseg_cell_labels[tag] -}}
</div>
{%- endfor -%}
{{ super() }}
{%- endblock input_group -%}
{%- macro with_alt(html, alt) -%}
{%- if alt -%}
{{ html | replace("<img ", '<img alt="' ~ (alt | escape_html) ~ '" ', 1) }}
{%- else -%}
{{ html }}
{%- endif -%}
{%- endmacro -%}
{%- block data_png scoped -%}
{{ with_alt(super(), output | get_metadata("alt", "image/png")) }}
{%- endblock data_png -%}
{%- block data_jpg scoped -%}
{{ with_alt(super(), output | get_metadata("alt", "image/jpeg")) }}
{%- endblock data_jpg -%}
{%- block data_svg scoped -%}
{{ with_alt(super(), output | get_metadata("alt", "image/svg+xml")) }}
{%- endblock data_svg -%}
"""
_TEMPLATE_NAME = "sptseg_site.html.j2"


@dataclass
class Page:
    """One notebook of the site: what the index says about it."""

    name: str
    title: str
    status: str  # "ok", "failed", "not run" or "unknown"
    seconds: float | None = None
    error: str = ""
    failed_cell: int | None = None
    ran_at: str = ""
    figures: int = 0
    href: str | None = None  # the page, relative to the index; None when none could be rendered
    outline: Outline | None = None  # purpose, objectives, assumptions (sptseg_lib.tools.site_course)

    @property
    def number(self) -> str:
        return self.name[:2]


def notebook_title(nb: nbformat.NotebookNode, fallback: str) -> str:
    """The text of the notebook's first Markdown heading, else ``fallback``."""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            if line.lstrip().startswith("#"):
                return line.lstrip().lstrip("#").strip() or fallback
    return fallback


def read_summary(executed_dir: Path) -> dict[str, dict[str, Any]]:
    """The runner's records (``summary.json``: notebook name -> ok, seconds, failed_cell, error, ...)."""
    path = executed_dir / SUMMARY_JSON
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data.get("notebooks", {}) if isinstance(data, dict) else {}


# --- interactive explorers as static copies -----------------------------------------------------------


def _value_text(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _widget_html(model_id: str, state: dict[str, Any], depth: int = 0, alt: str = "figure") -> str:
    """A static rendering of widget ``model_id`` from the notebook's saved widget state: boxes by their
    children, images as embedded pictures, controls as ``description: value`` lines, Output widgets by
    their image and text outputs; anything else by nothing."""
    model = state.get(model_id)
    if model is None or depth > 20:
        return ""
    name, values = model.get("model_name", ""), model.get("state", {})
    if name == "ImageModel":
        for buffer in model.get("buffers", []):
            if buffer.get("path") == ["value"] and buffer.get("encoding") == "base64":
                fmt = html.escape(str(values.get("format", "png")))
                src = f"data:image/{fmt};base64,{buffer['data']}"
                return f'<div><img src="{src}" alt="{html.escape(alt)}"></div>'
        return ""
    if name == "OutputModel":
        parts = []
        for out in values.get("outputs", []):
            data = out.get("data", {})
            if "image/png" in data:
                src = f"data:image/png;base64,{data['image/png']}"
                parts.append(f'<div><img src="{src}" alt="{html.escape(alt)}"></div>')
            elif "text/plain" in data or "text" in out:
                text = data.get("text/plain", out.get("text", ""))
                parts.append(f"<pre>{html.escape(''.join(text))}</pre>")
        return "".join(parts)
    children = values.get("children")
    if isinstance(children, list):
        inner = (_widget_html(c.removeprefix("IPY_MODEL_"), state, depth + 1, alt) for c in children)
        return "<div>" + "".join(inner) + "</div>"
    description = values.get("description")
    if description and ("value" in values or "index" in values):
        value: Any = values.get("value")
        labels = values.get("_options_labels")
        if labels is not None and isinstance(values.get("index"), int):
            value = labels[values["index"]]
        shown = [_value_text(v) for v in value] if isinstance(value, list) else [_value_text(value)]
        text = f"{description}: {' – '.join(shown)}"
        return f'<div class="sptseg-control">{html.escape(text)}</div>'
    return ""


def freeze_widgets(nb: nbformat.NotebookNode) -> int:
    """Replace every widget output of ``nb`` by its static copy (in place); returns how many there were."""
    saved = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    count = 0
    for cell, heading in zip(nb.cells, section_headings(nb), strict=True):
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get(WIDGET_VIEW)
            if view is None:
                continue
            count += 1
            alt = f"Explorer figure, as the notebook ran (in “{heading}”)" if heading else "Explorer figure"
            body = _widget_html(view.get("model_id", ""), saved, alt=alt)
            note = (
                "An interactive explorer, as it was when the notebook ran: open the notebook in JupyterLab "
                "(<code>make lab</code>) to move its controls."
            )
            if not body:
                note = "An interactive widget: open the notebook in JupyterLab (<code>make lab</code>)."
            out["data"] = {
                "text/html": f'<div class="sptseg-explorer"><p class="sptseg-note">{note}</p>{body}</div>'
            }
    nb.metadata.pop("widgets", None)
    return count


# --- MathJax, carried by the site ---------------------------------------------------------------------

_MATHJAX_PARTS = ("MathJax.js", "config", "extensions", "fonts", "jax")
_MATHJAX_SKIP = ("a11y", "SVG")  # the accessibility explorer and the SVG output: not used by the pages


def install_mathjax(site_dir: Path) -> str:
    """Copy MathJax 2 from the ``jupyter-server-mathjax`` package into ``site_dir/mathjax`` (once per
    version) and return the script address the pages use: relative, so the site works from any folder
    and offline; the CDN's (:data:`MATHJAX_CDN`) when the package is not installed."""
    try:
        import jupyter_server_mathjax
    except ImportError:
        return MATHJAX_CDN
    static = Path(jupyter_server_mathjax.__file__).parent / "static"
    if not (static / "MathJax.js").is_file():
        return MATHJAX_CDN
    target = site_dir / "mathjax"
    version = importlib.metadata.version("jupyter-server-mathjax")
    stamp = target / "VERSION"
    if not (stamp.is_file() and stamp.read_text(encoding="utf-8").strip() == version):
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        ignore = shutil.ignore_patterns(*_MATHJAX_SKIP)
        for part in _MATHJAX_PARTS:
            source = static / part
            if source.is_dir():
                shutil.copytree(source, target / part, ignore=ignore)
            elif source.is_file():
                shutil.copy2(source, target / part)
        if (static / "LICENSE").is_file():
            shutil.copy2(static / "LICENSE", target / "LICENSE")
        stamp.write_text(version + "\n", encoding="utf-8")
    return f"mathjax/MathJax.js?config={MATHJAX_CONFIG}"


# --- pages and index ----------------------------------------------------------------------------------


def _exporter() -> HTMLExporter:
    return HTMLExporter(
        template_name="lab",
        extra_loaders=[DictLoader({_TEMPLATE_NAME: _PAGE_TEMPLATE})],
        template_file=_TEMPLATE_NAME,
        embed_images=True,
    )


def _status_of(name: str, nb: nbformat.NotebookNode | None, record: dict[str, Any] | None) -> Page:
    """The index entry of notebook ``name`` from the runner's record, else from papermill's metadata."""
    title = notebook_title(nb, name) if nb is not None else name
    papermill = nb.metadata.get("papermill", {}) if nb is not None else {}
    ran_at = str(papermill.get("end_time") or papermill.get("start_time") or "")[:19].replace("T", " ")
    if record is not None:
        return Page(
            name,
            title,
            "ok" if record.get("ok") else "failed",
            record.get("seconds"),
            record.get("error", ""),
            record.get("failed_cell"),
            record.get("ran_at", ran_at) or ran_at,
        )
    if nb is None:
        return Page(name, title, "unknown")
    if not papermill:
        return Page(name, title, "unknown")
    if papermill.get("exception"):
        error = ""
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    error = f"{out.get('ename', '')}: {out.get('evalue', '')}".strip()
                    break
            if error:
                break
        return Page(name, title, "failed", papermill.get("duration"), error, None, ran_at)
    return Page(name, title, "ok", papermill.get("duration"), "", None, ran_at)


def _header(page: Page, previous: Page | None, following: Page | None) -> str:
    def link(target: Page | None, arrow: str) -> str:
        if target is None or target.href is None:
            return ""
        label = f"{arrow} {target.number}" if arrow == "←" else f"{target.number} {arrow}"
        return f'<a href="{html.escape(target.href)}" title="{html.escape(target.title)}">{label}</a>'

    nav = (
        '<nav class="sptseg-nav"><a href="index.html">↑ all notebooks</a>'
        f'<span class="sptseg-here">{html.escape(page.title)}</span>'
        f"{link(previous, '←')}{link(following, '→')}</nav>"
    )
    if page.status != "failed":
        return nav
    where = f" at code cell {page.failed_cell}" if page.failed_cell else ""
    error = f": <code>{html.escape(page.error)}</code>" if page.error else ""
    return (
        nav + f'<div class="sptseg-failed"><strong>This notebook failed{where}</strong>{error}. '
        "The page shows what it produced up to there.</div>"
    )


def _render(
    exporter: HTMLExporter,
    nb: nbformat.NotebookNode,
    source_dir: Path,
    header: str,
    mathjax: str,
    title: str = "",
) -> tuple[str, int]:
    """The page of ``nb`` (its figures described, its links to notebooks pointing at their pages) and how
    many embedded images it holds."""
    describe_figures(nb, title)
    link_pages(nb)
    resources = {
        "metadata": {"path": str(source_dir), "name": nb.metadata.get("title", "")},
        "sptseg_css": _SITE_CSS,
        "sptseg_header": header,
        "sptseg_mathjax_url": mathjax,
        "sptseg_cell_labels": {tag: html.escape(label) for tag, label in CELL_LABELS.items()},
    }
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    body = fill_missing_alts(body, title or "this notebook")
    return body, body.count('src="data:image/')


def _index_html(pages: Sequence[Page], built: str, parameters: str, mathjax: str = "") -> str:
    rows = []
    for p in pages:
        title = html.escape(p.title)
        cell = (
            f'<a class="sptseg-page" href="{html.escape(p.href)}">{title}</a>'
            if p.href
            else f"{title} (no page)"
        )
        if p.outline is not None:
            cell += outline_html(p.outline)
        if p.status == "ok":
            status = '<span class="ok">ok</span>'
        elif p.status == "failed":
            where = f" at code cell {p.failed_cell}" if p.failed_cell else ""
            status = f'<span class="failed">FAILED{where}</span>'
            if p.error:
                status += f'<div class="error">{html.escape(p.error)}</div>'
        else:
            status = f'<span class="unknown">{html.escape(p.status)}</span>'
            if p.error:
                status += f'<div class="error">{html.escape(p.error)}</div>'
        seconds = f"{p.seconds:.1f} s" if isinstance(p.seconds, (int, float)) else ""
        rows.append(
            f'<tr class="row-{html.escape(p.status.replace(" ", "-"))}"><td>{p.number}</td>'
            f'<td class="notebook">{cell}</td>'
            f"<td>{status}</td><td>{seconds}</td><td>{html.escape(p.ran_at)}</td><td>{p.figures}</td></tr>"
        )
    ok = sum(p.status == "ok" for p in pages)
    failed = [p.number for p in pages if p.status == "failed"]
    verdict = f"{ok} of {len(pages)} notebooks ran without error" + (
        f"; failed: {', '.join(failed)}" if failed else ""
    )
    script = ""
    if mathjax:  # the purposes and objectives may hold $math$
        script = (
            '<script type="text/x-mathjax-config">MathJax.Hub.Config({tex2jax: {inlineMath: [["$", "$"]], '
            'processEscapes: true}, "HTML-CSS": {availableFonts: [], preferredFont: null, '
            'webFont: "STIX-Web", imageFont: null}, messageStyle: "none"});</script>\n'
            f'<script async src="{html.escape(mathjax)}"></script>\n'
        )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>sptseg: the course, executed</title>
{script}<style type="text/css">
body {{ font-family: system-ui, sans-serif; max-width: 72em; margin: 2em auto; padding: 0 1em; }}
body {{ line-height: 1.4; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ text-align: left; padding: 0.55em 0.7em; border-bottom: 1px solid #d0d7de; vertical-align: top; }}
th {{ background: #f3f5f7; }}
td:nth-child(4), td:nth-child(6) {{ text-align: right; white-space: nowrap; }}
td:nth-child(5) {{ white-space: nowrap; }}
a {{ color: #0b5cad; }}
a.sptseg-page {{ font-weight: 600; font-size: 1.05em; }}
.notebook p, .notebook ul {{ margin: 0.3em 0; }}
.notebook ul {{ padding-left: 1.3em; }}
.purpose {{ font-style: italic; }}
.learn .label {{ font-size: 0.85em; font-weight: 600; color: #57606a; }}
.assumes, .counts {{ font-size: 0.9em; color: #3d444d; }}
.counts {{ color: #6e7781; }}
.tag {{ font-size: 0.85em; font-weight: 600; padding: 0 0.35em; border-left: 4px solid; }}
.tag-check {{ border-color: #8c959f; background: #f6f8fa; color: #57606a; }}
.tag-exercise {{ border-color: #bf8700; background: #fff8e5; color: #7d4e00; }}
.ok {{ color: #1a7f37; font-weight: 600; }}
.failed {{ color: #b42318; font-weight: 700; }}
tr.row-failed {{ background: #fdecea; }}
.unknown {{ color: #6e7781; }}
.error {{ font-family: monospace; font-size: 0.85em; color: #7a1c14; margin-top: 0.2em; }}
.small {{ color: #57606a; font-size: 0.9em; }}
</style>
</head>
<body>
<h1>sptseg: the course, executed</h1>
<p>SPT-SEG (spectral prompt tuning for zero-shot semantic segmentation) explained in numbered notebooks,
as <code>make run</code> executed them. {html.escape(verdict)}.</p>
{how_to_read_html(next((p.href for p in pages if p.number == "00"), None))}
<table>
<thead><tr><th>#</th><th>notebook: its purpose, what you will learn, what it assumes</th><th>status</th>
<th>time</th><th>ran at (UTC)</th><th>figures</th></tr>
</thead>
<tbody>
{chr(10).join(rows)}
</tbody>
</table>
<p class="small">Static pages, readable offline: figures are embedded, interactive explorers appear as they
were when the notebook ran (open the notebooks with <code>make lab</code> to use them). Parameters:
{html.escape(parameters)}. Built {html.escape(built)} by <code>python -m sptseg_lib.tools.site</code>.</p>
</body>
</html>
"""


def build_site(
    executed_dir: Path,
    site_dir: Path,
    records: dict[str, dict[str, Any]] | None = None,
    log: Callable[..., None] = print,
) -> Path:
    """Render every executed ``NN_*.ipynb`` of ``executed_dir`` into ``site_dir`` and write the index.

    ``records``: notebook name -> the runner's record (``ok``, ``seconds``, ``failed_cell``, ``error``,
    ``ran_at``); default: ``executed_dir/summary.json``. Never raises for one notebook: a notebook that
    cannot be read or rendered is listed with the reason. Returns the index's path.
    """
    executed_dir, site_dir = Path(executed_dir), Path(site_dir)
    site_dir.mkdir(parents=True, exist_ok=True)
    records = read_summary(executed_dir) if records is None else records
    paths = sorted(p for p in executed_dir.glob("*.ipynb") if NOTEBOOK_RE.match(p.name))
    names = sorted({p.stem for p in paths} | {n for n in records if NOTEBOOK_RE.match(f"{n}.ipynb")})
    for stale in site_dir.glob("[0-9][0-9]_*.html"):
        stale.unlink()

    notebooks: dict[str, nbformat.NotebookNode | None] = {}
    pages: list[Page] = []
    for name in names:
        path = executed_dir / f"{name}.ipynb"
        nb, problem = None, ""
        if path.is_file():
            try:
                nb = nbformat.read(path, as_version=4)
            except Exception as err:  # a truncated copy: list it, render the others
                problem = f"cannot read {path.name}: {type(err).__name__}: {err}"
        else:
            problem = "no executed copy (the kernel did not start, or the run stopped before it)"
        page = _status_of(name, nb, records.get(name))
        page.outline = notebook_outline(nb, page.title)
        if nb is None:
            page.error = page.error or problem
            if page.status == "ok":
                page.status = "unknown"
        if nb is not None:
            page.href = f"{name}.html"
        notebooks[name] = nb
        pages.append(page)

    exporter = _exporter()
    mathjax = install_mathjax(site_dir)
    for i, page in enumerate(pages):
        nb = notebooks[page.name]
        if nb is None:
            continue
        freeze_widgets(nb)
        previous = pages[i - 1] if i > 0 else None
        following = pages[i + 1] if i + 1 < len(pages) else None
        try:
            header = _header(page, previous, following)
            body, page.figures = _render(exporter, nb, executed_dir, header, mathjax, page.title)
        except Exception as err:  # nbconvert could not render it: say so in the index
            page.href = None
            page.error = (page.error + "; " if page.error else "") + f"page not rendered: {err}"
            log(f"site: {page.name}: could not render the page ({type(err).__name__}: {err})")
            continue
        (site_dir / f"{page.name}.html").write_text(body, encoding="utf-8")

    parameters = "the notebooks' defaults (smoke profile)"
    for nb in notebooks.values():
        given = nb.metadata.get("papermill", {}).get("parameters") if nb is not None else None
        if given:
            parameters = ", ".join(f"{k}={v!r}" for k, v in given.items())
            break
    built = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    index = site_dir / "index.html"
    index.write_text(_index_html(pages, built, parameters, mathjax), encoding="utf-8")
    failed = [p.name for p in pages if p.status != "ok"]
    log(f"site: {index} ({len(pages)} notebooks" + (f"; not ok: {', '.join(failed)}" if failed else "") + ")")
    return index


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sptseg_lib.tools.site", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--notebooks", type=Path, default=None, help="executed notebooks (default: <runs folder>/notebooks)"
    )
    parser.add_argument("--out", type=Path, default=None, help="the site (default: <runs folder>/site)")
    args = parser.parse_args(argv)
    executed = args.notebooks or runs_dir("notebooks", create=False)
    if not executed.is_dir():
        parser.error(f"{executed} does not exist: run the notebooks first (make run)")
    build_site(executed, args.out or executed.parent / "site")
    return 0


if __name__ == "__main__":
    sys.exit(main())
