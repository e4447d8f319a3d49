"""The mask decoders: relationship descriptor (eq. 8), Spectral Guided Decode layer (eq. 7, 9 with
HiLo eq. 4-6) and the ZegCLIP baseline layer it replaces (docs/reference.md §3.1-3.2).

Inputs of :class:`MaskDecoder` (``dim`` = CLIP embedding width, 512 for ViT-B/16):

* dense pixel embeddings ``(B, N = h*w, dim)``, L2-normalised per pixel, row-major over ``grid = (h, w)``;
* the global embedding ``g`` ``(B, dim)`` (the projected class token), normalised;
* class text embeddings ``t`` ``(C, dim)``, normalised; ``C >= 1`` (seen classes in inductive training,
  all classes at test time).

The relationship descriptor turns ``t`` and ``g`` into class queries ``t_hat`` ``(B, C, dim)``; then
``num_layers`` layers of one kind each produce mask logits ``(B, C, N)`` from the queries and the *same*
pixel memory, and refine the queries for the next layer (the pixel memory itself is never updated).
Every layer's masks are returned; the reference supervises only the last one.

**Parameters deliberately not created.** Both reference layers subclass
``torch.nn.TransformerDecoderLayer`` and skip its query self-attention, so ``self_attn`` and ``norm1``
exist there but are never used (hence the reference's ``find_unused_parameters=True``); the SPT layer
also builds ZegCLIP's cross-attention and never calls it, and its HiLo defines ``h_proj`` without
applying it. None of these are created here. Parameter counts for ``dim = 512``, 3 layers, 8 heads,
FFN 2048 (the arithmetic is in ``tests/test_decoder.py``):

* ZegCLIP decoder + relationship descriptor: **9,981,952** here. The reference's 13.82 M (VOC, the
  README figure) counts the 3 x 1,051,648 unused ``self_attn``/``norm1`` parameters and 684,288 VPT
  prompt parameters; without the unused ones it is 10.67 M = 9,981,952 + 684,288.
* SGD decoder + relationship descriptor: **11,368,768**; one SGD layer's HiLo + gate + ``proj`` part is
  1,512,896 (the reference's "1.513 M excluding the unused h_proj").

**The last layer's query update reaches no mask.** A layer's mask logits are computed from the queries
it *receives*, so the query update of the last layer (``proj``, ``norm2``, the FFN, ``norm3``, and for
ZegCLIP also ``v``) influences no output mask. It is kept, as in the reference, so that parameter counts
match; :meth:`MaskDecoder.forward` can return the refined queries (``return_queries=True``). A
mask-only loss leaves those parameters without gradient: distributed training must allow unused
parameters (as the reference does) or freeze them.

Initialisation: PyTorch defaults throughout (the reference's head never calls its trunc-normal
``init_weights``, docs/reference.md §3.1), except ``xi ~ N(0, 1)`` and ``P = I`` of the gate (eq. 7).
Layers are deep copies of one another, so all layers start from the same values (as the reference's
``_get_clones``) and then train independently. A random ``xi`` can close the gate on every token (no
gradient then reaches anything); :meth:`MaskDecoder.initialise_gates` is the switchable remedy.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from .hilo import HiLoAttention


class RelationshipDescriptor(nn.Module):
    """Eq. 8: class queries ``t_hat = phi([t ⊙ g ; t])`` with ``phi = Linear(2*dim, dim)``.

    ``t ⊙ g`` is the element-wise product of every class embedding with the image's global embedding
    (``g`` broadcast over the classes), concatenated *before* ``t`` on the channels.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.phi = nn.Linear(2 * dim, dim)

    def forward(self, g: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """``g (B, dim)``, ``text (C, dim)`` -> ``t_hat (B, C, dim)``."""
        t = text.unsqueeze(0).expand(g.shape[0], -1, -1)  # (B, C, dim)
        return self.phi(torch.cat([t * g.unsqueeze(1), t], dim=-1))


class _QueryFFN(nn.Module):
    """The post-norm tail shared by both layers (``torch.nn.TransformerDecoderLayer`` without
    ``self_attn``/``norm1``): ``q = norm2(q + drop(update))``, then
    ``q = norm3(q + drop(linear2(drop(relu(linear1(q))))))``; LayerNorm eps 1e-5."""

    def __init__(self, dim: int, ffn_dim: int, dropout: float) -> None:
        super().__init__()
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        self.linear1 = nn.Linear(dim, ffn_dim)
        self.linear2 = nn.Linear(ffn_dim, dim)
        self.norm3 = nn.LayerNorm(dim, eps=1e-5)
        self.dropout = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)

    def forward(self, queries: torch.Tensor, update: torch.Tensor) -> torch.Tensor:
        queries = self.norm2(queries + self.dropout2(update))
        ffn = self.linear2(self.dropout(F.relu(self.linear1(queries))))
        return self.norm3(queries + self.dropout3(ffn))


class ZegCLIPDecoderLayer(nn.Module):
    """ZegCLIP's decoder layer (docs/reference.md §3.1): class queries cross-attend to pixel tokens.

    Per head ``h`` (``heads`` heads of width ``hd = dim // heads``)::

        logits_h = (q(t_hat)_h · k(x)_h^T) * hd**-0.5                      (B, C, N)
        update   = proj(Concat_h drop(softmax_N(logits_h)) · v(x)_h)       (B, C, dim)
        masks    = mean_h logits_h                                         (B, C, N)

    followed by the post-norm residual and FFN (see ``_QueryFFN``). There is no query self-attention.
    ``q``, ``k``, ``v``, ``proj`` are ``Linear(dim, dim)`` with bias; the attention dropout is ``dropout``.
    """

    def __init__(self, dim: int, heads: int = 8, ffn_dim: int = 2048, dropout: float = 0.1) -> None:
        super().__init__()
        if heads < 1 or dim % heads != 0:
            raise ValueError(f"ZegCLIPDecoderLayer: dim={dim} must be a positive multiple of heads={heads}")
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)
        self.attn_drop = nn.Dropout(dropout)
        self.tail = _QueryFFN(dim, ffn_dim, dropout)

    def forward(
        self, queries: torch.Tensor, memory: torch.Tensor, grid: tuple[int, int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``queries (B, C, dim)``, ``memory (B, N, dim)`` ->
        ``(refined queries (B, C, dim), masks (B, C, N))``.

        ``grid`` is not needed by this layer; it is accepted so that both layer kinds share one call.
        """
        b, c, d = queries.shape
        n = memory.shape[1]
        q = self.q(queries).reshape(b, c, self.heads, -1).transpose(1, 2)  # (B, heads, C, hd)
        k = self.k(memory).reshape(b, n, self.heads, -1).transpose(1, 2)  # (B, heads, N, hd)
        v = self.v(memory).reshape(b, n, self.heads, -1).transpose(1, 2)
        logits = (q @ k.transpose(-2, -1)) * self.scale  # (B, heads, C, N)
        attn = self.attn_drop(torch.softmax(logits, dim=-1))
        update = self.proj((attn @ v).transpose(1, 2).reshape(b, c, d))
        return self.tail(queries, update), logits.mean(dim=1)


class SpectralGate(nn.Module):
    """Eq. 7: ``z_hat = P · sim(z, xi) · z``, a per-token gate then a channel transform.

    ``sim(z_i, xi) = clamp(cos(z_i, xi), 0, 1)`` for every token ``i`` (a scalar per token), and
    ``z_hat_i = (sim_i * z_i) @ P``. ``xi`` ``(dim,)`` is initialised ``N(0, 1)``, ``P`` ``(dim, dim)`` as
    the identity (docs/reference.md §3.2).
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.xi = nn.Parameter(torch.randn(dim))
        self.P = nn.Parameter(torch.eye(dim))

    def similarity(self, z: torch.Tensor) -> torch.Tensor:
        """``z (B, N, dim)`` -> ``sim (B, N, 1)`` in ``[0, 1]``."""
        return F.cosine_similarity(z, self.xi, dim=-1).clamp(0.0, 1.0).unsqueeze(-1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``z (B, N, dim)`` -> ``z_hat (B, N, dim)``."""
        return (z * self.similarity(z)) @ self.P

    @torch.no_grad()
    def point_at(self, z: torch.Tensor) -> None:
        """Turn ``xi`` towards the mean direction of the tokens ``z (B, N, dim)``, keeping its norm.

        The mean of the unit tokens ``m = mean_i z_i/|z_i|`` has ``mean_i cos(z_i, m) = |m| > 0``, so some
        tokens are open afterwards whatever ``z`` is (unless every token is 0); with a random ``xi`` every
        cosine can be negative, every token closed, and no gradient reaches anything before the gate.
        """
        direction = F.normalize(F.normalize(z.float(), dim=-1).mean(dim=(0, 1)), dim=0)
        self.xi.copy_(direction.to(self.xi.dtype) * self.xi.norm())


class SpectralGuidedDecoderLayer(nn.Module):
    """SPT's Spectral Guided Decode layer (eq. 4-9, docs/reference.md §3.2).

    From the pixel memory ``x (B, N, dim)`` and the class queries ``t_hat (B, C, dim)``::

        z      = HiLo(x)                                (eq. 4-6, no residual)   (B, N, dim)
        z_hat  = (z * clamp(cos(z, xi), 0, 1)) @ P      (eq. 7)                  (B, N, dim)
        A      = t_hat · z_hat^T                        (eq. 9, the mask logits) (B, C, N)
        update = proj(drop(softmax_N(A)) · z_hat)                                (B, C, dim)

    then the same post-norm residual and FFN as the ZegCLIP layer. ``A`` is a plain dot product: no
    projections, no heads, no scaling. HiLo uses ``heads`` heads, ``window_size``, ``alpha`` and no qkv
    bias; ``hifi_projection=False`` reproduces SPT (LITv2's ``h_proj`` not applied, not created).
    """

    def __init__(
        self,
        dim: int,
        heads: int = 8,
        ffn_dim: int = 2048,
        dropout: float = 0.1,
        window_size: int = 3,
        alpha: float = 0.9,
        hifi_projection: bool = False,
    ) -> None:
        super().__init__()
        self.hilo = HiLoAttention(
            dim, num_heads=heads, window_size=window_size, alpha=alpha, hifi_projection=hifi_projection
        )
        self.gate = SpectralGate(dim)
        self.attn_drop = nn.Dropout(dropout)
        self.proj = nn.Linear(dim, dim)
        self.tail = _QueryFFN(dim, ffn_dim, dropout)

    def forward(
        self, queries: torch.Tensor, memory: torch.Tensor, grid: tuple[int, int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``queries (B, C, dim)``, ``memory (B, N, dim)`` on ``grid = (h, w)`` ->
        ``(refined queries (B, C, dim), masks A (B, C, N))``."""
        z_hat = self.gate(self.hilo(memory, grid))
        masks = queries @ z_hat.transpose(1, 2)  # (B, C, N)
        update = self.proj(self.attn_drop(torch.softmax(masks, dim=-1)) @ z_hat)
        return self.tail(queries, update), masks


class MaskDecoder(nn.Module):
    """Relationship descriptor (eq. 8) + ``num_layers`` decoder layers of one kind.

    Args:
        dim: CLIP embedding width.
        num_layers: decoder depth (3 in the paper, Tab. 4).
        sgd: ``True`` for Spectral Guided Decode layers (SPT-SEG), ``False`` for ZegCLIP's layers.
        heads, ffn_dim, dropout: attention heads, FFN width and dropout of every layer.
        window_size, alpha, hifi_projection: HiLo settings of the SGD layers (ignored when ``sgd=False``).
    """

    def __init__(
        self,
        dim: int,
        num_layers: int = 3,
        sgd: bool = True,
        heads: int = 8,
        ffn_dim: int = 2048,
        dropout: float = 0.1,
        window_size: int = 3,
        alpha: float = 0.9,
        hifi_projection: bool = False,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"MaskDecoder: num_layers must be >= 1, got {num_layers}")
        self.dim = dim
        self.sgd = sgd
        self.descriptor = RelationshipDescriptor(dim)
        if sgd:
            layer: nn.Module = SpectralGuidedDecoderLayer(
                dim, heads, ffn_dim, dropout, window_size, alpha, hifi_projection
            )
        else:
            layer = ZegCLIPDecoderLayer(dim, heads, ffn_dim, dropout)
        self.layers = nn.ModuleList(copy.deepcopy(layer) for _ in range(num_layers))

    @torch.no_grad()
    def initialise_gates(self, dense: torch.Tensor, grid: tuple[int, int]) -> list[float]:
        """Point every SGD layer's gate (eq. 7) at the mean direction of its HiLo output on ``dense``
        ``(B, h*w, dim)`` (:meth:`SpectralGate.point_at`; ``ModelConfig.gate_init = "first_batch"``).

        Each layer's HiLo reads the same pixel memory, so no queries are needed. Returns the share of
        tokens each layer's gate lets through afterwards (``sim > 0``); ``[]`` for ZegCLIP layers.
        """
        open_share = []
        for layer in self.layers:
            if isinstance(layer, SpectralGuidedDecoderLayer):
                z = layer.hilo(dense, grid)
                layer.gate.point_at(z)
                open_share.append(float((layer.gate.similarity(z) > 0).float().mean()))
        return open_share

    def _check_inputs(
        self, dense: torch.Tensor, grid: tuple[int, int], g: torch.Tensor, text: torch.Tensor
    ) -> None:
        d = self.dim
        if dense.dim() != 3 or dense.shape[-1] != d:
            raise ValueError(f"MaskDecoder: dense embeddings must be (B, h*w, {d}), got {tuple(dense.shape)}")
        h, w = grid
        if dense.shape[1] != h * w:
            raise ValueError(
                f"MaskDecoder: {dense.shape[1]} pixel tokens do not form the grid {h}x{w}; "
                "pass grid=(h, w) of the dense map"
            )
        if g.shape != (dense.shape[0], d):
            raise ValueError(
                f"MaskDecoder: global embedding must be {(dense.shape[0], d)}, got {tuple(g.shape)}"
            )
        if text.dim() != 2 or text.shape[0] < 1 or text.shape[1] != d:
            raise ValueError(
                f"MaskDecoder: text embeddings must be (C, {d}) with C >= 1 classes, got {tuple(text.shape)}"
            )

    def forward(
        self,
        dense: torch.Tensor,
        grid: tuple[int, int],
        g: torch.Tensor,
        text: torch.Tensor,
        return_queries: bool = False,
    ) -> list[torch.Tensor] | tuple[list[torch.Tensor], torch.Tensor]:
        """Mask logits of every layer.

        Args:
            dense: pixel embeddings ``(B, h*w, dim)``, row-major over ``grid``.
            grid: ``(h, w)``.
            g: global embedding ``(B, dim)``.
            text: class embeddings ``(C, dim)``.
            return_queries: also return the last layer's refined queries ``(B, C, dim)``.

        Returns:
            A list of ``num_layers`` mask-logit maps ``(B, C, h, w)`` (the last one is the prediction);
            with ``return_queries`` the pair ``(masks, queries)``.
        """
        self._check_inputs(dense, grid, g, text)
        b, c = dense.shape[0], text.shape[0]
        queries = self.descriptor(g, text)
        masks = []
        for layer in self.layers:
            queries, logits = layer(queries, dense, grid)
            masks.append(logits.reshape(b, c, *grid))
        if return_queries:
            return masks, queries
        return masks
