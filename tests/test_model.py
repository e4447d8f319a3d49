"""The assembled SPTSeg model: trainable set, parameter counts, shapes, gradients, inference rule."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from tiny_configs import tiny_model_config

from sptseg_lib.checkpoint import CheckpointError, save_checkpoint
from sptseg_lib.clip_loading import load_clip
from sptseg_lib.config import ExperimentConfig, ModelConfig, TrainConfig
from sptseg_lib.model import SPTSeg, build_model

TINY = ModelConfig(clip_model="sptseg-test-tiny", pretrained=None, image_size=64, prompt_tokens=4)


@pytest.fixture(scope="module")
def tiny_clip():
    return load_clip("sptseg-test-tiny", pretrained=None)


def _documented_trainable(model: SPTSeg) -> set[str]:
    """What the docs promise is trained: prompts, their projection and norm, w_f, the decoder."""
    names = set()
    for name, _ in model.named_parameters():
        if name.startswith("decoder."):
            names.add(name)
        elif name.startswith(("encoder.prompts.", "encoder.prompt_norm.", "encoder.spectral.filters.")):
            names.add(name)
    return names


@pytest.mark.parametrize("spt,sgd", [(False, False), (True, False), (False, True), (True, True)])
def test_trainable_set_is_exactly_the_documented_one(tiny_clip, spt: bool, sgd: bool) -> None:
    model = SPTSeg(TINY.replace(spt=spt, sgd=sgd), tiny_clip)
    trainable = set(model.trainable_parameter_names())
    assert trainable == _documented_trainable(model)
    assert any(n.startswith("encoder.spectral.filters.") for n in trainable) == spt
    assert not any(n.startswith("clip.") for n in trainable)


@pytest.mark.parametrize("num_classes", [1, 3, 20])
def test_one_mask_per_class_name(tiny_clip, num_classes: int) -> None:
    model = SPTSeg(TINY, tiny_clip)
    names = [f"class {i}" for i in range(num_classes)]
    text = model.class_embeddings(names)
    out = model(torch.randn(2, 3, 64, 64), text)
    assert out["masks"].shape == (2, num_classes, 8, 8)
    assert len(out["layer_masks"]) == TINY.decoder_layers
    assert out["global"].shape == (2, model.embed_dim)
    assert out["dense"].shape == (2, model.embed_dim, 8, 8)


def _last_layer_query_update(model: SPTSeg) -> set[str]:
    """Parameters that only refine the last layer's queries: no output depends on them.

    Only the last layer's masks are supervised (docs/reference.md §3.1) and a layer's masks are computed
    from the queries it receives, so the last layer's query update (ZegCLIP: v, proj, FFN and norms;
    SGD: proj, FFN and norms) gets no gradient, in the reference code too (hence its
    ``find_unused_parameters=True``).
    """
    last = f"decoder.layers.{model.config.decoder_layers - 1}."
    heads = ("proj.", "tail.") if model.config.sgd else ("v.", "proj.", "tail.")
    return {n for n, _ in model.named_parameters() if n.startswith(tuple(last + h for h in heads))}


@pytest.mark.parametrize("sgd", [False, True])
def test_only_trainable_parameters_receive_gradients(tiny_clip, sgd: bool) -> None:
    model = SPTSeg(TINY.replace(sgd=sgd), tiny_clip).train()
    text = model.class_embeddings(["a", "b", "c"])
    images = torch.randn(2, 3, 64, 64)
    model.initialise_gates(images)  # a random xi may close every token, and then nothing gets a gradient
    model(images, text)["masks"].square().mean().backward()
    unused = _last_layer_query_update(model)
    assert unused
    for name, p in model.named_parameters():
        if p.requires_grad and name not in unused:
            assert p.grad is not None and p.grad.abs().sum() > 0, f"{name} got no gradient"
        else:
            assert p.grad is None, f"{name} got a gradient"


def test_trainable_state_round_trip_and_mismatch(tiny_clip) -> None:
    a = SPTSeg(TINY, tiny_clip)
    b = SPTSeg(TINY, load_clip("sptseg-test-tiny", pretrained=None))
    b.load_trainable_state_dict(a.trainable_state_dict())
    for name, value in a.trainable_state_dict().items():
        torch.testing.assert_close(dict(b.named_parameters())[name].detach(), value)
    other = SPTSeg(TINY.replace(spt=False), tiny_clip)
    with pytest.raises(KeyError, match=r"unexpected \['encoder.spectral.filters.shared'\]"):
        other.load_trainable_state_dict(a.trainable_state_dict())


def test_predict_gives_sigmoid_scores_at_the_image_size(tiny_clip) -> None:
    model = SPTSeg(TINY, tiny_clip).eval()
    text = model.class_embeddings(["a", "b", "c"])
    images = torch.randn(1, 3, 64, 64)
    plain = model.predict(images, text)
    assert plain.shape == (1, 3, 64, 64) and 0 <= plain.min() and plain.max() <= 1
    logits = model(images, text)["masks"]
    expected = torch.sigmoid(F.interpolate(logits, size=(64, 64), mode="bilinear", align_corners=False))
    torch.testing.assert_close(plain, expected)


def test_from_checkpoint_rebuilds_the_trained_model_with_the_same_random_clip(tmp_path) -> None:
    """A run on random frozen weights (``pretrained=None``): the checkpoint holds only the trained parameters,
    so the frozen CLIP must be drawn again as the trainer drew it (after ``manual_seed(train.seed)``)."""
    exp = ExperimentConfig("tiny-random", model=TINY, train=TrainConfig(seed=7))
    torch.manual_seed(7)
    trained = build_model(TINY)
    path = save_checkpoint(
        tmp_path / "iter_000003.pt",
        {"model": trained.trainable_state_dict(), "step": 3, "experiment": exp.to_dict()},
    )
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    loaded = SPTSeg.from_checkpoint(path, "cpu")
    assert torch.equal(torch.rand(3), before)  # the caller's random state is left alone
    assert not loaded.training and loaded.step == 3 and loaded.experiment == exp
    for (name, a), (_, b) in zip(trained.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    other = exp.with_overrides({"model.decoder_layers": 1})
    with pytest.raises(CheckpointError, match="decoder_layers"):
        SPTSeg.from_checkpoint(path, "cpu", experiment=other)


def test_unknown_preset_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="unknown preset 'voc-nope'"):
        build_model("voc-nope")


# Derived from docs/reference.md §2.1 / §3: VPT 684,288 (VOC, 10 tokens) or 1,513,728 (COCO, 100 tokens);
# relationship descriptor 524,800; a ZegCLIP layer 3,152,384; an SGD layer 1,512,896 (HiLo without h_proj,
# gate, proj) + 2,101,760 (norms and FFN); w_f 32*17*768*2 = 835,584. ZegCLIP's published 13.8M (VOC)
# also counts each layer's unused self_attn and norm1 (1,051,648 each), which this project does not create.
EXPECTED_TRAINABLE = {
    ("voc", False, False): 684_288 + 524_800 + 3 * 3_152_384,  # 10,666,240 ("10.67 M used")
    ("voc", True, True): 684_288 + 835_584 + 524_800 + 3 * (1_512_896 + 2_101_760),  # 12,888,640
    ("coco", False, False): 1_513_728 + 524_800 + 3 * 3_152_384,  # 11,495,680 ("11.50 M used")
}


@pytest.mark.slow
def test_vit_b16_512_forward_backward_and_parameter_counts() -> None:
    """The real ViT-B-16 configuration (random weights) at 512x512 on the CPU."""
    clip = load_clip("ViT-B-16", pretrained=None)
    for (dataset, spt, sgd), expected in EXPECTED_TRAINABLE.items():
        config = ModelConfig(pretrained=None, prompt_tokens=10 if dataset == "voc" else 100, spt=spt, sgd=sgd)
        model = SPTSeg(config, clip)
        assert model.parameter_counts()["trainable"] == expected, (dataset, spt, sgd)
    model = SPTSeg(ModelConfig(pretrained=None), clip).train()
    assert model.encoder.spectral.filters["shared"].shape == (32, 17, 768, 2)
    text = torch.nn.functional.normalize(torch.randn(15, 512), dim=-1)
    out = model(torch.randn(1, 3, 512, 512), text)
    assert out["masks"].shape == (1, 15, 32, 32)
    out["masks"].float().sigmoid().mean().backward()
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None}
    assert with_grad == set(model.trainable_parameter_names()) - _last_layer_query_update(model)


def test_ablation_rows_start_from_the_same_shared_weights() -> None:
    """Switching SPT on, moving it, or changing the decoder's depth leaves every other initial weight as it
    is for a seed, so that the ablation contrasts over seeds are paired (``ablations.contrasts``)."""
    base = tiny_model_config(spt=False, decoder_layers=2)

    def weights(config: ModelConfig) -> dict[str, torch.Tensor]:
        torch.manual_seed(3)
        return build_model(config).trainable_state_dict()

    control = weights(base)
    for changed in (
        base.replace(spt=True, spt_layers=(0,)),
        base.replace(spt=True, spt_layers=(0, 1)),
        base.replace(decoder_layers=3),
    ):
        treated = weights(changed)
        shared = [k for k in control if k in treated]
        assert len(shared) >= len(control) - 1 and shared
        for k in shared:
            assert torch.equal(control[k], treated[k]), k
    spt_a = weights(base.replace(spt=True, spt_layers=(0,)))
    spt_b = weights(base.replace(spt=True, spt_layers=(0, 1)))
    filters = [k for k in spt_a if "spectral" in k]
    assert filters and all(torch.equal(spt_a[k], spt_b[k]) for k in filters)
