"""One writer per run folder: an operating-system file lock that dies with the process that holds it.

``train`` takes :func:`hold_run_folder` on its run folder before it reads or writes anything there; a second
``train`` on the same folder is refused at once with the holder's process id and start time
(:class:`RunFolderBusy`). The lock is ``fcntl.flock`` on POSIX and ``msvcrt.locking`` on Windows, on the file
``<run>/.sptseg-run.lock``: the kernel releases it when the process ends, however it ends (SIGKILL included),
so a killed run never leaves a stale lock. The file itself stays (it only records the last holder); it is
never deleted, since deleting a lock file while another process opens it would let two processes hold two
different files.

:func:`check_not_training` lets a command that writes into a run folder (an evaluation report) refuse while
another process trains there.
"""

from __future__ import annotations

import json
import os
import sys
import time
import weakref
from pathlib import Path
from typing import IO

LOCK_NAME = ".sptseg-run.lock"
"""The lock file inside a run folder."""

_HELD: weakref.WeakValueDictionary[Path, RunLock] = weakref.WeakValueDictionary()
"""The run folders this process holds, by resolved path (a process never refuses itself); a lock nobody
keeps (its trainer gone) is released when it is collected."""


class RunFolderBusy(OSError):
    """Another process holds the run folder's lock."""


def _try_lock(handle: IO[bytes]) -> bool:
    """Lock the open file exclusively without waiting; ``False`` when another process holds it."""
    if os.name == "nt":  # pragma: no cover - exercised on Windows only
        import msvcrt

        try:
            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _holder(path: Path) -> str:
    """The holder recorded in a lock file, in words ("process 123, started 2026-01-01 12:00:00 UTC")."""
    try:
        record = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        record = {}
    if not isinstance(record, dict) or "pid" not in record:
        return "another process"
    return f"process {record['pid']} ({record.get('command', 'train')}, started {record.get('started', '?')})"


class RunLock:
    """A held lock on one run folder; :meth:`release` (or the process's end) lets it go."""

    def __init__(self, folder: Path, handle: IO[bytes]) -> None:
        self.folder = folder
        self._handle: IO[bytes] | None = handle

    @property
    def held(self) -> bool:
        """Whether this object still holds the lock."""
        return self._handle is not None

    def release(self) -> None:
        """Let the lock go (closing the file releases it); the lock file stays."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
            _HELD.pop(self.folder, None)


def _busy_message(folder: Path, what: str) -> str:
    return (
        f"run folder {folder} is in use by {_holder(folder / LOCK_NAME)}; {what}. "
        "Wait for that run to finish (or stop it), or choose another folder"
    )


def hold_run_folder(folder: str | Path, command: str = "train") -> RunLock:
    """Take the exclusive lock on ``folder`` (created if missing) for this process, or raise
    :class:`RunFolderBusy` naming the holder. Taking a folder this process already holds returns that lock.
    """
    folder = Path(folder)
    key = folder.resolve()
    current = _HELD.get(key)
    if current is not None and current.held:
        return current
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"run folder {folder} is a file; choose a folder for --out")
    path = folder / LOCK_NAME
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+b")  # held open for the lock's lifetime
    except OSError as err:
        reason = (err.strerror or str(err)).lower()
        raise PermissionError(
            f"run folder {folder} cannot be written ({reason}); choose another --out"
        ) from None
    if not _try_lock(handle):
        handle.close()
        raise RunFolderBusy(_busy_message(folder, f"a second {command} there would overwrite its files"))
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    record = json.dumps({"pid": os.getpid(), "command": command, "started": started})
    handle.seek(0)
    handle.truncate()
    handle.write((record + "\n").encode("utf-8"))
    handle.flush()
    lock = RunLock(key, handle)
    _HELD[key] = lock
    return lock


def refuse_busy_train(argv: list[str]) -> None:
    """``python -m sptseg_lib train --out R`` while another process trains in ``R``: print the one-line
    error and exit 2 *before* the command line's slow imports (torch, open_clip: seconds on a busy machine).
    Only a plain process checks here (under torchrun, rank 0 takes the lock in the trainer); anything else
    passes on to the normal path, which takes the lock itself."""
    if not argv or argv[0] != "train" or "LOCAL_RANK" in os.environ or "WORLD_SIZE" in os.environ:
        return
    out = None
    for i, arg in enumerate(argv):
        if arg == "--out" and i + 1 < len(argv):
            out = argv[i + 1]
        elif arg.startswith("--out="):
            out = arg.split("=", 1)[1]
    if out is None:
        return
    try:
        check_not_training(out, "a second train there would overwrite its files")
    except RunFolderBusy as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


def check_not_training(folder: str | Path, what: str) -> None:
    """Raise :class:`RunFolderBusy` when another process holds ``folder``'s lock (a run training there);
    ``what`` says what would have been written. A folder without a lock file, or held by this process,
    passes."""
    folder = Path(folder)
    path = folder / LOCK_NAME
    if not path.is_file() or _HELD.get(folder.resolve()) is not None:
        return
    try:
        handle = open(path, "rb")
    except OSError:
        return
    try:
        free = _try_lock(handle)
    finally:
        handle.close()  # closing releases a lock taken just to probe
    if not free:
        raise RunFolderBusy(_busy_message(folder, what))


__all__ = [
    "LOCK_NAME",
    "RunFolderBusy",
    "RunLock",
    "check_not_training",
    "hold_run_folder",
    "refuse_busy_train",
]
