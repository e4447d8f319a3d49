"""Two training-free zero-shot segmenters: the floor a trained SPT-SEG must clear.

Both read dense per-patch features out of the frozen CLIP image encoder, project them into the joint
image-text space and label each patch with the class name whose text embedding is most similar (cosine),
as in MaskCLIP (Zhou et al., ECCV 2022). Nothing is trained.

* ``"final"``: the patch tokens after the last block, through ``ln_post`` and ``proj``, the same
  projection CLIP applies to its class token. CLIP never trained these tokens against text, so they are
  a naive baseline.
* ``"maskclip"``: MaskCLIP's value path. In the last block the attention mixing (queries and keys) is
  skipped: each token's own value, ``v = W_v ln_1(x) + b_v``, goes through the attention's output
  projection, then ``ln_post`` and ``proj``. No residual and no MLP of that block are applied. This keeps
  each token local while staying in the space the text was aligned with.

For a ViT with ``P`` patches per side the features are ``(B, D, P, P)``; the scores ``(B, C, H, W)`` are
the cosine similarities resized bilinearly to the image. There is no seen-class penalty: nothing was
trained on seen classes, so there is no seen bias to correct. :func:`evaluate_baseline` scores them with
the project's own protocol (:func:`sptseg_lib.evaluate.evaluate`: pAcc, mIoU(S), mIoU(U), hIoU).
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any, Literal

import open_clip
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from .data.splits import ZeroShotSplit
from .encoder import interpolate_pos_embed
from .evaluate import evaluate
from .inference import Predictor
from .text import embed_class_names, get_templates

BaselineKind = Literal["final", "maskclip"]
BASELINES: tuple[BaselineKind, ...] = ("final", "maskclip")


def _patch_tokens_before_last_block(
    visual: nn.Module, images: torch.Tensor
) -> tuple[torch.Tensor, tuple[int, int]]:
    """Run the ViT up to (not including) its last block: tokens ``(B, 1 + h*w, width)``, class token first,
    and the token grid ``(h, w)``. Another grid than the CLIP's own gets its positions interpolated
    bicubically, as :class:`~sptseg_lib.encoder.PromptedCLIPEncoder` does for the trained rows."""
    x = visual.conv1(images)  # (B, width, h, w)
    b, width, ph, pw = x.shape
    native = tuple(getattr(visual, "grid_size", (ph, pw)))
    pos = visual.positional_embedding
    if (ph, pw) != native:
        pos = interpolate_pos_embed(pos, native, (ph, pw))
    x = x.flatten(2).transpose(1, 2)  # (B, h*w, width)
    cls = visual.class_embedding.to(x.dtype).expand(b, 1, width)
    x = torch.cat([cls, x], dim=1) + pos.to(x.dtype)
    x = visual.ln_pre(x)
    blocks = visual.transformer.resblocks
    if not getattr(visual.transformer, "batch_first", True):
        x = x.transpose(0, 1)
    for block in blocks[:-1]:
        x = block(x)
    if not getattr(visual.transformer, "batch_first", True):
        x = x.transpose(0, 1)
    return x, (ph, pw)


@torch.no_grad()
def dense_features(clip: open_clip.CLIP, images: torch.Tensor, kind: BaselineKind) -> torch.Tensor:
    """Patch features in the joint space, ``(B, D, h, w)``, not normalised.

    Args:
        clip: an open_clip ``CLIP`` with a ViT image tower (the attention a ``nn.MultiheadAttention``).
        images: ``(B, 3, H, W)`` normalised as the CLIP expects; H, W multiples of the patch size (another
            size than the CLIP's own interpolates its positions).
        kind: ``"final"`` (last block as is) or ``"maskclip"`` (last block's value path only).
    """
    if kind not in BASELINES:
        raise ValueError(f"unknown baseline {kind!r}; expected one of {BASELINES}")
    visual = clip.visual
    x, (h, w) = _patch_tokens_before_last_block(visual, images)
    last = visual.transformer.resblocks[-1]
    if kind == "final":
        y = last(x)
    else:
        attn = last.attn
        if not isinstance(attn, nn.MultiheadAttention):
            raise TypeError(f"the maskclip baseline needs nn.MultiheadAttention, got {type(attn).__name__}")
        width = x.shape[-1]
        w_v = attn.in_proj_weight[2 * width :]
        b_v = attn.in_proj_bias[2 * width :] if attn.in_proj_bias is not None else None
        v = F.linear(last.ln_1(x), w_v, b_v)  # (B, 1 + P*P, width): each token's own value
        y = attn.out_proj(v)
    y = visual.ln_post(y[:, 1:]) @ visual.proj  # (B, h*w, D)
    return y.transpose(1, 2).reshape(y.shape[0], -1, h, w)


class TrainingFreeSegmenter(nn.Module):
    """A frozen CLIP used as a segmenter, with the interface :func:`sptseg_lib.evaluate.evaluate` expects.

    Args:
        clip: the open_clip model (frozen, eval mode).
        tokenizer: its tokenizer.
        kind: ``"final"`` or ``"maskclip"`` (see the module docstring).
        templates: prompt templates (default VOC's ``"a photo of a {}"``, the tiny CLIP's caption).
        image_size: the side of the images it is given (default: the CLIP's input size; another size
            interpolates the CLIP's positions).
    """

    def __init__(
        self,
        clip: open_clip.CLIP,
        tokenizer: Any,
        kind: BaselineKind,
        templates: str | Sequence[str] = "voc",
        image_size: int | None = None,
    ) -> None:
        super().__init__()
        if kind not in BASELINES:
            raise ValueError(f"unknown baseline {kind!r}; expected one of {BASELINES}")
        self.clip = clip.eval().requires_grad_(False)
        self.tokenizer, self.kind = tokenizer, kind
        self.templates = get_templates(templates) if isinstance(templates, str) else tuple(templates)
        size = clip.visual.image_size
        native = int(size[0] if isinstance(size, (tuple, list)) else size)
        self.config = SimpleNamespace(image_size=image_size or native)

    def class_embeddings(self, class_names: Sequence[str]) -> torch.Tensor:
        """Template-averaged, normalised text embeddings ``(C, D)``."""
        return embed_class_names(self.clip, self.tokenizer, class_names, self.templates)

    @torch.no_grad()
    def predict(self, images: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """Cosine similarities ``(B, C, H, W)`` resized to the image. The config has no ``seen_penalty``,
        so :class:`~sptseg_lib.inference.Predictor` applies none: a training-free model has no seen-class
        bias to correct."""
        feats = F.normalize(dense_features(self.clip, images, self.kind), dim=1)  # (B, D, P, P)
        scores = torch.einsum("bdhw,cd->bchw", feats, F.normalize(text.to(feats.dtype), dim=-1))
        return F.interpolate(scores, size=images.shape[-2:], mode="bilinear", align_corners=False)


def evaluate_baseline(
    clip: open_clip.CLIP,
    tokenizer: Any,
    kind: BaselineKind,
    dataset: Dataset,
    split: ZeroShotSplit,
    *,
    limit: int | None = None,
    progress: bool = False,
    image_size: int | None = None,
) -> dict[str, Any]:
    """pAcc, mIoU(S), mIoU(U), hIoU (and per-class IoU) of a training-free baseline on ``dataset``.

    Whole-image inference at ``image_size`` (default: the CLIP's input size), every class name given,
    argmax over classes: the protocol of :func:`sptseg_lib.evaluate.evaluate`.
    """
    segmenter = TrainingFreeSegmenter(clip, tokenizer, kind, image_size=image_size)
    device = next(clip.parameters()).device
    predictor = Predictor(segmenter, split.class_names, seen=split.seen, mode="whole", device=device)
    return evaluate(predictor, dataset, split, progress=progress, limit=limit)


__all__ = ["BASELINES", "BaselineKind", "TrainingFreeSegmenter", "dense_features", "evaluate_baseline"]
