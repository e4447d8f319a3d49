"""The command line: ``python -m sptseg_lib COMMAND ...`` (``python -m sptseg_lib --help`` lists them).

Every command calls the same library functions the notebooks use (:class:`~sptseg_lib.train.Trainer`,
:func:`~sptseg_lib.evaluate.evaluate_checkpoint`, :mod:`sptseg_lib.data.prepare`). Errors on bad input
(an unknown preset, a missing data set, a checkpoint of another experiment, a corrupt file) print one
clear message and exit with status 2, without writing anything.

Several processes or machines: ``torchrun --nproc-per-node 4 -m sptseg_lib train --preset voc-sptseg ...``.

The package is thin: :mod:`.parser` (the options and help texts, standard library only) and
:mod:`.commands` (one function per command, importing what it calls when it runs); :func:`main` maps the
library's errors to messages and exit statuses here. So ``--help``, a mistyped option or ``presets`` never
wait for torch or open_clip.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from types import ModuleType

from .commands import COMMANDS
from .parser import build_parser

BAD_INPUT = 2
"""The exit status of an error of bad input (one ``error: ...`` line)."""

INTERRUPTED = 130
"""The exit status of Ctrl-C or SIGTERM."""

_BUILTIN_USER_ERRORS: tuple[type[Exception], ...] = (KeyError, ValueError, OSError)
"""Python's exceptions that bad input raises (``OSError``: a missing file, or one that cannot be read or
written, such as a folder without write permission); :func:`_library_user_errors` adds the library's own."""


def _library_user_errors() -> tuple[type[Exception], ...]:
    """The library's exceptions of bad input, imported only once an exception has happened (their modules
    load torch)."""
    from ..checkpoint import CheckpointError
    from ..clip_loading import PretrainedWeightsError
    from ..data.paths import DataError
    from ..train import TrainingError

    return (DataError, CheckpointError, TrainingError, PretrainedWeightsError)


def _one_line_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    line: str | None = None,
) -> str:
    """Warnings as one line (``warning: ...``), without the source line Python adds."""
    return f"warning: {message}\n"


def _process_group() -> ModuleType | None:
    """``torch.distributed`` when a process group is up (a torchrun job), else ``None``. Never imports
    torch: a command that started a process group has imported it."""
    dist = sys.modules.get("torch.distributed")
    return dist if dist is not None and dist.is_initialized() else None


def _is_main_process() -> bool:
    """Whether this process prints the interrupt messages: rank 0 of a torchrun job, or a lone process."""
    group = _process_group()
    return group is None or group.get_rank() == 0


def _failure_status(err: Exception) -> int | None:
    """Print the message of an expected failure and return its exit status; ``None`` for anything else (a
    bug, whose traceback the caller lets through)."""
    if not isinstance(err, _BUILTIN_USER_ERRORS):
        from ..train import TrainingInterrupted

        if isinstance(err, TrainingInterrupted):  # Ctrl-C or SIGTERM during `train`: checkpoint written
            if _is_main_process():
                print(str(err), file=sys.stderr)
            return INTERRUPTED
        if not isinstance(err, _library_user_errors()):
            return None
    message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
    print(f"error: {message}", file=sys.stderr)
    return BAD_INPUT


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a user error prints ``error: ...`` and returns 2, an interrupt returns 130."""
    args = build_parser().parse_args(argv)
    python_format, warnings.formatwarning = warnings.formatwarning, _one_line_warning
    try:
        if getattr(args, "device", None) is not None:
            from ..devices import check_device

            check_device(args.device)
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:  # Ctrl-C outside a training loop (loading, evaluating): nothing to save
        if _is_main_process():
            print(f"interrupted: {args.command} stopped before it finished", file=sys.stderr)
        return INTERRUPTED
    except Exception as err:
        status = _failure_status(err)
        if status is None:
            raise
        return status
    finally:
        warnings.formatwarning = python_format
        group = _process_group()
        if group is not None:  # a torchrun job: leave the process group cleanly
            group.destroy_process_group()


__all__ = ["BAD_INPUT", "INTERRUPTED", "build_parser", "main"]
