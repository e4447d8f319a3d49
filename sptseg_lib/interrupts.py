"""Ctrl-C and SIGTERM stop training at a step boundary: the handler :meth:`~sptseg_lib.train.Trainer.fit`
installs, and what its DataLoader workers do with these signals.

Portable: a stop signal this platform lacks (``signal.SIGTERM`` is missing from some builds) is left out,
and one that ``signal.signal`` refuses (Windows accepts only a few signals; Python raises ``ValueError``
or ``OSError`` there) is skipped, so that training runs wherever Python does, with whichever stop signals
the platform can deliver (Ctrl-C everywhere).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

STOP_SIGNAL_NAMES: tuple[str, ...] = ("SIGINT", "SIGTERM")
"""The signals :meth:`~sptseg_lib.train.Trainer.fit` turns into a clean stop (a checkpoint,
:class:`~sptseg_lib.train.TrainingInterrupted`), where the platform has them."""


def stop_signals() -> tuple[signal.Signals, ...]:
    """The :data:`STOP_SIGNAL_NAMES` this platform's ``signal`` module has."""
    return tuple(getattr(signal, name) for name in STOP_SIGNAL_NAMES if hasattr(signal, name))


def _install(sig: signal.Signals, handler: Callable[..., Any] | int) -> bool:
    """``signal.signal(sig, handler)``; ``False`` where the platform refuses to handle ``sig``."""
    try:
        signal.signal(sig, handler)
    except (OSError, ValueError):
        return False
    return True


def worker_ignores_stop_signals(worker_id: int) -> None:
    """``worker_init_fn``: Ctrl-C reaches the whole process group, but only the main process may stop.

    A worker that died of SIGINT would fail the step in progress; ignoring SIGINT / SIGTERM, the workers
    are shut down by the loader when training stops (or exit with the main process, which they watch).
    """
    for sig in stop_signals():
        _install(sig, signal.SIG_IGN)


class StepAbandoned(BaseException):
    """Raised by the handler on a second signal, inside the step only: the step in progress is dropped.

    A ``BaseException`` (like ``KeyboardInterrupt``), so that ``except Exception`` in a criterion or a data
    set does not swallow it.
    """


class StopRequests:
    """The SIGINT / SIGTERM handler of one :meth:`~sptseg_lib.train.Trainer.fit` call.

    The first signal only asks to stop: the step in progress completes. A second one abandons that step
    (raises :class:`StepAbandoned`) while it is ``armed`` (fetching data, forward, backward) and not
    ``critical`` (the optimiser update and the step counter, which always complete together); between
    steps, and while a checkpoint or a log record is written, further signals change nothing. With several
    processes a step is never abandoned (a process leaving a collective would hang the others).
    """

    def __init__(self, abandon: bool) -> None:
        self.abandon = abandon
        self.signals: list[str] = []
        self.peer = False
        """Another process of the job was interrupted (see ``Trainer._stop_agreed``)."""
        self.armed = False
        self.critical = 0
        self.installed: list[str] = []
        """The signals this handler was installed for (the platform's, less those it refused)."""

    @property
    def received(self) -> bool:
        return bool(self.signals) or self.peer

    def __call__(self, signum: int, frame: Any) -> None:
        self.signals.append(signal.Signals(signum).name)
        if self.abandon and len(self.signals) > 1 and self.armed and not self.critical:
            self.armed = False
            raise StepAbandoned


@contextlib.contextmanager
def stop_signals_caught(handler: StopRequests) -> Iterator[None]:
    """Install ``handler`` for :func:`stop_signals` for the block, then put the previous handlers back.

    Python runs signal handlers in the main thread only: from another thread (a GUI, a web worker) nothing
    is installed and a signal does what it did before. A signal the platform refuses is skipped.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in stop_signals()}
    installed = []
    try:
        for sig in previous:
            if _install(sig, handler):
                installed.append(sig)
        handler.installed = [sig.name for sig in installed]
        yield
    finally:
        for sig in installed:
            old = previous[sig]
            signal.signal(sig, old if old is not None else signal.SIG_DFL)


__all__ = [
    "STOP_SIGNAL_NAMES",
    "StepAbandoned",
    "StopRequests",
    "stop_signals",
    "stop_signals_caught",
    "worker_ignores_stop_signals",
]
