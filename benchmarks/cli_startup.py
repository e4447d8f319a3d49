"""Start-up cost of the command line: ``python -m sptseg_lib --help`` and ``python -m sptseg_lib presets``.

Each command runs ``--runs`` times (default 3), every time in a fresh interpreter (a subprocess started in
the checkout's root, so its ``sptseg_lib`` is the one imported), after as many runs of ``python -c pass``,
the interpreter's own start. For each it prints the wall time of every run, the median's ratio to that of
``python -c pass``, and the largest peak resident memory of its runs (each child's own ``ru_maxrss``, read
with ``os.wait4``; POSIX only). Nothing is asserted: the numbers depend on the machine
and its load. ``tests/test_cli.py`` checks instead that ``--help`` imports no torch.

    python benchmarks/cli_startup.py [--runs 3]        # under a minute (presets loads open_clip today)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

COMMANDS = {
    "python -c pass": ["-c", "pass"],
    "python -m sptseg_lib --help": ["-m", "sptseg_lib", "--help"],
    "python -m sptseg_lib presets": ["-m", "sptseg_lib", "presets"],
}
"""What is timed, by its label: the arguments after ``python``. The first is the baseline of the ratios."""

_MAXRSS_UNIT = 1 if sys.platform == "darwin" else 1024
"""Bytes per unit of ``ru_maxrss``: bytes on macOS, KiB on Linux."""


@dataclass(frozen=True)
class Run:
    """One run of a command in a fresh interpreter."""

    seconds: float
    peak_mib: float


def run_once(arguments: list[str]) -> Run:
    """Run ``python <arguments>`` in the checkout's root, its output discarded; its wall time and peak memory.

    Raises:
        SystemExit: the command failed (its exit status is not 0).
    """
    with tempfile.TemporaryFile() as errors:  # a file, not a pipe: a chatty child never blocks
        start = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, *arguments], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=errors
        )
        _, status, usage = os.wait4(child.pid, 0)  # this child's own resource usage, not all children's
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
        if child.returncode != 0:
            errors.seek(0)
            tail = errors.read().decode(errors="replace")[-2000:]
            raise SystemExit(f"python {' '.join(arguments)} failed ({child.returncode}):\n{tail}")
    return Run(seconds, usage.ru_maxrss * _MAXRSS_UNIT / 2**20)


def measure(arguments: list[str], runs: int) -> list[Run]:
    """``runs`` runs of ``python <arguments>``, one after the other."""
    return [run_once(arguments) for _ in range(runs)]


def report(results: dict[str, list[Run]]) -> list[str]:
    """The table's lines: each command's run times, median / the first command's median, peak memory."""
    baseline = statistics.median(r.seconds for r in next(iter(results.values())))
    lines = [f"{'command':30s} {'runs (s)':>24s} {'x pass':>7s} {'peak MiB':>9s}"]
    for label, runs in results.items():
        times = " ".join(f"{r.seconds:7.2f}" for r in runs)
        ratio = statistics.median(r.seconds for r in runs) / baseline
        lines.append(f"{label:30s} {times:>24s} {ratio:7.1f} {max(r.peak_mib for r in runs):9.0f}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each command (default 3)")
    args = parser.parse_args()
    results = {label: measure(arguments, args.runs) for label, arguments in COMMANDS.items()}
    print(f"{sys.executable}, {os.cpu_count()} CPUs, {args.runs} runs each, fresh interpreters")
    print("\n".join(report(results)))


if __name__ == "__main__":
    main()
