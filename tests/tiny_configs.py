"""The tests' tiny network: ``sptseg-test-tiny`` (2 ViT blocks of width 64, patch 8) with random weights,
a one-layer decoder of width 32; each test states only what it changes."""

from __future__ import annotations

from sptseg_lib.config import ModelConfig

TINY_MODEL = ModelConfig(
    clip_model="sptseg-test-tiny",
    pretrained=None,
    image_size=64,
    prompt_tokens=2,
    decoder_layers=1,
    decoder_heads=2,
    decoder_ffn_dim=32,
)


def tiny_model_config(**changes) -> ModelConfig:
    """:data:`TINY_MODEL` with ``changes`` (validated like any config)."""
    return TINY_MODEL.replace(**changes)
