"""Decoders (eq. 7-9, ZegCLIP baseline) against explicit per-element computations and counts."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from sptseg_lib.decoder import (
    MaskDecoder,
    RelationshipDescriptor,
    SpectralGate,
    SpectralGuidedDecoderLayer,
    ZegCLIPDecoderLayer,
)

DIM, HEADS, FFN = 32, 4, 64
GRID = (5, 6)


def _inputs(b: int = 2, c: int = 3, grid: tuple[int, int] = GRID, dim: int = DIM):
    dense = F.normalize(torch.randn(b, grid[0] * grid[1], dim), dim=-1)
    g = F.normalize(torch.randn(b, dim), dim=-1)
    text = F.normalize(torch.randn(c, dim), dim=-1)
    return dense, g, text


def _n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _ffn_tail(layer, queries: torch.Tensor, update: torch.Tensor) -> torch.Tensor:
    """Post-norm residual + FFN of torch.nn.TransformerDecoderLayer, eval mode, via F.layer_norm."""
    t = layer.tail
    q = F.layer_norm(queries + update, (queries.shape[-1],), t.norm2.weight, t.norm2.bias, eps=1e-5)
    ffn = F.linear(
        torch.relu(F.linear(q, t.linear1.weight, t.linear1.bias)), t.linear2.weight, t.linear2.bias
    )
    return F.layer_norm(q + ffn, (q.shape[-1],), t.norm3.weight, t.norm3.bias, eps=1e-5)


def test_relationship_descriptor_is_phi_of_product_and_text() -> None:
    rd = RelationshipDescriptor(DIM)
    _, g, text = _inputs(b=2, c=4)
    out = rd(g, text)
    assert out.shape == (2, 4, DIM)
    w, bias = rd.phi.weight, rd.phi.bias
    for b in range(2):
        for c in range(4):
            feature = torch.cat([text[c] * g[b], text[c]])  # [t ⊙ g ; t], eq. 8
            torch.testing.assert_close(out[b, c], w @ feature + bias)


def test_gate_similarity_is_a_clamped_cosine() -> None:
    gate = SpectralGate(DIM)
    z = torch.randn(2, 40, DIM)
    sim = gate.similarity(z)
    assert sim.shape == (2, 40, 1)
    assert (sim >= 0).all() and (sim <= 1).all()
    for b in range(2):
        for i in range(40):
            cos = torch.dot(z[b, i], gate.xi) / (z[b, i].norm() * gate.xi.norm())
            torch.testing.assert_close(sim[b, i, 0], cos.clamp(0, 1))
    assert (sim == 0).any() and ((sim > 0) & (sim < 1)).any()  # both regimes were exercised


def test_gate_keeps_a_token_parallel_to_xi_and_applies_p_per_token() -> None:
    gate = SpectralGate(DIM)
    torch.testing.assert_close(gate.P.detach(), torch.eye(DIM))
    z = torch.randn(1, 10, DIM)
    with torch.no_grad():
        gate.xi.copy_(3.0 * z[0, 4])
    z_hat = gate(z)
    torch.testing.assert_close(z_hat[0, 4], z[0, 4])  # cos = 1 and P = I: unchanged
    with torch.no_grad():
        gate.xi.copy_(-z[0, 4])
    assert gate(z)[0, 4].abs().max() == 0  # anti-parallel: gated to zero
    with torch.no_grad():
        gate.P.copy_(torch.randn(DIM, DIM))
    z_hat = gate(z)
    sim = gate.similarity(z)
    for i in range(10):
        expected = torch.stack([(sim[0, i, 0] * z[0, i] * gate.P[:, j]).sum() for j in range(DIM)])
        torch.testing.assert_close(z_hat[0, i], expected)


def test_sgd_layer_masks_and_update_match_explicit_computation() -> None:
    layer = SpectralGuidedDecoderLayer(DIM, HEADS, FFN, window_size=3, alpha=0.5).eval()
    with torch.no_grad():
        layer.gate.P.copy_(torch.randn(DIM, DIM) / DIM**0.5)
    dense, _, _ = _inputs()
    queries = torch.randn(2, 3, DIM)
    new_queries, masks = layer(queries, dense, GRID)
    z_hat = layer.gate(layer.hilo(dense, GRID))
    n = dense.shape[1]
    assert masks.shape == (2, 3, n)
    expected = torch.empty(2, 3, n)
    for b in range(2):
        for c in range(3):
            for i in range(n):
                expected[b, c, i] = torch.dot(queries[b, c], z_hat[b, i])  # eq. 9, no scaling
    torch.testing.assert_close(masks, expected)
    torch.testing.assert_close(masks, torch.einsum("bcd,bnd->bcn", queries, z_hat))
    update = F.linear(torch.softmax(expected, dim=-1) @ z_hat, layer.proj.weight, layer.proj.bias)
    torch.testing.assert_close(new_queries, _ffn_tail(layer, queries, update))


def test_sgd_layer_uses_spt_hilo_settings() -> None:
    layer = SpectralGuidedDecoderLayer(512)
    hilo = layer.hilo
    assert (hilo.window_size, hilo.h_heads, hilo.l_heads, hilo.head_dim) == (3, 1, 7, 64)
    assert not hasattr(hilo, "h_proj")
    assert hilo.h_qkv.bias is None and hilo.l_q.bias is None and hilo.l_kv.bias is None


def test_zegclip_layer_matches_per_head_computation() -> None:
    layer = ZegCLIPDecoderLayer(DIM, HEADS, FFN).eval()
    dense, _, _ = _inputs()
    queries = torch.randn(2, 3, DIM)
    new_queries, masks = layer(queries, dense, GRID)
    hd = DIM // HEADS
    q, k, v = layer.q(queries), layer.k(dense), layer.v(dense)
    logits_sum = torch.zeros(2, 3, dense.shape[1])
    head_outputs = []
    for h in range(HEADS):
        sl = slice(h * hd, (h + 1) * hd)
        logits = torch.einsum("bcd,bnd->bcn", q[..., sl], k[..., sl]) / hd**0.5
        logits_sum += logits
        head_outputs.append(torch.softmax(logits, dim=-1) @ v[..., sl])
    torch.testing.assert_close(masks, logits_sum / HEADS)
    update = layer.proj(torch.cat(head_outputs, dim=-1))
    torch.testing.assert_close(new_queries, _ffn_tail(layer, queries, update))


@pytest.mark.parametrize("sgd", [True, False])
@pytest.mark.parametrize("c", [1, 3, 20])
def test_decoder_gives_one_mask_per_class_per_layer(sgd: bool, c: int) -> None:
    dec = MaskDecoder(DIM, num_layers=3, sgd=sgd, heads=HEADS, ffn_dim=FFN).eval()
    dense, g, text = _inputs(b=2, c=c)
    masks = dec(dense, GRID, g, text)
    assert len(masks) == 3
    for m in masks:
        assert m.shape == (2, c, *GRID)
        assert torch.isfinite(m).all()
    # chaining: each layer gets the previous layer's queries and the same pixel memory
    queries = dec.descriptor(g, text)
    for layer, m in zip(dec.layers, masks):
        queries, logits = layer(queries, dense, GRID)
        torch.testing.assert_close(m, logits.reshape(2, c, *GRID))


def _last_layer_update_names(dec: MaskDecoder) -> set[str]:
    last = len(dec.layers) - 1
    parts = ["proj", "tail"] if dec.sgd else ["v", "proj", "tail"]
    return {n for n, _ in dec.named_parameters() if any(n.startswith(f"layers.{last}.{p}.") for p in parts)}


@pytest.mark.parametrize("sgd", [True, False])
def test_gradients_reach_every_parameter(sgd: bool) -> None:
    dec = MaskDecoder(DIM, num_layers=2, sgd=sgd, heads=HEADS, ffn_dim=FFN)
    dense, g, text = _inputs()
    masks, queries = dec(dense, GRID, g, text, return_queries=True)
    (sum(m.square().mean() for m in masks) + queries.square().mean()).backward()
    for name, p in dec.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name

    # With masks alone, exactly the last layer's query update is left without gradient (see decoder.py).
    dec.zero_grad(set_to_none=True)
    sum(m.square().mean() for m in dec(dense, GRID, g, text)).backward()
    no_grad = {n for n, p in dec.named_parameters() if p.grad is None}
    assert no_grad == _last_layer_update_names(dec)


def test_layers_are_independent_copies() -> None:
    dec = MaskDecoder(DIM, num_layers=3, sgd=True, heads=HEADS, ffn_dim=FFN)
    first, second = dec.layers[0], dec.layers[1]
    torch.testing.assert_close(first.gate.xi, second.gate.xi)  # deep copies start equal ...
    with torch.no_grad():
        first.gate.xi.add_(1.0)
        first.hilo.l_q.weight.zero_()
    assert not torch.equal(first.gate.xi, second.gate.xi)  # ... but share no storage
    assert second.hilo.l_q.weight.abs().sum() > 0
    ptrs = [p.data_ptr() for p in dec.parameters()]
    assert len(ptrs) == len(set(ptrs))


def test_parameter_counts_match_the_reference() -> None:
    d, ffn = 512, 2048
    linear = lambda i, o, bias=True: i * o + (o if bias else 0)  # noqa: E731
    ffn_and_norms = linear(d, ffn) + linear(ffn, d) + 2 * 2 * d  # linear1, linear2, norm2, norm3
    descriptor = linear(2 * d, d)  # 524,800
    zeg_layer = 4 * linear(d, d) + ffn_and_norms  # q, k, v, proj: 3,152,384
    # HiLo (8 heads, alpha 0.9: 1 Hi-Fi head of 64, 7 Lo-Fi heads = 448), no qkv bias, no h_proj;
    # gate xi (512) and P (512x512); proj Linear(512, 512).
    sgd_part = linear(d, 3 * 64, False) + linear(d, 448, False) + linear(d, 896, False) + linear(448, 448)
    sgd_part += d + d * d + linear(d, d)
    assert sgd_part == 1_512_896  # reference: "1.513 M excluding the unused h_proj"
    assert descriptor + 3 * zeg_layer == 9_981_952  # reference: 10.67 M used - 684,288 VPT

    zeg = MaskDecoder(d, num_layers=3, sgd=False)
    assert _n_params(zeg) == 9_981_952
    layer = SpectralGuidedDecoderLayer(d)
    assert _n_params(layer.hilo) + _n_params(layer.gate) + _n_params(layer.proj) == 1_512_896
    assert _n_params(SpectralGuidedDecoderLayer(d, hifi_projection=True)) - _n_params(layer) == 64 * 64 + 64
    sgd = MaskDecoder(d, num_layers=3, sgd=True)
    assert _n_params(sgd) == descriptor + 3 * (sgd_part + ffn_and_norms) == 11_368_768


def test_bad_inputs_are_explained() -> None:
    dec = MaskDecoder(DIM, num_layers=1, heads=HEADS, ffn_dim=FFN)
    dense, g, text = _inputs()
    with pytest.raises(ValueError, match="do not form the grid 6x6"):
        dec(dense, (6, 6), g, text)
    with pytest.raises(ValueError, match="global embedding"):
        dec(dense, GRID, g[:1], text)
    with pytest.raises(ValueError, match="C >= 1"):
        dec(dense, GRID, g, text[:0])
    with pytest.raises(ValueError, match="dense embeddings"):
        dec(dense[..., :-1], GRID, g, text)
    with pytest.raises(ValueError, match="num_layers"):
        MaskDecoder(DIM, num_layers=0)
    with pytest.raises(ValueError, match="multiple of heads"):
        ZegCLIPDecoderLayer(30, heads=4)


def test_pointing_the_gate_opens_tokens_a_random_xi_closes() -> None:
    """``gate_init = "first_batch"``: ``xi`` becomes the mean direction of the unit tokens (computed here
    directly), keeps its norm, and opens tokens that all had a negative cosine with the old ``xi``."""
    torch.manual_seed(0)
    gate = SpectralGate(DIM)
    common = -gate.xi.detach() / gate.xi.detach().norm()  # every token points away from xi
    z = 3 * common + 0.3 * torch.randn(2, 12, DIM)
    assert (gate.similarity(z) == 0).all()  # closed: no gradient reaches z or xi
    norm = gate.xi.norm().item()
    gate.point_at(z)
    units = [t / t.norm() for t in z.reshape(-1, DIM)]
    mean = sum(units) / len(units)
    assert torch.allclose(gate.xi / gate.xi.norm(), mean / mean.norm(), atol=1e-6)
    assert gate.xi.norm().item() == pytest.approx(norm, rel=1e-6)
    assert (gate.similarity(z) > 0).all()


def test_initialise_gates_points_every_sgd_layer_at_its_own_hilo_output() -> None:
    torch.manual_seed(1)
    dense, _, _ = _inputs()
    dec = MaskDecoder(DIM, num_layers=2, sgd=True, heads=HEADS, ffn_dim=FFN)
    with torch.no_grad():
        dec.layers[1].hilo.l_proj.weight.mul_(-1)  # the layers' HiLo outputs now differ
    shares = dec.initialise_gates(dense, GRID)
    assert len(shares) == 2 and all(0 < s <= 1 for s in shares)
    for layer in dec.layers:
        z = layer.hilo(dense, GRID).detach()
        mean = F.normalize(F.normalize(z, dim=-1).mean(dim=(0, 1)), dim=0)
        assert torch.allclose(F.normalize(layer.gate.xi.detach(), dim=0), mean, atol=1e-5)
    zegclip = MaskDecoder(DIM, num_layers=2, sgd=False, heads=HEADS, ffn_dim=FFN)
    assert zegclip.initialise_gates(dense, GRID) == []
