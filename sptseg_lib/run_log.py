"""A run's ``log.jsonl``: one JSON record per line, steps and events (``start``, ``resume``,
``interrupted``); :func:`trim_log` keeps a resumed run from logging a step twice."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm


def trim_log(path: Path, step: int) -> int:
    """Drop the step records of ``path`` after ``step`` (and half-written lines); returns how many.

    The trainer's first :meth:`~sptseg_lib.train.Trainer.fit` calls it: a resumed run repeats the steps
    between its checkpoint and the interrupt, so without this they would be logged twice (a fresh run drops
    those of a run that died before its first checkpoint). Event records stay. The file is rewritten
    atomically (a temporary file, then ``os.replace``).
    """
    if not path.is_file():
        return 0
    lines = path.read_text(encoding="utf-8").splitlines()
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
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text("".join(line + "\n" for line in keep), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return len(lines) - len(keep)


def resume_command(out_dir: Path, world_size: int) -> str:
    """The command line that continues a run (its ``config.json`` names every setting)."""
    out, config = shlex.quote(str(out_dir)), shlex.quote(str(out_dir / "config.json"))
    start = (
        f"torchrun --nproc-per-node {world_size} -m sptseg_lib" if world_size > 1 else "python -m sptseg_lib"
    )
    return f"{start} train --config {config} --out {out}"


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


def progress_bar(name: str, step: int, shown: bool, total: int) -> Any:
    """The training progress bar, from ``step`` to ``total`` (hidden unless ``shown``)."""
    return tqdm(total=total, initial=step, disable=not shown, desc=name, unit="it", dynamic_ncols=True)


__all__ = ["progress_bar", "resume_command", "start_record", "trim_log"]
