"""text: templates, template-averaged class embeddings, the cache."""

from __future__ import annotations

import open_clip
import pytest
import torch
import torch.nn.functional as F

from sptseg_lib.clip_loading import get_tokenizer, load_clip
from sptseg_lib.text import TEMPLATES, ClassEmbedder, embed_class_names, get_templates

NAMES = ["aeroplane", "diningtable", "potted plant"]


@pytest.fixture(scope="module")
def clip() -> open_clip.CLIP:
    torch.manual_seed(0)
    return load_clip("sptseg-test-tiny", None)


@pytest.fixture(scope="module")
def tokenizer():
    return get_tokenizer("sptseg-test-tiny")


def test_template_sets() -> None:
    assert get_templates("voc") == ("a photo of a {}",)
    coco = get_templates("coco")
    assert len(coco) == 15
    assert len(set(coco)) == 15
    assert all(t.count("{}") == 1 and t.endswith(".") for t in coco)
    assert "There is the {} in the scene." in coco
    assert set(TEMPLATES) == {"voc", "coco"}
    with pytest.raises(KeyError, match="known"):
        get_templates("ade")


@pytest.mark.parametrize("templates", ["voc", "coco"])
def test_template_average_equals_direct_computation(clip: open_clip.CLIP, tokenizer, templates: str) -> None:
    got = embed_class_names(clip, tokenizer, NAMES, get_templates(templates), batch_size=7)
    with torch.no_grad():
        for row, name in enumerate(NAMES):
            total = torch.zeros(got.shape[1])
            for template in get_templates(templates):
                feature = clip.encode_text(tokenizer([template.format(name)]))[0]
                total += feature / feature.norm()
            torch.testing.assert_close(got[row], total / total.norm(), rtol=1e-5, atol=1e-6)
    assert got.shape == (3, 32)
    assert not got.requires_grad
    assert got.dtype == clip.transformer.get_cast_dtype()


def test_templates_change_the_embedding(clip: open_clip.CLIP, tokenizer) -> None:
    voc = embed_class_names(clip, tokenizer, NAMES, get_templates("voc"))
    coco = embed_class_names(clip, tokenizer, NAMES, get_templates("coco"))
    assert not torch.allclose(voc, coco, atol=1e-4)
    torch.testing.assert_close(voc.norm(dim=-1), torch.ones(3))


def test_cache_returns_the_same_tensor_without_recomputation(
    clip: open_clip.CLIP, tokenizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = embed_class_names(clip, tokenizer, NAMES, get_templates("coco"))
    encoded: list[int] = []  # prompts sent through the text tower
    original = clip.encode_text

    def counting(tokens: torch.Tensor) -> torch.Tensor:
        encoded.append(tokens.shape[0])
        return original(tokens)

    monkeypatch.setattr(clip, "encode_text", counting)
    embedder = ClassEmbedder(clip, tokenizer, "coco", max_entries=1)
    first = embedder(NAMES)
    torch.testing.assert_close(first, reference)
    assert sum(encoded) == 3 * 15
    with torch.enable_grad():
        assert embedder(tuple(NAMES)) is first
    assert sum(encoded) == 3 * 15
    other = embedder(NAMES[:2])
    assert sum(encoded) == 3 * 15 + 2 * 15
    torch.testing.assert_close(other, first[:2])
    embedder(NAMES)  # evicted by the previous list (max_entries=1): computed again
    assert sum(encoded) == 2 * 3 * 15 + 2 * 15


def test_empty_inputs_are_errors(clip: open_clip.CLIP, tokenizer) -> None:
    with pytest.raises(ValueError, match="class name"):
        embed_class_names(clip, tokenizer, [], get_templates("voc"))
    with pytest.raises(ValueError, match="template"):
        embed_class_names(clip, tokenizer, NAMES, [])


def test_normalisation_is_per_template_before_averaging(clip: open_clip.CLIP, tokenizer) -> None:
    """Averaging raw features would weight long-norm templates more; the reference normalises first."""
    templates = ("a photo of a {}", "{}")
    got = embed_class_names(clip, tokenizer, NAMES, templates)
    with torch.no_grad():
        raw = torch.stack([clip.encode_text(tokenizer([t.format(n) for n in NAMES])) for t in templates])
    unnormalised_mean = F.normalize(raw.mean(0), dim=-1)
    normalised_mean = F.normalize(F.normalize(raw, dim=-1).mean(0), dim=-1)
    torch.testing.assert_close(got, normalised_mean, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(got, unnormalised_mean, atol=1e-5)
