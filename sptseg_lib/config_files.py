"""``--config FILE`` read with errors that name the file and what it should hold.

A truncated ``config.json``, a report or another JSON file, a JSON list: each is one line naming the file,
the problem and what an experiment file holds (the ``config.json`` a run writes: ``name``, ``model``,
``data``, ``train``), instead of a parser's position or a ``TypeError``.
"""

from __future__ import annotations

import json
from pathlib import Path

from .checkpoint import list_checkpoints
from .config import ExperimentConfig

_WHAT = "an experiment configuration (the config.json a train run writes: name, model, data, train)"


def read_experiment_file(path: str | Path) -> ExperimentConfig:
    """The :class:`ExperimentConfig` in ``path``, or a ``ValueError`` naming the file and the fix."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"--config {path} is a folder; give {_WHAT}, e.g. {path / 'config.json'}")
    if not path.is_file():
        raise ValueError(f"--config {path} does not exist; give {_WHAT}, or use --preset NAME")
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError:
        raise ValueError(f"--config {path} is not UTF-8 text; give {_WHAT}") from None
    except json.JSONDecodeError as err:
        saved = list_checkpoints(path.parent)
        hint = (
            f"; the run's checkpoints (e.g. {saved[-1].name}) hold its full configuration: train --preset "
            f"NAME --out {path.parent} --resume continues it and names any field that differs"
            if saved
            else ""
        )
        raise ValueError(
            f"--config {path} is not valid JSON ({err.msg} at line {err.lineno}, column {err.colno}: "
            f"truncated or edited?){hint}"
        ) from None
    if not isinstance(data, dict):
        raise ValueError(f"--config {path} holds a JSON {type(data).__name__}, not {_WHAT}")
    missing = [k for k in ("name", "model", "data", "train") if k not in data]
    if missing:
        raise ValueError(f"--config {path} has no {', '.join(missing)} field(s): it is not {_WHAT}")
    try:
        return ExperimentConfig.from_dict(data)
    except (KeyError, TypeError) as err:
        raise ValueError(f"--config {path} is not {_WHAT}: {type(err).__name__} {err}") from None
    except ValueError as err:
        raise ValueError(f"--config {path}: {err}") from None


def check_training_values(experiment: ExperimentConfig) -> None:
    """Raise ``ValueError`` naming the field (``train.lr``, ``data.crop_size``, ...) and a valid example for
    values that would fail later, deep in PyTorch or a data set, after the run folder was written."""
    t, d = experiment.train, experiment.data
    if not t.lr > 0:
        raise ValueError(f"train.lr must be positive (e.g. --set train.lr=2e-4), got {t.lr}")
    if t.weight_decay < 0:
        raise ValueError(
            f"train.weight_decay must be 0 or more (e.g. --set train.weight_decay=0.01), got {t.weight_decay}"
        )
    if not all(0 <= b < 1 for b in t.betas):
        raise ValueError(
            f"train.betas must lie in [0, 1) (e.g. --set train.betas=[0.9,0.999]), got {list(t.betas)}"
        )
    generated = d.dataset not in ("voc", "coco_stuff")
    smallest = 16  # the shapes worlds' smallest scene; a ViT's patch
    if d.crop_size < smallest:
        raise ValueError(
            f"data.crop_size {d.crop_size} is too small; use at least {smallest} px "
            f"(e.g. --set data.crop_size={64 if generated else 512})"
        )


__all__ = ["check_training_values", "read_experiment_file"]
