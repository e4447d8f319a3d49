"""Output folders checked before the work that fills them, and writes that fail saying what was lost.

``evaluate`` and ``predict`` call :func:`check_output_folder` before any inference, so an unwritable ``--out``
(read-only, a file, a full disk) costs seconds rather than a whole evaluation; :func:`write_failure` turns an
error at the end into one line that names the file that could not be written and why (``no space left`` for
a full disk).
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path

from .run_lock import check_not_training

TORCH_DISK_FULL = ("No space left", "unexpected pos", "file write failed", "PytorchStreamWriter failed")
"""Phrases of torch's RuntimeError when ``torch.save`` hits a full disk."""


def _existing_ancestor(folder: Path) -> Path:
    probe = folder.absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe


def check_output_folder(folder: str | Path, what: str) -> None:
    """Raise ``OSError`` (one line naming ``folder`` and the fix) unless files can be created in ``folder``
    (or in the folder that would be created there), and unless another process trains in it.

    A temporary file is created and removed in the folder (or its nearest existing parent), which also
    catches a read-only file system, where permission bits alone say nothing.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{what} {folder} is a file, not a folder; choose a folder for --out")
    base = _existing_ancestor(folder)
    if not base.is_dir():
        raise NotADirectoryError(f"{what} {folder} cannot be created: {base} is a file; choose another --out")
    try:
        fd, name = tempfile.mkstemp(prefix=".sptseg-write-test-", dir=base)
        os.close(fd)
        os.unlink(name)
    except OSError as err:
        raise PermissionError(
            f"{what} {folder} is not writable ({describe_os_error(err, base)}); choose another --out"
        ) from None
    check_not_training(folder, f"writing the {what} there could disturb it: pass --out with another folder")


def _recorded_data(folder: Path) -> str | None:
    """The ``data`` a report in ``folder`` records (any ``report*.json``), ``None`` if it holds none."""
    for report in sorted(folder.glob("report*.json")):
        try:
            record = json.loads(report.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and isinstance(record.get("data"), str):
            return record["data"]
    return None


def default_report_folder(checkpoint: str | Path, images: str | Path, data: str) -> Path:
    """Where ``evaluate`` of a folder data set reports without ``--out``: ``<checkpoint>.eval-<images
    folder>`` beside the checkpoint, or ``...-2``, ``-3``, ... when that one holds the report of another data
    set (``data``: what the report records as its data set), so two data sets never share a folder."""
    stem = Path(checkpoint).with_suffix("")
    base = f"{stem.name}.eval-{Path(images).resolve().name}"
    for n in range(1, 10_000):
        folder = stem.with_name(base if n == 1 else f"{base}-{n}")
        if not folder.exists() or _recorded_data(folder) in (None, data):
            return folder
    raise FileExistsError(f"too many {base}-N report folders beside {checkpoint}; pass --out DIR")


def describe_os_error(err: BaseException, where: str | Path) -> str:
    """A few words for an error of writing under ``where``: ``no space left on <where>`` for a full disk
    (an ``OSError`` with ``ENOSPC``, or torch's ``unexpected pos`` / ``file write failed`` RuntimeError)."""
    if is_disk_full(err):
        return f"no space left on {where}"
    if isinstance(err, OSError) and err.strerror:
        return err.strerror.lower()
    return str(err).splitlines()[0] if str(err) else type(err).__name__


def is_disk_full(err: BaseException) -> bool:
    """Whether ``err`` means the disk (or quota) is full, also when torch wraps it in a RuntimeError."""
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(err)
    return isinstance(err, RuntimeError) and any(s in text for s in TORCH_DISK_FULL)


__all__ = ["check_output_folder", "default_report_folder", "describe_os_error", "is_disk_full"]
