"""Training: :class:`Trainer` (the loop, one optimiser step) and what it is made of, one job a module.

- :mod:`.trainer`: :class:`Trainer`, ``fit`` and ``train_step``;
- :mod:`.schedule`: the learning-rate schedule (:class:`PolyWarmupSchedule`);
- :mod:`.data`: the seeded items, the sharded sampler, the batch geometry, :func:`build_loader`;
- :mod:`.targets`: the targets per setting, the transductive pseudo-labels, the loss normaliser;
- :mod:`.interrupts`: the stop signals (:class:`StopSignals`);
- :mod:`.hooks`: the periodic work between steps (log record, checkpoint, progress bar, :class:`EveryN`);
- :mod:`.log`: a run's ``log.jsonl`` (:class:`RunLog`, :func:`read_log`);
- :mod:`.errors`: :class:`TrainingError`, :class:`TrainingInterrupted`.

Which checkpoint a run continues from, and what a checkpoint holds, is :mod:`sptseg_lib.checkpoint`'s
(``resume_state``, ``training_payload``).
"""

from __future__ import annotations

from ..data.factory import build_dataset
from ..distributed import DistInfo, init_distributed
from .data import (
    EndlessShardSampler,
    SeededItems,
    batch_geometry,
    build_loader,
    default_num_workers,
    seeded_rngs,
)
from .errors import TrainingError, TrainingInterrupted, resume_command
from .hooks import EveryN, Hook, ProgressBar, StepRecords
from .interrupts import STOP_SIGNAL_NAMES, StopSignals
from .log import RunLog, read_log
from .schedule import PolyWarmupSchedule
from .targets import pseudo_label_unseen
from .trainer import Trainer

__all__ = [
    "STOP_SIGNAL_NAMES",
    "DistInfo",
    "EndlessShardSampler",
    "EveryN",
    "Hook",
    "PolyWarmupSchedule",
    "ProgressBar",
    "RunLog",
    "SeededItems",
    "StepRecords",
    "StopSignals",
    "Trainer",
    "TrainingError",
    "TrainingInterrupted",
    "batch_geometry",
    "build_dataset",
    "build_loader",
    "default_num_workers",
    "init_distributed",
    "pseudo_label_unseen",
    "read_log",
    "resume_command",
    "seeded_rngs",
]
