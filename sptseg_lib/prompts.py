"""Deep visual prompts (VPT-deep), as ZegCLIP and SPT-SEG use them (docs/reference.md §2.1).

The paper's ``V^l = {v_1^l, ..., v_M^l}`` of eq. 2-3: every transformer block ``l`` receives ``M`` fresh
learnable tokens between the class token and the patch tokens; the tokens the previous block produced
at those positions are discarded. ZegCLIP's variant passes every layer's raw prompts through one shared
``prompt_proj`` (Linear, kaiming-normal fan-out weight) and a dropout before they enter the sequence.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def prompt_init_bound(patch_size: int | tuple[int, int], width: int) -> float:
    """VPT's "xavier-uniform" bound ``sqrt(6 / (3 * patch_h * patch_w + width))`` (0.0625 for ViT-B/16)."""
    ph, pw = (patch_size, patch_size) if isinstance(patch_size, int) else patch_size
    return math.sqrt(6.0 / (3 * ph * pw + width))


class DeepVisualPrompts(nn.Module):
    """Learnable prompt tokens for every block of a ViT.

    Args:
        num_layers: number of transformer blocks (12 for ViT-B/16); block ``i`` gets row ``i``.
        num_tokens: prompts per block ``M`` (10 for VOC, 100 for COCO-Stuff); 0 disables the module
            (no parameters; :meth:`forward` returns ``(B, 0, width)``).
        width: token width (768 for ViT-B/16).
        patch_size: ViT patch size, only for the init bound.
        dropout: dropout on the projected prompts (training only; 0.1 in the reference).

    Parameters: ``prompt_embeddings`` ``(num_layers, M, width)``, init ``U(-v, v)`` with
    ``v = `` :func:`prompt_init_bound`; ``prompt_proj`` ``Linear(width, width)`` shared by all blocks.
    """

    def __init__(
        self,
        num_layers: int,
        num_tokens: int,
        width: int,
        patch_size: int | tuple[int, int],
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if num_tokens < 0 or num_layers < 1:
            raise ValueError(f"need num_layers >= 1 and num_tokens >= 0, got {num_layers} and {num_tokens}")
        self.num_layers = num_layers
        self.num_tokens = num_tokens
        self.width = width
        self.prompt_embeddings: nn.Parameter | None = None
        self.prompt_proj: nn.Linear | None = None
        self.prompt_dropout = nn.Dropout(dropout)
        if num_tokens == 0:
            return
        bound = prompt_init_bound(patch_size, width)
        self.prompt_embeddings = nn.Parameter(
            torch.empty(num_layers, num_tokens, width).uniform_(-bound, bound)
        )
        self.prompt_proj = nn.Linear(width, width)
        nn.init.kaiming_normal_(self.prompt_proj.weight, mode="fan_out")

    def forward(self, layer: int, tokens: torch.Tensor) -> torch.Tensor:
        """The prompts entering block ``layer``: ``dropout(prompt_proj(P[layer]))``.

        Args:
            layer: 0-based block index.
            tokens: the block's token sequence ``(B, L, width)``; only its batch size, dtype and device
                are used.

        Returns:
            ``(B, M, width)``; ``(B, 0, width)`` when disabled. The dropout acts after the batch
            expansion, so each image gets its own mask.
        """
        if not 0 <= layer < self.num_layers:
            raise IndexError(f"block {layer} out of range: the prompts cover blocks 0..{self.num_layers - 1}")
        batch = tokens.shape[0]
        if self.prompt_embeddings is None or self.prompt_proj is None:
            return tokens.new_zeros(batch, 0, self.width)
        projected = self.prompt_proj(self.prompt_embeddings[layer]).to(tokens.dtype)
        return self.prompt_dropout(projected.unsqueeze(0).expand(batch, -1, -1))

    def extra_repr(self) -> str:
        return f"num_layers={self.num_layers}, num_tokens={self.num_tokens}, width={self.width}"


__all__ = ["DeepVisualPrompts", "prompt_init_bound"]
