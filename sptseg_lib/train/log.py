"""A run's ``log.jsonl``, in one place: one JSON record per line, steps and events (``start``, ``resume``,
``gate_init``, ``interrupted``). :class:`RunLog` appends a record, trims the steps a resumed run repeats,
and reads the records; :func:`read_log` is the one reader every part of the library uses.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

LOG_NAME = "log.jsonl"


class RunLog:
    """The ``log.jsonl`` of run folder ``run_dir``.

    Args:
        run_dir: the run folder (created by the first :meth:`append`).
        writer: whether this process writes it (the main process of a job); elsewhere :meth:`append` and
            :meth:`trim` do nothing.
    """

    def __init__(self, run_dir: str | Path, *, writer: bool = True) -> None:
        self.path = Path(run_dir) / LOG_NAME
        self.writer = writer

    def append(self, record: dict[str, Any]) -> None:
        """Add ``record`` as one line, its ``time`` (``time.time()``) first; values JSON cannot hold are
        written as ``str``."""
        if not self.writer:
            return
        record = {"time": time.time(), **record}
        self.path.parent.mkdir(parents=True, exist_ok=True)  # a step taken outside fit() logs too (gate_init)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, default=str) + "\n")

    def trim(self, step: int) -> int:
        """Drop the step records after ``step`` (and half-written lines); returns how many.

        The trainer's first :meth:`~sptseg_lib.train.Trainer.fit` calls it: a resumed run repeats the steps
        between its checkpoint and the interrupt, so without this they would be logged twice (a fresh run
        drops those of a run that died before its first checkpoint). Event records stay. The file is
        rewritten atomically (a temporary file, then ``os.replace``).
        """
        if not self.writer or not self.path.is_file():
            return 0
        lines = self.path.read_text(encoding="utf-8").splitlines()
        keep = []
        for line in lines:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and "event" not in record and record.get("step", 0) > step:
                continue
            keep.append(line)
        if len(keep) == len(lines):
            return 0
        tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        try:
            tmp.write_text("".join(line + "\n" for line in keep), encoding="utf-8")
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)
        return len(lines) - len(keep)

    def read(self) -> list[dict[str, Any]]:
        """The records, one dict per logged step or event, oldest first; empty before the first."""
        if not self.path.is_file():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines()]


def read_log(run_dir: str | Path) -> list[dict[str, Any]]:
    """The records of a run's ``log.jsonl`` (one dict per logged step or event); empty before the first."""
    return RunLog(run_dir).read()


def start_record(trainer: Any) -> dict[str, Any]:
    """The ``start`` (or ``resume``) record that a :class:`~sptseg_lib.train.Trainer` logs."""
    t = trainer.experiment.train
    return {
        "event": "resume" if trainer.resume_from else "start",
        "resumed_from": str(trainer.resume_from) if trainer.resume_from else None,
        "step": trainer.step,
        "experiment": trainer.experiment.name,
        "setting": t.setting,
        "schedule": t.schedule,
        "seed": t.seed,
        "world_size": trainer.dist.world_size,
        "micro_batch": trainer.micro_batch,
        "accumulation": trainer.accumulation,
        "num_workers": trainer.num_workers,
        "effective_batch": trainer.micro_batch * trainer.dist.world_size * trainer.accumulation,
        "device": str(trainer.device),
        **trainer.amp.record(),
        "compile": t.compile,
        "trainable_parameters": sum(p.numel() for _, p in trainer.trainable),
        "trainable_names": [n for n, _ in trainer.trainable],
        "channel_classes": list(trainer.channel_classes),
    }


__all__ = ["LOG_NAME", "RunLog", "read_log", "start_record"]
