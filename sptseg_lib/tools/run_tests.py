"""The whole test suite as ``make test`` runs it, also where there is no ``make`` (Windows).

``python -m sptseg_lib.tools.run_tests [PATH ...] [-- PYTEST OPTIONS]`` runs pytest from the project root
on ``tests`` and ``notebooks`` (or the given paths), the notebooks executed by nbval with the project's
sanitizer and cell timeout, and prints the 15 slowest tests. When Debian's Chromium is missing, the browser
tests skip themselves and the last line, starting ``*** NOT RUN:``, says so and how to run them. The exit
code is pytest's.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from ..runs import project_root

DEFAULT_PATHS = ("tests", "notebooks")
NBVAL_OPTIONS = (
    "--nbval-lax",
    "--nbval-sanitize-with",
    "notebooks/nbval_sanitize.cfg",
    "--nbval-cell-timeout",
    "300",
    "--durations=15",
)
CHROMIUM = Path("/usr/bin/chromium")
"""Debian's Chromium, which the browser tests (``tests/test_browser.py``) drive."""


def pytest_command(paths: Sequence[str], options: Sequence[str] = ()) -> list[str]:
    """The pytest command line ``make test`` runs: this interpreter, the paths, nbval's options."""
    return [sys.executable, "-m", "pytest", *(paths or DEFAULT_PATHS), *NBVAL_OPTIONS, *options]


def browser_note() -> str | None:
    """The ``*** NOT RUN`` line when the browser tests cannot run here, else ``None``."""
    if CHROMIUM.exists():
        return None
    return (
        "*** NOT RUN: the browser tests (tests/test_browser.py: notebooks in JupyterLab, their screenshots, "
        f"the site) were skipped because {CHROMIUM} is missing; run them with: make test-browser (Linux)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    options: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, options = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(
        prog="python -m sptseg_lib.tools.run_tests",
        description="The whole test suite, as `make test` runs it (options for pytest after --).",
    )
    parser.add_argument("paths", nargs="*", help="test files or folders (default: tests notebooks)")
    args = parser.parse_args(argv)
    root = project_root()
    if root is None:
        parser.error("the tests live in a clone of the project: run this from a checkout (pip install -e .)")
    status = subprocess.run(pytest_command(args.paths, options), cwd=root).returncode
    note = browser_note()
    if note:
        print(note, flush=True)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
