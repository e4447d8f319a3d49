"""One config system: dataclasses and a registry of named presets.

A preset name resolves to a :class:`ModelConfig` and to a full :class:`ExperimentConfig` (model, data,
schedule), the unit the trainer, the command line and the notebooks consume. Every departure of the
reference code from the paper is a field, with the reference behaviour as the default and the alternative
documented next to it (see ``docs/reference.md``).

- :mod:`.types`: the config dataclasses, their validation, dict/JSON forms and dotted overrides;
- :mod:`.overrides`: the typed ``--set section.field=value`` parser they use;
- :mod:`.presets`: the named presets, one per row of Tables 1-4 and family;
- :mod:`.clip`: the CLIP names the presets use and the ViT depth ``spt_layers`` is checked against.

Importing the package loads neither torch nor open_clip.
"""

from __future__ import annotations

from .clip import (
    FABRICS_CLIP_WEIGHTS,
    STRIPES_CLIP_WEIGHTS,
    TINY_CLIP_NAME,
    TINY_CLIP_WEIGHTS,
    vision_depth,
)
from .presets import (
    EXPERIMENT_PRESETS,
    MINIATURE_WORLDS,
    MODEL_PRESETS,
    PAPER_DEPTH,
    TABLE_FAMILIES,
    TINY_CLIP_DEPTH,
    experiment_preset,
    model_preset,
    tiny_blocks,
)
from .types import (
    RUNTIME_FIELDS,
    AmpMode,
    DataConfig,
    ExperimentConfig,
    GateInit,
    ModelConfig,
    Setting,
    SptGridMode,
    TestMode,
    TrainConfig,
    config_differences,
    load_experiment_json,
)

__all__ = [
    "EXPERIMENT_PRESETS",
    "FABRICS_CLIP_WEIGHTS",
    "MINIATURE_WORLDS",
    "MODEL_PRESETS",
    "PAPER_DEPTH",
    "RUNTIME_FIELDS",
    "STRIPES_CLIP_WEIGHTS",
    "TABLE_FAMILIES",
    "TINY_CLIP_DEPTH",
    "TINY_CLIP_NAME",
    "TINY_CLIP_WEIGHTS",
    "AmpMode",
    "DataConfig",
    "ExperimentConfig",
    "GateInit",
    "ModelConfig",
    "Setting",
    "SptGridMode",
    "TestMode",
    "TrainConfig",
    "config_differences",
    "experiment_preset",
    "load_experiment_json",
    "model_preset",
    "tiny_blocks",
    "vision_depth",
]
