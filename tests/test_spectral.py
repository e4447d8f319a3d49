"""Spectral prompt (eq. 1) against a direct evaluation with explicit DFT sums."""

from __future__ import annotations

import math

import pytest
import torch

from sptseg_lib.spectral import SpectralPrompt, resize_filter, spectral_prompt


def _direct_eq1(h_tokens: torch.Tensor, g: torch.Tensor, w_half: torch.Tensor, grid: tuple[int, int]):
    """S = IFFT2(FFT2(H ⊙ g) ⊙ w_f), with DFT sums written out element by element (float64).

    The full-spectrum filter is the Hermitian extension of the stored half spectrum
    (W[k, l] = conj(W[-k, -l]) for the columns rfft2 does not store), which is what the real
    transform pair computes; the imaginary parts of the self-conjugate bins are discarded by irfft2.
    """
    h, w = grid
    b, _, c = h_tokens.shape
    x = (h_tokens * g[:, None, :]).reshape(b, h, w, c).to(torch.complex128)
    half = w // 2 + 1
    full = torch.zeros(h, w, c, dtype=torch.complex128)
    for k in range(h):
        for l in range(w):
            if l < half:
                full[k, l] = w_half[k, l]
            else:
                full[k, l] = w_half[(-k) % h, (-l) % w].conj()
    # self-conjugate bins must be real for a real output: irfft2 keeps their real part only
    for k in range(h):
        for l in range(w):
            if (-k) % h == k and (-l) % w == l:
                full[k, l] = full[k, l].real.to(torch.complex128)
    norm = 1.0 / math.sqrt(h * w)
    out = torch.zeros(b, h, w, c, dtype=torch.complex128)
    ks = torch.arange(h, dtype=torch.float64)
    ls = torch.arange(w, dtype=torch.float64)
    for u in range(h):
        for v in range(w):
            # forward DFT at frequency (u, v)
            phase = torch.exp(-2j * math.pi * (u * ks[:, None] / h + v * ls[None, :] / w))
            spectrum = (x * phase[None, :, :, None]).sum(dim=(1, 2)) * norm
            spectrum = spectrum * full[u, v]
            # inverse DFT contribution of this frequency to every position
            back = torch.exp(2j * math.pi * (u * ks[:, None] / h + v * ls[None, :] / w))
            out += spectrum[:, None, None, :] * back[None, :, :, None] * norm
    return out.real.reshape(b, h * w, c)


@pytest.mark.parametrize("grid", [(4, 4), (3, 5), (4, 6)])
def test_matches_direct_dft_sums(grid: tuple[int, int]) -> None:
    h, w = grid
    b, c = 2, 3
    tokens = torch.randn(b, h * w, c, dtype=torch.float64)
    g = torch.randn(b, c, dtype=torch.float64)
    weight = torch.randn(h, w // 2 + 1, c, dtype=torch.complex128)
    ours = spectral_prompt(tokens.float(), g.float(), weight.to(torch.complex64), grid)
    ref = _direct_eq1(tokens, g, weight, grid)
    torch.testing.assert_close(ours.double(), ref, atol=1e-4, rtol=1e-4)


def test_zero_filter_gives_zero_prompt() -> None:
    tokens = torch.randn(2, 16, 8)
    g = torch.randn(2, 8)
    weight = torch.zeros(4, 3, 8, dtype=torch.complex64)
    assert torch.count_nonzero(spectral_prompt(tokens, g, weight, (4, 4))) == 0


def test_all_pass_filter_returns_modulated_tokens() -> None:
    """w_f = 1 everywhere: the transform pair is the identity, so S = H ⊙ g."""
    tokens = torch.randn(2, 15, 4)
    g = torch.randn(2, 4)
    weight = torch.ones(3, 3, 4, dtype=torch.complex64)
    torch.testing.assert_close(spectral_prompt(tokens, g, weight, (3, 5)), tokens * g[:, None])


def test_gradients_reach_filter_tokens_and_cls() -> None:
    module = SpectralPrompt(width=6, grid=(4, 6), layers=(0, 1))
    tokens = torch.randn(2, 24, 6, requires_grad=True)
    g = torch.randn(2, 6, requires_grad=True)
    module(tokens, g, layer=1, grid=(4, 6)).square().sum().backward()
    assert module.filters["shared"].grad is not None
    assert module.filters["shared"].grad.abs().sum() > 0
    assert tokens.grad is not None and g.grad is not None


def test_shared_versus_per_layer_filters() -> None:
    shared = SpectralPrompt(width=4, grid=(4, 4), layers=(0, 1), shared=True)
    per_layer = SpectralPrompt(width=4, grid=(4, 4), layers=(0, 1), shared=False)
    assert list(shared.filters) == ["shared"]
    assert sorted(per_layer.filters) == ["0", "1"]
    assert shared.filter(0) is not None and torch.equal(shared.filter(0), shared.filter(1))
    assert not torch.equal(per_layer.filter(0), per_layer.filter(1))
    with pytest.raises(KeyError, match="no spectral prompt"):
        shared.filter(5)


def test_filter_init_statistics() -> None:
    module = SpectralPrompt(width=64, grid=(32, 32), layers=(0,), init_std=0.02)
    param = module.filters["shared"]
    assert param.shape == (32, 17, 64, 2)
    assert abs(param.std().item() - 0.02) < 0.002


def test_grid_mismatch_errors_or_interpolates() -> None:
    strict = SpectralPrompt(width=4, grid=(4, 4), layers=(0,), grid_mode="error")
    tokens, g = torch.randn(1, 36, 4), torch.randn(1, 4)
    with pytest.raises(ValueError, match="built for a 4x4 token grid but got 6x6"):
        strict(tokens, g, layer=0, grid=(6, 6))
    loose = SpectralPrompt(width=4, grid=(4, 4), layers=(0,), grid_mode="interpolate")
    assert loose(tokens, g, layer=0, grid=(6, 6)).shape == (1, 36, 4)


def test_resize_filter_keeps_a_constant_filter_constant() -> None:
    weight = torch.full((4, 3, 2), 0.5 - 0.25j, dtype=torch.complex64)
    resized = resize_filter(weight, (8, 10))
    assert resized.shape == (8, 6, 2)
    torch.testing.assert_close(resized, torch.full((8, 6, 2), 0.5 - 0.25j, dtype=torch.complex64))


def test_shape_errors_are_clear() -> None:
    cfloat = torch.cfloat
    with pytest.raises(ValueError, match="do not form a 4x4 grid"):
        spectral_prompt(torch.randn(1, 15, 2), torch.randn(1, 2), torch.ones(4, 3, 2, dtype=cfloat), (4, 4))
    with pytest.raises(ValueError, match="does not fit a 4x4 grid"):
        spectral_prompt(torch.randn(1, 16, 2), torch.randn(1, 2), torch.ones(4, 4, 2, dtype=cfloat), (4, 4))


def test_spectral_prompt_steps_end_in_the_library_result() -> None:
    from sptseg_lib.spectral import spectral_prompt_steps

    h, w, c = 6, 8, 5
    tokens, cls = torch.randn(h, w, c), torch.randn(c)
    weight = torch.randn(h, w // 2 + 1, c, dtype=torch.complex64)
    steps = spectral_prompt_steps(tokens, cls, weight)
    expected = spectral_prompt(tokens.reshape(1, h * w, c), cls[None], weight, (h, w)).reshape(h, w, c)
    torch.testing.assert_close(steps["S"], expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(steps["H+S"], tokens + expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(steps["H*g"], tokens * cls)
    assert steps["spectrum"].shape == (h, w // 2 + 1, c)
