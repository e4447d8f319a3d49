"""What the notebooks share about their environment: the profile, the device, the CLIP they load, photos.

Every notebook starts with ``env = notebook_env.setup(profile, device, clip)`` from its parameters cell and
then only uses ``env``:

* ``profile``: ``"smoke"`` (a laptop CPU, seconds: the miniature's geometry everywhere, i.e. the shipped
  tiny CLIP and its 64-px shapes scenes, an 8 x 8 token grid, the grid the shipped trained run was built
  for) or ``"full"`` (the paper's setting: CLIP ViT-B/16 with real weights, 512 px crops = a 32 x 32
  token grid). ``"full"`` fails at once, saying how to provide the weights, when they are not on disk.
* ``device``: ``"auto"`` (CUDA when available, else the CPU), or any ``torch.device`` string.
* ``clip``: ``"auto"`` (full: real ViT-B/16; smoke: real ViT-B/16 only when ``$SPTSEG_CLIP_WEIGHTS`` names
  a file, else the shipped tiny CLIP ``data/tiny_clip/``, else a randomly initialised tiny CLIP),
  or one of ``"real"``, ``"tiny"``, ``"random"`` (or ``"none"`` for a notebook that needs no CLIP).
  :attr:`NotebookEnv.clip_description` says plainly which one was loaded; with random weights every
  picture of features is a picture of an untrained network.
* each notebook's figures go to ``<runs>/notebooks/<notebook>/`` (:func:`sptseg_lib.runs.runs_dir`).

Runs (train or load, the shipped miniature) are :mod:`sptseg_lib.runs`'s; token probes of the encoder are
:func:`sptseg_lib.encoder.block_tokens`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import open_clip
import skimage.data
import torch
from IPython import get_ipython
from matplotlib.figure import Figure
from skimage.transform import resize

from .clip_loading import TINY_CLIP_NAME, TINY_CLIP_WEIGHTS, WEIGHTS_ENV_VAR, load_clip, tiny_clip_weights
from .config import ModelConfig
from .encoder import PromptedCLIPEncoder
from .runs import runs_dir
from .viz import figure_png

PROFILES = ("smoke", "full")
CLIP_CHOICES = ("auto", "real", "tiny", "random", "none")
SMOKE_IMAGE_SIZE = 64
"""The side of the images the smoke profile feeds the tiny CLIP: the shapes world's 64 px, which its 8-px
patches make an 8 x 8 token grid (the miniature's one geometry: the shipped trained run, its spectral
filter ``(8, 5, C)`` and the README use it too)."""


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"``: CUDA when available, else the CPU; otherwise ``torch.device(device)`` (checked)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device={device!r} was asked for but CUDA is not available; use 'auto' or 'cpu'")
    return dev


@dataclass
class NotebookEnv:
    """The resolved environment of one notebook run.

    Attributes:
        profile: ``"smoke"`` or ``"full"``.
        device: where models run.
        clip_source: ``"real"``, ``"tiny"`` (the shipped tiny CLIP) or ``"random"``.
        clip_description: one plain sentence naming the CLIP that was loaded.
        clip_name: the open_clip config name (``ViT-B-16``, ``sptseg-tiny-clip``).
        clip: the open_clip ``CLIP`` model, frozen, in eval mode, on ``device`` (``None``: ``clip="none"``).
        image_size: the side in pixels of the images fed to CLIP here (smoke: :data:`SMOKE_IMAGE_SIZE` =
            64, an 8 x 8 grid of the tiny CLIP's 8-px patches; full: 512 = the paper's 32 x 32 grid).
        out: this notebook's folder in the runs folder.
    """

    profile: str
    device: torch.device
    clip_source: str
    clip_description: str
    clip_name: str
    clip: open_clip.CLIP | None
    image_size: int
    out: Path

    @property
    def patch_size(self) -> int:
        if self.clip is None:
            raise RuntimeError("this notebook was set up with clip='none'; pass clip='auto' to setup()")
        return int(self.clip.visual.patch_size[0])

    @property
    def grid(self) -> tuple[int, int]:
        """The token grid of an ``image_size`` image."""
        side = self.image_size // self.patch_size
        return side, side

    def encoder(self, **changes) -> PromptedCLIPEncoder:
        """A :class:`PromptedCLIPEncoder` around this CLIP (default: no prompts, no SPT: CLIP itself)."""
        fields = dict(
            clip_model=self.clip_name, pretrained=None, image_size=self.image_size, prompt_tokens=0, spt=False
        )
        fields.update(changes)
        return PromptedCLIPEncoder(self.clip.visual, ModelConfig(**fields)).to(self.device).eval()

    def save(self, fig, name: str) -> Path:
        """Save a figure as ``<out>/<name>.png`` (and return the path)."""
        path = self.out / f"{name}.png"
        fig.savefig(path, dpi=90, bbox_inches="tight")
        return path

    def __str__(self) -> str:
        grid = f" (token grid {self.grid[0]}x{self.grid[1]})" if self.clip is not None else ""
        return (
            f"profile={self.profile}, device={self.device}, images {self.image_size} px{grid}\n"
            f"{self.clip_description}\nfigures: {self.out}"
        )


def _choose_clip(profile: str, clip: str) -> str:
    if clip not in CLIP_CHOICES:
        raise ValueError(f"clip must be one of {CLIP_CHOICES}, got {clip!r}")
    if clip != "auto":
        return clip
    if profile == "full":
        return "real"
    override = os.environ.get(WEIGHTS_ENV_VAR)
    if override and Path(override).is_file():
        return "real"
    return "tiny" if tiny_clip_weights() is not None else "random"


def load_notebook_clip(source: str, device: torch.device) -> tuple[str, open_clip.CLIP, str]:
    """``(config name, model, plain description)`` for ``source`` in ``real``/``tiny``/``random``."""
    if source == "real":
        model = load_clip("ViT-B-16", "openai", device=device)
        text = "CLIP ViT-B/16 with OpenAI's pretrained weights (the paper's backbone)."
        return "ViT-B-16", model, text
    weights = tiny_clip_weights()
    if source == "tiny":
        if weights is None:
            raise FileNotFoundError(
                f"clip='tiny' needs the shipped tiny CLIP {TINY_CLIP_WEIGHTS}, which is "
                "missing; regenerate it with `python -m sptseg_lib.tools.pretrain_tiny_clip "
                "--out data/tiny_clip`, or use clip='random'"
            )
        model = load_clip(TINY_CLIP_NAME, str(weights), device=device, quick_gelu=False)
        text = (
            "The project's tiny CLIP (4-layer ViT, 8-px patches), pretrained on the synthetic shapes world "
            f"({weights}); a stand-in for ViT-B/16, whose weights are not on this machine."
        )
        return TINY_CLIP_NAME, model, text
    if source == "random":
        torch.manual_seed(0)
        logging.disable(logging.WARNING)  # open_clip's "initialized randomly" log: said plainly below
        try:
            model = load_clip(TINY_CLIP_NAME, None, device=device, quick_gelu=False)
        finally:
            logging.disable(logging.NOTSET)
        text = (
            "RANDOM WEIGHTS: a randomly initialised tiny CLIP (no trained weights were found: neither "
            f"ViT-B/16 nor {TINY_CLIP_WEIGHTS}); features are those of an untrained network."
        )
        return TINY_CLIP_NAME, model, text
    raise ValueError(f"unknown CLIP source {source!r}; use real, tiny or random")


def show_figures_inline(dpi: int = 80) -> bool:
    """In IPython, display :class:`matplotlib.figure.Figure` objects as PNG images (the figures of
    :mod:`sptseg_lib.viz` never touch pyplot, so no backend shows them otherwise). False outside IPython."""
    shell = get_ipython()
    if shell is None:
        return False
    shell.display_formatter.formatters["image/png"].for_type(Figure, lambda fig: figure_png(fig, dpi=dpi))
    return True


def setup(
    profile: str = "smoke", device: str = "auto", clip: str = "auto", notebook: str = "notebook"
) -> NotebookEnv:
    """Resolve a notebook's parameters into a :class:`NotebookEnv` (and seed torch and numpy)."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    torch.manual_seed(0)
    np.random.seed(0)  # noqa: NPY002 (notebook cells may use the legacy global generator)
    dev = resolve_device(device)
    show_figures_inline()
    source = _choose_clip(profile, clip)
    size = 512 if profile == "full" else SMOKE_IMAGE_SIZE
    out = runs_dir("notebooks", notebook)
    if source == "none":
        return NotebookEnv(profile, dev, source, "No CLIP loaded (not needed here).", "", None, size, out)
    name, model, text = load_notebook_clip(source, dev)
    model.requires_grad_(False)
    return NotebookEnv(profile, dev, source, text, name, model.eval(), size, out)


# ------------------------------------------------------------------------------------------ images


def photo(name: str = "astronaut", size: int = 128) -> np.ndarray:
    """A real photo from ``skimage.data`` (``astronaut``, ``chelsea``, ``coffee``, ``camera``, ...),
    centre-cropped to a square and resized to ``size`` pixels: ``(size, size, 3)`` uint8 RGB."""
    loader = getattr(skimage.data, name, None)
    if loader is None:
        raise ValueError(f"skimage.data has no image {name!r}; try astronaut, chelsea, coffee or camera")
    image = loader()
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    image = image[top : top + side, left : left + side, :3]
    out = resize(image, (size, size), anti_aliasing=True, preserve_range=True)
    return np.clip(out, 0, 255).astype(np.uint8)


__all__ = [
    "CLIP_CHOICES",
    "PROFILES",
    "SMOKE_IMAGE_SIZE",
    "NotebookEnv",
    "load_notebook_clip",
    "photo",
    "resolve_device",
    "setup",
    "show_figures_inline",
]
