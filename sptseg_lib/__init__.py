"""sptseg: a runnable, teachable reproduction of SPT-SEG (AAAI 2024) and its ZegCLIP baseline.

The public API: the paper's components under fixed names, for notebooks, users and outside checks.

- eq. 1-3: :func:`spectral_prompt`, :class:`SpectralPrompt`
- eq. 4-6: :class:`HiLoAttention`
- eq. 7-9: :class:`MaskDecoder` (relationship descriptor, ZegCLIP and Spectral Guided Decode layers)
- Fig. 2: :class:`SPTSeg`, :func:`build_model`, :class:`ModelConfig`
- eq. 10: :func:`focal_loss`, :func:`dice_loss`, :func:`ssim_loss`, :class:`SegmentationCriterion`
- eq. 11: :func:`segmentation_metrics`, :class:`ConfusionMatrix`
- the test protocol: :class:`Predictor` (windows, seen-class penalty, resizing), :func:`slide_inference`,
  :func:`whole_inference`
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "PretrainedWeightsError": "clip_loading",
    "load_clip": "clip_loading",
    "ModelConfig": "config",
    "MaskDecoder": "decoder",
    "HiLoAttention": "hilo",
    "Predictor": "inference",
    "slide_inference": "inference",
    "whole_inference": "inference",
    "SegmentationCriterion": "losses",
    "dice_loss": "losses",
    "focal_loss": "losses",
    "ssim_loss": "losses",
    "ConfusionMatrix": "metrics",
    "segmentation_metrics": "metrics",
    "SPTSeg": "model",
    "build_model": "model",
    "SpectralPrompt": "spectral",
    "spectral_prompt": "spectral",
}
"""Public name -> its module. Imported on first use (PEP 562), so that ``import sptseg_lib`` is cheap and
``python -m sptseg_lib train`` can refuse a run folder in use before torch and open_clip load."""


def __getattr__(name: str) -> Any:
    """A public name from its module, or a submodule (``sptseg_lib.viz``), imported on first use."""
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f".{module}", __name__), name)
    else:
        try:
            value = importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as err:
            if err.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


__version__ = "0.1.0"

__all__ = [
    "ConfusionMatrix",
    "HiLoAttention",
    "MaskDecoder",
    "ModelConfig",
    "Predictor",
    "PretrainedWeightsError",
    "SPTSeg",
    "SegmentationCriterion",
    "SpectralPrompt",
    "build_model",
    "dice_loss",
    "focal_loss",
    "load_clip",
    "segmentation_metrics",
    "slide_inference",
    "spectral_prompt",
    "ssim_loss",
    "whole_inference",
]
