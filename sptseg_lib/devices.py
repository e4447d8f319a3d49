"""``--device`` checked before any work: a name PyTorch knows, of a device this machine has.

``torch.device("gpu")`` and a CUDA call on a machine without a GPU raise deep inside PyTorch; the command
line calls :func:`check_device` first, so either is one line naming the value and what to pass instead.
"""

from __future__ import annotations

import torch

_CHOICES = "cpu, cuda, cuda:N (N = 0, 1, ...) or mps"


def check_device(name: str | None) -> None:
    """Raise ``ValueError`` (one line: the value and the fix) unless ``name`` is ``None`` or a device
    of this machine."""
    if name is None:
        return
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        hint = " (for a GPU: cuda)" if name.strip().lower() in ("gpu", "nvidia", "cuda0") else ""
        raise ValueError(f"--device {name!r} is not a device name{hint}; use {_CHOICES}") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(
                f"--device {name}: PyTorch sees no CUDA GPU on this machine; use --device cpu, or leave "
                "--device out to use a GPU when there is one"
            )
        if device.index is not None and device.index >= count:
            raise ValueError(
                f"--device {name}: this machine has {count} CUDA GPU(s), cuda:0..cuda:{count - 1}"
            )
    elif device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(f"--device {name}: Apple's MPS is not available here; use --device cpu")
    elif device.type != "cpu":
        raise ValueError(f"--device {name}: this project runs on {_CHOICES}")


__all__ = ["check_device"]
