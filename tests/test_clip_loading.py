"""clip_loading: config registration, each checkpoint format through the real loading path, offline errors."""

from __future__ import annotations

import json
import re
import time
import warnings
from pathlib import Path

import open_clip
import pytest
import torch
from open_clip.transformer import QuickGELU
from torch import nn

from sptseg_lib import clip_loading
from sptseg_lib.clip_loading import (
    MODEL_CONFIG_DIR,
    WEIGHTS_ENV_VAR,
    PretrainedWeightsError,
    get_tokenizer,
    is_torchscript_archive,
    load_clip,
)

TINY = "sptseg-test-tiny"


@pytest.fixture(scope="module")
def source_model() -> open_clip.CLIP:
    """A randomly initialised tiny CLIP whose weights the checkpoints below hold."""
    torch.manual_seed(1)
    return load_clip(TINY, None)


@pytest.fixture(autouse=True)
def _no_weights_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(WEIGHTS_ENV_VAR, raising=False)


def _assert_weights(model: nn.Module, expected: dict[str, torch.Tensor]) -> None:
    state = model.state_dict()
    assert set(state) == set(expected)
    for key, value in expected.items():
        assert torch.equal(state[key], value.float()), key


class _Holder(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _save_torchscript(state: dict[str, torch.Tensor], path: Path) -> None:
    """A TorchScript archive whose state dict is ``state``, like OpenAI's original ``ViT-B-16.pt``."""
    root = _Holder()
    for key, value in state.items():
        *parents, leaf = key.split(".")
        module = root
        for part in parents:
            if not hasattr(module, part):
                module.add_module(part, _Holder())
            module = getattr(module, part)
        module.register_buffer(leaf, value.clone())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.script is deprecated, still the format
        torch.jit.script(root).save(str(path))


def test_every_shipped_json_config_is_registered() -> None:
    files = sorted(MODEL_CONFIG_DIR.glob("*.json"))
    assert files, "no model configs shipped"
    for file in files:
        assert file.stem in open_clip.list_models()
        assert open_clip.get_model_config(file.stem) == json.loads(file.read_text())


def test_tiny_config_builds_small_vit(source_model: open_clip.CLIP) -> None:
    visual = source_model.visual
    assert visual.grid_size == (8, 8)
    assert visual.conv1.out_channels == 64
    assert len(visual.transformer.resblocks) == 2
    assert visual.output_dim == 32
    assert get_tokenizer(TINY)(["a photo of a cat"]).shape == (1, 77)


def test_open_clip_checkpoint(source_model: open_clip.CLIP, tmp_path: Path) -> None:
    expected = source_model.state_dict()
    path = tmp_path / "open_clip.pt"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in expected.items()}}, path)
    _assert_weights(load_clip(TINY, str(path)), expected)


def test_openai_state_dict(source_model: open_clip.CLIP, tmp_path: Path) -> None:
    expected = {k: v.half() for k, v in source_model.state_dict().items()}  # OpenAI ships fp16
    path = tmp_path / "openai_state_dict.pt"
    torch.save(expected, path)
    assert not is_torchscript_archive(path)
    _assert_weights(load_clip(TINY, str(path)), expected)


def test_openai_torchscript_archive(source_model: open_clip.CLIP, tmp_path: Path) -> None:
    expected = {k: v.half() for k, v in source_model.state_dict().items()}
    extras = {k: torch.tensor(64) for k in ("input_resolution", "context_length", "vocab_size")}
    path = tmp_path / "ViT-tiny.pt"
    _save_torchscript({**expected, **extras}, path)
    assert is_torchscript_archive(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the loader silences torch's TorchScript notices itself
        model = load_clip(TINY, str(path))
    _assert_weights(model, expected)


def test_random_weights_differ_between_seeds() -> None:
    torch.manual_seed(0)
    a = load_clip(TINY, None).visual.class_embedding
    torch.manual_seed(1)
    b = load_clip(TINY, None).visual.class_embedding
    assert not torch.equal(a, b)


def test_quick_gelu_follows_the_weights() -> None:
    assert clip_loading.default_quick_gelu("ViT-B-16", "openai") is True
    assert (
        clip_loading.default_quick_gelu("ViT-B-16", None) is True
    )  # the project's B/16 weights are OpenAI's
    assert clip_loading.default_quick_gelu("ViT-B-16", "laion2b_s34b_b88k") is False
    assert clip_loading.default_quick_gelu(TINY, None) is False
    mlp = load_clip(TINY, None, quick_gelu=True).visual.transformer.resblocks[0].mlp
    assert isinstance(mlp.gelu, QuickGELU)


def test_missing_local_path_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "ViT-B-16.pt"
    with pytest.raises(PretrainedWeightsError, match=re.escape(str(missing))):
        load_clip("ViT-B-16", str(missing))


def test_unknown_model_name() -> None:
    with pytest.raises(ValueError, match="unknown CLIP model config"):
        load_clip("ViT-Z-99", None)


def test_offline_hub_tag_fails_fast_with_instructions(tmp_path: Path) -> None:
    start = time.perf_counter()
    with pytest.raises(PretrainedWeightsError) as info:
        load_clip("ViT-B-16", "openai", cache_dir=str(tmp_path))  # empty cache, HF_HUB_OFFLINE=1
    assert time.perf_counter() - start < 10
    message = str(info.value)
    assert "ViT-B-16 'openai'" in message
    assert WEIGHTS_ENV_VAR in message
    assert "local checkpoint path" in message
    assert "download them once" in message


def test_any_download_failure_becomes_the_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> str:
        raise ConnectionError("network unreachable")

    monkeypatch.setattr(open_clip, "download_pretrained", refuse)
    with pytest.raises(PretrainedWeightsError, match="network unreachable") as info:
        load_clip("ViT-B-16", "openai")
    assert WEIGHTS_ENV_VAR in str(info.value)


@pytest.fixture
def tiny_hub_tag(monkeypatch: pytest.MonkeyPatch) -> str:
    """Give the tiny model a hub tag (on a repository that does not exist) with QuickGELU weights."""
    from open_clip import pretrained

    cfg = {"url": "", "hf_hub": "sptseg/does-not-exist/", "quick_gelu": True}
    monkeypatch.setitem(pretrained._PRETRAINED, TINY, {"hubtag": cfg})
    return "hubtag"


def test_env_var_replaces_the_download(
    source_model: open_clip.CLIP, tiny_hub_tag: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(PretrainedWeightsError, match=WEIGHTS_ENV_VAR):
        load_clip(TINY, tiny_hub_tag, cache_dir=str(tmp_path))
    path = tmp_path / "weights.pt"
    torch.save(source_model.state_dict(), path)
    monkeypatch.setenv(WEIGHTS_ENV_VAR, str(path))
    model = load_clip(TINY, tiny_hub_tag)
    _assert_weights(model, source_model.state_dict())
    assert isinstance(model.visual.transformer.resblocks[0].mlp.gelu, QuickGELU)  # the tag's activation


def test_env_var_to_missing_file(tiny_hub_tag: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(WEIGHTS_ENV_VAR, str(tmp_path / "gone.pt"))
    with pytest.raises(PretrainedWeightsError, match=r"gone\.pt"):
        load_clip(TINY, tiny_hub_tag)
