"""Execute the numbered notebooks with papermill, in order, and collect what they produce.

``python -m sptseg_lib.tools.run_notebooks [--only 01 02] [-p key value] [-y "key: value"]`` runs every
``notebooks/NN_*.ipynb`` (or those whose number is in ``--only``) and writes, under the runs folder
(``$SPTSEG_RUNS``, default ``runs/``, see :func:`sptseg_lib.runs.runs_dir`):

* ``notebooks/NN_name.ipynb``: the executed copy (a failed one too, with papermill's error banner);
* ``notebooks/NN_name/``: the figures the notebook saved, plus every PNG output as ``output_KK.png``;
* ``notebooks/summary.txt``: one line per notebook of this run (status, seconds, failing cell);
* ``notebooks/summary.json``: the same as records (``ok``, ``seconds``, ``failed_cell``, ``error``,
  ``ran_at``) for every notebook run so far, a later run (``--only 01``) replacing its notebooks' records;
* ``site/``: the static HTML site of the executed notebooks (``site/index.html``, one page per notebook
  with its figures, readable offline; :mod:`sptseg_lib.tools.site`), built even when notebooks failed
  (they are marked), beside the ``--out`` folder; ``--no-site`` skips it.

A failing notebook is reported with its name, the failing cell (its number among the notebook's code
cells, counting from 1, and its first line) and the error;
the other notebooks still run. Ctrl-C stops the run after writing the summary of what ran. The exit code
is 1 when any notebook failed, 130 when interrupted, else 0.

Parameters: ``-p key value`` values are read as YAML (``-p iterations 100`` is an int, ``-p use_widgets
false`` a bool); ``-y`` takes a YAML mapping. Every notebook receives every parameter (papermill injects
them after the ``parameters`` cell).
"""

from __future__ import annotations

import argparse
import ast
import base64
import datetime as dt
import json
import os
import re
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import papermill
import yaml
from papermill.exceptions import PapermillExecutionError

from ..runs import project_root, runs_dir, shown_path
from .site import SUMMARY_JSON, build_site

NOTEBOOK_RE = re.compile(r"^(\d{2})_.+\.ipynb$")


@dataclass
class NotebookResult:
    """The outcome of one notebook: ``ok``, seconds, the executed copy, and where it failed."""

    name: str
    ok: bool
    seconds: float
    output: Path
    failed_cell: int | None = None
    error: str = ""
    interrupted: bool = False
    ran_at: str = ""

    def record(self) -> dict[str, Any]:
        """What ``summary.json`` keeps of this result."""
        keys = ("ok", "seconds", "failed_cell", "error", "interrupted", "ran_at")
        return {k: getattr(self, k) for k in keys}

    def line(self) -> str:
        status = "ok    " if self.ok else "FAILED"
        where = f"  code cell {self.failed_cell}: {self.error}" if not self.ok else ""
        return f"{status} {self.name:32s} {self.seconds:7.1f} s{where}"


def find_notebooks(directory: Path, only: Sequence[str] | None = None) -> list[Path]:
    """``NN_*.ipynb`` files of ``directory`` in number order; ``only`` keeps the listed numbers."""
    found = sorted(p for p in directory.glob("*.ipynb") if NOTEBOOK_RE.match(p.name))
    if only:
        wanted = {n.zfill(2) for n in only}
        unknown = wanted - {NOTEBOOK_RE.match(p.name).group(1) for p in found}
        if unknown:
            raise SystemExit(f"no notebook numbered {sorted(unknown)} in {directory}")
        found = [p for p in found if NOTEBOOK_RE.match(p.name).group(1) in wanted]
    return found


def _yaml(text: str, option: str, expected: str) -> Any:
    """``text`` read as YAML, or a one-line ``SystemExit`` naming the option, the problem and the fix."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise SystemExit(
            f"error: {option} {text!r} is not valid YAML ({problem}); write {expected}"
        ) from None


def declared_parameters(path: Path) -> list[str]:
    """The names the notebook's ``parameters`` cell assigns (``profile = "smoke"`` -> ``profile``)."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            source = "".join(cell.get("source", []))
            for node in ast.parse(source).body:
                targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
                names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def check_parameters(notebooks: Sequence[Path], parameters: dict[str, Any]) -> None:
    """A ``SystemExit`` naming every parameter that none of ``notebooks`` declares (papermill would only
    warn and run with the defaults), with the parameters each of them declares."""
    declared = {path.name: declared_parameters(path) for path in notebooks}
    known = {name for names in declared.values() for name in names}
    unknown = [key for key in parameters if key not in known]
    if unknown:
        if len(declared) <= 3:
            listing = "; ".join(f"{name}: {', '.join(names) or '(none)'}" for name, names in declared.items())
        else:
            listing = ", ".join(sorted(known))
        raise SystemExit(
            f"error: unknown notebook parameter(s) {', '.join(map(repr, unknown))}: no notebook of this run "
            f"declares it (a typo?). Their parameters: {listing}"
        )


def parse_parameters(pairs: Sequence[Sequence[str]], yamls: Sequence[str]) -> dict[str, Any]:
    """``-p key value`` pairs (values read as YAML) and ``-y`` YAML mappings, merged in order."""
    params: dict[str, Any] = {}
    for key, value in pairs:
        params[key] = _yaml(value, f"-p {key}", "a value such as 100, false or full")
    for text in yamls:
        loaded = _yaml(
            text, "-y", "a mapping such as 'use_widgets: false' or '{profile: full, iterations: 5}'"
        )
        if not isinstance(loaded, dict):
            raise SystemExit(f"-y expects a YAML mapping such as 'use_widgets: false', got {text!r}")
        params.update(loaded)
    return params


def _failed_cell(executed: Path) -> tuple[int | None, str]:
    """1-based number, among the source notebook's code cells (the parameters cell included, papermill's
    injected cell not), and first line of the first cell whose output is an error."""
    try:
        nb = nbformat.read(executed, as_version=4)
    except Exception:  # the copy may be missing if the kernel never started
        return None, ""
    index = 0
    for cell in nb.cells:
        if cell.cell_type != "code" or "injected-parameters" in cell.metadata.get("tags", []):
            continue
        index += 1
        if any(out.get("output_type") == "error" for out in cell.get("outputs", [])):
            first = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
            return index, first[:80]
    return None, ""


def save_png_outputs(executed: Path, folder: Path) -> list[Path]:
    """Write every ``image/png`` output of an executed notebook to ``folder/output_KK.png``."""
    nb = nbformat.read(executed, as_version=4)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "image/png" in data:
                path = folder / f"output_{len(written):02d}.png"
                path.write_bytes(base64.b64decode(data["image/png"]))
                written.append(path)
    return written


def _hide_machine_paths(executed: Path) -> None:
    """papermill records the input and output paths in the executed notebook's metadata: keep them as
    :func:`~sptseg_lib.runs.shown_path` prints them, so the copy holds no folder of this machine."""
    nb = nbformat.read(executed, as_version=4)
    record = nb.metadata.get("papermill", {})
    for key in ("input_path", "output_path"):
        if record.get(key):
            record[key] = shown_path(record[key])
    nbformat.write(nb, executed)


def run_notebook(
    path: Path, out_dir: Path, parameters: dict[str, Any], kernel_name: str | None = None, timeout: int = 600
) -> NotebookResult:
    """Execute one notebook with papermill into ``out_dir``; never raises for a failing cell."""
    output = out_dir / path.name
    start = time.perf_counter()
    ok, error, interrupted = True, "", False
    try:
        papermill.execute_notebook(
            str(path),
            str(output),
            parameters=parameters,
            cwd=str(path.parent),
            kernel_name=kernel_name,
            progress_bar=False,
            log_output=False,
            execution_timeout=timeout,
        )
    except PapermillExecutionError as err:
        ok, error = False, f"{err.ename}: {err.evalue}".strip()
    except Exception as err:  # the kernel died, timed out, or the notebook could not be read
        ok, error = False, f"{type(err).__name__}: {err}".strip()
    except KeyboardInterrupt:
        ok, error, interrupted = False, "interrupted (Ctrl-C)", True
    seconds = time.perf_counter() - start
    cell, source_line = _failed_cell(output) if not ok else (None, "")
    if cell is not None:
        error = f"`{source_line}` -> {error}"
    if output.is_file():
        _hide_machine_paths(output)
        save_png_outputs(output, out_dir / path.stem)
    summary = error.splitlines()[0] if error else ""
    ran_at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    return NotebookResult(path.stem, ok, seconds, output, cell, summary, interrupted, ran_at)


def write_summary_json(out_dir: Path, results: Sequence[NotebookResult]) -> Path:
    """Merge ``results`` into ``out_dir/summary.json`` (records of earlier runs of other notebooks stay)."""
    path = out_dir / SUMMARY_JSON
    records: dict[str, Any] = {}
    if path.is_file():
        try:
            records = json.loads(path.read_text(encoding="utf-8")).get("notebooks", {})
        except (OSError, ValueError, AttributeError):
            records = {}
    records.update({r.name: r.record() for r in results})
    data = {"notebooks": dict(sorted(records.items()))}
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return path


@contextmanager
def _kernel_environment() -> Iterator[None]:
    """Environment the kernels inherit, restored afterwards: this checkout on ``PYTHONPATH``, so that a
    plain checkout works without installing the package. (The runs folder needs nothing: a kernel started in
    ``notebooks/`` resolves it as this process does, see :func:`sptseg_lib.runs.runs_dir`.)"""
    saved = os.environ.get("PYTHONPATH")
    root = project_root()
    if root is not None:
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), saved) if p)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


def run_all(
    notebooks: Sequence[Path],
    out_dir: Path,
    parameters: dict[str, Any],
    kernel_name: str | None = None,
    timeout: int = 600,
    log=print,
) -> list[NotebookResult]:
    """Run ``notebooks`` in order, printing one line per notebook and a summary; returns the results."""
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    total = time.perf_counter()
    with _kernel_environment():
        for path in notebooks:
            log(f"running {path.name} ...", flush=True)
            result = run_notebook(path, out_dir, parameters, kernel_name, timeout)
            log(result.line(), flush=True)
            results.append(result)
            if result.interrupted:
                log("interrupted: the remaining notebooks were not run", flush=True)
                break
    elapsed = time.perf_counter() - total
    summary = [r.line() for r in results]
    summary.append(f"total {elapsed:.1f} s; executed notebooks and figures in {out_dir}")
    (out_dir / "summary.txt").write_text("\n".join(summary) + "\n", encoding="utf-8")
    write_summary_json(out_dir, results)
    failed = [r for r in results if not r.ok]
    log(summary[-1])
    if failed:
        log(
            f"{len(failed)} notebook(s) failed: "
            + ", ".join(f"{r.name} (code cell {r.failed_cell})" for r in failed)
        )
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sptseg_lib.tools.run_notebooks", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--only", nargs="+", metavar="NN", help="notebook numbers to run (default: all)")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"))
    parser.add_argument("-y", "--yaml", action="append", default=[], help="parameters as a YAML mapping")
    parser.add_argument("--notebooks-dir", type=Path, default=None, help="default: the checkout's notebooks/")
    parser.add_argument("--out", type=Path, default=None, help="default: <runs folder>/notebooks")
    parser.add_argument("--kernel", default=None, help="Jupyter kernel name (default: the notebook's own)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell")
    parser.add_argument(
        "--site", type=Path, default=None, help="the static HTML site (default: site/ beside --out)"
    )
    parser.add_argument("--no-site", action="store_true", help="do not build the HTML site")
    args = parser.parse_args(argv)

    directory = args.notebooks_dir
    if directory is None:
        root = project_root()
        if root is None:
            parser.error("not running from a checkout: pass --notebooks-dir")
        directory = root / "notebooks"
    notebooks = find_notebooks(directory, args.only)
    if not notebooks:
        parser.error(f"no NN_*.ipynb notebooks in {directory}")
    out = (args.out or runs_dir("notebooks")).resolve()
    parameters = parse_parameters(args.parameter, args.yaml)
    check_parameters(notebooks, parameters)
    results = run_all(notebooks, out, parameters, args.kernel, args.timeout)
    if not args.no_site:
        try:
            build_site(out, (args.site or out.parent / "site").resolve())
        except Exception as err:  # the notebooks' results stand; say why there is no site
            print(f"site: not built ({type(err).__name__}: {err})")
    if any(r.interrupted for r in results):
        return 130
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
