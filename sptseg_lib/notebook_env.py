"""What the notebooks share: the profile, the device, the CLIP they load, the runs folder, real images.

Every notebook starts with ``env = notebook_env.setup(profile, device, clip)`` from its parameters cell and
then only uses ``env``:

* ``profile``: ``"smoke"`` (a laptop CPU, seconds: the shipped tiny CLIP or a random one, small token
  grids) or ``"full"`` (the paper's setting: CLIP ViT-B/16 with real weights, 512 px crops = a 32 x 32
  token grid). ``"full"`` fails at once, saying how to provide the weights, when they are not on disk.
* ``device``: ``"auto"`` (CUDA when available, else the CPU), or any ``torch.device`` string.
* ``clip``: ``"auto"`` (full: real ViT-B/16; smoke: real ViT-B/16 only when ``$SPTSEG_CLIP_WEIGHTS`` names
  a file, else the shipped tiny CLIP ``data/tiny_clip/``, else a randomly initialised tiny CLIP),
  or one of ``"real"``, ``"tiny"``, ``"random"`` (or ``"none"`` for a notebook that needs no CLIP).
  :attr:`NotebookEnv.clip_description` says plainly which one was loaded; with random weights every
  picture of features is a picture of an untrained network.
* the runs folder: ``$SPTSEG_RUNS`` (default ``runs/``); a relative path is taken relative to the project
  checkout (the folder holding ``pyproject.toml`` next to ``sptseg_lib/``; ``~/sptseg`` for an installed
  package), never to the kernel's working directory.
"""

from __future__ import annotations

import hashlib
import logging
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import open_clip
import torch
import torch.nn.functional as F

from .checkpoint import (
    CheckpointError,
    check_compatible,
    checkpoint_experiment,
    checkpoint_name,
    load_checkpoint,
)
from .clip_loading import WEIGHTS_ENV_VAR, load_clip
from .config import (
    RUNTIME_FIELDS,
    ExperimentConfig,
    ModelConfig,
    TrainConfig,
    config_differences,
    experiment_preset,
)
from .data.transforms import IMAGENET_MEAN, IMAGENET_STD
from .encoder import PromptedCLIPEncoder
from .evaluate import report_paths
from .hilo import HiLoAttention
from .model import SPTSeg, build_model
from .train import Trainer

RUNS_ENV_VAR = "SPTSEG_RUNS"
PACKAGE_DIR = Path(__file__).resolve().parent
TINY_CLIP_NAME = "sptseg-tiny-clip"
TINY_CLIP_FILE = f"{TINY_CLIP_NAME}.pt"
PROFILES = ("smoke", "full")
CLIP_CHOICES = ("auto", "real", "tiny", "random", "none")


def project_root() -> Path | None:
    """The checkout holding ``sptseg_lib/`` (a folder with ``pyproject.toml``), or ``None`` if installed."""
    root = PACKAGE_DIR.parent
    return root if (root / "pyproject.toml").is_file() else None


def runs_dir(*parts: str, create: bool = True) -> Path:
    """``$SPTSEG_RUNS`` (default ``runs``) joined with ``parts``, as an absolute path.

    A relative value is resolved against :func:`project_root`, or against ``~/sptseg`` when the package
    is installed outside a checkout; never against the working directory.
    """
    base = Path(os.environ.get(RUNS_ENV_VAR) or "runs").expanduser()
    if not base.is_absolute():
        root = project_root()
        base = (root if root is not None else Path.home() / "sptseg") / base
    path = base.joinpath(*parts)
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def tiny_clip_weights() -> Path | None:
    """The shipped tiny CLIP's weights ``data/tiny_clip/sptseg-tiny-clip.pt``, or ``None`` if absent."""
    root = project_root()
    path = root / "data" / "tiny_clip" / TINY_CLIP_FILE if root is not None else None
    return path if path is not None and path.is_file() else None


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
        image_size: the side in pixels of the images fed to CLIP here (smoke: 128 = a 16 x 16 grid
            of the tiny CLIP's 8-px patches; full: 512 = the paper's 32 x 32 grid).
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
    from .tiny_clip import register_config

    register_config()
    weights = tiny_clip_weights()
    if source == "tiny":
        if weights is None:
            raise FileNotFoundError(
                f"clip='tiny' needs the shipped tiny CLIP data/tiny_clip/{TINY_CLIP_FILE}, which is "
                "missing; regenerate it with `python -m sptseg_lib.tiny_clip --out data/tiny_clip`, or use "
                "clip='random'"
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
            f"ViT-B/16 nor data/tiny_clip/{TINY_CLIP_FILE}); features are those of an untrained network."
        )
        return TINY_CLIP_NAME, model, text
    raise ValueError(f"unknown CLIP source {source!r}; use real, tiny or random")


def show_figures_inline(dpi: int = 80) -> bool:
    """In IPython, display :class:`matplotlib.figure.Figure` objects as PNG images (the figures of
    :mod:`sptseg_lib.viz` never touch pyplot, so no backend shows them otherwise). False outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    from matplotlib.figure import Figure

    from .viz import figure_png

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
    size = 512 if profile == "full" else 128
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
    import skimage.data
    from skimage.transform import resize

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


def to_clip_input(image: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """``(H, W, 3)`` uint8 -> ``(1, 3, H, W)`` float with the project's normalisation (ImageNet mean and
    std on 0-255, as the reference pipeline and the tiny CLIP's pretraining)."""
    x = torch.from_numpy(np.ascontiguousarray(image)).float().permute(2, 0, 1)
    mean = torch.tensor(IMAGENET_MEAN)[:, None, None]
    std = torch.tensor(IMAGENET_STD)[:, None, None]
    return ((x - mean) / std)[None].to(device)


@torch.no_grad()
def block_tokens(
    encoder: PromptedCLIPEncoder, images: torch.Tensor
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The patch tokens entering every block and leaving the last, and the class tokens.

    Returns:
        ``tokens``: a list of ``num_blocks + 1`` tensors ``(B, h, w, C)`` (index ``l`` = input of block
        ``l``; the last = output of the last block, before ``ln_post``), and the class tokens
        ``(num_blocks + 1, B, C)``.
    """
    cls, patches, grid = encoder.embed(images)
    x = torch.cat([cls, patches], dim=1)
    blocks = encoder.visual.transformer.resblocks
    batch_first = getattr(encoder.visual.transformer, "batch_first", True)
    tokens, classes = [], []
    for i in range(len(blocks) + 1):
        tokens.append(x[:, 1:].reshape(x.shape[0], grid[0], grid[1], -1))
        classes.append(x[:, 0])
        if i < len(blocks):
            x = blocks[i](x) if batch_first else blocks[i](x.transpose(0, 1)).transpose(0, 1)
    return tokens, torch.stack(classes)


# ------------------------------------------------------------------------------------------ checkpoints


def find_spectral_filter(path: str | Path | None = None) -> tuple[torch.Tensor, Path] | None:
    """The learned complex filter ``w_f`` ``(h, w//2+1, C)`` of a trained SPT model, and its checkpoint.

    ``path``: a checkpoint file; ``None`` searches the runs folder for ``iter_*.pt`` files (newest first)
    holding spectral filters, then the runs the project ships (:data:`SHIPPED_RUNS`). Returns ``None``
    when there is none.
    """
    if path:
        candidates = [Path(path)]
    else:
        candidates = sorted(runs_dir(create=False).glob("**/iter_*.pt"), key=lambda p: -p.stat().st_mtime)
        candidates += sorted(SHIPPED_RUNS.glob("*/iter_*.pt"))
    for candidate in candidates:
        try:
            state = load_checkpoint(candidate)["model"]
        except (CheckpointError, KeyError):
            if path:
                raise
            continue
        keys = sorted(k for k in state if "spectral.filters" in k)
        if keys:
            return torch.view_as_complex(state[keys[0]].float()), candidate
        if path:
            raise CheckpointError(f"{path} holds no spectral filter (was it trained with spt=False?)")
    return None


# ------------------------------------------------------------------------------------------ timing


def full_attention(dim: int, heads: int) -> torch.nn.MultiheadAttention:
    """Plain multi-head self-attention over all tokens (the baseline HiLo is compared with)."""
    return torch.nn.MultiheadAttention(dim, heads, bias=False, batch_first=True)


@torch.no_grad()
def attention_cost(
    grids: tuple[int, ...] = (16, 32),
    dim: int = 256,
    heads: int = 8,
    window_size: int = 3,
    alpha: float = 0.9,
    repeats: int = 5,
    threads: int = 1,
) -> list[dict[str, float]]:
    """CPU time of HiLo attention (eq. 4-6) and of full self-attention on ``side x side`` grids.

    Both run on the same input, alternately, ``repeats`` times after one warm-up, on ``threads`` torch
    threads (one thread is the steadiest on a shared machine); medians. Returns one row per grid:
    ``grid``, ``tokens``, ``full_ms``, ``hilo_ms``, ``ratio`` (full / HiLo).
    """
    hilo = HiLoAttention(dim, heads, window_size, alpha, hifi_projection=False).eval()
    full = full_attention(dim, heads).eval()
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    rows = []
    try:
        for side in grids:
            x = torch.randn(1, side * side, dim)
            runs = {
                "hilo": lambda x=x, side=side: hilo(x, (side, side)),
                "full": lambda x=x: full(x, x, x, need_weights=False),
            }
            times: dict[str, list[float]] = {name: [] for name in runs}
            for repeat in range(repeats + 1):
                for name, fn in runs.items():
                    start = time.perf_counter()
                    fn()
                    if repeat:  # the first round is a warm-up
                        times[name].append(time.perf_counter() - start)
            full_ms = statistics.median(times["full"]) * 1000
            hilo_ms = statistics.median(times["hilo"]) * 1000
            rows.append(
                dict(grid=side, tokens=side * side, full_ms=full_ms, hilo_ms=hilo_ms, ratio=full_ms / hilo_ms)
            )
    finally:
        torch.set_num_threads(previous)
    return rows


def upsample_scores(logits: torch.Tensor, size: int) -> torch.Tensor:
    """Mask logits ``(B, C, h, w)`` -> sigmoid scores ``(B, C, size, size)`` (bilinear, as at inference)."""
    return F.interpolate(logits.float(), size=(size, size), mode="bilinear", align_corners=False).sigmoid()


# ------------------------------------------------------------------------------------------ training runs

SMOKE_ITERATIONS = 40
"""Iterations a smoke-profile notebook trains (batch 16): well under a minute on one CPU thread."""
DATASET_FAMILIES = {"shapes": "shapes", "voc": "voc", "coco_stuff": "coco"}
SHIPPED_RUNS = PACKAGE_DIR.parent / "data" / "miniature"
"""Finished miniature runs the project ships (``data/miniature/<preset>/``, weights only, with their log and
evaluation): what the smoke profile of notebooks 01 and 06-09 shows when the user has no longer run."""
_SCHEDULE_FIELDS = frozenset({"train.iterations", "train.warmup_iters", "train.seed", "train.schedule"})


def _same_recipe(saved: ExperimentConfig, experiment: ExperimentConfig) -> bool:
    """Whether a saved run is ``experiment`` up to its length and seed (a stale run of a changed preset
    is not)."""
    return not config_differences(saved, experiment, ignore=RUNTIME_FIELDS | _SCHEDULE_FIELDS)


@dataclass
class TrainingRun:
    """Where a notebook's training run lives: the experiment (schedule compressed to ``steps``), its folder
    and its final checkpoint. ``schedule`` is the preset's own recipe, ``reused`` says whether a finished
    longer run was picked instead of training ``SMOKE_ITERATIONS`` fresh iterations."""

    experiment: ExperimentConfig
    schedule: TrainConfig
    steps: int
    run_dir: Path
    final: Path
    reused: bool

    def __str__(self) -> str:
        e = self.experiment
        return (
            f"experiment {e.name}: {e.description}\n"
            f"CLIP: {e.model.clip_model} with weights {e.model.pretrained or 'RANDOM (none)'}\n"
            f"{self.steps} iterations of batch {e.train.batch_size} (the preset's: {self.schedule.schedule})"
            + (
                f"; a finished run was found and is used instead of {SMOKE_ITERATIONS} fresh iterations"
                if self.reused
                else ""
            )
            + f"\nrun folder: {self.run_dir}"
        )


def training_run(
    profile: str, dataset: str, preset: str = "", iterations: int = 0, data_root: str = ""
) -> TrainingRun:
    """The run notebooks 06, 07 and 09 share: ``preset`` (default ``<dataset>-sptseg``) for ``iterations``
    (default: ``SMOKE_ITERATIONS`` in smoke, the preset's schedule in full).

    A preset's whole schedule lives where ``python -m sptseg_lib train --preset <name>`` puts it
    (``runs/<preset>/``); a shorter run gets its own folder ``runs/train/<preset>-<N>it-<digest>/`` with
    the preset's warm-up compressed to ``N`` iterations (the digest of the config means a changed preset
    starts a new run, never a stale one). In smoke, a finished longer run of the preset with the same
    recipe (the command line's, one of ``benchmarks/miniature_tables.py``, or the one the project ships in
    ``data/miniature/``) is used instead when one exists; the longest wins, the user's own on a tie.
    """
    if dataset not in DATASET_FAMILIES:
        raise ValueError(f"dataset must be one of {sorted(DATASET_FAMILIES)}, got {dataset!r}")
    if (profile == "smoke") != (dataset == "shapes"):
        raise ValueError(
            f"profile={profile!r} with dataset={dataset!r}: the smoke profile trains on the shapes world, "
            "the full profile on the paper's data sets (dataset='voc' or 'coco_stuff')"
        )
    experiment = experiment_preset(preset or f"{DATASET_FAMILIES[dataset]}-sptseg")
    schedule = experiment.train
    steps = iterations or (SMOKE_ITERATIONS if profile == "smoke" else schedule.iterations)
    whole = runs_dir(experiment.name, create=False) / checkpoint_name(schedule.iterations)
    overrides: dict = {
        "train.checkpoint_every": min(steps, schedule.checkpoint_every),
        "train.log_every": max(1, min(schedule.log_every, steps // 20)),
    }
    if data_root:
        overrides["data.root"] = data_root
    if steps != schedule.iterations:
        warmup = round(schedule.warmup_iters * steps / schedule.iterations)
        overrides.update({"train.iterations": steps, "train.warmup_iters": warmup})
    experiment = experiment.with_overrides(overrides)
    if steps == schedule.iterations:
        run_dir = whole.parent
    else:
        digest = hashlib.sha1(experiment.to_json().encode()).hexdigest()[:8]
        run_dir = runs_dir("train", f"{experiment.name}-{steps}it-{digest}", create=False)
    run = TrainingRun(experiment, schedule, steps, run_dir, run_dir / checkpoint_name(steps), False)
    if profile != "smoke" or iterations:
        return run
    candidates = [
        whole,
        *runs_dir("miniature_tables", create=False).glob(f"{experiment.name}/seed*/iter_*.pt"),
        *(SHIPPED_RUNS / experiment.name).glob("iter_*.pt"),
    ]
    longer = []
    for path in filter(Path.is_file, candidates):
        saved = checkpoint_experiment(load_checkpoint(path), path)
        finished = int(path.stem.removeprefix("iter_")) == saved.train.iterations > steps
        if finished and _same_recipe(saved, experiment):
            longer.append((saved.train.iterations, path, saved))
    if longer:
        steps, path, saved = max(longer, key=lambda found: found[0])
        run = TrainingRun(saved, schedule, steps, path.parent, path, True)
    return run


def is_shipped(checkpoint: str | Path) -> bool:
    """Whether ``checkpoint`` belongs to a run the project ships (:data:`SHIPPED_RUNS`): read-only."""
    return SHIPPED_RUNS.resolve() in Path(checkpoint).resolve().parents


def evaluation_paths(checkpoint: str | Path, suffix: str) -> tuple[Path, Path]:
    """Where a notebook writes the evaluation report of ``checkpoint``: beside it
    (:func:`~sptseg_lib.evaluate.report_paths`), except for a shipped run, whose reports go to
    ``<runs>/shipped/<preset>/`` so that the project's ``data/`` stays as committed."""
    checkpoint = Path(checkpoint)
    if is_shipped(checkpoint):
        checkpoint = runs_dir("shipped", checkpoint.parent.name) / checkpoint.name
    return report_paths(checkpoint, suffix)


def load_trained_model(
    run: TrainingRun, device: torch.device, checkpoint: str = ""
) -> tuple[SPTSeg, dict, ExperimentConfig, Path]:
    """The model of ``run`` (or of an explicit ``checkpoint`` file): loaded when its final checkpoint
    exists, trained first otherwise ("load if it exists, else train"). Returns the model (eval mode), the
    checkpoint's state, its experiment and the checkpoint path. A checkpoint of another configuration is
    refused with the differing fields named."""
    experiment, final = run.experiment, run.final
    if checkpoint:
        final = Path(checkpoint)
        experiment = checkpoint_experiment(load_checkpoint(final), final)
        print(f"using the given checkpoint {final} ({experiment.name})")
    elif final.is_file():
        print(f"found {final}: loading it")
    else:
        print(f"no {final} yet: training it now ({run.steps} iterations)")
        Trainer(experiment, run.run_dir, resume=True, device=device, progress=False).fit()
    state = load_checkpoint(final)
    check_compatible(state, experiment, path=final)
    torch.manual_seed(experiment.train.seed)  # as the trainer does: a random CLIP is then the same one
    model = build_model(experiment.model, device=device).eval()
    model.load_trainable_state_dict(state["model"])
    print(f"model {experiment.name} at step {state['step']}")
    return model, state, experiment, final


__all__ = [
    "DATASET_FAMILIES",
    "PROFILES",
    "RUNS_ENV_VAR",
    "SHIPPED_RUNS",
    "SMOKE_ITERATIONS",
    "NotebookEnv",
    "TrainingRun",
    "attention_cost",
    "block_tokens",
    "evaluation_paths",
    "find_spectral_filter",
    "full_attention",
    "is_shipped",
    "load_notebook_clip",
    "load_trained_model",
    "photo",
    "project_root",
    "resolve_device",
    "runs_dir",
    "setup",
    "show_figures_inline",
    "tiny_clip_weights",
    "to_clip_input",
    "training_run",
    "upsample_scores",
]
