"""One config system: dataclasses and a registry of named presets.

A preset name resolves to a :class:`ModelConfig` (and, in the training engine, to a full experiment).
Every departure of the reference code from the paper is a field here, with the reference behaviour as
the default and the alternative documented next to it (see ``../shared/reference/reference-code.md``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

SptGridMode = Literal["error", "interpolate"]


@dataclass(frozen=True)
class ModelConfig:
    """Everything that defines an SPT-SEG (or ZegCLIP) network.

    Both ``spt`` and ``sgd`` off gives the ZegCLIP baseline.
    """

    # --- CLIP -------------------------------------------------------------------------------
    clip_model: str = "ViT-B-16"
    """open_clip model config name (``ViT-B-16``, or the tiny config the package registers)."""
    pretrained: str | None = "openai"
    """open_clip hub tag (``openai``), a local checkpoint path, or ``None`` for random weights."""
    image_size: int = 512
    """Training crop / sliding-window size in pixels; sets the token grid the spectral filter is built for."""

    # --- deep visual prompt tuning (reference 2.1) -----------------------------------------
    prompt_tokens: int = 10
    """Learnable prompt tokens per layer: 10 for VOC, 100 for COCO-Stuff. 0 disables VPT."""
    prompt_dropout: float = 0.1
    cls_token_quirk: bool = True
    """Reference quirk: the class token entering ``ln_pre`` is ``2*class_embedding + pos[0]``
    (OpenAI CLIP: ``class_embedding + pos[0]``). ``False`` gives CLIP's own class token."""

    # --- spectral prompt tuning (eq. 1-3, reference 1) --------------------------------------
    spt: bool = True
    spt_layers: tuple[int, ...] = (0, 1)
    """0-based indices of the transformer blocks whose *input* patch tokens get S added.
    The paper's "layers 1-2" are blocks (0, 1)."""
    spt_shared_filter: bool = True
    """One filter w_f shared by all SPT layers (reference code) or one per layer (the paper's w_f^l)."""
    spt_filter_init_std: float = 0.02
    spt_grid_mode: SptGridMode = "error"
    """A token grid the filter was not built for: ``error`` (reference: 32x32 only) or ``interpolate``
    (the filter's real and imaginary parts are resized bilinearly over the frequency grid)."""

    # --- decoder (eq. 7-9, reference 3) ------------------------------------------------------
    sgd: bool = True
    """Spectral Guided Decoder layers (HiLo + gate) instead of ZegCLIP's cross-attention layers."""
    decoder_layers: int = 3
    decoder_heads: int = 8
    decoder_ffn_dim: int = 2048
    decoder_dropout: float = 0.1
    hilo_window: int = 3
    hilo_alpha: float = 0.9
    hilo_hifi_projection: bool = False
    """LITv2 applies ``h_proj`` to the Hi-Fi output; the SPT code defines it but does not apply it."""

    # --- text side ---------------------------------------------------------------------------
    templates: str = "voc"
    """Prompt-template set for class-name embeddings: ``voc`` (one template) or ``coco`` (15)."""

    # --- inference ---------------------------------------------------------------------------
    seen_penalty: float = 0.1
    """Subtracted from seen-class sigmoid scores at inference in the inductive setting."""

    def replace(self, **changes: Any) -> ModelConfig:
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)

    def __post_init__(self) -> None:
        if self.prompt_tokens < 0:
            raise ValueError(f"prompt_tokens must be >= 0, got {self.prompt_tokens}")
        if self.decoder_layers < 1:
            raise ValueError(f"decoder_layers must be >= 1, got {self.decoder_layers}")
        if not 0.0 <= self.hilo_alpha <= 1.0:
            raise ValueError(f"hilo_alpha must lie in [0, 1], got {self.hilo_alpha}")
        if self.spt_grid_mode not in ("error", "interpolate"):
            raise ValueError(f"spt_grid_mode must be 'error' or 'interpolate', got {self.spt_grid_mode!r}")
        if self.templates not in ("voc", "coco"):
            raise ValueError(f"templates must be 'voc' or 'coco', got {self.templates!r}")
        if self.spt and not self.spt_layers:
            raise ValueError("spt=True needs at least one layer in spt_layers")
        if any(i < 0 for i in self.spt_layers):
            raise ValueError(f"spt_layers are 0-based block indices, got {self.spt_layers}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _blocks(first: int, last: int) -> tuple[int, ...]:
    """Paper layer numbers are 1-based and inclusive ("1-6"); blocks are 0-based."""
    return tuple(range(first - 1, last))


_VOC = ModelConfig(prompt_tokens=10, templates="voc")
_COCO = ModelConfig(prompt_tokens=100, templates="coco")

MODEL_PRESETS: dict[str, ModelConfig] = {}


def _register_family(dataset: str, base: ModelConfig) -> None:
    MODEL_PRESETS[f"{dataset}-zegclip"] = base.replace(spt=False, sgd=False)
    MODEL_PRESETS[f"{dataset}-spt"] = base.replace(spt=True, sgd=False)
    MODEL_PRESETS[f"{dataset}-sgd"] = base.replace(spt=False, sgd=True)
    MODEL_PRESETS[f"{dataset}-sptseg"] = base.replace(spt=True, sgd=True)
    for first, last in ((1, 6), (6, 12), (1, 12), (11, 12), (1, 2)):
        MODEL_PRESETS[f"{dataset}-sptseg-depth{first}-{last}"] = base.replace(spt_layers=_blocks(first, last))
    for layers in (1, 3, 5):
        MODEL_PRESETS[f"{dataset}-sptseg-dec{layers}"] = base.replace(decoder_layers=layers)


_register_family("voc", _VOC)
_register_family("coco", _COCO)


def model_preset(name: str) -> ModelConfig:
    """The :class:`ModelConfig` of a named preset, or a clear error listing the known names."""
    try:
        return MODEL_PRESETS[name]
    except KeyError:
        known = ", ".join(sorted(MODEL_PRESETS))
        raise KeyError(f"unknown preset {name!r}; known presets: {known}") from None


__all__ = ["MODEL_PRESETS", "ModelConfig", "model_preset"]
