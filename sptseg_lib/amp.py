"""Mixed precision for training: which autocast dtype a run uses, and whether it needs a gradient scaler.

``train.amp`` (:class:`~sptseg_lib.config.TrainConfig`):

* ``auto``: on a CUDA GPU with native bfloat16 (compute capability 8.0 or newer: A100, RTX 30xx, H100, ...)
  bfloat16 autocast; on an older CUDA GPU (T4, V100: 7.x) float16 autocast with a gradient scaler
  (:class:`torch.amp.GradScaler`), since float16's narrow range would flush small gradients to zero;
  on the CPU and on Apple's MPS float32.
* ``bf16``: bfloat16 autocast on any device, no scaler. ``fp16``: float16 autocast with a scaler on any
  device (the scaler runs on the CPU too). ``off``: float32.

Whatever the dtype, the spectral prompt's FFT (:func:`~sptseg_lib.spectral.spectral_prompt`) and the loss
run in float32 (autocast disabled there): half-precision FFTs are unsupported on the CPU and limited to
power-of-two sizes on GPUs, and the loss sums many small terms.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

NATIVE_BF16_CAPABILITY = (8, 0)
"""The CUDA compute capability from which bfloat16 is native (Ampere); older GPUs emulate it slowly."""


@dataclass(frozen=True)
class AmpPlan:
    """What a training run does about precision (logged in its start record)."""

    dtype: torch.dtype | None
    """The autocast dtype, ``None`` for float32 (no autocast)."""
    scaler: bool
    """Whether the loss is scaled (:class:`torch.amp.GradScaler`): float16 only."""
    reason: str
    """Why, in words."""

    @property
    def label(self) -> str:
        """``"bf16"``, ``"fp16"`` or ``"fp32"``."""
        return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(self.dtype, "fp32")

    def record(self) -> dict[str, object]:
        """The start record's fields: ``amp``, ``grad_scaler`` and ``amp_reason``."""
        return {"amp": self.label, "grad_scaler": self.scaler, "amp_reason": self.reason}


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` is a CUDA GPU with native bfloat16 (compute capability 8.0 or newer)."""
    if device.type != "cuda":
        return False
    return tuple(torch.cuda.get_device_capability(device)) >= NATIVE_BF16_CAPABILITY


def amp_plan(mode: str, device: torch.device) -> AmpPlan:
    """The precision of a run with ``train.amp = mode`` on ``device`` (see the module docstring)."""
    if mode == "off":
        return AmpPlan(None, False, "train.amp=off")
    if mode == "bf16":
        return AmpPlan(torch.bfloat16, False, "train.amp=bf16")
    if mode == "fp16":
        return AmpPlan(torch.float16, True, "train.amp=fp16")
    if mode != "auto":
        raise ValueError(f"train.amp must be 'auto', 'bf16', 'fp16' or 'off', got {mode!r}")
    if device.type != "cuda":
        return AmpPlan(None, False, f"auto: float32 on {device.type}")
    capability = ".".join(map(str, torch.cuda.get_device_capability(device)))
    if native_bf16(device):
        return AmpPlan(torch.bfloat16, False, f"auto: native bfloat16 (compute capability {capability})")
    return AmpPlan(
        torch.float16, True, f"auto: no native bfloat16 (compute capability {capability}): float16 + scaler"
    )


def grad_scaler(plan: AmpPlan, device: torch.device) -> torch.amp.GradScaler:
    """The run's gradient scaler: a real one for float16, else a disabled one (its calls pass through)."""
    return torch.amp.GradScaler(device.type, enabled=plan.scaler)


__all__ = ["NATIVE_BF16_CAPABILITY", "AmpPlan", "amp_plan", "grad_scaler", "native_bf16"]
