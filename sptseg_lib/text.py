"""Class-name embeddings from CLIP's frozen text tower (docs/reference.md §6.1).

Each class name is written into every prompt template, encoded, L2-normalised, averaged over the
templates and re-normalised: ``t_c = normalize(mean_k normalize(E_text(template_k(c))))``, shape ``(C, D)``.
These ``t`` are the text embeddings of the relationship descriptor and the decoder. VOC uses one
template, COCO-Stuff the 15 of ZegCLIP's ``get_embedding.ipynb``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .class_lists import check_prompt_lengths

TEMPLATES: dict[str, tuple[str, ...]] = {
    "voc": ("a photo of a {}",),
    "coco": (
        "a photo of a {}.",
        "a photo of a small {}.",
        "a photo of a medium {}.",
        "a photo of a large {}.",
        "This is a photo of a {}.",
        "This is a photo of a small {}.",
        "This is a photo of a medium {}.",
        "This is a photo of a large {}.",
        "a {} in the scene.",
        "a photo of a {} in the scene.",
        "There is a {} in the scene.",
        "There is the {} in the scene.",
        "This is a {} in the scene.",
        "This is the {} in the scene.",
        "This is one {} in the scene.",
    ),
}
"""Prompt templates per set (``ModelConfig.templates``). VOC's has no final period, as in the reference."""

Tokenizer = Callable[[list[str]], torch.Tensor]


def get_templates(name: str) -> tuple[str, ...]:
    """The template set ``"voc"`` or ``"coco"``."""
    try:
        return TEMPLATES[name]
    except KeyError:
        raise KeyError(f"unknown template set {name!r}; known: {sorted(TEMPLATES)}") from None


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def embed_class_names(
    clip_model: nn.Module,
    tokenizer: Tokenizer,
    class_names: Sequence[str],
    templates: Sequence[str],
    batch_size: int = 256,
) -> torch.Tensor:
    """Template-averaged, normalised text embeddings ``(C, D)`` in the text tower's dtype.

    Runs on the model's device under ``no_grad``; ``batch_size`` bounds how many prompts are encoded at once.
    """
    if not class_names:
        raise ValueError("embed_class_names needs at least one class name")
    if not templates:
        raise ValueError("embed_class_names needs at least one template")
    check_prompt_lengths(tokenizer, class_names, templates)
    prompts = [template.format(name) for name in class_names for template in templates]
    tokens = tokenizer(prompts).to(_model_device(clip_model))
    features = torch.cat([clip_model.encode_text(chunk) for chunk in tokens.split(batch_size)])
    features = F.normalize(features, dim=-1).reshape(len(class_names), len(templates), -1)
    return F.normalize(features.mean(dim=1), dim=-1)


class ClassEmbedder:
    """Cached class-name embeddings: each class list is encoded once per device and dtype.

    Args:
        clip_model: an open_clip CLIP model (only ``encode_text`` is used; it is put in eval mode).
        tokenizer: the model's tokenizer (``clip_loading.get_tokenizer``).
        templates: a template-set name (``"voc"``, ``"coco"``) or the templates themselves.
        max_entries: how many class lists to keep (least recently used are dropped).

    ``embedder(class_names) -> (C, D)``; a repeated call with the same names returns the same tensor.
    """

    def __init__(
        self,
        clip_model: nn.Module,
        tokenizer: Tokenizer,
        templates: str | Sequence[str] = "voc",
        max_entries: int = 8,
    ) -> None:
        self.clip_model = clip_model.eval()
        self.tokenizer = tokenizer
        self.templates = get_templates(templates) if isinstance(templates, str) else tuple(templates)
        self.max_entries = max_entries
        self._cache: OrderedDict[tuple, torch.Tensor] = OrderedDict()

    def __call__(self, class_names: Sequence[str]) -> torch.Tensor:
        names = tuple(class_names)
        param = next(self.clip_model.parameters())
        key = (names, param.device, param.dtype)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        embeddings = embed_class_names(self.clip_model, self.tokenizer, names, self.templates)
        self._cache[key] = embeddings
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
        return embeddings

    def clear(self) -> None:
        """Forget all cached embeddings (e.g. after loading new text-tower weights)."""
        self._cache.clear()


__all__ = ["TEMPLATES", "ClassEmbedder", "embed_class_names", "get_templates"]
