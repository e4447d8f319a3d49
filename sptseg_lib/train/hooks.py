"""The periodic work around :meth:`~sptseg_lib.train.Trainer.fit`'s steps, as hooks (detectron2's
``HookBase``): the log record every ``log_every`` steps, the checkpoint every ``checkpoint_every`` steps,
the progress bar, and :class:`EveryN` for a caller's own work (notebook 06 redraws its loss curves with it).

A hook sees each call of ``fit`` as ``before_train(trainer, stop)`` (``stop``: the step this call trains
to), ``after_step(trainer, terms)`` after every completed step (``terms``: :meth:`Trainer.train_step`'s
loss terms of this process) and ``after_train(trainer)`` when ``fit`` leaves its loop (also on an
interrupt or an error). Periodic hooks also fire at ``stop``, so that a shorter ``fit`` ends with a log
record and a checkpoint.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
from tqdm.auto import tqdm

if TYPE_CHECKING:
    from .trainer import Trainer


class Hook:
    """Does nothing; subclasses override what they need."""

    def before_train(self, trainer: Trainer, stop: int) -> None:
        """At the start of a ``fit`` call that trains to step ``stop``."""

    def after_step(self, trainer: Trainer, terms: dict[str, float]) -> None:
        """After each completed step (``trainer.step`` already counts it)."""

    def after_train(self, trainer: Trainer) -> None:
        """When the ``fit`` call leaves its loop, however it ends."""


class EveryN(Hook):
    """``action(trainer)`` after every ``every``-th step, and after the last step of each ``fit`` call."""

    def __init__(self, every: int, action: Callable[[Trainer], Any]) -> None:
        self.every, self.action = every, action
        self.stop = 0

    def before_train(self, trainer: Trainer, stop: int) -> None:
        self.stop = stop

    def after_step(self, trainer: Trainer, terms: dict[str, float]) -> None:
        if trainer.step % self.every == 0 or trainer.step == self.stop:
            self.action(trainer)


def periodic_checkpoint(every: int) -> EveryN:
    """The checkpoint every ``every`` steps and at the end of each ``fit`` (:meth:`Trainer.save`)."""
    return EveryN(every, lambda trainer: trainer.save())


def mean_over_processes(terms: dict[str, float], device: torch.device) -> dict[str, float]:
    """``terms`` averaged over the processes of the job (one all-reduce on ``device``; for the log only)."""
    keys = sorted(terms)
    values = torch.tensor([terms[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(values)
    return {k: float(v) / dist.get_world_size() for k, v in zip(keys, values.tolist())}


class StepRecords(Hook):
    """The step record every ``every`` steps and at the end of each ``fit``: the loss terms averaged over
    processes, ``lr``, ``step``, the images per second since the previous record and the effective batch.

    ``last`` is the newest record (``{}`` before the first), which ``fit`` returns; ``logged`` says
    whether the step just completed was logged (the progress bar shows its loss).
    """

    def __init__(self, every: int, batch_size: int) -> None:
        self.every, self.batch_size = every, batch_size
        self.stop = 0
        self.last: dict[str, float] = {}
        self.logged = False
        self._start, self._steps = 0.0, 0

    def before_train(self, trainer: Trainer, stop: int) -> None:
        self.stop, self.last, self.logged = stop, {}, False
        self._start, self._steps = time.perf_counter(), 0

    def after_step(self, trainer: Trainer, terms: dict[str, float]) -> None:
        self._steps += 1
        self.logged = trainer.step % self.every == 0 or trainer.step == self.stop
        if not self.logged:
            return
        elapsed = time.perf_counter() - self._start
        record = mean_over_processes(terms, trainer.device) if trainer.dist.distributed else dict(terms)
        record.update(
            step=trainer.step,
            images_per_s=self._steps * self.batch_size / max(elapsed, 1e-9),
            effective_batch=self.batch_size,
        )
        trainer.log(record)
        self.last = record
        self._start, self._steps = time.perf_counter(), 0


class ProgressBar(Hook):
    """A tqdm bar (notebook-aware) from the current step to ``stop``, with the newest logged loss and lr;
    hidden unless ``shown``."""

    def __init__(self, records: StepRecords, shown: bool) -> None:
        self.records, self.shown = records, shown
        self.bar: Any = None

    def before_train(self, trainer: Trainer, stop: int) -> None:
        self.bar = tqdm(
            total=stop,
            initial=trainer.step,
            disable=not self.shown,
            desc=trainer.experiment.name,
            unit="it",
            dynamic_ncols=True,
        )

    def after_step(self, trainer: Trainer, terms: dict[str, float]) -> None:
        self.bar.update(1)
        if self.records.logged:
            last = self.records.last
            self.bar.set_postfix(loss=f"{last['loss']:.4f}", lr=f"{last['lr']:.2e}")

    def after_train(self, trainer: Trainer) -> None:
        self.bar.close()


__all__ = ["EveryN", "Hook", "ProgressBar", "StepRecords", "mean_over_processes", "periodic_checkpoint"]
