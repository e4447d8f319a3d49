"""The fused CPU path of the loss terms (``SegmentationCriterion(fused=...)``): the focal, dice and SSIM
sums of eq. 10 and their gradients, computed in one pass, block by block over images and classes, without
keeping the upsampled logits for the backward pass.

:mod:`sptseg_lib.losses.terms` holds the textbook terms, and
:class:`~sptseg_lib.losses.criterion.SegmentationCriterion` chooses this path (``fused="auto"``, the
trainer's default, picks it on the CPU). One pass over cache-sized blocks of the upsampled maps in reused
scratch tensors, with every term's gradient in closed form, instead of autograd through a dozen full-size
``(B, C, H, W)`` temporaries: the same value and gradient up to float rounding
(``tests/test_fast_step.py``); on one CPU thread about 3x faster than the reference on the miniature's
batch (16 images, 16 classes, 64 x 64: 23 against 70 ms forward and backward), 2x at ViT-B/16's
512 x 512 (``benchmarks/miniature_step.py --eager`` times whole steps). ``fused=False`` is the reference
formulation, the one that trained the shipped miniature run; a run trained with the fused one follows the
same trajectory up to accumulated rounding differences.

The SSIM part is :mod:`sptseg_lib.ssim`'s factorised evaluation: its operators
(:func:`~sptseg_lib.ssim.interpolation_operator`, :func:`~sptseg_lib.ssim.axis_operators`,
:func:`~sptseg_lib.ssim.window_operator`, :func:`~sptseg_lib.ssim.smooth`) and the closed-form gradient
derived at :func:`~sptseg_lib.ssim.ssim_terms`, evaluated in place in the block's scratch tensors, in an
order of operations of its own (:func:`_ssim_block` says why).
"""

from __future__ import annotations

import threading

import torch
from torch.autograd.function import once_differentiable

from .. import ssim


class _Workspace(threading.local):
    """Block-sized scratch tensors of :class:`FusedTermSums`, kept between calls (one set per thread).

    The dozens of pointwise passes over a block write into these instead of into fresh tensors: on the CPU
    a fresh tensor of a megabyte costs its page faults (the allocator hands blocks that large back to the
    system), which took about as long as the arithmetic. One set per dtype and device is kept (at most
    four), :data:`_SCRATCH` tensors of :data:`FUSED_BLOCK_ELEMENTS` elements (11 MiB in float32).
    """

    def __init__(self) -> None:
        self.sets: dict[tuple, list[torch.Tensor]] = {}

    def buffers(self, numel: int, dtype: torch.dtype, device: torch.device) -> list[torch.Tensor]:
        """:data:`_SCRATCH` flat tensors of at least ``numel`` elements."""
        key = (dtype, device)
        have = self.sets.get(key)
        if have is None or have[0].numel() < numel:
            have = [torch.empty(numel, dtype=dtype, device=device) for _ in range(_SCRATCH)]
            self.sets.pop(key, None)
            while len(self.sets) >= 4:
                self.sets.pop(next(iter(self.sets)))
            self.sets[key] = have
        return have


_SCRATCH = 11
_WORKSPACE = _Workspace()

FUSED_BLOCK_ELEMENTS = 2**18
"""Elements of one block of :class:`FusedTermSums` (1 MiB of float32): whole images while they fit,
else one image's classes in slices; large enough that the per-operation overhead of the few dozen
pointwise passes stays small."""


def _image_blocks(b: int, c: int, pixels: int) -> list[tuple[slice, slice]]:
    """``(image slice, class slice)`` blocks of about :data:`FUSED_BLOCK_ELEMENTS` elements covering
    ``(B, C, H, W)``: several whole images per block, or one image and a run of its classes."""
    per_image = c * pixels
    if per_image <= FUSED_BLOCK_ELEMENTS:
        n = FUSED_BLOCK_ELEMENTS // per_image
        return [(slice(i, min(i + n, b)), slice(0, c)) for i in range(0, b, n)]
    per = max(1, FUSED_BLOCK_ELEMENTS // pixels)
    return [(slice(i, i + 1), slice(k, min(k + per, c))) for i in range(b) for k in range(0, c, per)]


def _focal_block(
    x: torch.Tensor,
    positive: torch.Tensor,
    target: torch.Tensor,
    alpha: float,
    gamma: float,
    scale: torch.Tensor | float,
    need_grad: bool,
    buf: list[torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``Σ scale · FL`` over a block of logits ``x`` and, with ``need_grad``, ``scale · dFL/dx``.

    The sigmoid focal loss of binary targets (``positive`` bool, ``target`` the same as floats) in closed
    form: with the margin ``y = x`` where ``t = 0`` and ``y = -x`` where ``t = 1``,
    ``1 - p_t = q = sigmoid(y)``, the cross-entropy is ``softplus(y)`` and ``FL = α_t q^γ softplus(y)``,
    so ``dFL/dx = ±α_t q^γ (γ (1 - q) softplus(y) + q)`` (the sign of ``y = ±x``), with no ``q^(γ-1)``;
    ``α < 0``: no ``α_t``. ``softplus(y) = max(y, 0) + log1p(exp(-|x|))`` with
    ``log1p(e) = log(u) - ((u - 1) - e) / u`` for ``u = 1 + e`` rounded (the first-order correction of
    that rounding: within a couple of float ulps, exactly ``e`` when ``u == 1``), because ``torch.log1p``
    has no vectorised CPU kernel (8x the time of ``log`` per element). ``buf``: six scratch tensors of the
    block's shape; the gradient is returned in the first.
    """
    y, q, e, u, ce, t = buf[:6]
    torch.where(positive, torch.neg(x, out=y), x, out=y)
    torch.sigmoid(y, out=q)
    torch.abs(x, out=e).neg_().exp_()
    torch.add(e, 1, out=u)
    torch.log(u, out=ce).sub_(torch.sub(u, 1, out=t).sub_(e).div_(u))  # log1p(exp(-|x|))
    ce.add_(y.clamp_(min=0))  # softplus(y)
    qg = torch.mul(q, q, out=e) if gamma == 2 else torch.pow(q, gamma, out=e)
    loss = torch.mul(qg, ce, out=u)
    weighted = isinstance(scale, torch.Tensor)
    if weighted:
        loss.mul_(scale)
    total = loss.sum()
    if alpha >= 0:  # α_t = (1 - α) + (2α - 1) t
        total = (1 - alpha) * total + (2 * alpha - 1) * torch.dot(loss.view(-1), target.view(-1))
    if not weighted:
        total = total * scale
    if not need_grad:
        return total, None
    grad = torch.addcmul(q, torch.neg(q, out=y).add_(1), ce, value=gamma, out=y).mul_(qg)
    # ±α_t = (1 - α) - t (α_t = 1: 1 - 2t), times the pixel's share of its pair's mean
    sign = torch.mul(target, -1.0 if alpha >= 0 else -2.0, out=t).add_(1 - alpha if alpha >= 0 else 1.0)
    return total, grad.mul_(sign).mul_(scale)


def _ssim_block(
    mu_x: torch.Tensor,
    e_xx: torch.Tensor,
    e_xy: torch.Tensor,
    mu_y: torch.Tensor,
    weight: torch.Tensor | None,
    present: torch.Tensor,
    g_exy: torch.Tensor | None,
    buf: list[torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """``Σ weight · S`` of one block and the partial derivatives of ``S``, in scratch tensors.

    ``S``, its factors ``n1, n2, d1, d2`` and the three partial derivatives are those of
    :func:`~sptseg_lib.ssim.ssim_terms` (derived there), each derivative times ``weight``. What differs is
    only the evaluation: in place, into the block's scratch tensors (``buf``, and ``e_xy``, which is
    overwritten), with the additions of ``n2``, ``d1``, ``d2`` and ``∂S/∂G*(x²)`` in another order than
    :func:`~sptseg_lib.ssim.ssim_terms` has; so the results differ from that function's in the last float
    bits, and the fused path keeps its own order to keep its numbers (a run trained on it follows them).

    Args:
        mu_x, e_xx, e_xy, mu_y: ``μx``, ``G*(x²)``, ``G*(xy)``, ``μy`` of the block ``(Bi, Cb, H, W)``.
        weight: ``(Bi, 1, H, W)`` valid pixels (as floats), or ``None``.
        present: flat indices of the block's maps whose target is not empty (the others meet a zero
            target: their ``G*(xy)`` gradient does not reach ``x``).
        g_exy: ``(len(present), H, W)``, where ``∂S/∂G*(xy)`` of the ``present`` maps is written; ``None``:
            no gradient is wanted.
        buf: six scratch tensors of the block's shape.

    Returns:
        ``Σ weight · S`` and, with ``g_exy``, ``∂S/∂μx`` (in ``e_xy``'s tensor) and ``∂S/∂G*(x²)`` (in
        ``buf[5]``), each of the block's shape; ``None`` for both without.
    """
    n1, d1, d2, s, dd = buf[:5]
    torch.mul(mu_x, mu_y, out=n1).mul_(2).add_(ssim.C1)
    n2 = e_xy.mul_(2).add_(ssim.C2).addcmul_(mu_x, mu_y, value=-2)
    torch.mul(mu_x, mu_x, out=d1).add_(ssim.C1).addcmul_(mu_y, mu_y)
    torch.add(e_xx, mu_y, out=d2).add_(ssim.C2).addcmul_(mu_y, mu_y, value=-1).addcmul_(mu_x, mu_x, value=-1)
    torch.mul(n1, n2, out=s).div_(torch.mul(d1, d2, out=dd))
    total = s.sum() if weight is None else torch.mul(s, weight, out=dd).sum()
    if g_exy is None:
        return total, None, None
    inv2 = torch.mul(d1, d2, out=dd).reciprocal_().mul_(2)  # 2 / (d1 d2)
    if weight is not None:
        inv2.mul_(weight)
    maps = (-1, *s.shape[-2:])
    torch.mul(n1.view(maps).index_select(0, present), inv2.view(maps).index_select(0, present), out=g_exy)
    g_exx = torch.div(s, d2, out=buf[5]).neg_()  # -S / d2
    if weight is not None:
        g_exx.mul_(weight)
    g_mu = n2.sub_(n1).mul_(mu_y).sub_(d2.sub_(d1).mul_(s).mul_(mu_x)).mul_(inv2)
    return total, g_mu, g_exx


SMOOTH_BY_PRODUCTS = 96 * 96
"""Maps of up to this many pixels are smoothed by matrix products (:func:`_gaussian_smooth`)."""


def _gaussian_smooth(
    maps: torch.Tensor, window: torch.Tensor, operators: tuple[torch.Tensor, torch.Tensor] | None
) -> torch.Tensor:
    """``G*m`` of ``maps`` ``(k, H, W)``, returned in that shape: by two products with the banded window
    matrices ``operators`` ``(H, H)`` and ``(W, W)`` (:func:`~sptseg_lib.ssim.window_operator`; cheaper
    than the depthwise convolution for maps of up to :data:`SMOOTH_BY_PRODUCTS` pixels, equal up to float
    rounding), or by :func:`~sptseg_lib.ssim.smooth` with the 1-D ``window`` when ``operators`` is
    ``None``."""
    if operators is None:
        return ssim.smooth(maps, window)
    g_h, g_w = operators
    return (g_h @ maps) @ g_w.T


class FusedTermSums(torch.autograd.Function):
    """The criterion's term sums over one chunk of classes, from the token-grid logits, in one pass.

    What ``SegmentationCriterion._chunk_sums`` (:mod:`sptseg_lib.losses.criterion`) computes through
    autograd (upsample the logits ``z`` bilinearly to the label size, build the binary targets, evaluate
    each term on the full-resolution maps), evaluated block by block (:func:`_image_blocks`) in reused
    scratch tensors (:class:`_Workspace`), so that no ``(B, C, H, W)`` tensor is allocated, and with every
    term's gradient in closed form:

    * focal: :func:`_focal_block`;
    * dice: with ``N = 2 Σ p t + 1`` and ``D = Σ p + Σ t + 1`` of a present pair, ``∂/∂p = N / D² - 2 t / D``,
      times ``p (1 - p)``;
    * SSIM (logits, factorised): :mod:`sptseg_lib.ssim`'s ``_SsimSum`` on the block's
      :func:`~sptseg_lib.ssim.smoothed_moments` (:func:`_ssim_block`; the neighbour products ``products``
      are an input, their small backward stays with autograd). Two things differ from ``_SsimSum``, both
      for speed: the blocks span several images (:data:`FUSED_BLOCK_ELEMENTS`), and the smoothings ``G*y``,
      ``G*(xy)`` and ``G*(∂S/∂G*(xy))`` (whose product with ``y`` is ``x``'s gradient through ``G*(xy)``)
      run once each over the maps of the classes present in each image (the others are zero), by matrix
      products for small maps (:func:`_gaussian_smooth`).

    The upsampled logits are ``U_h z U_wᵀ`` (:func:`~sptseg_lib.ssim.interpolation_matrix`, what
    ``F.interpolate`` computes) and a full-resolution gradient ``g`` returns to the token grid as
    ``U_hᵀ g U_w``, ``∂/∂μx`` as ``A_hᵀ g A_w`` and ``∂/∂G*(x²)`` as ``B_hᵀ g B_w`` (the operators of
    :func:`~sptseg_lib.ssim.axis_operators`). The forward pass keeps these small gradients, one per term;
    the backward pass weighs them by the incoming gradient. Values and gradients equal the reference
    formulation's up to float rounding (``tests/test_fast_step.py``).

    ``FusedTermSums.apply(z, products, labels, present, valid, first_class, terms, alpha, gamma,
    grad_enabled)``:

    * ``z``: ``(B, C, h, w)`` float token-grid logits of the chunk's classes;
    * ``products``: ``(B, C, 2h, 2w)`` :func:`~sptseg_lib.ssim.neighbour_products` of ``z`` (``None``
      without an SSIM term);
    * ``labels``: ``(B, H, W)`` long channel indices and the ignore index;
    * ``present``: ``(B, C)`` bool, the (image, class) pairs of the chunk present in ``labels``;
    * ``valid``: ``(B, H, W)`` bool pixels to count, or ``None`` (every pixel);
    * ``first_class``: the channel index of the chunk's first class;
    * ``terms``: names out of ``"focal"``, ``"ssim"``, ``"dice"``; ``alpha``, ``gamma``: the focal's;
    * ``grad_enabled``: ``torch.is_grad_enabled()`` at the call (no gradient work without it).

    Returns ``(len(terms),)``: the stacked sums, one per name of ``terms`` (un-normalised, as
    :func:`~sptseg_lib.losses.terms.focal_sum`, :func:`~sptseg_lib.losses.terms.ssim_sum` and
    :func:`~sptseg_lib.losses.terms.dice_sum`).
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx,
        z: torch.Tensor,
        products: torch.Tensor | None,
        labels: torch.Tensor,
        present: torch.Tensor,
        valid: torch.Tensor | None,
        first_class: int,
        terms: tuple[str, ...],
        alpha: float,
        gamma: float,
        grad_enabled: bool,
    ) -> torch.Tensor:
        b, c, h, w = z.shape
        big_h, big_w = labels.shape[-2:]
        dtype, device = z.dtype, z.device
        need = grad_enabled and ctx.needs_input_grad[0]
        u_h = ssim.interpolation_operator(h, big_h, dtype, device)  # (H, h)
        u_w = ssim.interpolation_operator(w, big_w, dtype, device)  # (W, w)
        classes = torch.arange(first_class, first_class + c, device=device)[:, None, None]
        sums: dict[str, torch.Tensor | float] = dict.fromkeys(terms, 0.0)
        grads = {name: torch.zeros_like(z) for name in terms} if need else {}
        valid_f = None if valid is None else valid.to(dtype)[:, None]  # (B, 1, H, W)
        focal_scale: torch.Tensor | float = 1.0 / (big_h * big_w)
        if valid_f is not None:  # each pixel's share of its pair's mean
            focal_scale = valid_f / valid_f.flatten(1).sum(1).clamp(min=1)[:, None, None, None]
        pres = present.to(dtype)
        blocks = _image_blocks(b, c, big_h * big_w)
        block_numel = max((i.stop - i.start) * (k.stop - k.start) for i, k in blocks) * big_h * big_w
        scratch = _WORKSPACE.buffers(block_numel, dtype, device)
        mask_scratch = torch.empty(block_numel, dtype=torch.bool, device=device)

        def to_grid(g: torch.Tensor) -> torch.Tensor:
            """``(..., H, W) -> (..., h, w)``: the upsampling's transpose."""
            return (u_h.T @ g) @ u_w

        ssim_on = "ssim" in terms
        if ssim_on:
            assert products is not None
            a_h, b_h = ssim.axis_operators(h, big_h, ssim.WINDOW_SIZE, ssim.SIGMA, dtype, device)
            a_w, b_w = ssim.axis_operators(w, big_w, ssim.WINDOW_SIZE, ssim.SIGMA, dtype, device)
            window = ssim.gaussian_window_1d(ssim.WINDOW_SIZE, ssim.SIGMA).to(device=device, dtype=dtype)
            operators = None
            if big_h * big_w <= SMOOTH_BY_PRODUCTS:
                operators = (
                    ssim.window_operator(big_h, ssim.WINDOW_SIZE, ssim.SIGMA, dtype, device),
                    ssim.window_operator(big_w, ssim.WINDOW_SIZE, ssim.SIGMA, dtype, device),
                )
            grad_products = torch.zeros_like(products) if need else None
            # The present (image, class) maps, row-major, with their targets, G*y and G*(xy), in one go.
            pairs = present.flatten().nonzero().squeeze(1)
            p_img, p_cls = pairs // c, pairs % c
            y_p = (labels[p_img] == classes[p_cls]).to(dtype)  # (k, H, W)
            mu_y_p, e_xy_p = torch.zeros_like(y_p), torch.zeros_like(y_p)
            if len(pairs):
                x_p = (u_h @ z[p_img, p_cls]) @ u_w.T
                mu_y_p = _gaussian_smooth(y_p, window, operators)
                e_xy_p = _gaussian_smooth(x_p.mul_(y_p), window, operators)
            g_exy_p = torch.empty_like(y_p) if need else None
            # each block's present maps are a run of ``pairs``: [start, stop) of its first and last map
            first_maps = [i.start * c + k.start for i, k in blocks] + [b * c]
            bounds = torch.searchsorted(pairs, torch.tensor(first_maps, device=device)).tolist()

        for index, (images, cs) in enumerate(blocks):
            zb = z[images, cs]  # (Bi, Cb, h, w)
            shape = (*zb.shape[:2], big_h, big_w)
            n = zb.shape[0] * zb.shape[1] * big_h * big_w
            buf = [t[:n].view(shape) for t in scratch]
            xb = torch.matmul(u_h @ zb, u_w.T, out=buf[10])  # the upsampled logits
            mask = torch.eq(labels[images, None], classes[cs], out=mask_scratch[:n].view(shape))  # targets
            tb = buf[9].copy_(mask)
            vb = None if valid_f is None else valid_f[images]
            if "focal" in terms:
                scale = focal_scale if isinstance(focal_scale, float) else focal_scale[images]
                total, g = _focal_block(xb, mask, tb, alpha, gamma, scale, need, buf)
                sums["focal"] += total
                if g is not None:
                    grads["focal"][images, cs] = to_grid(g)
            if "dice" in terms:
                prob = torch.sigmoid(xb)
                pv = prob if vb is None else prob * vb
                numerator = 2 * (pv * tb).sum((2, 3)) + 1
                denominator = pv.sum((2, 3)) + tb.sum((2, 3)) + 1
                sums["dice"] += ((1 - numerator / denominator) * pres[images, cs]).sum()
                if need:
                    first = (numerator / denominator**2 * pres[images, cs])[..., None, None]
                    second = (-2 / denominator * pres[images, cs])[..., None, None]
                    g = (tb * second).add_(first).mul_(prob.neg().add_(1).mul_(prob))
                    grads["dice"][images, cs] = to_grid(g if vb is None else g.mul_(vb))
            if ssim_on:
                assert products is not None
                mu_x = torch.matmul(a_h @ zb, a_w.T, out=buf[6])
                e_xx = torch.matmul(b_h @ products[images, cs], b_w.T, out=buf[7])
                lo, hi = bounds[index], bounds[index + 1]
                at = pairs[lo:hi] - first_maps[index]  # the block's present maps
                mu_y, e_xy = buf[8].zero_(), buf[9].zero_()
                mu_y.view(-1, big_h, big_w).index_copy_(0, at, mu_y_p[lo:hi])
                e_xy.view(-1, big_h, big_w).index_copy_(0, at, e_xy_p[lo:hi])
                g_exy = None if g_exy_p is None else g_exy_p[lo:hi]
                total, g_mu, g_exx = _ssim_block(mu_x, e_xx, e_xy, mu_y, vb, at, g_exy, buf[:6])
                sums["ssim"] += total
                if g_mu is not None and g_exx is not None:
                    assert grad_products is not None
                    grads["ssim"][images, cs] = (a_h.T @ g_mu) @ a_w
                    grad_products[images, cs] = (b_h.T @ g_exx) @ b_w
        if need and ssim_on and len(pairs):
            # ∂/∂x through G*(xy), present maps only
            g_x = _gaussian_smooth(g_exy_p, window, operators).mul_(y_p)
            grads["ssim"].index_put_((p_img, p_cls), to_grid(g_x), accumulate=True)
        if need:
            ctx.save_for_backward(torch.stack([grads[n] for n in terms]), grad_products if ssim_on else None)
            ctx.ssim_index = terms.index("ssim") if ssim_on else None
        return torch.stack([torch.as_tensor(sums[n], dtype=dtype, device=device) for n in terms])

    @staticmethod
    @once_differentiable  # the saved gradients are constants: no second derivatives through them
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        grads, grad_products = ctx.saved_tensors
        g_z = torch.tensordot(grad, grads, dims=1)
        g_p = None if grad_products is None else grad_products * grad[ctx.ssim_index]
        return g_z, g_p, None, None, None, None, None, None, None, None


__all__ = ["FUSED_BLOCK_ELEMENTS", "SMOOTH_BY_PRODUCTS", "FusedTermSums"]
