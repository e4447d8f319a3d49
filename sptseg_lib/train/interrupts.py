"""Ctrl-C and SIGTERM stop training at a step boundary: :class:`StopSignals`, the one object that owns the
rule (finish the step on the first signal, abandon it on the second, agree across processes), and what the
DataLoader workers do with these signals.

Portable: a stop signal this platform lacks (``signal.SIGTERM`` is missing from some builds) is left out,
and one that ``signal.signal`` refuses (Windows accepts only a few signals; Python raises ``ValueError``
or ``OSError`` there) is skipped, so that training runs wherever Python does, with whichever stop signals
the platform can deliver (Ctrl-C everywhere).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from ..checkpoint import capture_rng_state, restore_rng_state

R = TypeVar("R")

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


class StopSignals:
    """SIGINT / SIGTERM during :meth:`~sptseg_lib.train.Trainer.fit`: stop at a step boundary, lose nothing.

    - The first signal only asks to stop: the step in progress completes (:meth:`agreed` then says stop).
    - A second one abandons that step (:meth:`attempt` restores the random states the step started from and
      returns ``None``) while the step is fetching data, running forward or backward; never inside a
      :meth:`critical` block (the optimiser update with the step counter, a checkpoint, a log record), nor
      between steps.
    - Several processes (``distributed``) or ``torchrun`` (which passes a signal on to every process, so a
      terminal's Ctrl-C reaches each twice, directly and through torchrun): a step is never abandoned (a
      process leaving a collective would hang the others), and :meth:`agreed` is one all-reduce, so that
      every process stops after the same step and they write its checkpoint together.

    The handler is this object itself, installed for the platform's :func:`stop_signals` by :meth:`caught`.

    Args:
        distributed: whether the job has several processes.
        device: where the all-reduce of :meth:`agreed` runs (the process's device).
    """

    def __init__(self, distributed: bool = False, device: torch.device | None = None) -> None:
        self.distributed, self.device = distributed, device or torch.device("cpu")
        self.abandon = not (distributed or "TORCHELASTIC_RUN_ID" in os.environ)
        self.signals: list[str] = []
        """The names of the signals received in this :meth:`caught` block, first first."""
        self.peer = False
        """Another process of the job was signalled (found by :meth:`agreed`)."""
        self.abandoned = False
        """A step was abandoned in this :meth:`caught` block."""
        self.installed: list[str] = []
        """The signals the handler is installed for (the platform's, less those it refused)."""
        self._armed = False
        self._critical = 0

    @property
    def received(self) -> bool:
        """This process, or (after :meth:`agreed`) another one, was signalled."""
        return bool(self.signals) or self.peer

    @property
    def cause(self) -> str:
        """What stopped training, for the messages: the first signal's name, or another process's."""
        return self.signals[0] if self.signals else "a signal to another process of the job"

    def __call__(self, signum: int, frame: Any) -> None:
        self.signals.append(signal.Signals(signum).name)
        if self.abandon and len(self.signals) > 1 and self._armed and not self._critical:
            self._armed = False
            raise StepAbandoned

    @contextlib.contextmanager
    def caught(self) -> Iterator[StopSignals]:
        """Install the handler for :func:`stop_signals` for the block (fresh: no signal received yet), then
        put the previous handlers back.

        Python runs signal handlers in the main thread only: from another thread (a GUI, a web worker)
        nothing is installed and a signal does what it did before. A signal the platform refuses is skipped.
        """
        self.signals, self.peer, self.abandoned, self.installed = [], False, False, []
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {sig: signal.getsignal(sig) for sig in stop_signals()}
        installed = []
        try:
            for sig in previous:
                if _install(sig, self):
                    installed.append(sig)
            self.installed = [sig.name for sig in installed]
            yield self
        finally:
            for sig in installed:
                old = previous[sig]
                signal.signal(sig, old if old is not None else signal.SIG_DFL)

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        """A block that a second signal does not abandon (it completes, then the stop is honoured)."""
        self._critical += 1
        try:
            yield
        finally:
            self._critical -= 1

    def attempt(
        self, step: Callable[[], R], *, counter: Callable[[], int], discard: Callable[[], None]
    ) -> R | None:
        """Run ``step()``, one training step that a second signal may abandon; its result, or ``None``.

        ``counter()`` is the number of completed steps (the optimiser update and the count change together,
        in a :meth:`critical` block, so a step either completed or changed nothing but gradients).
        Abandoned before it completed: ``discard()`` drops what it left (the gradients) and the random
        states are put back as they were before it, so that a resumed run repeats it exactly. A signal
        landing just after the update also returns ``None`` (stop now; the step counts).
        """
        before = counter()
        rng = capture_rng_state() if self.abandon else None  # (about 50 us)
        try:
            self._armed = True
            result = step()
            self._armed = False
            return result
        except StepAbandoned:
            self._armed = False
            if counter() == before:
                self.abandoned = True
                discard()
                if rng is not None:
                    restore_rng_state(rng)
            return None

    def agreed(self) -> bool:
        """Whether to stop now: this process was signalled, or (several processes) any of them was."""
        if self.distributed:
            flag = torch.tensor([1.0 if self.received else 0.0], device=self.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            self.peer = self.peer or bool(flag.item())
        return self.received


__all__ = [
    "STOP_SIGNAL_NAMES",
    "StepAbandoned",
    "StopSignals",
    "stop_signals",
    "worker_ignores_stop_signals",
]
