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

from .clip_loading import PretrainedWeightsError, load_clip
from .config import ModelConfig
from .decoder import MaskDecoder
from .hilo import HiLoAttention
from .inference import Predictor, slide_inference, whole_inference
from .losses import SegmentationCriterion, dice_loss, focal_loss, ssim_loss
from .metrics import ConfusionMatrix, segmentation_metrics
from .model import SPTSeg, build_model
from .spectral import SpectralPrompt, spectral_prompt

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
