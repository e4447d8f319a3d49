"""SPTSeg: the assembled one-stage model (Fig. 2) and :func:`build_model`.

One image flows one way: the prompted, spectrally-prompted CLIP image encoder (eq. 1-3) gives the
global embedding ``g`` and the dense map; the text side gives one embedding per class name; the
decoder (relationship descriptor eq. 8, then ZegCLIP or Spectral Guided Decode layers, eq. 4-9) gives
one mask-logit map per class and layer. ``spt=False, sgd=False`` is the ZegCLIP baseline.

Training sees the seen classes' text embeddings only (inductive setting); inference sees every class,
takes the sigmoid; the test protocol around it (windows, the inductive seen-class penalty
``config.seen_penalty``, resizing) is :class:`sptseg_lib.inference.Predictor`'s.

Trainable parameters (everything else, the whole CLIP, is frozen): the deep prompts, their shared
projection and the extra LayerNorm (VPT, docs/reference.md §2.1), the spectral filters ``w_f`` (SPT) and the
whole decoder. :meth:`SPTSeg.trainable_parameter_names` lists them; checkpoints hold only these.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import open_clip
import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import check_compatible, checkpoint_experiment, load_checkpoint
from .clip_loading import get_tokenizer, load_clip
from .config import ExperimentConfig, ModelConfig, model_preset
from .decoder import MaskDecoder
from .devices import resolve_device
from .encoder import PromptedCLIPEncoder
from .text import ClassEmbedder


class SPTSeg(nn.Module):
    """SPT-SEG (or, with ``spt`` and ``sgd`` off, ZegCLIP) on top of an open_clip ``CLIP``.

    Args:
        config: the :class:`~sptseg_lib.config.ModelConfig`.
        clip: the open_clip model whose weights are used (frozen); see :func:`build_model`.
        tokenizer: its tokenizer (default: open_clip's tokenizer for ``config.clip_model``).
    """

    def __init__(self, config: ModelConfig, clip: open_clip.CLIP, tokenizer=None) -> None:
        super().__init__()
        self.config = config
        clip.requires_grad_(False)
        self.clip = clip.eval()
        self.encoder = PromptedCLIPEncoder(clip.visual, config)
        self.embed_dim = int(clip.visual.output_dim)
        self.decoder = MaskDecoder(
            self.embed_dim,
            num_layers=config.decoder_layers,
            sgd=config.sgd,
            heads=config.decoder_heads,
            ffn_dim=config.decoder_ffn_dim,
            dropout=config.decoder_dropout,
            window_size=config.hilo_window,
            alpha=config.hilo_alpha,
            hifi_projection=config.hilo_hifi_projection,
        )
        self._text = ClassEmbedder(clip, tokenizer or get_tokenizer(config.clip_model), config.templates)
        self.experiment: ExperimentConfig | None = None
        """The experiment of the checkpoint the model was loaded from (:meth:`from_checkpoint`)."""
        self.step: int | None = None
        """The training step of that checkpoint."""
        self.source: str | None = None
        """The path of that checkpoint."""

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        device: str | torch.device | None = None,
        *,
        experiment: ExperimentConfig | None = None,
    ) -> SPTSeg:
        """The one way a checkpoint becomes a model: its experiment's network with the trained weights, in
        eval mode, with :attr:`experiment` and :attr:`step` set.

        The frozen CLIP is built as the trainer built it, after ``torch.manual_seed(train.seed)``, so a
        run with random frozen weights (``pretrained=None``) gets the same weights back in any process; the
        caller's random state is left as it was. ``experiment`` (optional) must have the checkpoint's model
        config (another data set or schedule is fine); it is refused naming the differing fields otherwise.

        Args:
            path: an ``iter_*.pt`` file (resumable or weights-only).
            device: default ``"auto"`` (:func:`sptseg_lib.devices.resolve_device`: CUDA when available,
                else the CPU).
        """
        ckpt = load_checkpoint(path, map_location="cpu")
        saved = checkpoint_experiment(ckpt, path)
        if experiment is not None:
            check_compatible(ckpt, experiment, path=path, model_only=True)
        device = resolve_device("auto" if device is None else device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(saved.train.seed)
            model = build_model(saved.model, device=device)
        model.load_trainable_state_dict(ckpt["model"])
        model.experiment, model.step, model.source = saved, int(ckpt["step"]), str(path)
        return model.eval()

    # -- modes and parameters ---------------------------------------------------------------------
    def train(self, mode: bool = True) -> SPTSeg:
        """Train mode for prompts and decoder; the frozen CLIP always stays in eval mode."""
        super().train(mode)
        self.clip.eval()
        return self

    def trainable_parameter_names(self) -> list[str]:
        """The explicit trainable set: prompts, prompt projection and norm, spectral filters, decoder."""
        return [name for name, p in self.named_parameters() if p.requires_grad]

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """Only the trained parameters (a few MB, not the frozen CLIP), detached, on the CPU."""
        return {name: p.detach().cpu().clone() for name, p in self.named_parameters() if p.requires_grad}

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Load what :meth:`trainable_state_dict` wrote; a clear error on missing or unexpected names."""
        params = dict(self.named_parameters())
        expected = set(self.trainable_parameter_names())
        missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
        if missing or unexpected:
            raise KeyError(
                "trainable state does not match this model's configuration: "
                f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
                f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}"
            )
        with torch.no_grad():
            for name, value in state.items():
                if params[name].shape != value.shape:
                    raise ValueError(
                        f"parameter {name}: checkpoint shape {tuple(value.shape)} != model shape "
                        f"{tuple(params[name].shape)}"
                    )
                params[name].copy_(value)

    def parameter_counts(self) -> dict[str, int]:
        """Total, trainable and frozen parameter counts (each parameter counted once)."""
        total = sum(p.numel() for p in self.parameters())
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        return {"total": total, "trainable": trainable, "frozen": total - trainable}

    # -- text side ----------------------------------------------------------------------------------
    def class_embeddings(self, class_names: Sequence[str]) -> torch.Tensor:
        """Template-averaged, normalised text embeddings ``(C, D)`` of the class names (cached, frozen)."""
        return self._text(class_names)

    # -- forward ------------------------------------------------------------------------------------
    def forward(
        self, images: torch.Tensor, text: torch.Tensor
    ) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        """Mask logits for every class in ``text``.

        Args:
            images: ``(B, 3, H, W)``, normalised; H and W multiples of the patch size.
            text: class embeddings ``(C, D)`` (:meth:`class_embeddings`).

        Returns:
            ``masks``: the last decoder layer's mask logits ``(B, C, h, w)`` at token resolution;
            ``layer_masks``: every layer's ``(B, C, h, w)``; ``global``: ``g`` ``(B, D)``;
            ``dense``: the dense embeddings ``(B, D, h, w)``.
        """
        g, dense = self.encoder(images)
        h, w = dense.shape[-2:]
        tokens = dense.flatten(2).transpose(1, 2)  # (B, h*w, D)
        layer_masks = self.decoder(tokens, (h, w), g, text.to(tokens.dtype))
        return {"masks": layer_masks[-1], "layer_masks": layer_masks, "global": g, "dense": dense}

    @torch.no_grad()
    def initialise_gates(self, images: torch.Tensor) -> list[float]:
        """Point the SGD gates at the first batch's tokens (``gate_init = "first_batch"``, eq. 7):
        :meth:`~sptseg_lib.decoder.MaskDecoder.initialise_gates` on the encoder's dense map of ``images``
        ``(B, 3, H, W)``, computed in eval mode (no dropout, no random numbers drawn). Returns each SGD
        layer's share of open tokens afterwards."""
        was_training = self.training
        self.eval()
        try:
            _, dense = self.encoder(images)
            tokens = dense.flatten(2).transpose(1, 2)  # (B, h*w, D)
            return self.decoder.initialise_gates(tokens, dense.shape[-2:])
        finally:
            self.train(was_training)

    @torch.no_grad()
    def predict(self, images: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """Per-class sigmoid scores ``(B, C, H, W)`` at the image size: the last layer's logits resized
        bilinearly (``align_corners=False``), then the sigmoid. The seen-class penalty and the windows are
        :class:`~sptseg_lib.inference.Predictor`'s."""
        logits = self(images, text)["masks"]
        scores = F.interpolate(logits.float(), size=images.shape[-2:], mode="bilinear", align_corners=False)
        return scores.sigmoid()


def build_model(
    config: str | ModelConfig,
    *,
    clip: open_clip.CLIP | None = None,
    device: str | torch.device | None = None,
) -> SPTSeg:
    """An :class:`SPTSeg` from a preset name or a :class:`ModelConfig`.

    ``clip`` reuses an already loaded open_clip model (it must match ``config.clip_model``); otherwise
    it is loaded with :func:`~sptseg_lib.clip_loading.load_clip` from ``config.pretrained`` (a hub tag,
    a local file, or ``None`` for random weights).
    """
    if isinstance(config, str):
        config = model_preset(config)
    if clip is None:
        clip = load_clip(config.clip_model, config.pretrained)
    model = SPTSeg(config, clip)
    return model.to(device) if device is not None else model


__all__ = ["SPTSeg", "build_model"]
