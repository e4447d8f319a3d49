"""The training engine: one :class:`Trainer` for the CLI, the notebooks and 1..N processes.

The recipe is the reference one (docs/reference.md §2.2, §6.1): AdamW on the trainable parameters only
(lr 2e-4 = 2e-5 x lr_mult 10, weight decay 0.01), linear warm-up for 1,500 iterations from
``warmup_ratio x lr``, then poly decay (power 0.9) to ``min_lr = 1e-6``; a global batch of 16 whatever the
hardware: ``batch_size = micro_batch x processes x accumulation``.

Processes: start with ``torchrun --nproc-per-node N -m sptseg_lib train ...`` (or plain ``python`` for
one). Each process sees its own shard of every epoch (``DistributedSampler``); gradients are averaged by
``DistributedDataParallel`` (gloo on the CPU, nccl on GPUs), once per optimiser step.

Reproducibility: the data of item ``i`` in epoch ``e`` is drawn under a seed made of ``(seed, e, i)``, the
model's own randomness (dropout) comes from the global generators, whose states every checkpoint stores,
so a resumed run makes the same updates as an uninterrupted one.

Interrupts (Ctrl-C, SIGTERM) lose nothing: :meth:`Trainer.fit` lets the step in progress finish (a second
signal abandons it), writes the checkpoint of the last completed step, logs an ``interrupted`` record and
raises :class:`TrainingInterrupted`, whose one-line message says how to continue (``--resume``); the CLI
prints it and exits 130. ``resume`` skips unreadable (truncated, corrupt) newer checkpoints with a warning,
and drops the log records of the steps after the checkpoint it continues from, so ``log.jsonl`` holds every
step once. Checkpoints every ``checkpoint_every`` steps follow the reference (docs/reference.md §6.1).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal, NoReturn

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from .amp import amp_plan, grad_scaler
from .checkpoint import (
    capture_rng_state,
    check_compatible,
    checkpoint_name,
    is_resumable,
    latest_checkpoint,
    load_checkpoint,
    newest_readable_checkpoint,
    restore_rng_state,
    save_checkpoint,
    unreadable_reason,
)
from .config import ExperimentConfig
from .data.factory import build_dataset
from .data.splits import UNSEEN_PSEUDO, ZeroShotSplit, get_split, remap_for_training, training_classes
from .distributed import DistInfo, init_distributed
from .interrupts import (
    STOP_SIGNAL_NAMES,
    StepAbandoned,
    StopRequests,
    stop_signals_caught,
    worker_ignores_stop_signals,
)
from .losses import SegmentationCriterion
from .model import build_model
from .run_lock import hold_run_folder
from .run_log import progress_bar, resume_command, start_record, trim_log
from .train_data import (
    EndlessShardSampler,
    PolyWarmupSchedule,
    SeededItems,
    default_num_workers,
    pseudo_label_unseen,
    seeded_rngs,
)

MASK_NORMALISED_TERMS = frozenset({"focal", "dice"})
"""Loss terms that :class:`~sptseg_lib.losses.SegmentationCriterion` divides by ``num_masks``."""


class TrainingError(RuntimeError):
    """A run that cannot start as asked (output folder, batch geometry, checkpoint); says how to fix it."""


class TrainingInterrupted(Exception):
    """Training stopped by Ctrl-C or SIGTERM after its checkpoint was written; the message says how to resume.

    (Contract for the CLI: ``python -m sptseg_lib train`` prints ``str(err)`` and exits 130.) ``step`` is the
    last completed step, ``checkpoint`` its file (``None`` when stopped before the first step).
    """

    def __init__(self, message: str, *, step: int = 0, checkpoint: Path | None = None) -> None:
        super().__init__(message)
        self.step, self.checkpoint = step, checkpoint


def _default_criterion(experiment: ExperimentConfig) -> Callable[..., dict[str, torch.Tensor]]:
    t = experiment.train
    return SegmentationCriterion(
        focal_weight=t.focal_weight, ssim_weight=t.ssim_weight, dice_weight=t.dice_weight
    )


def _default_model(experiment: ExperimentConfig, device: torch.device) -> nn.Module:
    return build_model(experiment.model, device=device)


def _unwrap(model: nn.Module) -> nn.Module:
    model = getattr(model, "_orig_mod", model)  # torch.compile
    return getattr(model, "module", model)  # DDP


class Trainer:
    """Trains one experiment into ``out_dir`` (``config.json``, ``log.jsonl``, ``iter_*.pt``).

    Args:
        experiment: the :class:`ExperimentConfig` (a preset, possibly with overrides).
        out_dir: the run folder. A folder that already holds checkpoints is refused unless ``resume``.
        train_dataset: items ``dict(image=(3,H,W) float, label=(H,W) long data-set labels, name=str)``;
            ``None`` builds the data set the config names (see :mod:`sptseg_lib.data`).
        split: the data set's :class:`ZeroShotSplit`; ``None`` = ``get_split(experiment.data.dataset)``.
        model: an ``SPTSeg`` (or anything with its interface); ``None`` = ``build_model(experiment.model)``.
        criterion: ``(mask_logits (B,C,h,w), target (B,H,W)) -> dict(loss=..., <terms>)``; ``None`` = the
            :class:`~sptseg_lib.losses.SegmentationCriterion` with the config's weights.
        resume: ``True``: continue from the newest ``iter_*.pt`` in ``out_dir`` that loads (after checking
            it is this experiment); newer unreadable ones (truncated, corrupt) are skipped with a warning
            naming them; a folder without checkpoints is an error (nothing to resume). ``False``: a fresh
            run; a folder that holds checkpoints is refused. ``"auto"``: continue if there is anything to
            continue, else start fresh (train-or-resume, as detectron2's ``resume_or_load``).
        device: ``None`` = this process's GPU, else the CPU.
        progress: show a tqdm bar (notebook-aware) on the main process.
    """

    def __init__(
        self,
        experiment: ExperimentConfig,
        out_dir: str | Path,
        *,
        train_dataset: Dataset | None = None,
        split: ZeroShotSplit | None = None,
        model: nn.Module | None = None,
        criterion: Callable[..., dict[str, torch.Tensor]] | None = None,
        resume: bool | Literal["auto"] = False,
        device: str | torch.device | None = None,
        progress: bool = True,
    ) -> None:
        self.experiment = experiment
        self.out_dir = Path(out_dir)
        self.progress = progress
        t = experiment.train
        self.dist = init_distributed(device)
        self.device = self.dist.device

        # --- batch geometry: batch_size = micro_batch x world x accumulation --------------------
        world = self.dist.world_size
        if t.batch_size % world:
            raise TrainingError(f"batch_size {t.batch_size} is not divisible by the {world} processes")
        per_process = t.batch_size // world
        self.micro_batch = t.micro_batch or per_process
        if per_process % self.micro_batch:
            raise TrainingError(
                f"micro_batch {self.micro_batch} does not divide the per-process batch {per_process} "
                f"(batch_size {t.batch_size} / {world} processes); pick a divisor of {per_process}"
            )
        self.accumulation = per_process // self.micro_batch

        # --- the output folder: never clobber another run ------------------------------------
        self.resume_from: Path | None = None
        resume_state = None
        if resume == "auto":
            resume = latest_checkpoint(self.out_dir) is not None
        if not resume:
            existing = latest_checkpoint(self.out_dir)
            if existing is not None:
                raise TrainingError(
                    f"{self.out_dir} already holds checkpoints ({existing.name}); pass resume=True "
                    "(--resume) to continue that run, or choose another output folder"
                )
        else:
            found = newest_readable_checkpoint(self.out_dir)
            if found is None:
                raise TrainingError(
                    f"nothing to resume in {self.out_dir}: it holds no iter_*.pt checkpoint; drop --resume "
                    "(resume=False) to start a fresh run there"
                )
            existing, resume_state, skipped = found
            if self.dist.is_main:
                for path, err in skipped:
                    warnings.warn(
                        f"resume: skipped {path.name}, which cannot be read ({unreadable_reason(err)}); "
                        f"continuing from {existing.name} instead",
                        stacklevel=2,
                    )
            check_compatible(resume_state, experiment, path=existing)
            if not is_resumable(resume_state):
                raise TrainingError(
                    f"{existing} holds trained weights only (an export, without optimiser and random "
                    "states), so the run cannot continue from it; evaluate it, or start a new run from it "
                    "with --init-from in a fresh output folder"
                )
            self.resume_from = existing
        init_state = None
        if t.init_from and resume_state is None:
            init_state = load_checkpoint(t.init_from, map_location="cpu")
            check_compatible(init_state, experiment, path=t.init_from, model_only=True)

        # --- data -------------------------------------------------------------------------------
        if split is None:
            split = get_split(experiment.data.dataset)
        self.split = split
        self.channel_classes = training_classes(split, t.setting)
        if train_dataset is None:
            train_dataset = build_dataset(experiment.data, "train")
        self.train_dataset = train_dataset
        workers = experiment.data.num_workers
        self.num_workers = default_num_workers() if workers is None else workers

        # --- model, optimiser: identical initial weights on every process ---------------------
        torch.manual_seed(t.seed)
        self.model = model if model is not None else _default_model(experiment, self.device)
        self.model.to(self.device)
        if init_state is not None:
            self.model.load_trainable_state_dict(init_state["model"])
        self.trainable = [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]
        if not self.trainable:
            raise TrainingError("the model has no trainable parameters")
        self.optimizer = torch.optim.AdamW(
            [p for _, p in self.trainable], lr=t.lr, betas=t.betas, weight_decay=t.weight_decay
        )
        self.amp = amp_plan(t.amp, self.device)
        self.scaler = grad_scaler(self.amp, self.device)
        self.schedule = PolyWarmupSchedule.from_config(t)
        self.criterion = criterion if criterion is not None else _default_criterion(experiment)
        self.step = 0
        self._saved_step: int | None = None  # the step of the newest checkpoint on disk
        self._log_checked = False  # log.jsonl was trimmed to self.step (first fit only)
        self._stop: StopRequests | None = None  # set while fit runs
        # Dropout differs between processes (as with independent GPUs) but not between runs.
        torch.manual_seed(t.seed + self.dist.rank)
        if resume_state is not None:
            self._restore(resume_state)
            self._saved_step = self.step
        # ModelConfig.gate_init: pointed at the first batch's tokens, once, at the start of a fresh run.
        self._gates_pending = (
            experiment.model.gate_init == "first_batch" and self.step == 0 and not t.init_from
        )

        self.engine: nn.Module = self.model
        if self.dist.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            # Some trainable parameters get no gradient (the last decoder layer's query update, which no
            # mask depends on), as in the reference (find_unused_parameters=True).
            self.engine = nn.parallel.DistributedDataParallel(
                self.model, device_ids=ids, find_unused_parameters=True
            )
        if t.compile:
            self.engine = torch.compile(self.engine)

        names = [split.class_names[c] for c in self.channel_classes]
        with torch.no_grad():
            self.text = self.model.class_embeddings(names).to(self.device)
        self.run_lock = hold_run_folder(self.out_dir) if self.dist.is_main else None  # last: one writer

    def _restore(self, state: dict[str, Any]) -> None:
        self.model.load_trainable_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        rng = state["rng"]
        if len(rng) == self.dist.world_size:
            restore_rng_state(rng[self.dist.rank])
        else:
            warnings.warn(
                f"checkpoint was written by {len(rng)} processes, this run has {self.dist.world_size}: "
                "random states are reseeded, so dropout masks will differ from the original run",
                stacklevel=2,
            )
            torch.manual_seed(self.experiment.train.seed + self.dist.rank + self.step)

    def _loader(self) -> Iterator[dict[str, Any]]:
        t = self.experiment.train
        sampler = EndlessShardSampler(
            len(self.train_dataset),  # type: ignore[arg-type]
            self.dist.rank,
            self.dist.world_size,
            t.seed,
            start=self.step * t.batch_size // self.dist.world_size,
        )
        workers = self.num_workers
        loader = DataLoader(
            SeededItems(self.train_dataset, t.seed),
            batch_size=self.micro_batch,
            sampler=sampler,
            num_workers=workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=workers > 0,
            generator=torch.Generator().manual_seed(t.seed),
            worker_init_fn=worker_ignores_stop_signals,
        )
        return iter(loader)

    def _targets(self, labels: torch.Tensor) -> torch.Tensor:
        return remap_for_training(labels, self.split, self.experiment.train.setting).to(self.device)

    def _pair_counts(self, targets: list[torch.Tensor], labels: list[torch.Tensor]) -> list[float]:
        """Per micro-batch, the number of (image, present class) pairs summed over processes.

        Transductive targets count each unseen pixel as its ground-truth class (the pseudo-labels are not
        known before the forward pass).
        """
        counts = []
        for target, label in zip(targets, labels):
            if self.experiment.train.setting == "transductive":
                target = torch.where(target == UNSEEN_PSEUDO, label.to(target.device), target)
            c = len(self.channel_classes)
            keep = (target >= 0) & (target < c)
            image = torch.arange(target.shape[0], device=target.device)[:, None, None].expand_as(target)
            counts.append(float(torch.unique((image * c + target)[keep]).numel()))
        if self.dist.distributed:
            t = torch.tensor(counts, dtype=torch.float64, device=self.device)
            dist.all_reduce(t)
            counts = t.tolist()
        return counts

    def train_step(self, batches: list[dict[str, Any]]) -> dict[str, float]:
        """One optimiser step over ``accumulation`` micro-batches; returns the loss terms of the step.

        The criterion normalises ``focal`` and ``dice`` by the (image, present class) pairs of what it is
        given (``num_masks``, docs/reference.md §5.1) and ``ssim`` by a pixel mean. Each micro-batch's terms
        are rescaled so that their sum is the loss of the whole global batch: ``ssim`` by
        ``1/accumulation``, ``focal``/``dice`` by ``num_masks(micro) / num_masks(step)``. DDP's gradient
        average over processes completes it.
        """
        if self._gates_pending:
            self._initialise_gates(batches[0]["image"].to(self.device))
        lr = self.schedule.lr_at(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.engine.train()
        world, k = self.dist.world_size, len(batches)
        targets = [self._targets(b["label"]) for b in batches]
        counts = self._pair_counts(targets, [b["label"] for b in batches])
        step_masks = max(sum(counts) / world, 1.0)
        totals: dict[str, float] = {}
        for i, (batch, target) in enumerate(zip(batches, targets)):
            images = batch["image"].to(self.device, non_blocking=True)
            last = i == k - 1
            sync = contextlib.nullcontext() if last or not self.dist.distributed else self.engine.no_sync()
            with sync:
                with torch.autocast(
                    self.device.type, dtype=self.amp.dtype or torch.float32, enabled=bool(self.amp.dtype)
                ):
                    out = self.engine(images, self.text)
                masks = out["masks"].float()
                if self.experiment.train.setting == "transductive":
                    target = pseudo_label_unseen(masks, target, self.channel_classes, self.split.unseen)
                terms = self.criterion(masks, target)
                mask_scale = max(counts[i] / world, 1.0) / step_masks
                scaled = {
                    name: value * (mask_scale if name in MASK_NORMALISED_TERMS else 1.0 / k)
                    for name, value in terms.items()
                    if name != "loss"
                }
                loss = torch.stack(list(scaled.values())).sum()
                self.scaler.scale(loss).backward()
            for key, value in scaled.items():
                totals[key] = totals.get(key, 0.0) + float(value.detach())
            totals["loss"] = totals.get("loss", 0.0) + float(loss.detach())
        if not math.isfinite(totals["loss"]):
            raise TrainingError(
                f"the loss is {totals['loss']} at step {self.step}; lower train.lr, or set train.amp=off, "
                "or check the data (labels outside the classes?)"
            )
        with self._uninterruptible():  # a second Ctrl-C never leaves a half-updated model
            self.scaler.step(self.optimizer)  # skipped when float16 gradients overflowed
            self.scaler.update()
            self.optimizer.zero_grad(set_to_none=True)
            self.step += 1
        totals["lr"] = lr
        return totals

    def _initialise_gates(self, images: torch.Tensor) -> None:
        """``gate_init = "first_batch"``: :meth:`SPTSeg.initialise_gates` on this process's first micro-batch;
        with several processes the directions are averaged, so that every process keeps the same weights."""
        open_share = self.model.initialise_gates(images)
        if self.dist.distributed:
            with torch.no_grad():
                for name, p in self.model.named_parameters():
                    if name.endswith("gate.xi"):
                        norm = p.norm()
                        dist.all_reduce(p.data)
                        p.copy_(F.normalize(p, dim=0) * norm)
        self._gates_pending = False
        self._log({"event": "gate_init", "step": self.step, "open_share": open_share})

    @contextlib.contextmanager
    def _uninterruptible(self) -> Iterator[None]:
        """A block that a second signal during :meth:`fit` does not abandon."""
        stop = self._stop
        if stop is None:
            yield
            return
        stop.critical += 1
        try:
            yield
        finally:
            stop.critical -= 1

    def fit(self, iterations: int | None = None) -> dict[str, float]:
        """Train until ``iterations`` (default: the schedule's end); returns the last logged record.

        Checkpoints are written every ``checkpoint_every`` steps and at the end; stopping early (a smaller
        ``iterations``) also writes one, so that ``resume`` can continue the run.

        SIGINT (Ctrl-C) or SIGTERM while it runs (handlers installed on the main thread for the call, the
        previous ones put back after): the step in progress completes, or is abandoned (model, optimiser
        and random states as before it) on a second signal; then the checkpoint of the last completed step
        is written (unless it already is), an ``{"event": "interrupted"}`` record is logged, and
        :class:`TrainingInterrupted` is raised. So stopping takes at most one step and one checkpoint write.

        Several processes (``torchrun``, which passes a signal on to every process): after each step the
        processes agree (one all-reduce) whether any of them was signalled, so they all stop after the same
        step and write its checkpoint together; a second signal does not abandon the step (a process leaving
        a collective would hang the others; and a terminal's Ctrl-C reaches every process twice, directly
        and through torchrun). If a step and the checkpoint outlast torchrun's shutdown grace period (30 s),
        torchrun kills the processes, and ``--resume`` continues from the previous periodic checkpoint.
        """
        t = self.experiment.train
        stop = min(iterations or t.iterations, t.iterations)
        if self.dist.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            (self.out_dir / "config.json").write_text(self.experiment.to_json() + "\n", encoding="utf-8")
        dropped = self._trim_log() if not self._log_checked else 0
        self._log_checked = True
        self._log({**start_record(self), "log_records_dropped": dropped})
        # torchrun passes a signal on to processes that (Ctrl-C) already got it: never abandon a step there.
        under_torchrun = "TORCHELASTIC_RUN_ID" in os.environ
        requests = StopRequests(abandon=not (self.dist.distributed or under_torchrun))
        record: dict[str, float] = {}
        abandoned = False
        with stop_signals_caught(requests):
            self._stop = requests
            try:
                batches = self._loader()
                bar = progress_bar(self.experiment.name, self.step, self.progress and self.dist.is_main, stop)
                window_start, window_steps = time.perf_counter(), 0
                try:
                    while self.step < stop and not self._stop_agreed():
                        before = self.step
                        rng = capture_rng_state() if requests.abandon else None  # (about 50 us)
                        try:
                            requests.armed = True
                            micro = [next(batches) for _ in range(self.accumulation)]
                            terms = self.train_step(micro)
                            requests.armed = False
                        except StepAbandoned:
                            requests.armed = False
                            if self.step == before:  # (else the step had just completed)
                                abandoned = True
                                self.optimizer.zero_grad(set_to_none=True)
                                if rng is not None:
                                    restore_rng_state(rng)
                            break
                        window_steps += 1
                        bar.update(1)
                        if self.step % t.log_every == 0 or self.step == stop:
                            elapsed = time.perf_counter() - window_start
                            record = self._reduce(terms)
                            record.update(
                                step=self.step,
                                images_per_s=window_steps * t.batch_size / max(elapsed, 1e-9),
                                effective_batch=t.batch_size,
                            )
                            self._log(record)
                            bar.set_postfix(loss=f"{record['loss']:.4f}", lr=f"{record['lr']:.2e}")
                            window_start, window_steps = time.perf_counter(), 0
                        if self.step % t.checkpoint_every == 0 or self.step == stop:
                            self.save()
                    interrupted = self._stop_agreed()
                finally:
                    bar.close()
                    del batches  # shuts the loader's workers down
                if interrupted:
                    self._stop_interrupted(requests, abandoned)
            finally:
                self._stop = None
        return record

    def _stop_agreed(self) -> bool:
        """Whether to stop now: this process was signalled, or (several processes) any of them was."""
        stop = self._stop
        assert stop is not None
        if self.dist.distributed:
            flag = torch.tensor([1.0 if stop.received else 0.0], device=self.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            stop.peer = stop.peer or bool(flag.item())
        return stop.received

    def _stop_interrupted(self, requests: StopRequests, abandoned: bool) -> NoReturn:
        """Write the checkpoint of the last completed step, log the interrupt, raise TrainingInterrupted."""
        t = self.experiment.train
        why = requests.signals[0] if requests.signals else "a signal to another process of the job"
        command = resume_command(self.out_dir, self.dist.world_size)
        if self.step == 0:
            self._log({"event": "interrupted", "signal": why, "step": 0, "checkpoint": None})
            raise TrainingInterrupted(
                f"interrupted by {why} before the first step of {t.iterations}: nothing trained, no "
                f"checkpoint written; start again with: {command}",
                step=0,
            )
        path = self.out_dir / checkpoint_name(self.step)
        if self._saved_step != self.step:
            self.save()
        self._log(
            {
                "event": "interrupted",
                "signal": why,
                "step": self.step,
                "abandoned_step": self.step + 1 if abandoned else None,
                "checkpoint": str(path),
            }
        )
        dropped = f" (step {self.step + 1} abandoned)" if abandoned else ""
        raise TrainingInterrupted(
            f"interrupted by {why} at step {self.step} of {t.iterations}{dropped}; checkpoint {path}; "
            f"continue with: {command} --resume",
            step=self.step,
            checkpoint=path,
        )

    # --- checkpoints and logs ------------------------------------------------------------------

    def save(self) -> Path | None:
        """Write ``iter_<step>.pt`` (trainable parameters, optimiser, schedule, step, every rank's RNG)."""
        rng = capture_rng_state()
        if self.dist.distributed:
            gathered: list[Any] = [None] * self.dist.world_size
            dist.all_gather_object(gathered, rng)
            rng_all = gathered
        else:
            rng_all = [rng]
        path = None
        if self.dist.is_main:
            payload = {
                "experiment": self.experiment.to_dict(),
                "step": self.step,
                "model": {
                    k: v.detach().cpu() for k, v in _unwrap(self.engine).trainable_state_dict().items()
                },
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.schedule.state_dict(),
                "rng": rng_all,
                "world_size": self.dist.world_size,
            }
            if self.amp.scaler:
                payload["scaler"] = self.scaler.state_dict()
            with self._uninterruptible():
                path = save_checkpoint(self.out_dir / checkpoint_name(self.step), payload)
        if self.dist.distributed:
            dist.barrier()
        self._saved_step = self.step
        return path

    def _reduce(self, terms: dict[str, float]) -> dict[str, float]:
        """Loss terms averaged over processes (for the log only)."""
        if not self.dist.distributed:
            return dict(terms)
        keys = sorted(terms)
        values = torch.tensor([terms[k] for k in keys], dtype=torch.float64, device=self.device)
        dist.all_reduce(values)
        return {k: float(v) / self.dist.world_size for k, v in zip(keys, values.tolist())}

    def _log(self, record: dict[str, Any]) -> None:
        if not self.dist.is_main:
            return
        record = {"time": time.time(), **record}
        self.out_dir.mkdir(parents=True, exist_ok=True)  # a step taken outside fit() logs too (gate_init)
        with self._uninterruptible(), open(self.out_dir / "log.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record, default=str) + "\n")

    def _trim_log(self) -> int:
        """Drop the ``log.jsonl`` step records after ``self.step`` (:func:`sptseg_lib.run_log.trim_log`)."""
        return trim_log(self.out_dir / "log.jsonl", self.step) if self.dist.is_main else 0


__all__ = [
    "STOP_SIGNAL_NAMES",
    "DistInfo",
    "EndlessShardSampler",
    "PolyWarmupSchedule",
    "SeededItems",
    "Trainer",
    "TrainingError",
    "TrainingInterrupted",
    "build_dataset",
    "default_num_workers",
    "init_distributed",
    "pseudo_label_unseen",
    "seeded_rngs",
]
