"""The CLIP models and weights the presets name, and a ViT's depth read without loading open_clip.

:class:`~sptseg_lib.config.ModelConfig` checks its ``spt_layers`` against the depth of its CLIP's image
tower. :func:`vision_depth` reads that depth from the model's JSON config, as open_clip would register it
(open_clip's shipped configs, then the project's ``model_configs/``, which :mod:`sptseg_lib.clip_loading`
adds), so that the configs and their presets import without torch and open_clip. The names below are
re-exported by :mod:`sptseg_lib.clip_loading`, which loads the models they name.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

MODEL_CONFIG_DIR = Path(__file__).parent.parent / "model_configs"
"""The project's open_clip model configs (``sptseg_lib/model_configs/``), registered by
:mod:`sptseg_lib.clip_loading`."""
PROJECT_WEIGHTS_PREFIX = "project:"
"""``pretrained="project:<path>"`` names weights the project ships, ``<path>`` relative to its ``data/``
folder (``project:tiny_clip/sptseg-tiny-clip.pt``). Unlike an absolute path it reads the same in every
checkout, so the configs stored in checkpoints that name it stay valid when the checkout moves."""

TINY_CLIP_NAME = "sptseg-tiny-clip"
"""The open_clip config of the project's tiny CLIP (``model_configs/sptseg-tiny-clip.json``: 64-px images,
a 4-block width-128 ViT with 8-px patches, an 8 x 8 token grid), the miniature's stand-in for ViT-B/16."""
TINY_CLIP_WEIGHTS = f"{PROJECT_WEIGHTS_PREFIX}tiny_clip/{TINY_CLIP_NAME}.pt"
"""The shipped tiny CLIP's weights (``data/tiny_clip/``), as the ``pretrained`` value the miniature presets
store: relative to the project's ``data/`` folder, so that it reads the same in every checkout."""
STRIPES_CLIP_WEIGHTS = f"{PROJECT_WEIGHTS_PREFIX}tiny_clip_stripes/{TINY_CLIP_NAME}.pt"
"""The same tiny CLIP architecture pretrained the same way on the stripes world (``data/tiny_clip_stripes/``),
the CLIP of the ``stripes-*`` presets."""
FABRICS_CLIP_WEIGHTS = f"{PROJECT_WEIGHTS_PREFIX}tiny_clip_fabrics/{TINY_CLIP_NAME}.pt"
"""The same again on the fabrics world (``data/tiny_clip_fabrics/``), the CLIP of the ``fabrics-*``
presets."""

_SCHEMES = ("hf-hub:", "local-dir:")
"""Model names open_clip resolves outside its registry (the Hugging Face hub, a folder)."""
_REQUIRED_KEYS = ("embed_dim", "vision_cfg", "text_cfg")
"""A JSON file lacking one of these is not a model config to open_clip, which skips it."""


@functools.cache
def _config_files(folder: Path) -> dict[str, Path]:
    """The JSON files of ``folder`` by model name (the file's stem), as open_clip registers them."""
    return {path.stem: path for path in folder.glob("*.json")}


@functools.cache
def _read_config(path: Path) -> dict[str, Any] | None:
    """The model config in ``path`` (shared: read it, never change it), ``None`` when open_clip would skip
    the file."""
    config = json.loads(path.read_text(encoding="utf-8"))
    return config if all(key in config for key in _REQUIRED_KEYS) else None


def _shipped_config(folder: Path, model_name: str) -> dict[str, Any] | None:
    path = _config_files(folder).get(model_name)
    return None if path is None else _read_config(path)


@functools.cache
def open_clip_config_dir() -> Path | None:
    """open_clip's own ``model_configs/`` folder, found without importing open_clip."""
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "model_configs"


def _model_config(model_name: str) -> dict[str, Any] | None:
    """The open_clip model config ``model_name`` names, ``None`` if unknown.

    The project's configs come first (registered last, they win over open_clip's). While open_clip is not
    loaded its registry can hold nothing but its shipped files, which are read directly; once it is loaded
    (other configs may have been added), and for hub or folder names, open_clip answers.
    """
    if not model_name.startswith(_SCHEMES):
        own = _shipped_config(MODEL_CONFIG_DIR, model_name)
        if own is not None:
            return own
        if "open_clip" not in sys.modules:
            folder = open_clip_config_dir()
            return None if folder is None else _shipped_config(folder, model_name)
    import open_clip

    return open_clip.get_model_config(model_name)


def vision_depth(model_name: str) -> int | None:
    """Transformer blocks of an open_clip model's image tower (ViT-B-16: 12), ``None`` if the config is
    unknown; read from the model's JSON config, without building the model."""
    layers = (_model_config(model_name) or {}).get("vision_cfg", {}).get("layers")
    return layers if isinstance(layers, int) else None


__all__ = [
    "FABRICS_CLIP_WEIGHTS",
    "MODEL_CONFIG_DIR",
    "PROJECT_WEIGHTS_PREFIX",
    "STRIPES_CLIP_WEIGHTS",
    "TINY_CLIP_NAME",
    "TINY_CLIP_WEIGHTS",
    "vision_depth",
]
