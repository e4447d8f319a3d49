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

from . import clip, presets, types
from .clip import *  # noqa: F403
from .presets import *  # noqa: F403
from .types import *  # noqa: F403

__all__ = [*clip.__all__, *presets.__all__, *types.__all__]
