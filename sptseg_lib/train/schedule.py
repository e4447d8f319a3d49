"""The learning-rate schedule of the reference recipe (docs/reference.md §6.1): linear warm-up, then poly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config import TrainConfig


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
        """The rate of (0-based) iteration ``step``."""
        progress = min(step, self.iterations) / self.iterations
        regular = (self.lr - self.min_lr) * (1.0 - progress) ** self.power + self.min_lr
        if step < self.warmup_iters:
            k = (1.0 - step / self.warmup_iters) * (1.0 - self.warmup_ratio)
            return regular * (1.0 - k)
        return regular

    def state_dict(self) -> dict[str, Any]:
        """The fields, as a checkpoint stores them (``scheduler``)."""
        return dict(self.__dict__)


__all__ = ["PolyWarmupSchedule"]
