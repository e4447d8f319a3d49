"""The prompted, spectrally-prompted CLIP image encoder (eq. 1-3; docs/reference.md §1.3 and §2.1).

One image ``(B, 3, H, W)`` becomes a token grid ``h x w = H/p x W/p`` (patch ``p``). The sequence entering
block ``l`` is ``[g^l | V^l | H^l]``: the class token, ``M`` fresh deep prompts (VPT-deep) and the
``h*w`` patch tokens. For the SPT blocks (``config.spt_layers``, blocks 0 and 1 by default) the patch
tokens first receive the spectral prompt ``S^l`` of eq. 1 computed from ``H^l`` and the *current* class
token ``g^l`` (eq. 2); the other blocks see the tokens unchanged (eq. 3). All CLIP weights are
open_clip's own modules, frozen; the blocks are called one at a time.

Outputs (``forward``): the global embedding ``g`` = the projected class token ``(B, D)`` and the dense
map = the projected patch tokens ``(B, D, h, w)``, both L2-normalised (D = 512 for ViT-B/16).
"""

from __future__ import annotations

import zlib

import torch
import torch.nn.functional as F
from open_clip.transformer import VisionTransformer
from torch import nn
from torch.utils.checkpoint import checkpoint

from .config import ModelConfig
from .prompts import DeepVisualPrompts
from .spectral import SpectralPrompt


def interpolate_pos_embed(
    pos_embed: torch.Tensor, src_grid: tuple[int, int], dst_grid: tuple[int, int]
) -> torch.Tensor:
    """Resize CLIP's positional embedding ``(1 + h0*w0, C)`` to ``(1 + h*w, C)``.

    The class slot is kept; the patch part is resized bilinearly (``align_corners=False``) as a
    ``C``-channel ``h0 x w0`` image, like the reference (docs/reference.md §2.1). Exact identity when
    ``dst_grid == src_grid``.
    """
    h0, w0 = src_grid
    if pos_embed.shape[0] != 1 + h0 * w0:
        raise ValueError(f"positional embedding of length {pos_embed.shape[0]} does not fit a {h0}x{w0} grid")
    patch = pos_embed[1:].reshape(1, h0, w0, -1).permute(0, 3, 1, 2)
    patch = F.interpolate(patch.float(), size=dst_grid, mode="bilinear", align_corners=False)
    patch = patch.permute(0, 2, 3, 1).reshape(dst_grid[0] * dst_grid[1], -1).to(pos_embed.dtype)
    return torch.cat([pos_embed[:1], patch], dim=0)


def component_seed(name: str) -> int:
    """A seed for one component's initial weights: the global generator's seed (``torch.manual_seed``, as
    the trainer sets it from ``train.seed``) combined with the component's name, so that the component is
    initialised the same way whatever else the model holds, without drawing from the global stream."""
    return (torch.initial_seed() + zlib.crc32(name.encode())) % 2**63


class PromptedCLIPEncoder(nn.Module):
    """CLIP's ViT with deep visual prompts and spectral prompts (eq. 1-3).

    Args:
        visual: an open_clip ``VisionTransformer`` (``clip_model.visual``) with class-token pooling and a
            projection. Its parameters are frozen here (``requires_grad=False``).
        config: the :class:`ModelConfig`; uses ``prompt_tokens``, ``prompt_dropout``, ``cls_token_quirk``,
            ``image_size`` and the ``spt*`` fields.

    Trainable parameters (see :meth:`trainable_parameter_names`): ``prompts.prompt_embeddings``,
    ``prompts.prompt_proj.*``, ``prompt_norm.*`` (when ``prompt_tokens > 0``) and ``spectral.filters.*``
    (when ``spt``). Gradient checkpointing follows open_clip's flag
    (``visual.set_grad_checkpointing()``).
    """

    def __init__(self, visual: VisionTransformer, config: ModelConfig) -> None:
        super().__init__()
        if not isinstance(visual, VisionTransformer):
            raise TypeError(
                f"PromptedCLIPEncoder needs open_clip's VisionTransformer, got {type(visual).__name__}"
            )
        if visual.attn_pool is not None or visual.pool_type != "tok" or visual.final_ln_after_pool:
            raise ValueError("PromptedCLIPEncoder supports CLIP ViTs with class-token pooling only")
        if visual.proj is None:
            raise ValueError("the CLIP ViT has no output projection (was it pruned?)")
        self.visual = visual
        self.visual.requires_grad_(False)
        self.config = config
        self.width = visual.conv1.out_channels
        self.patch_size: tuple[int, int] = tuple(visual.patch_size)
        self.native_grid: tuple[int, int] = tuple(visual.grid_size)
        self.num_blocks = len(visual.transformer.resblocks)
        self.cls_token_quirk = config.cls_token_quirk

        self.prompts = DeepVisualPrompts(
            self.num_blocks, config.prompt_tokens, self.width, self.patch_size, config.prompt_dropout
        )
        self.prompt_norm = nn.LayerNorm(self.width, eps=1e-6) if config.prompt_tokens > 0 else None

        self.spectral: SpectralPrompt | None = None
        if config.spt:
            bad = [i for i in config.spt_layers if i >= self.num_blocks]
            if bad:
                raise ValueError(
                    f"spt_layers {bad} out of range: the ViT has blocks 0..{self.num_blocks - 1}"
                )
            # Drawn from a generator of its own (seeded from the global seed), so that switching SPT on
            # leaves every other initial weight as it is: +SPT and ZegCLIP, SPT-SEG and +SGD start from
            # the same prompts and decoder for a seed, and ablation contrasts over seeds are paired.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(component_seed("spectral prompt"))
                self.spectral = SpectralPrompt(
                    self.width,
                    self.token_grid(config.image_size, config.image_size),
                    config.spt_layers,
                    shared=config.spt_shared_filter,
                    init_std=config.spt_filter_init_std,
                    grid_mode=config.spt_grid_mode,
                )
        self._pos_cache: dict[tuple, torch.Tensor] = {}

    # ------------------------------------------------------------------------------------------------
    def train(self, mode: bool = True) -> PromptedCLIPEncoder:
        """Train mode for the prompts; the frozen CLIP always stays in eval mode."""
        super().train(mode)
        self.visual.eval()
        return self

    def trainable_parameter_names(self) -> list[str]:
        """Names of the parameters that require gradients (the explicit, loggable trainable set)."""
        return [name for name, p in self.named_parameters() if p.requires_grad]

    def token_grid(self, height: int, width: int) -> tuple[int, int]:
        """The token grid ``(H/p, W/p)`` of an image; a clear error if a side is not a multiple of ``p``."""
        ph, pw = self.patch_size
        if height % ph or width % pw or height <= 0 or width <= 0:
            raise ValueError(
                f"image size {height}x{width} is not a multiple of the patch size {ph}x{pw}: resize, crop or "
                f"pad the image to e.g. {max(ph, height // ph * ph)}x{max(pw, width // pw * pw)}"
            )
        return height // ph, width // pw

    def positional_embedding(self, grid: tuple[int, int]) -> torch.Tensor:
        """CLIP's positional embedding for ``grid``: ``(1 + h*w, C)``, cached per grid.

        The cache key includes the parameter's storage and version, so loading new weights or moving
        the model invalidates it.
        """
        pos = self.visual.positional_embedding
        if pos.requires_grad:  # unfrozen by the user: no cache, keep the graph
            return interpolate_pos_embed(pos, self.native_grid, grid)
        key = (grid, pos.device, pos.dtype, pos.data_ptr(), pos._version)
        cached = self._pos_cache.get(key)
        if cached is None:
            with torch.no_grad():
                cached = interpolate_pos_embed(pos, self.native_grid, grid)
            self._pos_cache = {k: v for k, v in self._pos_cache.items() if k[1:] == key[1:]}
            self._pos_cache[key] = cached
        return cached

    def embed(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
        """Patch embedding + positions + ``ln_pre``: class token ``(B, 1, C)``, patches ``(B, h*w, C)``, grid.

        The class token entering ``ln_pre`` is ``class_embedding + pos[0]``, or with ``cls_token_quirk``
        the reference's ``2 * class_embedding + pos[0]`` (docs/reference.md §2.1).
        """
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must have shape (B, 3, H, W), got {tuple(images.shape)}")
        v = self.visual
        grid = self.token_grid(images.shape[2], images.shape[3])
        x = v.conv1(images.to(v.conv1.weight.dtype))  # (B, C, h, w)
        x = x.flatten(2).transpose(1, 2)  # (B, h*w, C), row-major grid order
        pos = self.positional_embedding(grid).to(x.dtype)
        cls = v.class_embedding.to(x.dtype) + pos[0]
        if self.cls_token_quirk:
            cls = cls + v.class_embedding.to(x.dtype)
        x = torch.cat([cls.expand(x.shape[0], 1, -1), x + pos[1:]], dim=1)
        x = v.ln_pre(x)
        return x[:, :1], x[:, 1:], grid

    def _run_block(self, index: int, x: torch.Tensor) -> torch.Tensor:
        transformer = self.visual.transformer
        block = transformer.resblocks[index]
        batch_first = getattr(transformer, "batch_first", True)
        if not batch_first:
            x = x.transpose(0, 1)
        if getattr(transformer, "grad_checkpointing", False) and torch.is_grad_enabled():
            x = checkpoint(block, x, use_reentrant=False)
        else:
            x = block(x)
        return x if batch_first else x.transpose(0, 1)

    def forward_features(
        self, images: torch.Tensor, spectral_terms: list[tuple[int, torch.Tensor, torch.Tensor]] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Projected, *un-normalised* features: ``g`` ``(B, D)`` and the dense map ``(B, D, h, w)``.

        ``spectral_terms``, if given, receives ``(block, H, S)`` for every SPT block: the patch tokens
        entering it and the spectral prompt added to them (eq. 1-2), each ``(B, h*w, C)``.
        """
        cls, patches, grid = self.embed(images)
        num_prompts = self.prompts.num_tokens
        for i in range(self.num_blocks):
            if self.spectral is not None and i in self.spectral.layers:
                prompt = self.spectral(patches, cls[:, 0], layer=i, grid=grid)
                if spectral_terms is not None:
                    spectral_terms.append((i, patches, prompt))
                patches = patches + prompt  # eq. 1-2
            x = torch.cat([cls, self.prompts(i, cls), patches], dim=1)  # fresh V^l (VPT-deep)
            x = self._run_block(i, x)
            cls, patches = x[:, :1], x[:, 1 + num_prompts :]
        x = torch.cat([cls, patches], dim=1)  # prompt outputs are dropped; the norms act per token
        if self.prompt_norm is not None:
            x = self.prompt_norm(x)
        x = self.visual.ln_post(x) @ self.visual.proj  # (B, 1 + h*w, D)
        g = x[:, 0]
        dense = x[:, 1:].reshape(x.shape[0], grid[0], grid[1], -1).permute(0, 3, 1, 2)
        return g, dense

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(g, dense)``: ``(B, D)`` and ``(B, D, h, w)``, L2-normalised over ``D``."""
        g, dense = self.forward_features(images)
        return F.normalize(g, dim=-1), F.normalize(dense, dim=1)


@torch.no_grad()
def spectral_prompt_share(encoder: PromptedCLIPEncoder, images: torch.Tensor) -> torch.Tensor:
    """How much the spectral prompt adds to each token: ``|S| / |H|`` per token (L2 norms over channels)
    at the encoder's first SPT block (eq. 1-2), ``(B, h, w)``; ``images`` ``(B, 3, H, W)`` normalised."""
    if encoder.spectral is None:
        raise ValueError("this encoder has no spectral prompt (model.spt is False): there is no S to measure")
    terms: list[tuple[int, torch.Tensor, torch.Tensor]] = []
    encoder.forward_features(images, spectral_terms=terms)
    _, h, s = terms[0]
    grid = encoder.token_grid(images.shape[2], images.shape[3])
    return (s.norm(dim=-1) / h.norm(dim=-1)).reshape(images.shape[0], *grid)


@torch.no_grad()
def block_tokens(
    encoder: PromptedCLIPEncoder, images: torch.Tensor
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The patch tokens entering every block and leaving the last, and the class tokens.

    Returns:
        ``tokens``: a list of ``num_blocks + 1`` tensors ``(B, h, w, C)`` (index ``l`` = input of block
        ``l``; the last = output of the last block, before ``ln_post``), and the class tokens
        ``(num_blocks + 1, B, C)``.
    """
    cls, patches, grid = encoder.embed(images)
    x = torch.cat([cls, patches], dim=1)
    blocks = encoder.visual.transformer.resblocks
    batch_first = getattr(encoder.visual.transformer, "batch_first", True)
    tokens, classes = [], []
    for i in range(len(blocks) + 1):
        tokens.append(x[:, 1:].reshape(x.shape[0], grid[0], grid[1], -1))
        classes.append(x[:, 0])
        if i < len(blocks):
            x = blocks[i](x) if batch_first else blocks[i](x.transpose(0, 1)).transpose(0, 1)
    return tokens, torch.stack(classes)


__all__ = ["PromptedCLIPEncoder", "block_tokens", "interpolate_pos_embed", "spectral_prompt_share"]
