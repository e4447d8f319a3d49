"""The two ways a training run ends early, it cannot start as asked or a stop signal stopped it, and the
command that continues an interrupted run."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any


class TrainingError(RuntimeError):
    """A run that cannot start as asked (output folder, batch geometry, checkpoint); says how to fix it."""


class TrainingInterrupted(Exception):
    """Training stopped by Ctrl-C or SIGTERM after its checkpoint was written; the message says how to resume.

    (Contract for the CLI: ``python -m sptseg_lib train`` prints ``str(err)`` and exits 130.) ``step`` is the
    last completed step, ``checkpoint`` its file (``None`` when stopped before the first step).
    """

    def __init__(self, message: str, *, step: int = 0, checkpoint: Path | None = None) -> None:
        super().__init__(message)
        self.step, self.checkpoint = step, checkpoint


def resume_command(out_dir: Path, world_size: int) -> str:
    """The command line that continues a run (its ``config.json`` names every setting)."""
    out, config = shlex.quote(str(out_dir)), shlex.quote(str(out_dir / "config.json"))
    start = (
        f"torchrun --nproc-per-node {world_size} -m sptseg_lib" if world_size > 1 else "python -m sptseg_lib"
    )
    return f"{start} train --config {config} --out {out}"


def interruption(
    why: str, step: int, iterations: int, abandoned: bool, checkpoint: Path | None, command: str
) -> tuple[dict[str, Any], TrainingInterrupted]:
    """The ``interrupted`` log record and the error of a run stopped by ``why`` (a signal's name) after
    ``step`` of ``iterations`` steps (``abandoned``: the next one was abandoned), whose ``checkpoint`` was
    written (``None`` before the first step); ``command`` is :func:`resume_command`."""
    if step == 0:
        record = {"event": "interrupted", "signal": why, "step": 0, "checkpoint": None}
        return record, TrainingInterrupted(
            f"interrupted by {why} before the first step of {iterations}: nothing trained, no "
            f"checkpoint written; start again with: {command}",
            step=0,
        )
    record = {
        "event": "interrupted",
        "signal": why,
        "step": step,
        "abandoned_step": step + 1 if abandoned else None,
        "checkpoint": str(checkpoint),
    }
    dropped = f" (step {step + 1} abandoned)" if abandoned else ""
    return record, TrainingInterrupted(
        f"interrupted by {why} at step {step} of {iterations}{dropped}; checkpoint {checkpoint}; "
        f"continue with: {command} --resume",
        step=step,
        checkpoint=checkpoint,
    )


__all__ = ["TrainingError", "TrainingInterrupted", "interruption", "resume_command"]
