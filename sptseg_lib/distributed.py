"""This process's place in a training job: one process, or several started by ``torchrun``.

``torchrun --nproc-per-node N -m sptseg_lib train ...`` describes the job through ``RANK``, ``WORLD_SIZE``
and ``LOCAL_RANK``; :func:`init_distributed` joins its process group (nccl on GPUs, gloo on the CPU) and
says which device this process uses. One plain ``python`` process needs no group.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .devices import resolve_device


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job: ``rank`` of ``world_size``, and its device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str | torch.device | None = None) -> DistInfo:
    """Join the process group that ``torchrun`` (or a test) describes through ``RANK``/``WORLD_SIZE``.

    One process (no ``WORLD_SIZE``, or 1) needs no group. The backend is nccl when the device is a GPU,
    gloo otherwise. ``device=None`` picks ``cuda:<LOCAL_RANK>`` when a GPU exists, else the CPU.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    device = resolve_device("auto" if device is None else device)
    if device.type == "cuda" and device.index is None:  # this process's GPU
        device = torch.device(f"cuda:{local_rank}")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=rank, world_size=world)
    if dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
    return DistInfo(rank=rank, world_size=world, local_rank=local_rank, device=device)


__all__ = ["DistInfo", "init_distributed"]
