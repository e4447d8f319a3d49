"""What the trainer is fed, around the loop (docs/reference.md §6.1, §6.3): the learning-rate schedule, the
seeded data (item ``(epoch, index)`` drawn under its own seed, an endless sampler sharded over processes,
the default worker count) and the transductive targets' pseudo-labels. :mod:`sptseg_lib.train` runs the
loop with them.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, DistributedSampler, Sampler

from .config import TrainConfig
from .data.splits import UNSEEN_PSEUDO

# ---------------------------------------------------------------------------------------------
# learning-rate schedule
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolyWarmupSchedule:
    """mmcv's ``poly`` policy with linear warm-up, as a closed form of the iteration (0-based).

    ``poly(t) = (lr - min_lr) (1 - t/T)^power + min_lr``; during warm-up (``t < W``) the rate is
    ``poly(t) (1 - (1 - t/W)(1 - warmup_ratio))``, i.e. it rises linearly from ``warmup_ratio x poly(0)``.
    """

    lr: float
    iterations: int
    power: float = 0.9
    min_lr: float = 1e-6
    warmup_iters: int = 1500
    warmup_ratio: float = 1e-6

    @classmethod
    def from_config(cls, t: TrainConfig) -> PolyWarmupSchedule:
        """The schedule a :class:`~sptseg_lib.config.TrainConfig` describes."""
        return cls(t.lr, t.iterations, t.poly_power, t.min_lr, t.warmup_iters, t.warmup_ratio)

    def lr_at(self, step: int) -> float:
        progress = min(step, self.iterations) / self.iterations
        regular = (self.lr - self.min_lr) * (1.0 - progress) ** self.power + self.min_lr
        if step < self.warmup_iters:
            k = (1.0 - step / self.warmup_iters) * (1.0 - self.warmup_ratio)
            return regular * (1.0 - k)
        return regular

    def state_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# ---------------------------------------------------------------------------------------------
# data: a seeded view and an endless sharded sampler
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def seeded_rngs(seed: int) -> Iterator[None]:
    """Run a block under torch / numpy / python generators seeded with ``seed``, then put them back."""
    np_state, py_state = np.random.get_state(), random.getstate()  # noqa: NPY002
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)  # noqa: NPY002
        random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(np_state)  # noqa: NPY002
            random.setstate(py_state)


class SeededItems(Dataset):
    """Wraps a data set so that item ``(epoch, index)`` is produced under seed ``hash(seed, epoch, index)``.

    Random augmentations then depend only on the sample, not on the worker, the process count, or whether
    the run was interrupted.
    """

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset, self.seed = dataset, seed

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]) -> Any:
        epoch, index = key
        seed = int(np.random.SeedSequence([self.seed, epoch, index]).generate_state(1)[0])
        with seeded_rngs(seed):
            return self.dataset[index]


class EndlessShardSampler(Sampler):
    """This process's shard of epoch after epoch (a ``DistributedSampler`` per epoch), from an offset.

    Yields ``(epoch, index)``; ``start`` items of this shard's stream are skipped (resume).
    """

    def __init__(self, length: int, rank: int, world_size: int, seed: int, start: int = 0) -> None:
        if length < world_size:
            raise ValueError(f"the training set has {length} items, fewer than the {world_size} processes")
        self.sampler = DistributedSampler(
            range(length), num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=True
        )
        self.start = start

    def __iter__(self) -> Iterator[tuple[int, int]]:
        per_epoch = len(self.sampler)
        epoch, offset = divmod(self.start, per_epoch)
        while True:
            self.sampler.set_epoch(epoch)
            for index in list(self.sampler)[offset:]:
                yield epoch, index
            epoch, offset = epoch + 1, 0


def default_num_workers() -> int:
    """DataLoader workers when ``data.num_workers`` is ``None``: ``min(4, CPUs this process may use - 1)``.

    The CPUs are ``os.sched_getaffinity(0)`` where the platform has it (a container's or ``taskset``'s
    limit), else ``os.cpu_count()``; one is left to the training loop itself, so a 2-CPU machine gets one
    worker and a 1-CPU machine none (the items are then made in the main process). Under ``torchrun`` every
    process picks this number for itself: set ``data.num_workers`` to share a machine's CPUs differently.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cpus = os.cpu_count() or 1
    return max(0, min(4, cpus - 1))


# ---------------------------------------------------------------------------------------------
# targets
# ---------------------------------------------------------------------------------------------


def pseudo_label_unseen(
    mask_logits: torch.Tensor, target: torch.Tensor, channel_classes: tuple[int, ...], unseen: tuple[int, ...]
) -> torch.Tensor:
    """ZegCLIP self-training (docs/reference.md §6.3): fill the ``UNSEEN_PSEUDO`` pixels of ``target``.

    Args:
        mask_logits: (B, C, h, w) current predictions (any resolution; resized bilinearly to the labels).
        target: (B, H, W) long, transductive targets (``UNSEEN_PSEUDO`` where the ground truth is unseen).
        channel_classes: class of each channel (transductive: all classes, channel ``c`` = class ``c``).
        unseen: the unseen class indices.

    Returns:
        (B, H, W) long: every ``UNSEEN_PSEUDO`` pixel gets the unseen channel whose sigmoid is highest
        there (argmax of logits = argmax of sigmoid); other pixels are unchanged.
    """
    hole = target == UNSEEN_PSEUDO
    if not hole.any():
        return target
    channels = torch.tensor([channel_classes.index(c) for c in unseen], device=mask_logits.device)
    with torch.no_grad():
        scores = F.interpolate(
            mask_logits.detach().float()[:, channels],
            size=target.shape[-2:],
            mode="bilinear",
            align_corners=False,
        )
        best = channels[scores.argmax(1)]
    return torch.where(hole, best.to(target.device), target)


__all__ = [
    "EndlessShardSampler",
    "PolyWarmupSchedule",
    "SeededItems",
    "default_num_workers",
    "pseudo_label_unseen",
    "seeded_rngs",
]
