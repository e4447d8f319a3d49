"""What the trainer is fed (docs/reference.md §6.1): the seeded items (item ``(epoch, index)`` drawn under
its own seed), an endless sampler sharded over processes, the batch geometry, the default worker count, and
:func:`build_loader`, which puts them together into this process's stream of micro-batches.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from .errors import TrainingError
from .interrupts import worker_ignores_stop_signals


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


def batch_geometry(batch_size: int, world_size: int, micro_batch: int | None) -> tuple[int, int]:
    """``(micro_batch, accumulation)`` with ``batch_size = micro_batch x world_size x accumulation``.

    ``micro_batch=None`` is the whole per-process batch (no accumulation). A geometry that does not divide
    is a :class:`TrainingError` saying what to pick.
    """
    if batch_size % world_size:
        raise TrainingError(f"batch_size {batch_size} is not divisible by the {world_size} processes")
    per_process = batch_size // world_size
    micro = micro_batch or per_process
    if per_process % micro:
        raise TrainingError(
            f"micro_batch {micro} does not divide the per-process batch {per_process} "
            f"(batch_size {batch_size} / {world_size} processes); pick a divisor of {per_process}"
        )
    return micro, per_process // micro


def build_loader(
    dataset: Dataset,
    *,
    seed: int,
    micro_batch: int,
    start: int = 0,
    rank: int = 0,
    world_size: int = 1,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> Iterator[dict[str, Any]]:
    """This process's endless stream of micro-batches, as the trainer draws them.

    Items of ``dataset`` (``dict(image=(3,H,W) float, label=(H,W) long, name=str)``) are made under their
    own seeds (:class:`SeededItems`), in the order of this process's shard (:class:`EndlessShardSampler`),
    ``start`` items into the shard (a resumed run: ``step x batch_size // world_size``), and collated into
    ``dict(image=(micro_batch,3,H,W), label=(micro_batch,H,W), name=[...])``. Workers ignore the stop
    signals (only the main process stops training) and persist between micro-batches; deleting the
    iterator shuts them down.
    """
    sampler = EndlessShardSampler(len(dataset), rank, world_size, seed, start=start)  # type: ignore[arg-type]
    loader = DataLoader(
        SeededItems(dataset, seed),
        batch_size=micro_batch,
        sampler=sampler,
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=num_workers > 0,
        generator=torch.Generator().manual_seed(seed),
        worker_init_fn=worker_ignores_stop_signals,
    )
    return iter(loader)


__all__ = [
    "EndlessShardSampler",
    "SeededItems",
    "batch_geometry",
    "build_loader",
    "default_num_workers",
    "seeded_rngs",
]
