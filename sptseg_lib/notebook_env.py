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
  or one of ``"real"``, ``"tiny"``, ``"random"`` (the profile's architecture, ViT-B/16 in full, with
  random weights; or ``"none"`` for a notebook that needs no CLIP).
  :attr:`NotebookEnv.clip_description` says plainly which one was loaded; with random weights every
  picture of features is a picture of an untrained network.
* each notebook's figures go to ``<runs>/notebooks/<notebook>/`` (:func:`sptseg_lib.runs.runs_dir`).

The notebooks that train or load a run (06-09, and 01-04, which show the one 06 trains) build their CLIP
from the run's preset instead: their ``clip`` parameter is ``"auto"`` (the preset's weights) or
``"random"`` (the preset's architecture with random weights), turned into config overrides by
:func:`run_overrides`, with a ``batch_size``; so the full profile runs on a CPU without ViT-B/16's
weights (random weights, a data root, a few iterations and test images: what
``tests/test_notebooks_full.py`` does), its numbers then meaning nothing (:func:`weights_note` says so).

Runs (train or load, the shipped miniature) are :mod:`sptseg_lib.runs`'s; token probes of the encoder are
:func:`sptseg_lib.encoder.block_tokens`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import open_clip
import skimage.data
import torch
from IPython import get_ipython
from IPython.display import Image, display
from matplotlib.figure import Figure
from skimage.transform import resize

from .clip_loading import TINY_CLIP_NAME, TINY_CLIP_WEIGHTS, WEIGHTS_ENV_VAR, load_clip, tiny_clip_weights
from .config import ModelConfig
from .devices import resolve_device
from .encoder import PromptedCLIPEncoder
from .runs import runs_dir, shown_path
from .viz import figure_png, figure_text_problems

PROFILES = ("smoke", "full")
CLIP_CHOICES = ("auto", "real", "tiny", "random", "none")
RUN_CLIP_CHOICES = ("auto", "random")
"""The ``clip`` parameter of a notebook that trains or loads a run (:func:`run_overrides`)."""
FULL_CLIP_NAME = "ViT-B-16"
"""The full profile's CLIP (the paper's backbone), with real or random weights."""
SAVE_DPI = 90
"""The resolution of the PNGs :meth:`NotebookEnv.save` writes and :meth:`NotebookEnv.show` displays."""
SMOKE_IMAGE_SIZE = 64
"""The side of the images the smoke profile feeds the tiny CLIP: the shapes world's 64 px, which its 8-px
patches make an 8 x 8 token grid (the miniature's one geometry: the shipped trained run, its spectral
filter ``(8, 5, C)`` and the README use it too)."""


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
        """Save a figure as ``<out>/<name>.png`` at :data:`SAVE_DPI` (and return the path), after checking
        its texts (:func:`sptseg_lib.viz.figure_text_problems`).

        Raises:
            ValueError: naming the figure and every problem, when a text lies outside the canvas (it would
                be cut off inline) or a title overlaps another text; nothing is written then.
        """
        problems = figure_text_problems(fig, dpi=SAVE_DPI)
        if problems:
            raise ValueError(
                f"figure {name!r} cannot be shown whole: {'; '.join(problems)} (fix the figure function: its "
                "size, layout or title placement)"
            )
        path = self.out / f"{name}.png"
        fig.savefig(path, dpi=SAVE_DPI, bbox_inches="tight")
        return path

    def show(self, fig, name: str, alt: str = "") -> None:
        """:meth:`save` the figure (checked), then display that very PNG inline, with ``alt`` or else the
        figure's title as its alt text (:func:`figure_title`: the output's ``image/png`` metadata ``alt``,
        which the static site writes into its ``<img alt>``). Returns nothing, so that a cell ending with it
        shows the figure only (the PNG is ``<out>/<name>.png``)."""
        path = self.save(fig, name)
        display(Image(data=path.read_bytes(), format="png", alt=alt or figure_title(fig, name)))

    def __str__(self) -> str:
        if self.clip is None:  # the notebook loads its model itself: no line about a CLIP here
            return (
                f"profile={self.profile}, device={self.device}, images {self.image_size} px\n"
                f"figures: {shown_path(self.out)}"
            )
        return (
            f"profile={self.profile}, device={self.device}, images {self.image_size} px "
            f"(token grid {self.grid[0]}x{self.grid[1]})\n{self.clip_description}\n"
            f"figures: {shown_path(self.out)}"
        )


def figure_title(fig: Figure, fallback: str = "") -> str:
    """A figure's title on one line: its suptitle, else its first axes title, else ``fallback``."""
    suptitle = fig.get_suptitle() if hasattr(fig, "get_suptitle") else ""
    titles = [suptitle] + [ax.get_title(loc) for ax in fig.axes for loc in ("center", "left", "right")]
    for title in titles:
        if title.strip():
            return " ".join(title.split())
    return fallback


def choose_clip(profile: str, clip: str) -> str:
    """Which CLIP a notebook loads for ``clip`` (one of :data:`CLIP_CHOICES`): ``"auto"`` is the real one in
    the full profile or when a weights file is named, else the shipped tiny one (random without it)."""
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


def load_notebook_clip(
    source: str, device: torch.device, profile: str = "smoke"
) -> tuple[str, open_clip.CLIP, str]:
    """``(config name, model, plain description)`` for ``source`` in ``real``/``tiny``/``random``;
    ``random`` is the profile's architecture (full: ViT-B/16; smoke: the tiny CLIP) with random weights."""
    if source == "real":
        model = load_clip(FULL_CLIP_NAME, "openai", device=device)
        text = "CLIP ViT-B/16 with OpenAI's pretrained weights (the paper's backbone)."
        return FULL_CLIP_NAME, model, text
    if source == "random" and profile == "full":
        torch.manual_seed(0)
        logging.disable(logging.WARNING)  # open_clip's "initialized randomly" log: said plainly below
        try:
            model = load_clip(FULL_CLIP_NAME, None, device=device)
        finally:
            logging.disable(logging.NOTSET)
        text = (
            "RANDOM WEIGHTS: a randomly initialised CLIP ViT-B/16 (the paper's architecture, clip='random'); "
            "features are those of an untrained network."
        )
        return FULL_CLIP_NAME, model, text
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
            f"({shown_path(weights)}); a stand-in for ViT-B/16, whose weights are not on this machine."
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
    source = choose_clip(profile, clip)
    size = 512 if profile == "full" else SMOKE_IMAGE_SIZE
    out = runs_dir("notebooks", notebook)
    if source == "none":
        return NotebookEnv(profile, dev, source, "No CLIP loaded (not needed here).", "", None, size, out)
    name, model, text = load_notebook_clip(source, dev, profile)
    model.requires_grad_(False)
    return NotebookEnv(profile, dev, source, text, name, model.eval(), size, out)


# ------------------------------------------------------------------------ runs of notebooks 01-04, 06-09


def run_overrides(clip: str = "auto", batch_size: int = 0) -> dict[str, Any]:
    """The config overrides (dotted fields, :meth:`~sptseg_lib.config.ExperimentConfig.with_overrides`)
    that a notebook training or loading a run passes to :func:`sptseg_lib.runs.training_run` or
    :func:`~sptseg_lib.runs.evaluated_presets`.

    Args:
        clip: ``"auto"``: the preset's CLIP weights (full: ViT-B/16's OpenAI weights; smoke: the tiny CLIP);
            ``"random"``: the preset's CLIP architecture with random weights (``model.pretrained=None``),
            e.g. to run the full profile on a CPU without the weights; its numbers then mean nothing.
        batch_size: the global batch (``train.batch_size``); 0 keeps the preset's (16).
    """
    if clip not in RUN_CLIP_CHOICES:
        raise ValueError(
            f"clip must be one of {RUN_CLIP_CHOICES} in a notebook that trains or loads a run (its CLIP is "
            f"the preset's, with its weights or random ones), got {clip!r}"
        )
    if batch_size < 0:
        raise ValueError(f"batch_size must be >= 1, or 0 for the preset's, got {batch_size}")
    overrides: dict[str, Any] = {"model.pretrained": None} if clip == "random" else {}
    if batch_size:
        overrides["train.batch_size"] = batch_size
    return overrides


def weights_note(model: ModelConfig) -> str:
    """``""`` when ``model``'s CLIP has trained weights; else one plain sentence saying that its weights
    are random, so that every figure computed with it is that of an untrained network."""
    if model.pretrained is not None:
        return ""
    return (
        f"RANDOM WEIGHTS: the CLIP ({model.clip_model}) was randomly initialised (clip='random'); "
        "every figure computed with it is that of an untrained network and measures nothing."
    )


# ------------------------------------------------------------------------------------------ images


def photo(name: str = "astronaut", size: int = 128, square: bool = True) -> np.ndarray:
    """A real photo from ``skimage.data`` (``astronaut``, ``chelsea``, ``coffee``, ``camera``, ...),
    centre-cropped to a square and resized to ``size`` pixels: ``(size, size, 3)`` uint8 RGB; with
    ``square=False`` not cropped, its short side resized to ``size`` (aspect ratio kept)."""
    loader = getattr(skimage.data, name, None)
    if loader is None:
        raise ValueError(f"skimage.data has no image {name!r}; try astronaut, chelsea, coffee or camera")
    image = loader()
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    h, w = image.shape[:2]
    side = min(h, w)
    if square:
        top, left = (h - side) // 2, (w - side) // 2
        image = image[top : top + side, left : left + side]
        h = w = side
    shape = (round(h * size / side), round(w * size / side))
    out = resize(image[..., :3], shape, anti_aliasing=True, preserve_range=True)
    return np.clip(out, 0, 255).astype(np.uint8)


__all__ = [
    "CLIP_CHOICES",
    "FULL_CLIP_NAME",
    "PROFILES",
    "RUN_CLIP_CHOICES",
    "SAVE_DPI",
    "SMOKE_IMAGE_SIZE",
    "NotebookEnv",
    "choose_clip",
    "figure_title",
    "load_notebook_clip",
    "photo",
    "resolve_device",
    "run_overrides",
    "setup",
    "show_figures_inline",
    "weights_note",
]
