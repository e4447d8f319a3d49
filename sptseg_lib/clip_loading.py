"""Creating the frozen CLIP model with open_clip, from a hub tag, a local checkpoint or random weights.

SPT-SEG (like ZegCLIP) starts from OpenAI's CLIP ViT-B/16 (docs/reference.md §0: ``ViT-B-16.pt``).
:func:`load_clip` accepts the weights in every form they come in and hands the real work to open_clip
(``open_clip.create_model`` / ``load_checkpoint`` / ``download_pretrained``):

* an open_clip pretrained tag such as ``"openai"`` (downloaded once into the Hugging Face cache);
* a local file: OpenAI's original TorchScript archive (``ViT-B-16.pt``), a plain state dict with
  OpenAI key names, or an open_clip checkpoint (``{"state_dict": ...}``, ``.safetensors``, ...);
* ``"project:<path>"``: weights shipped in the project's ``data/`` folder (:data:`PROJECT_WEIGHTS_PREFIX`),
  e.g. the tiny CLIP of the miniature presets;
* ``None``: random weights (tests, the tiny configs).

No weights can be fetched offline. Any failure to get hub weights raises :class:`PretrainedWeightsError`
at once (with ``HF_HUB_OFFLINE=1`` nothing touches the network), telling the user how to provide them.
The environment variable ``SPTSEG_CLIP_WEIGHTS`` (a local file) replaces the download of a hub tag.

Importing this module registers every JSON model config in ``sptseg_lib/model_configs/`` with open_clip,
e.g. ``sptseg-test-tiny`` (64x64 images, 8x8 token grid) for fast tests. The names of the project's CLIP
configs and weights (:data:`TINY_CLIP_WEIGHTS`, ...) are defined in :mod:`sptseg_lib.config.clip`, which the
configs import without open_clip, and re-exported here.
"""

from __future__ import annotations

import os
import warnings
import zipfile
from pathlib import Path

import open_clip
import torch

from .config.clip import (
    FABRICS_CLIP_WEIGHTS,
    MODEL_CONFIG_DIR,
    PROJECT_WEIGHTS_PREFIX,
    STRIPES_CLIP_WEIGHTS,
    TINY_CLIP_NAME,
    TINY_CLIP_WEIGHTS,
)

WEIGHTS_ENV_VAR = "SPTSEG_CLIP_WEIGHTS"
PROJECT_DATA_DIR = Path(__file__).resolve().parent.parent / "data"

open_clip.add_model_config(MODEL_CONFIG_DIR)


def tiny_clip_weights(weights: str = TINY_CLIP_WEIGHTS) -> Path | None:
    """The file ``weights`` (a ``project:`` name, :data:`TINY_CLIP_WEIGHTS` by default) names, or ``None``
    when it is absent (an installed package)."""
    path = PROJECT_DATA_DIR / weights.removeprefix(PROJECT_WEIGHTS_PREFIX)
    return path if path.is_file() else None


def build_tiny_clip() -> open_clip.CLIP:
    """A randomly initialised tiny CLIP (what ``python -m sptseg_lib.tools.pretrain_tiny_clip`` trains)."""
    return open_clip.create_model(TINY_CLIP_NAME)


class PretrainedWeightsError(RuntimeError):
    """CLIP weights were asked for but cannot be had (offline, download failure, missing file)."""


def _how_to_provide(model_name: str, tag: str) -> str:
    return (
        f"To provide the {model_name} '{tag}' weights: (1) download them once on a machine with internet "
        f"access (e.g. `python -c \"import open_clip; open_clip.create_model('{model_name}', "
        f"pretrained='{tag}')\"`, which fills the Hugging Face cache; copy ~/.cache/huggingface over), "
        f"(2) pass a local checkpoint path as `pretrained` (OpenAI's ViT-B-16.pt or an open_clip "
        f"checkpoint), or (3) set the environment variable {WEIGHTS_ENV_VAR}=/path/to/checkpoint."
    )


def is_torchscript_archive(path: str | os.PathLike[str]) -> bool:
    """True for a TorchScript zip archive (OpenAI's original CLIP release format)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.split("/")[-1] == "constants.pkl" for name in archive.namelist())


def default_quick_gelu(model_name: str, pretrained: str | None) -> bool:
    """The activation the weights were trained with.

    For a hub tag, the tag's own setting (``openai`` weights use QuickGELU). Otherwise (a local file or
    random weights) the setting of the model's ``openai`` tag when it has one, since this project's
    ViT-B/16 weights are OpenAI's; else the model config's default. Pass ``quick_gelu`` to
    :func:`load_clip` explicitly for anything else (e.g. a LAION-trained ViT-B-16 checkpoint: ``False``).
    """
    if pretrained is not None:
        tag_cfg = open_clip.get_pretrained_cfg(model_name, pretrained)
        if tag_cfg:
            return bool(tag_cfg.get("quick_gelu", False))
    openai_cfg = open_clip.get_pretrained_cfg(model_name, "openai")
    if openai_cfg:
        return bool(openai_cfg.get("quick_gelu", False))
    model_cfg = open_clip.get_model_config(model_name) or {}
    return bool(model_cfg.get("quick_gelu", False))


def resolve_checkpoint(model_name: str, pretrained: str, cache_dir: str | None = None) -> str:
    """The local file holding ``pretrained``'s weights, downloading a hub tag into the cache if needed.

    Order: ``project:<path>`` (:data:`PROJECT_WEIGHTS_PREFIX`); an existing file; else a known tag of
    ``model_name``, taken from ``$SPTSEG_CLIP_WEIGHTS`` when set, else from the hub (cache first). Raises
    :class:`PretrainedWeightsError` otherwise.
    """
    if pretrained.startswith(PROJECT_WEIGHTS_PREFIX):
        path = PROJECT_DATA_DIR / pretrained.removeprefix(PROJECT_WEIGHTS_PREFIX)
        if not path.is_file():
            raise PretrainedWeightsError(
                f"{pretrained!r} names {path}, which does not exist: the project's data/ folder comes with a "
                "source checkout (git clone, then pip install -e .), not with an installed package"
            )
        return str(path)
    if os.path.isfile(pretrained):
        return pretrained
    tag_cfg = open_clip.get_pretrained_cfg(model_name, pretrained)
    if not tag_cfg:
        tags = open_clip.list_pretrained_tags_by_model(model_name)
        raise PretrainedWeightsError(
            f"CLIP checkpoint not found: {pretrained!r} is neither an existing file nor a pretrained tag of "
            f"{model_name!r} (known tags: {tags or 'none'}). Check the path, or pass pretrained=None for "
            "random weights."
        )
    override = os.environ.get(WEIGHTS_ENV_VAR)
    if override:
        if not os.path.isfile(override):
            raise PretrainedWeightsError(
                f"{WEIGHTS_ENV_VAR}={override!r} does not name an existing file; point it at a CLIP "
                "checkpoint or unset it."
            )
        return override
    try:
        path = open_clip.download_pretrained(tag_cfg, cache_dir=cache_dir)
    except Exception as err:  # offline, no cache entry, network or hub error: all mean "no weights here"
        raise PretrainedWeightsError(
            f"Could not get the {model_name} '{pretrained}' weights ({type(err).__name__}: {err}). "
            + _how_to_provide(model_name, pretrained)
        ) from err
    if not path or not os.path.isfile(path):
        raise PretrainedWeightsError(
            f"No weights file for {model_name} '{pretrained}'. " + _how_to_provide(model_name, pretrained)
        )
    return path


def load_clip(
    model_name: str = "ViT-B-16",
    pretrained: str | None = "openai",
    device: str | torch.device | None = None,
    quick_gelu: bool | None = None,
    cache_dir: str | None = None,
) -> open_clip.CLIP:
    """An open_clip ``CLIP`` model in fp32 and eval mode.

    Args:
        model_name: an open_clip model config name (``ViT-B-16``, ``sptseg-test-tiny``, ...).
        pretrained: a hub tag (``"openai"``), a local checkpoint path (OpenAI TorchScript, OpenAI or
            open_clip state dict), or ``None`` for random weights.
        device: where to put the model (default: CPU).
        quick_gelu: the MLP activation; ``None`` means :func:`default_quick_gelu`.
        cache_dir: download cache for hub tags (default: the Hugging Face cache).
    """
    if open_clip.get_model_config(model_name) is None:
        raise ValueError(
            f"unknown CLIP model config {model_name!r}; known: {open_clip.list_models()} "
            f"(the project's own configs live in {MODEL_CONFIG_DIR})"
        )
    if quick_gelu is None:
        quick_gelu = default_quick_gelu(model_name, pretrained)
    checkpoint = None if pretrained is None else resolve_checkpoint(model_name, pretrained, cache_dir)
    torchscript = checkpoint is not None and is_torchscript_archive(checkpoint)
    with warnings.catch_warnings():
        # TorchScript archives cannot be read with weights_only=True; torch warns that it dispatches
        # to torch.jit.load, which is exactly what we want for OpenAI's release format.
        warnings.filterwarnings("ignore", message=".*TorchScript archive.*")
        warnings.filterwarnings(
            "ignore", message=".*torch.jit.load.* is deprecated.*", category=FutureWarning
        )
        model = open_clip.create_model(
            model_name,
            pretrained=checkpoint,
            device=device or "cpu",
            weights_only=not torchscript,
            quick_gelu=quick_gelu,
        )
    return model.eval()


def get_tokenizer(model_name: str = "ViT-B-16"):
    """open_clip's tokenizer for ``model_name`` (CLIP's BPE tokenizer, context 77, for ViT-B-16)."""
    return open_clip.get_tokenizer(model_name)


__all__ = [
    "FABRICS_CLIP_WEIGHTS",
    "MODEL_CONFIG_DIR",
    "PROJECT_DATA_DIR",
    "PROJECT_WEIGHTS_PREFIX",
    "STRIPES_CLIP_WEIGHTS",
    "TINY_CLIP_NAME",
    "TINY_CLIP_WEIGHTS",
    "WEIGHTS_ENV_VAR",
    "PretrainedWeightsError",
    "build_tiny_clip",
    "default_quick_gelu",
    "get_tokenizer",
    "is_torchscript_archive",
    "load_clip",
    "resolve_checkpoint",
    "tiny_clip_weights",
]
