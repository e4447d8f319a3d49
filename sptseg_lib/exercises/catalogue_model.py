"""Known mistakes of the model exercises (notebooks 01-03): eq. 1, the HiLo head split, one Lo-Fi query,
the eq. 7 gate. Each mistake is implemented (sometimes in several ways) so that the checker can recognise
a reader's output; the hints say what went wrong and where the library does otherwise.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .core import Mistake

# --- eq. 1: the spectral prompt -----


def _eq1(H, g, w_f, *, dim=(0, 1), fwd="ortho", inv="ortho", use_g=True, product=None, s=True):
    """Eq. 1 with one thing changed (a keyword); ``product(spectrum, w_f)`` replaces the complex product."""
    h, w, _ = H.shape
    spectrum = torch.fft.rfft2(H * g if use_g else H, dim=dim, norm=fwd)
    filtered = spectrum * w_f if product is None else product(spectrum, w_f)
    return torch.fft.irfft2(filtered, s=(h, w) if s else None, dim=dim, norm=inv)


def _componentwise(spectrum: torch.Tensor, w_f: torch.Tensor) -> torch.Tensor:
    """(a + ib)·(c + id) taken as ac + i·bd, part by part: what multiplying (..., 2) real views gives."""
    return torch.complex(spectrum.real * w_f.real, spectrum.imag * w_f.imag)


def _full_ifft(H, g, w_f, part):
    spectrum = torch.fft.rfft2(H * g, dim=(0, 1), norm="ortho") * w_f
    out = torch.fft.ifft2(spectrum, dim=(0, 1), norm="ortho")
    return part(out)


EQ1_MISTAKES = (
    Mistake(
        "fft_axes",
        "the FFTs run over the wrong axes. H is (h, w, C): the 2-D transforms of eq. 1 run over the token "
        "grid, "
        "dim=(0, 1); torch.fft.rfft2's default dim=(-2, -1) transforms w and C instead (so the spectrum no "
        "longer lines up with w_f's (h, w//2+1, C)).",
        "FFT over the wrong axes",
        (
            lambda H, g, w_f: _eq1(H, g, w_f, dim=(1, 2)),
            lambda H, g, w_f: torch.fft.irfftn(torch.fft.rfftn(H * g, norm="ortho") * w_f, norm="ortho"),
        ),
    ),
    Mistake(
        "full_fft",
        "the forward transform is the full fft2: w_f has w//2+1 columns because it filters the half-spectrum "
        "of the *real* transform, torch.fft.rfft2 (the other columns mirror these for a real input), and "
        "the inverse is irfft2(..., s=(h, w)). (rfft2 with dim=(1, 0) fails the same way: it halves the h "
        "axis, the last one listed, instead of w.)",
        "fft2 instead of rfft2",
        (
            lambda H, g, w_f: (
                torch.fft.ifft2(torch.fft.fft2(H * g, dim=(0, 1), norm="ortho") * w_f, dim=(0, 1)).real
            ),
            lambda H, g, w_f: torch.fft.ifft2(torch.fft.fft2(H * g, dim=(0, 1)) * w_f, dim=(0, 1)),
        ),
    ),
    Mistake(
        "no_class_token",
        "g is missing: eq. 1 transforms H ⊙ g, the patch tokens times the class token (one gain per channel, "
        "the same at every patch), not H alone.",
        "forgetting H ⊙ g",
        (lambda H, g, w_f: _eq1(H, g, w_f, use_g=False),),
    ),
    Mistake(
        "filter_not_complex",
        "the filter is used as a real number: eq. 1 multiplies the spectrum by the complex w_f (the complex "
        "product changes phases as well as amplitudes); w_f.real or w_f.abs() keeps only part of it.",
        "only the real part (or magnitude) of w_f",
        (
            lambda H, g, w_f: _eq1(H, g, w_f, product=lambda s, f: s * f.real),
            lambda H, g, w_f: _eq1(H, g, w_f, product=lambda s, f: s * f.abs()),
        ),
    ),
    Mistake(
        "componentwise_product",
        "the complex product is taken part by part (real times real, imaginary times imaginary), as "
        "multiplying "
        "two (..., 2) real views does: (a+ib)(c+id) = (ac - bd) + i(ad + bc); multiply complex tensors.",
        "real and imaginary parts multiplied separately",
        (lambda H, g, w_f: _eq1(H, g, w_f, product=_componentwise),),
    ),
    Mistake(
        "fft_norm",
        "a normalisation mismatch: the forward and inverse transforms must use the same convention (the "
        "library "
        "uses norm='ortho' for both); an orthonormal forward with the default inverse, or the reverse, "
        "scales S "
        "by 1/sqrt(h·w) or sqrt(h·w).",
        "mismatched FFT normalisations",
        (
            lambda H, g, w_f: _eq1(H, g, w_f, fwd="ortho", inv="backward"),
            lambda H, g, w_f: _eq1(H, g, w_f, fwd="backward", inv="ortho"),
            lambda H, g, w_f: _eq1(H, g, w_f, fwd="ortho", inv="forward"),
            lambda H, g, w_f: _eq1(H, g, w_f, fwd="forward", inv="ortho"),
        ),
    ),
    Mistake(
        "irfft_size",
        "the inverse transform was not told the grid's size: irfft2 of a (h, w//2+1) half-spectrum guesses "
        "an "
        "even width 2·(w//2), one column short for an odd w. Pass s=(h, w).",
        "irfft2 without s=(h, w)",
        (lambda H, g, w_f: _eq1(H, g, w_f, s=False),),
    ),
    Mistake(
        "complex_inverse",
        "the inverse is a complex ifft2 of the half-spectrum: rfft2 keeps only w//2+1 columns (the others "
        "are "
        "their mirror images), so the inverse must be irfft2(..., s=(h, w)), which is real and (h, w, C); "
        ".real or .abs() of an ifft2 does not give S.",
        "a complex ifft2 (or its real part / magnitude) instead of irfft2",
        (
            lambda H, g, w_f: _full_ifft(H, g, w_f, lambda t: t),
            lambda H, g, w_f: _full_ifft(H, g, w_f, lambda t: t.real),
            lambda H, g, w_f: _full_ifft(H, g, w_f, lambda t: t.abs()),
        ),
    ),
)

# --- eq. 4-5: the head split ----------------------------------------------------------------------------

HEAD_SPLIT_MISTAKES = (
    Mistake(
        "paper_split",
        "Hi-Fi and Lo-Fi are swapped. The paper's text gives alpha·N_h heads to Hi-Fi, but LITv2 and the "
        "reference code give int(alpha·N_h) heads to Lo-Fi (the pooled, global heads) and the rest to Hi-Fi; "
        "the library follows the code (SPT's alpha = 0.9: 7 Lo-Fi heads and 1 Hi-Fi head of 8).",
        "Hi-Fi and Lo-Fi swapped (the paper's text)",
        (
            lambda num_heads, alpha: (int(num_heads * alpha), num_heads - int(num_heads * alpha)),
            lambda num_heads, alpha: (round(num_heads * alpha), num_heads - round(num_heads * alpha)),
        ),
    ),
    Mistake(
        "rounding",
        "alpha·N_h is rounded (or rounded up); the library truncates, l_heads = int(num_heads * alpha), as "
        "LITv2 does (12 heads at alpha 0.9: 10 Lo-Fi heads, not 11).",
        "rounding instead of truncating",
        (
            lambda num_heads, alpha: (num_heads - round(num_heads * alpha), round(num_heads * alpha)),
            lambda num_heads, alpha: (num_heads - math.ceil(num_heads * alpha), math.ceil(num_heads * alpha)),
            lambda num_heads, alpha: (num_heads - int(num_heads * alpha + 0.5), int(num_heads * alpha + 0.5)),
        ),
    ),
)

# --- eq. 5: one Lo-Fi query ------------------------------------------------------------------------------


def _lofi(q, x, w_k, w_v, window, *, pool="avg", pad=True, scale=True):
    """One Lo-Fi query with one thing changed: ``pool`` ("avg", "max", "real", "none"), ``pad``, ``scale``."""
    h, w, _ = x.shape
    grid = x.permute(2, 0, 1)[None]  # (1, D, h, w)
    if pad:
        grid = F.pad(grid, (0, (-w) % window, 0, (-h) % window))
    if pool == "avg":
        pooled = F.avg_pool2d(grid, window)
    elif pool == "max":
        pooled = F.max_pool2d(grid, window)
    elif pool == "real":  # each block's sum over its real tokens only
        ones = F.pad(torch.ones(1, 1, h, w, dtype=x.dtype), (0, (-w) % window, 0, (-h) % window))
        pooled = F.avg_pool2d(grid, window) / F.avg_pool2d(ones, window)
    else:
        pooled = grid
    tokens = pooled[0].flatten(1).T
    k, v = tokens @ w_k, tokens @ w_v
    logits = k @ q * (q.shape[0] ** -0.5 if scale else 1.0)
    return torch.softmax(logits, 0) @ v


LOFI_MISTAKES = (
    Mistake(
        "no_scale",
        "the 1/sqrt(d) scale is missing: the attention logits are q·k / sqrt(d) with d the head width "
        "(head_dim ** -0.5 in the library), which keeps the softmax from saturating.",
        "no 1/sqrt(d) scale",
        (lambda q, x, w_k, w_v, window: _lofi(q, x, w_k, w_v, window, scale=False),),
    ),
    Mistake(
        "max_pool",
        "the keys come from max-pooling: Lo-Fi keys and values are projected from the *average* of each "
        "ws x ws block (F.avg_pool2d in the library), a low-pass summary of the block.",
        "max-pooling instead of average pooling",
        (lambda q, x, w_k, w_v, window: _lofi(q, x, w_k, w_v, window, pool="max"),),
    ),
    Mistake(
        "no_pooling",
        "the query attends to every token: Lo-Fi heads attend to the ws x ws average-pooled map (one key per "
        "block), not to the full grid; that is what makes them cheap and coarse.",
        "no pooling (attending to every token)",
        (
            lambda q, x, w_k, w_v, window: _lofi(q, x, w_k, w_v, window, pool="none", pad=False),
            lambda q, x, w_k, w_v, window: _lofi(q, x, w_k, w_v, window, pool="none"),
        ),
    ),
    Mistake(
        "padding_excluded",
        "the border blocks average the real tokens only: the library zero-pads the grid at the bottom and on "
        "the right to a multiple of ws and the padded zeros count in each block's mean (as LITv2's "
        "F.avg_pool2d on the padded map does).",
        "the padding left out of the border blocks' mean",
        (lambda q, x, w_k, w_v, window: _lofi(q, x, w_k, w_v, window, pool="real"),),
    ),
    Mistake(
        "no_padding",
        "the last partial row or column of blocks is dropped: pooling the unpadded grid keeps only the full "
        "ws x ws blocks. Zero-pad the grid at the bottom and on the right to a multiple of ws first.",
        "partial blocks dropped (no zero padding)",
        (lambda q, x, w_k, w_v, window: _lofi(q, x, w_k, w_v, window, pad=False),),
    ),
)

# --- eq. 7: the gate -----


def _gate(z, xi, P, *, sim="cos", transpose=False, on_projected=False):
    """Eq. 7 with one thing changed: the similarity ``sim``, ``P`` transposed, or the cosine of ``z @ P``."""
    cos = F.cosine_similarity((z @ P) if on_projected else z, xi[None], dim=1)
    gate = {
        "cos": cos.clamp(0, 1),
        "raw": cos,
        "dot": (z @ xi).clamp(0, 1),
        "sigmoid": torch.sigmoid(cos),
        "abs": cos.abs(),
    }[sim]
    return (gate[:, None] * z) @ (P.T if transpose else P)


GATE_MISTAKES = (
    Mistake(
        "no_clamp",
        "the cosine is not clamped: sim(z_i, ξ) = clamp(cos(z_i, ξ), 0, 1), so a token pointing away from "
        "ξ is "
        "switched off (gate 0), not flipped by a negative gate.",
        "no clamp to [0, 1]",
        (lambda z, xi, P: _gate(z, xi, P, sim="raw"), lambda z, xi, P: _gate(z, xi, P, sim="abs")),
    ),
    Mistake(
        "dot_product",
        "the gate is a plain dot product z_i · ξ: it must be the cosine, z_i · ξ / (|z_i| |ξ|), which "
        "ignores "
        "the lengths of the token and of ξ.",
        "a dot product instead of the cosine",
        (
            lambda z, xi, P: _gate(z, xi, P, sim="dot"),
            lambda z, xi, P: ((z @ xi)[:, None] * z) @ P,
        ),
    ),
    Mistake(
        "sigmoid",
        "the gate is a sigmoid of the similarity: the library clamps the cosine to [0, 1] (a token pointing "
        "away from ξ gets exactly 0; a sigmoid would give it about 0.27 to 0.5).",
        "a sigmoid instead of the clamp",
        (lambda z, xi, P: _gate(z, xi, P, sim="sigmoid"),),
    ),
    Mistake(
        "P_transposed",
        "P is applied transposed: the library computes (sim_i · z_i) @ P, tokens as rows multiplied by P on "
        "the right; P @ z_i with z_i a column is z_i @ Pᵀ.",
        "P transposed",
        (lambda z, xi, P: _gate(z, xi, P, transpose=True),),
    ),
    Mistake(
        "gate_after_P",
        "the similarity is measured on the projected tokens z_i @ P: eq. 7 gates each token by its own "
        "cos(z_i, ξ), then applies P.",
        "the cosine taken after P",
        (lambda z, xi, P: _gate(z, xi, P, on_projected=True),),
    ),
)
