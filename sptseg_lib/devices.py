"""The one home of the device policy: which device a name means, checked before any work.

``"auto"`` is CUDA when PyTorch sees a GPU, else the CPU (never Apple's MPS, which the project has not
tested: ``"mps"`` is an explicit choice, allowed where ``torch.backends.mps.is_available()``). Any other
name must be a device PyTorch knows *and* this machine has: ``torch.device("gpu")``, or a CUDA call on a
machine without a GPU, would otherwise raise deep inside PyTorch. The command line
(:func:`check_device`), the distributed set-up (:func:`sptseg_lib.distributed.init_distributed`) and the
notebooks (:func:`sptseg_lib.notebook_env.resolve_device`) all go through :func:`resolve_device`, so each
bad name is one line naming the value and what to pass instead.
"""

from __future__ import annotations

import torch

_CHOICES = "cpu, cuda, cuda:N (N = 0, 1, ...) or mps"


class DeviceError(ValueError, RuntimeError):
    """A device name that is not one, or a device this machine lacks (a ``ValueError`` for the command
    line's error mapping, a ``RuntimeError`` as PyTorch's own device errors)."""


def resolve_device(name: str | torch.device = "auto", flag: str = "device=") -> torch.device:
    """The ``torch.device`` that ``name`` means on this machine (see the module docstring).

    Args:
        name: ``"auto"``, or a device name (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``) or object.
        flag: how the message names the setting: ``"device="`` (the library, the notebooks) or
            ``"--device "`` (the command line).

    Raises:
        DeviceError: one line, the value and the fix.
    """
    if str(name) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    asked = f"{flag}{str(name)!r}"
    cli = flag.startswith("--")
    fallback = "--device cpu, or leave --device out" if cli else "'cpu', or 'auto'"
    mps_fix = "--device cpu" if cli else "'auto' or 'cpu'"
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        hint = " (for a GPU: cuda)" if str(name).strip().lower() in ("gpu", "nvidia", "cuda0") else ""
        raise DeviceError(f"{asked} is not a device name{hint}; use {_CHOICES}") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise DeviceError(
                f"{asked} was asked for, but CUDA is not available: PyTorch sees no CUDA GPU on this "
                f"machine; use {fallback} to use a GPU when there is one"
            )
        if device.index is not None and device.index >= count:
            raise DeviceError(f"{asked}: this machine has {count} CUDA GPU(s), cuda:0..cuda:{count - 1}")
    elif device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise DeviceError(
                f"{asked} was asked for, but PyTorch reports no Apple GPU (MPS) on this machine (it needs "
                f"Apple silicon, macOS 14 or newer); use {mps_fix}"
            )
    elif device.type != "cpu":
        raise DeviceError(f"{asked}: this project runs on {_CHOICES}")
    return device


def check_device(name: str | None) -> None:
    """The command line's ``--device``, checked before any work (``None``: not given, nothing to check)."""
    if name is not None:
        resolve_device(name, flag="--device ")


__all__ = ["DeviceError", "check_device", "resolve_device"]
