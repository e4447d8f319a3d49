"""Checkpoints: only what training changed, written atomically, read back safely.

A checkpoint is a plain ``dict`` of tensors, numbers, strings, lists and dicts, so it loads with
``torch.load(weights_only=True)`` (no pickled code runs). It holds

- ``model``: the *trainable* parameters only (prompts, spectral filter, decoder: a few MB, not CLIP);
- ``optimizer``, ``scheduler``, ``step``;
- ``rng``: the torch / CUDA / numpy / python generator states of every process, so that a resumed run
  draws the same dropout masks as the uninterrupted one;
- ``experiment``: the full :class:`~sptseg_lib.config.ExperimentConfig` as a dict.

:func:`training_payload` is what the trainer saves; :func:`export_weights` writes a *weights-only* copy
(``model``, ``step``, ``experiment``; about a third of the size): enough to evaluate, predict or start
another run (``init_from``), not to resume. :func:`resume_state` is the train-or-resume policy: which
checkpoint of a run folder a run continues from, and which requests it refuses.
"""

from __future__ import annotations

import os
import random
import re
import warnings
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from .config import RUNTIME_FIELDS, ExperimentConfig, config_differences
from .outputs import describe_os_error, is_disk_full

FORMAT = "sptseg-checkpoint"
VERSION = 1
_ITER_RE = re.compile(r"^iter_(\d+)\.pt$")


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be used: missing, unreadable, or from another experiment."""


def checkpoint_name(step: int) -> str:
    return f"iter_{step:06d}.pt"


def list_checkpoints(directory: str | Path) -> list[Path]:
    """The ``iter_*.pt`` files in ``directory``, oldest step first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _ITER_RE.match(p.name))]
    return [p for _, p in sorted(found)]


def latest_checkpoint(directory: str | Path) -> Path | None:
    """The ``iter_*.pt`` of the highest step in ``directory`` (whether it loads or not), or ``None``."""
    found = list_checkpoints(directory)
    return found[-1] if found else None


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (plus format tags) to ``path`` atomically: a temporary file, then ``os.replace``.

    A crash mid-write leaves the previous file (if any) intact, never a truncated one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        torch.save({"format": FORMAT, "version": VERSION, **payload}, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as err:
        if isinstance(err, CheckpointError) or not (isinstance(err, OSError) or is_disk_full(err)):
            raise
        raise CheckpointWriteError(_not_written(path, err)) from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


class CheckpointWriteError(OSError):
    """A checkpoint that could not be written (a full disk, a read-only folder); earlier ones are intact."""


def _not_written(path: Path, err: BaseException) -> str:
    """One line: why ``path`` was not written and which earlier checkpoint is intact."""
    earlier = [p for p in list_checkpoints(path.parent) if p.name != path.name]
    kept = f"the previous one, {earlier[-1].stem}, is intact" if earlier else "no earlier checkpoint exists"
    fix = "free some space, then continue with --resume" if is_disk_full(err) else "fix it, then --resume"
    return f"{describe_os_error(err, path.parent)}: checkpoint {path.stem} was not written; {kept}; {fix}"


def load_checkpoint(path: str | Path, *, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; any failure is a :class:`CheckpointError` saying why."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist; pass the path of an iter_*.pt file")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise CheckpointError(
            f"checkpoint {str(path)!r} cannot be read ({type(err).__name__}: {str(err)[:200]}); "
            "the file is corrupt or truncated, or not a checkpoint: use another iter_*.pt file of the run"
        ) from err
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} is not an sptseg checkpoint (no {FORMAT!r} tag)")
    if ckpt.get("version") != VERSION:
        raise CheckpointError(
            f"{str(path)!r} has checkpoint version {ckpt.get('version')}, this code reads {VERSION}"
        )
    return ckpt


def unreadable_reason(err: CheckpointError) -> str:
    """Why :func:`load_checkpoint` refused a file, in a few words (the underlying error when there is one)."""
    cause = err.__cause__
    if cause is None:
        return str(err)
    text = str(cause).strip()
    first = text.splitlines()[0].split(". ")[0][:160] if text else "no message"
    return f"{type(cause).__name__}: {first}"


def newest_readable_checkpoint(
    directory: str | Path, *, map_location: str | torch.device = "cpu"
) -> tuple[Path, dict[str, Any], list[tuple[Path, CheckpointError]]] | None:
    """The newest ``iter_*.pt`` of ``directory`` that loads: ``(path, checkpoint, skipped)``.

    ``skipped`` lists the newer files that did not load (truncated by a crash or a full disk, corrupt,
    not a checkpoint), newest first, each with its :class:`CheckpointError`. ``None`` when the folder holds
    no ``iter_*.pt`` at all; a :class:`CheckpointError` naming every file when none of them loads.
    """
    skipped: list[tuple[Path, CheckpointError]] = []
    for path in reversed(list_checkpoints(directory)):
        try:
            return path, load_checkpoint(path, map_location=map_location), skipped
        except CheckpointError as err:
            skipped.append((path, err))
    if not skipped:
        return None
    reasons = "; ".join(f"{p.name}: {unreadable_reason(e)}" for p, e in skipped)
    raise CheckpointError(
        f"no checkpoint in {str(directory)!r} can be read ({reasons}): each is corrupt or truncated, or not "
        "a checkpoint; put back a good copy, or delete them (or choose another --out) to start a fresh run"
    )


TRAINING_STATE_KEYS: tuple[str, ...] = ("optimizer", "scheduler", "rng")
"""What a resumable checkpoint holds beyond the trained weights (dropped by :func:`export_weights`)."""


def is_resumable(ckpt: dict[str, Any]) -> bool:
    """Whether ``ckpt`` carries the training state a resumed run needs (not a weights-only export)."""
    return all(key in ckpt for key in TRAINING_STATE_KEYS)


def export_weights(src: str | Path, dst: str | Path) -> Path:
    """Copy checkpoint ``src`` to ``dst`` without its training state: the trained parameters, the step
    and the experiment config (e.g. to ship a trained model; ``data/miniature/`` is made this way)."""
    ckpt = load_checkpoint(src)
    dropped = (*TRAINING_STATE_KEYS, "scaler", "format", "version")  # "scaler": float16 runs only
    payload = {k: v for k, v in ckpt.items() if k not in dropped}
    return save_checkpoint(dst, payload)


def training_payload(
    experiment: ExperimentConfig,
    step: int,
    model: dict[str, torch.Tensor],
    optimizer: dict[str, Any],
    scheduler: dict[str, Any],
    rng: list[dict[str, Any]],
    scaler: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What a resumable checkpoint holds (the module docstring), in the order it is written.

    Args:
        experiment: the run's config (stored as a dict).
        step: the number of completed optimiser steps.
        model: the trainable parameters (``trainable_state_dict()``), on the CPU.
        optimizer, scheduler: their ``state_dict()``.
        rng: :func:`capture_rng_state` of every process, by rank (``world_size`` is its length).
        scaler: the float16 gradient scaler's ``state_dict()``; ``None`` without one (not stored).
    """
    payload = {
        "experiment": experiment.to_dict(),
        "step": step,
        "model": model,
        "optimizer": optimizer,
        "scheduler": scheduler,
        "rng": rng,
        "world_size": len(rng),
    }
    if scaler is not None:
        payload["scaler"] = scaler
    return payload


class ResumeRefused(CheckpointError):
    """A run folder that :func:`resume_state` will not start or continue a run in, as asked."""


def resume_state(
    out_dir: str | Path,
    experiment: ExperimentConfig,
    resume: bool | Literal["auto"],
    *,
    warn: bool = True,
    stacklevel: int = 2,
) -> tuple[Path, dict[str, Any]] | None:
    """Train or resume: the checkpoint a run of ``experiment`` in ``out_dir`` continues from, if any.

    Args:
        out_dir: the run folder.
        experiment: the run's config; a checkpoint of another experiment is refused
            (:func:`check_compatible`, a :class:`CheckpointError` naming every difference).
        resume: ``True``: continue from the newest ``iter_*.pt`` that loads; newer unreadable ones
            (truncated, corrupt) are skipped with a warning naming them; a folder without checkpoints is
            refused (nothing to resume), so is a weights-only export (:func:`is_resumable`). ``False``: a
            fresh run; a folder that holds checkpoints is refused. ``"auto"``: continue if there is
            anything to continue, else start fresh (as detectron2's ``resume_or_load``).
        warn: whether to warn about skipped files (the main process of a job).
        stacklevel: as ``warnings.warn``'s, counted from the caller of this function.

    Returns:
        ``(path, checkpoint)`` to continue from, or ``None`` for a fresh run.

    Raises:
        ResumeRefused: the one-line reason and what to do instead.
    """
    out_dir = Path(out_dir)
    if resume == "auto":
        resume = latest_checkpoint(out_dir) is not None
    if not resume:
        existing = latest_checkpoint(out_dir)
        if existing is not None:
            raise ResumeRefused(
                f"{out_dir} already holds checkpoints ({existing.name}); pass resume=True "
                "(--resume) to continue that run, or choose another output folder"
            )
        return None
    found = newest_readable_checkpoint(out_dir)
    if found is None:
        raise ResumeRefused(
            f"nothing to resume in {out_dir}: it holds no iter_*.pt checkpoint; drop --resume "
            "(resume=False) to start a fresh run there"
        )
    path, state, skipped = found
    if warn:
        for bad, err in skipped:
            warnings.warn(
                f"resume: skipped {bad.name}, which cannot be read ({unreadable_reason(err)}); "
                f"continuing from {path.name} instead",
                stacklevel=stacklevel + 1,
            )
    check_compatible(state, experiment, path=path)
    if not is_resumable(state):
        raise ResumeRefused(
            f"{path} holds trained weights only (an export, without optimiser and random "
            "states), so the run cannot continue from it; evaluate it, or start a new run from it "
            "with --init-from in a fresh output folder"
        )
    return path, state


def checkpoint_experiment(ckpt: dict[str, Any], path: str | Path = "checkpoint") -> ExperimentConfig:
    try:
        return ExperimentConfig.from_dict(ckpt["experiment"])
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{str(path)!r} holds no valid experiment config: {err}") from err


def check_compatible(
    ckpt: dict[str, Any],
    experiment: ExperimentConfig,
    *,
    path: str | Path = "checkpoint",
    model_only: bool = False,
) -> None:
    """Refuse a checkpoint made by another experiment, naming every differing field.

    ``model_only=True`` (used by ``init_from`` and evaluation) compares only the model config, so that a
    transductive run may start from an inductive checkpoint of the same network, and a model may be
    evaluated on another data set.
    """
    saved = checkpoint_experiment(ckpt, path)
    if model_only:
        ignore = frozenset({f"{s}.{f}" for s in ("data", "train") for f in _fields(saved, s)} | {"name"})
    else:
        ignore = RUNTIME_FIELDS
    diffs = config_differences(saved, experiment, ignore=ignore)
    if diffs:
        lines = "\n  ".join(f"{d}  (checkpoint != requested)" for d in diffs)
        raise CheckpointError(
            f"{str(path)!r} was written by experiment {saved.name!r}, which differs from "
            f"{experiment.name!r} in:\n"
            f"  {lines}\nuse a checkpoint of the same preset, or a fresh --out directory"
        )


def _fields(experiment: ExperimentConfig, section: str) -> list[str]:
    return list(getattr(experiment, section).__dataclass_fields__)


# --- random number generator states (weights_only-safe encodings) ----------------------------


def capture_rng_state() -> dict[str, Any]:
    """The states of torch (CPU and every CUDA device), numpy and python ``random`` as safe types."""
    np_state = np.random.get_state()  # noqa: NPY002 (the legacy global state is what libraries use)
    py_state = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": [s for s in torch.cuda.get_rng_state_all()] if torch.cuda.is_available() else [],
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": {"version": py_state[0], "state": list(py_state[1]), "gauss": py_state[2]},
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    n = state["numpy"]
    np.random.set_state(  # noqa: NPY002
        ("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))


__all__ = [
    "TRAINING_STATE_KEYS",
    "CheckpointError",
    "CheckpointWriteError",
    "ResumeRefused",
    "capture_rng_state",
    "check_compatible",
    "checkpoint_experiment",
    "checkpoint_name",
    "export_weights",
    "is_resumable",
    "latest_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "newest_readable_checkpoint",
    "restore_rng_state",
    "resume_state",
    "save_checkpoint",
    "training_payload",
    "unreadable_reason",
]
