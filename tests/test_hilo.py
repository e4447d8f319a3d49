"""HiLo attention (eq. 4-6) against a naive per-window / per-pooled-key implementation with loops."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from sptseg_lib.hilo import HiLoAttention

DIM, HEADS = 16, 4


def _linear(x: torch.Tensor, layer: torch.nn.Linear | None) -> torch.Tensor:
    """x @ W^T + b written out; ``layer=None`` is the identity."""
    if layer is None:
        return x
    y = x @ layer.weight.detach().T
    return y if layer.bias is None else y + layer.bias.detach()


def _softmax_attention(q: torch.Tensor, keys: list[torch.Tensor], values: list[torch.Tensor], scale: float):
    """One query vector against a Python list of keys/values: softmax(q·k * scale) weighted sum."""
    scores = torch.stack([torch.dot(q, k) * scale for k in keys])
    weights = torch.exp(scores - scores.max())
    weights = weights / weights.sum()
    return sum(wt * v for wt, v in zip(weights, values))


def _padded_map(x: torch.Tensor, grid: tuple[int, int], ws: int) -> torch.Tensor:
    """(H*W, D) tokens -> (Hp, Wp, D) map with zeros appended right and bottom."""
    h, w = grid
    hp, wp = math.ceil(h / ws) * ws, math.ceil(w / ws) * ws
    out = torch.zeros(hp, wp, x.shape[-1], dtype=x.dtype)
    for i in range(h):
        for j in range(w):
            out[i, j] = x[i * w + j]
    return out


def _naive_hifi(m: HiLoAttention, xmap: torch.Tensor) -> torch.Tensor:
    """Hi-Fi heads on one padded map (Hp, Wp, D), one window and one head at a time."""
    ws, hd = m.window_size, m.head_dim
    hp, wp, _ = xmap.shape
    out = torch.zeros(hp, wp, m.h_dim, dtype=xmap.dtype)
    for wy in range(0, hp, ws):
        for wx in range(0, wp, ws):
            cells = [(wy + a, wx + b) for a in range(ws) for b in range(ws)]
            qkv = [_linear(xmap[i, j], m.h_qkv) for i, j in cells]
            for head in range(m.h_heads):
                sl_q = slice(head * hd, (head + 1) * hd)
                sl_k = slice(m.h_dim + head * hd, m.h_dim + (head + 1) * hd)
                sl_v = slice(2 * m.h_dim + head * hd, 2 * m.h_dim + (head + 1) * hd)
                keys = [t[sl_k] for t in qkv]
                values = [t[sl_v] for t in qkv]
                for (i, j), t in zip(cells, qkv):
                    out[i, j, sl_q] = _softmax_attention(t[sl_q], keys, values, hd**-0.5)
    proj = m.h_proj if m.hifi_projection else None
    return _linear(out, proj)


def _naive_lofi(m: HiLoAttention, xmap: torch.Tensor) -> torch.Tensor:
    """Lo-Fi heads on one padded map: every position queries the ws x ws block means (Python loops)."""
    ws, hd = m.window_size, m.head_dim
    hp, wp, _ = xmap.shape
    pooled = []
    for by in range(0, hp, ws):
        for bx in range(0, wp, ws):
            total = torch.zeros(xmap.shape[-1], dtype=xmap.dtype)
            for a in range(ws):
                for b in range(ws):
                    total = total + xmap[by + a, bx + b]
            pooled.append(total / (ws * ws))
    kv = [_linear(p, m.l_kv) for p in pooled]
    out = torch.zeros(hp, wp, m.l_dim, dtype=xmap.dtype)
    for i in range(hp):
        for j in range(wp):
            q = _linear(xmap[i, j], m.l_q)
            for head in range(m.l_heads):
                sl = slice(head * hd, (head + 1) * hd)
                sl_v = slice(m.l_dim + head * hd, m.l_dim + (head + 1) * hd)
                keys = [t[sl] for t in kv]
                values = [t[sl_v] for t in kv]
                out[i, j, sl] = _softmax_attention(q[sl], keys, values, hd**-0.5)
    return _linear(out, m.l_proj)


def _naive_hilo(m: HiLoAttention, x: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Pad, run both branches, crop, concatenate [hifi | lofi]; x: (B, H*W, D) -> (B, H*W, D)."""
    h, w = grid
    outs = []
    for sample in x:
        xmap = _padded_map(sample, grid, m.window_size)
        parts = []
        if m.h_heads:
            parts.append(_naive_hifi(m, xmap)[:h, :w])
        if m.l_heads:
            parts.append(_naive_lofi(m, xmap)[:h, :w])
        outs.append(torch.cat(parts, dim=-1).reshape(h * w, -1))
    return torch.stack(outs)


def _randomise_biases(m: torch.nn.Module) -> None:
    """Default Linear biases are small; make them large so that bias handling (padding!) is tested."""
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.Linear) and mod.bias is not None:
                mod.bias.normal_()


@pytest.mark.parametrize(
    ("grid", "ws", "alpha", "qkv_bias", "hifi_projection"),
    [
        ((6, 6), 3, 0.5, False, True),  # divisible, square
        ((4, 6), 2, 0.5, True, True),  # divisible, non-square
        ((32, 32), 3, 0.5, False, False),  # padded 32 -> 33, as SPT
        ((7, 10), 3, 0.75, True, False),  # padded, non-square, biases at the padded positions
        ((5, 4), 2, 0.25, True, True),  # padded in one direction only
    ],
)
def test_hilo_matches_naive_loops(grid, ws, alpha, qkv_bias, hifi_projection) -> None:
    m = HiLoAttention(
        DIM, HEADS, window_size=ws, alpha=alpha, qkv_bias=qkv_bias, hifi_projection=hifi_projection
    )
    _randomise_biases(m)
    assert m.h_heads > 0 and m.l_heads > 0
    b = 1 if grid == (32, 32) else 2
    x = torch.randn(b, grid[0] * grid[1], DIM, dtype=torch.float64)
    m = m.double()
    out = m(x, grid)
    assert out.shape == x.shape
    torch.testing.assert_close(out, _naive_hilo(m, x, grid))


def test_hifi_projection_switch_creates_no_parameter() -> None:
    on = HiLoAttention(DIM, HEADS, window_size=3, alpha=0.5, hifi_projection=True)
    off = HiLoAttention(DIM, HEADS, window_size=3, alpha=0.5, hifi_projection=False)
    names_on = {n for n, _ in on.named_parameters()}
    names_off = {n for n, _ in off.named_parameters()}
    assert names_on - names_off == {"h_proj.weight", "h_proj.bias"}
    assert not any(n.startswith("h_proj") for n in names_off)


def test_alpha_one_is_pure_pooled_lofi() -> None:
    grid = (5, 7)
    m = HiLoAttention(DIM, HEADS, window_size=3, alpha=1.0, qkv_bias=True).double()
    _randomise_biases(m)
    assert (m.h_heads, m.l_heads) == (0, HEADS)
    assert not any(n.startswith("h_") for n, _ in m.named_parameters())
    x = torch.randn(2, grid[0] * grid[1], DIM, dtype=torch.float64)
    expected = torch.stack(
        [_naive_lofi(m, _padded_map(s, grid, 3))[: grid[0], : grid[1]].reshape(-1, DIM) for s in x]
    )
    torch.testing.assert_close(m(x, grid), expected)


def test_alpha_zero_is_pure_window_hifi() -> None:
    grid = (6, 5)
    m = HiLoAttention(DIM, HEADS, window_size=2, alpha=0.0, qkv_bias=True).double()
    _randomise_biases(m)
    assert (m.h_heads, m.l_heads) == (HEADS, 0)
    assert not any(n.startswith("l_") for n, _ in m.named_parameters())
    x = torch.randn(2, grid[0] * grid[1], DIM, dtype=torch.float64)
    expected = torch.stack(
        [_naive_hifi(m, _padded_map(s, grid, 2))[: grid[0], : grid[1]].reshape(-1, DIM) for s in x]
    )
    torch.testing.assert_close(m(x, grid), expected)


def test_window_one_is_plain_multi_head_attention() -> None:
    grid = (5, 6)
    m = HiLoAttention(DIM, HEADS, window_size=1, alpha=0.5, qkv_bias=True).double()
    _randomise_biases(m)
    assert (m.h_heads, m.l_heads) == (0, HEADS)  # ws = 1: every head global, no pooling (LITv2)
    b, n = 2, grid[0] * grid[1]
    x = torch.randn(b, n, DIM, dtype=torch.float64)
    q = m.l_q(x).reshape(b, n, HEADS, -1).transpose(1, 2)
    k, v = m.l_kv(x).reshape(b, n, 2, HEADS, -1).permute(2, 0, 3, 1, 4)
    mha = F.scaled_dot_product_attention(q, k, v)  # default scale head_dim ** -0.5
    expected = m.l_proj(mha.transpose(1, 2).reshape(b, n, DIM))
    torch.testing.assert_close(m(x, grid), expected)


def test_attention_maps_are_distributions_with_documented_shapes() -> None:
    m = HiLoAttention(DIM, HEADS, window_size=3, alpha=0.5)
    x = torch.randn(2, 7 * 8, DIM)
    z, maps = m(x, (7, 8), return_attention=True)
    torch.testing.assert_close(z, m(x, (7, 8)))
    assert maps.padded_grid == (9, 9) and maps.pooled_grid == (3, 3)
    assert maps.hifi.shape == (2, m.h_heads, 3, 3, 9, 9)
    assert maps.lofi.shape == (2, m.l_heads, 81, 9)
    for a in (maps.hifi, maps.lofi):
        assert (a >= 0).all()
        torch.testing.assert_close(a.sum(-1), torch.ones_like(a.sum(-1)))
    only_lofi = HiLoAttention(DIM, HEADS, window_size=3, alpha=1.0)
    _, maps = only_lofi(x, (7, 8), return_attention=True)
    assert maps.hifi is None and maps.lofi is not None


def test_gradients_reach_every_parameter() -> None:
    m = HiLoAttention(DIM, HEADS, window_size=3, alpha=0.5, qkv_bias=True)
    m(torch.randn(1, 7 * 7, DIM), (7, 7)).square().sum().backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dim": 18, "num_heads": 4}, "multiple of num_heads"),
        ({"dim": 16, "window_size": 0}, "window_size"),
        ({"dim": 16, "alpha": 1.5}, "alpha"),
    ],
)
def test_bad_construction_is_explained(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        HiLoAttention(**kwargs)


def test_bad_grid_is_explained() -> None:
    m = HiLoAttention(DIM, HEADS)
    with pytest.raises(ValueError, match="do not form the grid 4x5"):
        m(torch.randn(1, 21, DIM), (4, 5))
    with pytest.raises(ValueError, match=r"\(B, H\*W, 16\)"):
        m(torch.randn(1, 20, DIM + 1), (4, 5))


def test_hilo_query_maps_read_the_right_entries() -> None:
    import numpy as np

    from sptseg_lib.hilo import hilo_query_maps

    grid, ws = (6, 6), 3
    attn = HiLoAttention(16, num_heads=4, window_size=ws, alpha=0.5, hifi_projection=False)
    _, maps = attn(torch.randn(1, 36, 16), grid, return_attention=True)
    query = (4, 1)
    hifi, lofi = hilo_query_maps(maps, grid, query, head=1)
    # Hi-Fi: weights only inside the query's window, summing to one.
    outside = np.ones(grid, dtype=bool)
    outside[3:6, 0:3] = False
    assert np.all(hifi[outside] == 0) and hifi.sum() == pytest.approx(1.0, abs=1e-5)
    expected = maps.hifi[0, 1, 1, 0, (4 % ws) * ws + 1 % ws].reshape(ws, ws).detach().numpy()
    np.testing.assert_allclose(hifi[3:6, 0:3], expected)
    # Lo-Fi: every cell carries the weight of the pooled key that averages it.
    row = maps.lofi[0, 1, query[0] * 6 + query[1]].detach().numpy()
    for i in range(6):
        for j in range(6):
            assert lofi[i, j] == pytest.approx(row[(i // ws) * 2 + j // ws])
