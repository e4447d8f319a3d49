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
signal abandons it; :class:`~sptseg_lib.train.interrupts.StopSignals`), writes the checkpoint of the last
completed step, logs an ``interrupted`` record and raises :class:`TrainingInterrupted`, whose one-line
message says how to continue (``--resume``); the CLI prints it and exits 130. Which checkpoint a run
continues from is :func:`~sptseg_lib.checkpoint.resume_state`'s policy; the first ``fit`` drops the log
records of the steps after it, so ``log.jsonl`` holds every step once. Checkpoints every
``checkpoint_every`` steps follow the reference (docs/reference.md §6.1).

The loop is :meth:`Trainer.fit` (the steps, the stop rule) around :meth:`Trainer.train_step` (one
optimiser step); the periodic work between steps is :mod:`~sptseg_lib.train.hooks`.
"""

from __future__ import annotations

import contextlib
import functools
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, NoReturn

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from ..amp import amp_plan, grad_scaler
from ..checkpoint import (
    ResumeRefused,
    capture_rng_state,
    check_compatible,
    checkpoint_name,
    load_checkpoint,
    restore_rng_state,
    resume_state,
    save_checkpoint,
    training_payload,
)
from ..config import ExperimentConfig
from ..data.factory import build_dataset
from ..data.splits import ZeroShotSplit, get_split, training_classes
from ..distributed import init_distributed
from ..losses import SegmentationCriterion
from ..model import build_model
from ..run_lock import hold_run_folder
from .data import batch_geometry, build_loader, default_num_workers
from .errors import TrainingError, TrainingInterrupted, interruption, resume_command
from .hooks import Hook, ProgressBar, StepRecords, periodic_checkpoint
from .interrupts import StopSignals
from .log import RunLog, start_record
from .schedule import PolyWarmupSchedule
from .targets import mask_count, pseudo_label_unseen, training_targets

Criterion = Callable[..., dict[str, torch.Tensor]]


class Trainer:
    """Trains one experiment into ``out_dir`` (``config.json``, ``log.jsonl``, ``iter_*.pt``).

    Args:
        experiment: the :class:`ExperimentConfig` (a preset, possibly with overrides).
        out_dir: the run folder. A folder that already holds checkpoints is refused unless ``resume``.
        train_dataset: items ``dict(image=(3,H,W) float, label=(H,W) long data-set labels, name=str)``;
            ``None`` builds the data set the config names (see :mod:`sptseg_lib.data`).
        split: the data set's :class:`ZeroShotSplit`; ``None`` = ``get_split(experiment.data.dataset)``.
        model: an ``SPTSeg`` (or anything with its interface), moved to the device; ``None`` =
            ``build_model(experiment.model)``, built on the device.
        criterion: ``(mask_logits (B,C,h,w), target (B,H,W), *, num_masks: float, micro_batches: int) ->
            dict(loss=..., <terms>)``, called once per micro-batch with the normaliser of
            :meth:`train_step`; ``None`` = the :class:`~sptseg_lib.losses.SegmentationCriterion` with the
            config's weights.
        resume: ``True``: continue from the newest ``iter_*.pt`` in ``out_dir`` that loads (after checking
            it is this experiment); newer unreadable ones (truncated, corrupt) are skipped with a warning
            naming them; a folder without checkpoints is an error (nothing to resume). ``False``: a fresh
            run; a folder that holds checkpoints is refused. ``"auto"``: continue if there is anything to
            continue, else start fresh (train-or-resume, as detectron2's ``resume_or_load``). The policy is
            :func:`~sptseg_lib.checkpoint.resume_state`.
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
        criterion: Criterion | None = None,
        resume: bool | Literal["auto"] = False,
        device: str | torch.device | None = None,
        progress: bool = True,
    ) -> None:
        self.experiment, self.out_dir, self.progress = experiment, Path(out_dir), progress
        t = experiment.train
        self.dist = init_distributed(device)
        self.device = self.dist.device
        self.micro_batch, self.accumulation = batch_geometry(
            t.batch_size, self.dist.world_size, t.micro_batch
        )
        try:  # the output folder: never clobber another run
            found = resume_state(self.out_dir, experiment, resume, warn=self.dist.is_main, stacklevel=2)
        except ResumeRefused as err:
            raise TrainingError(str(err)) from None
        self.resume_from, state = found if found is not None else (None, None)
        init_state = None
        if t.init_from and state is None:
            init_state = load_checkpoint(t.init_from, map_location="cpu")
            check_compatible(init_state, experiment, path=t.init_from, model_only=True)

        self.split = split if split is not None else get_split(experiment.data.dataset)
        self.channel_classes = training_classes(self.split, t.setting)
        self.train_dataset = (
            train_dataset if train_dataset is not None else build_dataset(experiment.data, "train")
        )
        workers = experiment.data.num_workers
        self.num_workers = default_num_workers() if workers is None else workers

        torch.manual_seed(t.seed)  # identical initial weights on every process
        if model is None:
            model = build_model(experiment.model, device=self.device)  # built where it trains
        else:
            model.to(self.device)  # the caller's model, moved once
        self.model = model
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
        if criterion is None:
            criterion = SegmentationCriterion(
                focal_weight=t.focal_weight, ssim_weight=t.ssim_weight, dice_weight=t.dice_weight
            )
        self.criterion = criterion
        self.stops = StopSignals(self.dist.distributed, self.device)
        self.run_log = RunLog(self.out_dir, writer=self.dist.is_main)
        self.step = 0
        self._saved_step: int | None = None  # the step of the newest checkpoint on disk
        self._log_trimmed = False  # log.jsonl was trimmed to self.step (first fit only)
        # Dropout differs between processes (as with independent GPUs) but not between runs.
        torch.manual_seed(t.seed + self.dist.rank)
        if state is not None:
            self._restore(state)
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
        names = [self.split.class_names[c] for c in self.channel_classes]
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

    def loader(self) -> Iterator[dict[str, Any]]:
        """This process's micro-batches from the current step on (:func:`~sptseg_lib.train.build_loader`
        with the run's seed, micro-batch, shard and workers), as :meth:`fit` draws them."""
        t = self.experiment.train
        return build_loader(
            self.train_dataset,
            seed=t.seed,
            micro_batch=self.micro_batch,
            start=self.step * t.batch_size // self.dist.world_size,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
            num_workers=self.num_workers,
            pin_memory=self.device.type == "cuda",
        )

    def train_step(self, batches: list[dict[str, Any]]) -> dict[str, float]:
        """One optimiser step over ``k`` micro-batches ``dict(image=(b,3,H,W), label=(b,H,W))``; returns the
        step's loss terms (summed over its micro-batches, this process) and ``lr``.

        The normaliser (docs/reference.md §5.1): the criterion divides ``focal`` and ``dice`` by
        ``num_masks``, the (image, present class) pairs of the targets over the processes, and ``ssim`` (a
        pixel mean) by ``k``, so that the micro-batches' terms add up to the loss of the step; DDP's
        gradient average over processes completes it.

        - Inductive and fully supervised: the step's targets are known before the forward passes, so
          ``num_masks`` is counted once for the whole step (one all-reduce): accumulating ``k``
          micro-batches is exactly one large batch.
        - Transductive: a micro-batch's targets exist only after its forward pass (the pseudo-labels), so
          each micro-batch is counted after pseudo-labelling (``n_i``) and normalised by ``k x n_i``. With
          one micro-batch this is the reference exactly; with ``k > 1`` the step's loss is the mean of the
          micro-batches' losses, the one place where accumulation is not exactly one large batch (whose
          normaliser would be the step's whole count).
        """
        if self._gates_pending:
            self._initialise_gates(batches[0]["image"].to(self.device))
        lr = self.schedule.lr_at(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.engine.train()
        k, c, setting = len(batches), len(self.channel_classes), self.experiment.train.setting
        targets = [training_targets(b["label"], self.split, setting, self.device) for b in batches]
        transductive = setting == "transductive"
        num_masks = 0.0 if transductive else mask_count(targets, c)  # transductive: per micro-batch, below
        totals: dict[str, float] = {}
        for i, (batch, target) in enumerate(zip(batches, targets)):
            images = batch["image"].to(self.device, non_blocking=True)
            last = i == k - 1
            sync = contextlib.nullcontext() if last or not self.dist.distributed else self.engine.no_sync()
            with sync:
                dtype, autocast = self.amp.dtype or torch.float32, bool(self.amp.dtype)
                with torch.autocast(self.device.type, dtype=dtype, enabled=autocast):
                    out = self.engine(images, self.text)
                masks = out["masks"].float()
                if transductive:
                    target = pseudo_label_unseen(masks, target, self.channel_classes, self.split.unseen)
                    num_masks = k * mask_count([target], c)
                terms = self.criterion(masks, target, num_masks=num_masks, micro_batches=k)
                self.scaler.scale(terms["loss"]).backward()
            for key, value in terms.items():
                totals[key] = totals.get(key, 0.0) + float(value.detach())
        totals["loss"] = totals.pop("loss")  # (the log lists the terms, then their sum)
        if not math.isfinite(totals["loss"]):
            raise TrainingError(
                f"the loss is {totals['loss']} at step {self.step}; lower train.lr, or set train.amp=off, "
                "or check the data (labels outside the classes?)"
            )
        with self.stops.critical():  # a second Ctrl-C never leaves a half-updated model
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
        self.log({"event": "gate_init", "step": self.step, "open_share": open_share})

    def fit(self, iterations: int | None = None, *, hooks: Sequence[Hook] = ()) -> dict[str, float]:
        """Train until ``iterations`` (default: the schedule's end); returns the last logged record.

        After each step the hooks run (:mod:`~sptseg_lib.train.hooks`): the step record every
        ``log_every`` steps, the progress bar, the checkpoint every ``checkpoint_every`` steps, then
        ``hooks``; the record and the checkpoint also come at the end, so that stopping early (a smaller
        ``iterations``) leaves a checkpoint that ``resume`` continues.

        SIGINT (Ctrl-C) or SIGTERM while it runs (:class:`~sptseg_lib.train.interrupts.StopSignals`: handlers
        installed on the main thread for the call, the previous ones put back after): the step in progress
        completes, or is abandoned (model, optimiser and random states as before it) on a second signal;
        then the checkpoint of the last completed step is written (unless it already is), an
        ``{"event": "interrupted"}`` record is logged, and :class:`TrainingInterrupted` is raised. So
        stopping takes at most one step and one checkpoint write. Several processes agree after each step
        whether any was signalled, and all stop after the same step, never abandoning it. If a step and
        the checkpoint outlast torchrun's shutdown grace period (30 s), torchrun kills the processes, and
        ``--resume`` continues from the previous periodic checkpoint.
        """
        t = self.experiment.train
        stop = min(iterations or t.iterations, t.iterations)
        self._open_run()
        records = StepRecords(t.log_every, t.batch_size)
        shown = self.progress and self.dist.is_main
        every = [records, ProgressBar(records, shown), periodic_checkpoint(t.checkpoint_every), *hooks]
        with self.stops.caught() as stops:
            batches = self.loader()
            for hook in every:
                hook.before_train(self, stop)
            try:
                while self.step < stop and not stops.agreed():
                    terms = stops.attempt(
                        functools.partial(self._next_step, batches),
                        counter=lambda: self.step,
                        discard=lambda: self.optimizer.zero_grad(set_to_none=True),
                    )
                    if terms is None:
                        break
                    for hook in every:
                        hook.after_step(self, terms)
                interrupted = stops.agreed()
            finally:
                for hook in every:
                    hook.after_train(self)
                del batches  # shuts the loader's workers down
            if interrupted:
                self._stop_interrupted()
        return records.last

    def _next_step(self, batches: Iterator[dict[str, Any]]) -> dict[str, float]:
        """:meth:`train_step` on the next ``accumulation`` micro-batches of ``batches``."""
        return self.train_step([next(batches) for _ in range(self.accumulation)])

    def _open_run(self) -> None:
        """``config.json``; the first ``fit`` trims ``log.jsonl`` to the current step; the start record."""
        if self.dist.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            (self.out_dir / "config.json").write_text(self.experiment.to_json() + "\n", encoding="utf-8")
        dropped = self.run_log.trim(self.step) if not self._log_trimmed else 0
        self._log_trimmed = True
        self.log({**start_record(self), "log_records_dropped": dropped})

    def _stop_interrupted(self) -> NoReturn:
        """Write the checkpoint of the last completed step, log the interrupt, raise TrainingInterrupted."""
        path = None
        if self.step:
            path = self.out_dir / checkpoint_name(self.step)
            if self._saved_step != self.step:
                self.save()
        command = resume_command(self.out_dir, self.dist.world_size)
        iterations = self.experiment.train.iterations
        record, error = interruption(
            self.stops.cause, self.step, iterations, self.stops.abandoned, path, command
        )
        self.log(record)
        raise error

    # --- checkpoints and logs ------------------------------------------------------------------

    def save(self) -> Path | None:
        """Write ``iter_<step>.pt`` (:func:`~sptseg_lib.checkpoint.training_payload`: trainable parameters,
        optimiser, schedule, step, every rank's RNG); its path on the main process, else ``None``."""
        rng = capture_rng_state()
        if self.dist.distributed:
            rng_all: list[Any] = [None] * self.dist.world_size
            dist.all_gather_object(rng_all, rng)
        else:
            rng_all = [rng]
        path = None
        if self.dist.is_main:
            payload = training_payload(
                self.experiment,
                self.step,
                {k: v.detach().cpu() for k, v in self.model.trainable_state_dict().items()},
                self.optimizer.state_dict(),
                self.schedule.state_dict(),
                rng_all,
                self.scaler.state_dict() if self.amp.scaler else None,
            )
            with self.stops.critical():
                path = save_checkpoint(self.out_dir / checkpoint_name(self.step), payload)
        if self.dist.distributed:
            dist.barrier()
        self._saved_step = self.step
        return path

    def log(self, record: dict[str, Any]) -> None:
        """Append ``record`` to the run's ``log.jsonl`` (:class:`~sptseg_lib.train.log.RunLog`; the main
        process only), never abandoned half-written by a second signal."""
        with self.stops.critical():
            self.run_log.append(record)


__all__ = ["Criterion", "Trainer", "TrainingError", "TrainingInterrupted"]
