"""PromptedCLIPEncoder and DeepVisualPrompts against open_clip's own ViT and direct computations."""

from __future__ import annotations

import copy
import math

import numpy as np
import open_clip
import pytest
import torch
import torch.nn.functional as F

from sptseg_lib import notebook_env
from sptseg_lib.clip_loading import load_clip
from sptseg_lib.config import ModelConfig
from sptseg_lib.data.transforms import normalise
from sptseg_lib.encoder import PromptedCLIPEncoder, block_tokens, interpolate_pos_embed, spectral_prompt_share
from sptseg_lib.prompts import DeepVisualPrompts, prompt_init_bound
from sptseg_lib.spectral import spectral_prompt

TINY = ModelConfig(clip_model="sptseg-test-tiny", pretrained=None, image_size=64, prompt_tokens=3)
PLAIN = TINY.replace(prompt_tokens=0, spt=False, cls_token_quirk=False)


@pytest.fixture(scope="module")
def clip() -> open_clip.CLIP:
    torch.manual_seed(0)
    return load_clip("sptseg-test-tiny", None)


def _encoder(clip: open_clip.CLIP, config: ModelConfig) -> PromptedCLIPEncoder:
    return PromptedCLIPEncoder(copy.deepcopy(clip.visual), config).eval()


def _images(batch: int = 2, height: int = 64, width: int = 64) -> torch.Tensor:
    return torch.randn(batch, 3, height, width)


def _capture_block_inputs(encoder: PromptedCLIPEncoder) -> tuple[list[torch.Tensor], list]:
    inputs: list[torch.Tensor] = []
    hooks = [
        block.register_forward_pre_hook(lambda _m, args: inputs.append(args[0].detach().clone()))
        for block in encoder.visual.transformer.resblocks
    ]
    return inputs, hooks


# --- equivalence with open_clip --------------------------------------------------------------------
def test_plain_encoder_equals_open_clip(clip: open_clip.CLIP) -> None:
    encoder = _encoder(clip, PLAIN)
    images = _images()
    with torch.no_grad():
        g_raw, dense_raw = encoder.forward_features(images)
        g, dense = encoder(images)
        visual = clip.visual
        out = visual.forward_intermediates(images, indices=[1], output_fmt="NLC")
        tokens = out["image_intermediates"][0]  # (B, 64, C), last block, before ln_post
        dense_ref = (visual.ln_post(tokens) @ visual.proj).reshape(2, 8, 8, -1).permute(0, 3, 1, 2)
        g_ref = clip.encode_image(images)
    assert dense_raw.shape == (2, 32, 8, 8)
    torch.testing.assert_close(dense_raw, dense_ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(dense, F.normalize(dense_ref, dim=1), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(g_raw, g_ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(g, F.normalize(g_ref, dim=-1), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(g.norm(dim=-1), torch.ones(2))
    torch.testing.assert_close(dense.norm(dim=1), torch.ones(2, 8, 8))


def test_sequence_first_blocks_give_the_same_result(clip: open_clip.CLIP) -> None:
    encoder = _encoder(clip, TINY)
    images = _images()
    with torch.no_grad():
        expected = encoder(images)
        encoder.visual.transformer.batch_first = False
        for block in encoder.visual.transformer.resblocks:
            block.attn.batch_first = False
        got = encoder(images)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


# --- class-token quirk -------------------------------------------------------------------------------
@pytest.mark.parametrize("quirk", [False, True])
def test_class_token_quirk(clip: open_clip.CLIP, quirk: bool) -> None:
    encoder = _encoder(clip, PLAIN.replace(cls_token_quirk=quirk))
    seen: list[torch.Tensor] = []
    encoder.visual.ln_pre.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    images = _images()
    with torch.no_grad():
        encoder(images)
        v = encoder.visual
        patches = v.conv1(images).flatten(2).transpose(1, 2) + v.positional_embedding[1:]
    expected_cls = (2 if quirk else 1) * v.class_embedding + v.positional_embedding[0]
    torch.testing.assert_close(seen[0][:, 0], expected_cls.expand(2, -1))
    torch.testing.assert_close(seen[0][:, 1:], patches)


def test_quirk_changes_the_outputs(clip: open_clip.CLIP) -> None:
    images = _images()
    with torch.no_grad():
        g_off, _ = _encoder(clip, PLAIN)(images)
        g_on, _ = _encoder(clip, PLAIN.replace(cls_token_quirk=True))(images)
    assert not torch.allclose(g_on, g_off, atol=1e-4)


# --- positional embedding interpolation --------------------------------------------------------------
def _bilinear_reference(grid: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Per-element bilinear resize with half-pixel centres (align_corners=False), edge-clamped."""
    in_h, in_w, _ = grid.shape
    out = np.zeros((out_h, out_w, grid.shape[2]))
    for i in range(out_h):
        y = max((i + 0.5) * in_h / out_h - 0.5, 0.0)
        y0 = min(math.floor(y), in_h - 1)
        y1, wy = min(y0 + 1, in_h - 1), y - y0
        for j in range(out_w):
            x = max((j + 0.5) * in_w / out_w - 0.5, 0.0)
            x0 = min(math.floor(x), in_w - 1)
            x1, wx = min(x0 + 1, in_w - 1), x - x0
            top = (1 - wx) * grid[y0, x0] + wx * grid[y0, x1]
            bottom = (1 - wx) * grid[y1, x0] + wx * grid[y1, x1]
            out[i, j] = (1 - wy) * top + wy * bottom
    return out


def test_pos_embed_identity_at_native_grid() -> None:
    pos = torch.randn(1 + 6 * 6, 5)
    assert torch.equal(interpolate_pos_embed(pos, (6, 6), (6, 6)), pos)


@pytest.mark.parametrize("dst", [(5, 12), (9, 3), (12, 12)])
def test_pos_embed_bilinear_matches_direct_computation(dst: tuple[int, int]) -> None:
    pos = torch.randn(1 + 4 * 6, 3, dtype=torch.float64)
    got = interpolate_pos_embed(pos, (4, 6), dst)
    expected = _bilinear_reference(pos[1:].reshape(4, 6, 3).numpy(), *dst)
    assert torch.equal(got[0], pos[0])
    np.testing.assert_allclose(got[1:].reshape(*dst, 3).numpy(), expected, rtol=1e-6, atol=1e-6)


def test_non_square_image(clip: open_clip.CLIP) -> None:
    encoder = _encoder(clip, TINY.replace(spt=False))
    with torch.no_grad():
        g, dense = encoder(_images(1, 40, 96))
    assert g.shape == (1, 32)
    assert dense.shape == (1, 32, 5, 12)


def test_bad_image_size_is_a_clear_error(clip: open_clip.CLIP) -> None:
    encoder = _encoder(clip, TINY)
    with pytest.raises(ValueError, match=r"65x64 is not a multiple of the patch size 8x8.*64x64"):
        encoder(_images(1, 65, 64))


def test_pos_embed_cache_and_invalidation(clip: open_clip.CLIP) -> None:
    encoder = _encoder(clip, PLAIN)
    first = encoder.positional_embedding((5, 7))
    assert encoder.positional_embedding((5, 7)) is first
    new_pos = torch.randn_like(encoder.visual.positional_embedding)
    encoder.visual.load_state_dict({**encoder.visual.state_dict(), "positional_embedding": new_pos})
    refreshed = encoder.positional_embedding((5, 7))
    torch.testing.assert_close(refreshed, interpolate_pos_embed(new_pos, (8, 8), (5, 7)))


# --- spectral prompt placement (eq. 1-3) ------------------------------------------------------------
@pytest.mark.parametrize("layer", [0, 1])
def test_spectral_prompt_added_exactly_at_configured_block(clip: open_clip.CLIP, layer: int) -> None:
    with_spt = _encoder(clip, TINY.replace(spt_layers=(layer,)))
    without = _encoder(clip, TINY.replace(spt=False))
    without.load_state_dict(with_spt.state_dict(), strict=False)  # same prompts and norm
    images = _images()
    with torch.no_grad():
        spt_inputs, _ = _capture_block_inputs(with_spt)
        with_spt(images)
        plain_inputs, _ = _capture_block_inputs(without)
        without(images)
    p = TINY.prompt_tokens
    weight = with_spt.spectral.filter(layer)
    for block in range(2):
        got, base = spt_inputs[block], plain_inputs[block]
        if block < layer:
            torch.testing.assert_close(got, base)
        elif block == layer:
            # Same tokens as without SPT up to here, plus S from the block's own patches and class token.
            torch.testing.assert_close(got[:, : 1 + p], base[:, : 1 + p])
            patches, cls = base[:, 1 + p :], base[:, 0]
            expected = patches + spectral_prompt(patches, cls, weight, (8, 8))
            torch.testing.assert_close(got[:, 1 + p :], expected, rtol=1e-5, atol=1e-6)
            assert not torch.allclose(got[:, 1 + p :], patches, atol=1e-4)
        else:
            assert not torch.allclose(got, base, atol=1e-4)  # the prompt propagated


def test_zero_filter_equals_spt_off(clip: open_clip.CLIP) -> None:
    with_spt = _encoder(clip, TINY.replace(spt_layers=(0, 1), spt_shared_filter=False))
    without = _encoder(clip, TINY.replace(spt=False))
    without.load_state_dict(with_spt.state_dict(), strict=False)
    images = _images()
    with torch.no_grad():
        differs = with_spt(images)[1]
        for weight in with_spt.spectral.filters.values():
            weight.zero_()
        same = with_spt(images)
        reference = without(images)
    assert not torch.allclose(differs, reference[1], atol=1e-4)
    for a, b in zip(same, reference):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("layer", [0, 1])
def test_spectral_prompt_share_is_the_norm_ratio_at_the_first_spt_block(
    clip: open_clip.CLIP, layer: int
) -> None:
    """|S| / |H| per token, against S computed from the hooked input of the SPT block by eq. 1."""
    encoder = _encoder(clip, TINY.replace(spt_layers=(layer, 1)))
    plain = _encoder(clip, TINY.replace(spt=False))
    plain.load_state_dict(encoder.state_dict(), strict=False)
    images = _images()
    inputs, _ = _capture_block_inputs(plain)
    with torch.no_grad():
        plain(images)
        share = spectral_prompt_share(encoder, images)
    p = TINY.prompt_tokens
    patches, cls = inputs[layer][:, 1 + p :], inputs[layer][:, 0]  # blocks before it run as without SPT
    s = spectral_prompt(patches, cls, encoder.spectral.filter(layer), (8, 8))
    expected = (s.norm(dim=-1) / patches.norm(dim=-1)).reshape(2, 8, 8)
    torch.testing.assert_close(share, expected, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        for weight in encoder.spectral.filters.values():
            weight.zero_()
    assert torch.count_nonzero(spectral_prompt_share(encoder, images)) == 0  # zero filter: no prompt
    with pytest.raises(ValueError, match="no spectral prompt"):
        spectral_prompt_share(plain, images)


def test_spt_layer_out_of_range(clip: open_clip.CLIP) -> None:
    with pytest.raises(ValueError, match="spt_layers"):
        _encoder(clip, TINY.replace(spt_layers=(0, 5)))


# --- deep visual prompts ---------------------------------------------------------------------------------
def test_prompt_init_statistics() -> None:
    assert prompt_init_bound(16, 768) == pytest.approx(0.0625)
    prompts = DeepVisualPrompts(12, 100, 768, 16)
    values = prompts.prompt_embeddings.detach()
    assert values.shape == (12, 100, 768)
    assert values.abs().max() <= 0.0625
    assert values.std().item() == pytest.approx(0.0625 / math.sqrt(3), rel=0.02)  # uniform(-v, v)
    weight_std = prompts.prompt_proj.weight.detach().std().item()
    assert weight_std == pytest.approx(math.sqrt(2 / 768), rel=0.02)  # kaiming normal, fan_out
    assert prompts.prompt_dropout.p == 0.1


def test_zero_prompts_disable_cleanly(clip: open_clip.CLIP) -> None:
    prompts = DeepVisualPrompts(2, 0, 64, 8)
    assert list(prompts.parameters()) == []
    assert prompts(1, torch.zeros(4, 7, 64)).shape == (4, 0, 64)
    encoder = _encoder(clip, PLAIN)
    assert encoder.prompt_norm is None
    assert encoder.trainable_parameter_names() == []


def test_fresh_prompts_enter_every_block(clip: open_clip.CLIP) -> None:
    encoder = _encoder(clip, TINY.replace(spt=False))
    inputs, _ = _capture_block_inputs(encoder)
    with torch.no_grad():
        encoder(_images())
        prompts = encoder.prompts
        for block in range(2):
            expected = prompts.prompt_proj(prompts.prompt_embeddings[block])
            torch.testing.assert_close(inputs[block][:, 1:4], expected.expand(2, -1, -1))


def test_prompt_dropout_is_per_image_in_training() -> None:
    prompts = DeepVisualPrompts(1, 50, 64, 8, dropout=0.5).train()
    out = prompts(0, torch.zeros(2, 1, 64))
    assert not torch.equal(out[0] == 0, out[1] == 0)


# --- trainable parameters and gradients --------------------------------------------------------------
EXPECTED_TRAINABLE = [
    "prompts.prompt_embeddings",
    "prompts.prompt_proj.weight",
    "prompts.prompt_proj.bias",
    "prompt_norm.weight",
    "prompt_norm.bias",
    "spectral.filters.shared",
]


def _check_gradients(encoder: PromptedCLIPEncoder, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Backpropagate a random loss; only the documented parameters may (and must) receive gradients."""
    g, dense = encoder(images)
    (g.sum() + dense.square().mul(torch.randn_like(dense)).sum()).backward()
    for name, param in encoder.named_parameters():
        if name in EXPECTED_TRAINABLE:
            assert param.grad is not None and param.grad.abs().sum() > 0, name
        else:
            assert not param.requires_grad and param.grad is None, name
    return g, dense


def test_trainable_parameters_and_gradients(clip: open_clip.CLIP) -> None:
    encoder = _encoder(clip, TINY).train()
    assert sorted(encoder.trainable_parameter_names()) == sorted(EXPECTED_TRAINABLE)
    assert not encoder.visual.training  # the frozen CLIP stays in eval mode
    _check_gradients(encoder, _images())


def test_gradient_checkpointing_gives_the_same_gradients(clip: open_clip.CLIP) -> None:
    images = _images()
    first = _encoder(clip, TINY.replace(prompt_dropout=0.0)).train()
    grads = []
    for enable in (False, True):
        encoder = copy.deepcopy(first)
        encoder.visual.set_grad_checkpointing(enable)
        g, dense = encoder(images)
        (g.sum() + dense.square().sum()).backward()
        grads.append([p.grad for p in encoder.parameters() if p.requires_grad])
    assert len(grads[0]) == len(EXPECTED_TRAINABLE)
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


def test_block_tokens_end_in_the_encoders_features(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SPTSEG_RUNS", str(tmp_path))
    env = notebook_env.setup("smoke", "cpu", clip="random", notebook="t")
    encoder = env.encoder()
    images = normalise(notebook_env.photo("astronaut", 64))[None]
    tokens, cls = block_tokens(encoder, images)
    assert len(tokens) == len(encoder.visual.transformer.resblocks) + 1 and tokens[0].shape == (1, 8, 8, 128)
    # the last token grid, through ln_post and the projection, is the encoder's dense map
    visual = encoder.visual
    projected = visual.ln_post(tokens[-1]) @ visual.proj
    _, dense = encoder.forward_features(images)
    torch.testing.assert_close(projected.permute(0, 3, 1, 2), dense, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close((visual.ln_post(cls[-1]) @ visual.proj), encoder.forward_features(images)[0])
