"""The project's own small world: procedural zero-shot segmentation scenes with pixel-exact label maps.

Why this world exists: no CLIP weights and no benchmark images can be downloaded here, so the whole pipeline
(tiny CLIP, spectral prompt, decoders, losses, metrics) runs on scenes the project draws itself.

Design (each choice below was settled by measuring small prototypes first):

* **Object classes are compositional**: colour x shape, 4 x 4 = 16 classes named by plain words
  ("red circle", "blue star", ...). The 4 unseen classes form a Latin-square diagonal, so every colour and
  every shape still occurs in 3 seen classes: an unseen class is a new combination of known words, as
  "sheep" sits among animals CLIP knows. (A prototype with classes sharing no words transferred nothing to
  unseen classes; the compositional one did.)
* **Texture is tied to the shape**: each shape has its own stripe frequency and orientation, so a patch
  inside an object (where the outline is not visible) still tells its shape, and the spectrum of the
  features has something class-specific to find (the point of the spectral prompt, paper eq. 1-3).
* **Stuff classes** fill the background: 4 textured surfaces with plain names ("grass", "sand", ...), all
  seen. A background is one surface or two split by a wavy horizon.
* **Hard edges**: every pixel belongs to exactly one region (tested at pixel centres), so the label map is
  exact and no ignore label (255) is needed.
* **Image size 64 px**: with the tiny CLIP's patch size 8 this gives the minimum 8 x 8 token grid at the
  lowest cost on a 2-core CPU (a 96-px image would cost about 2.3x more tokens per image); objects of
  20-32 px span 2.5-4 patches (:data:`SCENE_RADIUS` says why not smaller).

**The stripes world** (:data:`STRIPES_WORLD`, data set ``"stripes"``) is its spectral variant, the same scenes
with one change: an object class is *texture* x shape ("barred circle"), the texture a stripe pattern whose
period (16 or 24 px: 2 or 3 patches) and orientation (vertical or horizontal) name the class, while the
colour is drawn at random for every object and tells nothing. A patch sees half a period or less of either
stripe, so fine and coarse are told apart by how the pattern continues across tokens, at 0.5 and 0.33 cycles
per token, both below the token grid's Nyquist limit (a 12-px stripe, 0.67 cycles per token, would alias to
0.33): the class lives in the spectrum of the token grid that the spectral prompt filters (paper eq. 1-3;
``data/miniature/spt_study/``).

**The fabrics world** (:data:`FABRICS_WORLD`, data set ``"fabrics"``) keeps those four textures and gives the
colour back its meaning: an object class is *colour* x texture ("red pinstriped"), and the *shape* is drawn
at random for every object and tells nothing. Of the stripes world's two attributes, its tiny CLIP read the
texture (0.90 of single objects) but not the outline alone (0.47); here the attribute beside the texture is
the easy one, and which of a colour's four classes an object is shows in its stripes alone.

Everything is deterministic given a ``numpy.random.Generator`` seed. Shapes: images are ``(H, W, 3)``
uint8, label maps ``(H, W)`` int64; the torch data set returns ImageNet-normalised ``(3, H, W)`` floats.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch.utils.data import Dataset

from .splits import (
    FABRICS_OBJECT_CLASSES,
    FABRICS_SPLIT,
    SHAPES_CLASS_NAMES,
    SHAPES_COLOURS,
    SHAPES_OBJECT_CLASSES,
    SHAPES_SHAPES,
    SHAPES_STUFF,
    STRIPES_OBJECT_CLASSES,
    STRIPES_SPLIT,
    ZeroShotSplit,
)
from .splits import SHAPES_SPLIT as SHAPES_SPLIT  # the world's zero-shot split, defined with the others
from .transforms import normalise

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 45, 40),
    "green": (45, 175, 60),
    "blue": (50, 95, 225),
    "yellow": (235, 205, 45),
}
"""The RGB of each colour word of the class names (in the order of ``splits.SHAPES_COLOURS``)."""
SHAPES: tuple[str, ...] = SHAPES_SHAPES
# Stripe texture tied to the shape: (period in pixels, orientation in degrees of the wave vector).
SHAPE_TEXTURE: dict[str, tuple[float, float]] = {
    "circle": (4.0, 0.0),
    "square": (4.0, 90.0),
    "triangle": (7.0, 45.0),
    "star": (7.0, 135.0),
}
STRIPE_TEXTURE: dict[str, tuple[float, float]] = {
    "pinstriped": (16.0, 0.0),  # fine, vertical stripes (the wave runs along x)
    "corded": (16.0, 90.0),  # fine, horizontal
    "barred": (24.0, 0.0),  # coarse, vertical
    "banded": (24.0, 90.0),  # coarse, horizontal
}
"""The stripes world's object textures: (period in pixels, orientation in degrees of the wave vector)."""
STUFF: tuple[str, ...] = SHAPES_STUFF


def stripe_frequency_bins(grid: tuple[int, int], patch: int) -> dict[str, list[tuple[int, int]]]:
    """Where each :data:`STRIPE_TEXTURE` lies in the spectral filter's frequency grid: per texture, the
    ``(k_y, k_x)`` index pairs of the real FFT's half-plane of an ``(h, w)`` token grid (rows in
    ``fftfreq`` order, columns ``0 .. w/2``; the layout of ``w_f``, eq. 1) nearest to its frequency of
    ``patch / period`` cycles per token, along ``x`` for vertical stripes (wave vector at 0 deg) and along
    ``y`` for horizontal ones (both signs of ``k_y``)."""
    h, w = grid

    def nearest(freqs: np.ndarray, f: float) -> int:  # frequencies are periodic: 0.5 is -0.5
        return int(np.argmin(np.abs((freqs - f + 0.5) % 1.0 - 0.5)))

    ky, kx = np.fft.fftfreq(h), np.fft.rfftfreq(w)
    bins: dict[str, list[tuple[int, int]]] = {}
    for name, (period, degrees) in STRIPE_TEXTURE.items():
        f = patch / period
        if degrees % 180 == 0:
            bins[name] = [(0, nearest(kx, f))]
        else:
            bins[name] = [(y, 0) for y in sorted({nearest(ky, f), nearest(ky, -f)})]
    return bins


OBJECT_CLASSES: tuple[tuple[str, str], ...] = SHAPES_OBJECT_CLASSES
CLASS_NAMES: tuple[str, ...] = SHAPES_CLASS_NAMES
NUM_OBJECT_CLASSES = len(OBJECT_CLASSES)

IMAGE_SIZE = 64
SCENE_OBJECTS: tuple[int, int] = (1, 3)
"""Objects per scene (inclusive range)."""
SCENE_RADIUS: tuple[float, float] = (10.0, 16.0)
"""Object radius range in px at 64 px: 20-32 px across, 2.5-4 patches of 8 px. The first version drew
1-4 objects of radius 7-13 (1.75-3 patches across); on the 8 x 8 token grid that put most of a small
triangle or star in patches it shares with the background. Even a perfect per-patch classifier, upsampled
bilinearly as the model's logits are, then reaches only hIoU 70.5 on it (81 / 77 mIoU(S) / mIoU(U) with
the larger objects), and ``shapes-sptseg`` reached val hIoU 37.9 there against 45.4 here (same recipe)."""
_SPLIT_SEEDS = {"train": 0, "val": 1, "test": 2}


@dataclass(frozen=True)
class World:
    """A procedural world: object classes named by two words on the 4 stuff surfaces.

    ``words`` says what the two words of an object class name: ``("colour", "shape")`` (the shapes world,
    its stripes tied to its shape), ``("texture", "shape")`` (the stripes world: :data:`STRIPE_TEXTURE`, any
    colour) or ``("colour", "texture")`` (the fabrics world: any shape). Every world has 16 object classes,
    then the 4 stuff classes.
    """

    name: str
    split: ZeroShotSplit
    object_classes: tuple[tuple[str, str], ...]
    words: tuple[str, str]

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.split.class_names

    @property
    def attributes(self) -> tuple[str, ...]:
        """The first words (colours or textures), in class order."""
        return tuple(dict.fromkeys(a for a, _ in self.object_classes))

    @property
    def second_words(self) -> tuple[str, ...]:
        """The second words (shapes or textures), in class order."""
        return tuple(dict.fromkeys(b for _, b in self.object_classes))

    def describe(self, index: int) -> dict[str, str]:
        """What object class ``index``'s words name, e.g. ``{"colour": "red", "shape": "circle"}``."""
        return dict(zip(self.words, class_attributes(index, self)))


SHAPES_WORLD = World("shapes", SHAPES_SPLIT, SHAPES_OBJECT_CLASSES, ("colour", "shape"))
STRIPES_WORLD = World("stripes", STRIPES_SPLIT, STRIPES_OBJECT_CLASSES, ("texture", "shape"))
FABRICS_WORLD = World("fabrics", FABRICS_SPLIT, FABRICS_OBJECT_CLASSES, ("colour", "texture"))
WORLDS: dict[str, World] = {w.name: w for w in (SHAPES_WORLD, STRIPES_WORLD, FABRICS_WORLD)}
"""The synthetic worlds by data set name (``DataConfig.dataset``)."""


def get_world(world: str | World) -> World:
    """The :class:`World` called ``world`` (a :class:`World` is returned as it is)."""
    if isinstance(world, World):
        return world
    if world not in WORLDS:
        raise ValueError(f"unknown synthetic world {world!r}; expected one of {', '.join(WORLDS)}")
    return WORLDS[world]


@dataclass(frozen=True)
class Scene:
    """One rendered scene.

    ``image``: (H, W, 3) uint8; ``label``: (H, W) int64 class indices into ``CLASS_NAMES``;
    ``objects``: object class indices still visible after occlusion, in painting order;
    ``stuff``: stuff class indices of the background, top to bottom.
    """

    image: np.ndarray
    label: np.ndarray
    objects: tuple[int, ...]
    stuff: tuple[int, ...]


def class_attributes(index: int, world: World = SHAPES_WORLD) -> tuple[str, str]:
    """The two words of object class ``index``, e.g. (colour, shape) (``World.words`` says what they name);
    raises for stuff classes."""
    if not 0 <= index < len(world.object_classes):
        raise ValueError(
            f"class {index} is not an object class (object classes are 0..{len(world.object_classes) - 1})"
        )
    return world.object_classes[index]


@lru_cache(maxsize=8)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (y, x), each (size, size), read-only (cached)."""
    c = np.arange(size, dtype=np.float64) + 0.5
    y, x = np.meshgrid(c, c, indexing="ij")
    y.flags.writeable = x.flags.writeable = False
    return y, x


def _polygon_mask(y: np.ndarray, x: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Even-odd point-in-polygon test at pixel centres; ``vertices`` (K, 2) as (x, y)."""
    inside = np.zeros(y.shape, dtype=bool)
    for (x0, y0), (x1, y1) in zip(vertices, np.roll(vertices, -1, axis=0)):
        if y0 == y1:
            continue
        crosses = (y0 > y) != (y1 > y)
        x_at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (x < x_at)
    return inside


def shape_mask(shape: str, size: int, cx: float, cy: float, radius: float, angle: float) -> np.ndarray:
    """(size, size) bool mask of one shape centred at (cx, cy) with circumradius-like ``radius``."""
    y, x = _grid(size)
    if shape == "circle":
        return (x - cx) ** 2 + (y - cy) ** 2 <= radius**2
    if shape == "square":
        k, r = np.arange(4), np.full(4, radius)
        phi = angle + np.pi / 4 + k * np.pi / 2
    elif shape == "triangle":
        k, r = np.arange(3), np.full(3, 1.15 * radius)
        phi = angle - np.pi / 2 + k * 2 * np.pi / 3
    elif shape == "star":
        k = np.arange(10)
        r = np.where(k % 2 == 0, 1.2 * radius, 0.5 * radius)
        phi = angle - np.pi / 2 + k * np.pi / 5
    else:
        raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")
    vertices = np.stack([cx + r * np.cos(phi), cy + r * np.sin(phi)], axis=1)
    return _polygon_mask(y, x, vertices)


def _stripes(size: int, period: float, degrees: float, phase: float) -> np.ndarray:
    """(size, size) cosine wave in [-1, 1] with the given period (px) and wave-vector orientation."""
    y, x = _grid(size)
    t = np.deg2rad(degrees)
    return np.cos(2 * np.pi / period * (x * np.cos(t) + y * np.sin(t)) + phase)


def object_texture(
    rng: np.random.Generator, index: int, size: int, world: World = SHAPES_WORLD
) -> np.ndarray:
    """(size, size, 3) float RGB fill of object class ``index``.

    Its colour: the class's (shapes and fabrics worlds), or drawn uniformly from :data:`COLOURS`
    (uninformative, stripes world). Modulated by stripes: its shape's (:data:`SHAPE_TEXTURE`, shapes world)
    or its texture's (:data:`STRIPE_TEXTURE`, stripes and fabrics worlds). Per instance: brightness
    x0.85-1.15, +-12 per channel colour jitter, period x0.9-1.1, orientation +-10 deg, random phase, stripe
    contrast 0.25-0.4 (the worlds of :data:`STRIPE_TEXTURE` 0.3-0.5).
    """
    named = world.describe(index)
    colour = named.get("colour") or SHAPES_COLOURS[int(rng.integers(len(SHAPES_COLOURS)))]
    if "texture" in named:
        (period, degrees), contrast = STRIPE_TEXTURE[named["texture"]], (0.3, 0.5)
    else:
        (period, degrees), contrast = SHAPE_TEXTURE[named["shape"]], (0.25, 0.4)
    base = np.asarray(COLOURS[colour], dtype=np.float64) * rng.uniform(0.85, 1.15) + rng.uniform(-12, 12, 3)
    wave = _stripes(
        size, period * rng.uniform(0.9, 1.1), degrees + rng.uniform(-10, 10), rng.uniform(0, 2 * np.pi)
    )
    return base * (1 + rng.uniform(*contrast) * wave)[..., None]


def stuff_texture(rng: np.random.Generator, stuff: str, size: int) -> np.ndarray:
    """(size, size, 3) float RGB fill of a stuff class; each surface has its own colour and spectrum."""
    y, x = _grid(size)
    if stuff == "grass":  # dark olive, fine vertical blades (high horizontal frequency)
        blades = rng.normal(0, 1, size)[None, :].repeat(size, 0) + 0.3 * rng.normal(0, 1, (size, size))
        return np.asarray((70, 110, 45)) * (1 + 0.18 * blades)[..., None]
    if stuff == "sand":  # pale beige, isotropic speckle
        return np.asarray((205, 185, 140)) * (1 + 0.12 * rng.normal(0, 1, (size, size)))[..., None]
    if stuff == "water":  # dark slate blue, slow horizontal waves
        wave = np.cos(
            2 * np.pi * y / rng.uniform(9, 13) + 0.6 * np.sin(2 * np.pi * x / 23) + rng.uniform(0, 6.3)
        )
        return np.asarray((35, 65, 100)) * (1 + 0.25 * wave)[..., None]
    if stuff == "brick":  # brown bricks 8 x 4 px with grey mortar, alternate rows offset
        oy, ox = rng.uniform(0, 4), rng.uniform(0, 8)
        row = np.floor((y + oy) / 4)
        mortar = ((y + oy) % 4 < 1) | ((x + ox + 4 * (row % 2)) % 8 < 1)
        img = np.where(mortar[..., None], np.asarray((165, 160, 150)), np.asarray((140, 70, 50)))
        return img * (1 + 0.06 * rng.normal(0, 1, (size, size)))[..., None]
    raise ValueError(f"unknown stuff {stuff!r}; expected one of {STUFF}")


def _background(rng: np.random.Generator, size: int, stuff: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Paint 1 or 2 stuff classes (top to bottom, split by a wavy horizon): (image float, label int64)."""
    image = stuff_texture(rng, CLASS_NAMES[stuff[0]], size)
    label = np.full((size, size), stuff[0], dtype=np.int64)
    if len(stuff) == 2:
        y, x = _grid(size)
        horizon = size * rng.uniform(0.3, 0.7) + rng.uniform(2, 6) * np.sin(
            2 * np.pi * x / rng.uniform(20, 50) + rng.uniform(0, 2 * np.pi)
        )
        below = y > horizon
        image = np.where(below[..., None], stuff_texture(rng, CLASS_NAMES[stuff[1]], size), image)
        label[below] = stuff[1]
    return image, label


def render_scene(
    rng: np.random.Generator,
    size: int = IMAGE_SIZE,
    objects: Sequence[int] | None = None,
    stuff: Sequence[int] | None = None,
    num_objects: tuple[int, int] = SCENE_OBJECTS,
    radius: tuple[float, float] = SCENE_RADIUS,
    min_visible: int = 12,
    world: World = SHAPES_WORLD,
) -> Scene:
    """Draw one scene: a stuff background and object instances painted in order (later ones occlude).

    ``objects``/``stuff`` fix the classes (object class indices; 1 or 2 stuff class indices); otherwise
    1-3 objects (uniform over the 16 object classes, repeats allowed) and 1-2 distinct stuff classes are
    drawn (:data:`SCENE_OBJECTS`); ``world`` says how an object class looks (a world whose classes name no
    shape draws one per object). Radii (px, scaled with ``size / 64``) are uniform in ``radius``.
    Objects whose visible area falls under ``min_visible`` pixels after occlusion are dropped from
    ``Scene.objects`` (their pixels keep the class of what covers them, so the label map stays exact).
    """
    if size < 16:
        raise ValueError(f"image size {size} is too small; use at least 16 px (64 is the default)")
    if stuff is None:
        stuff = tuple(
            int(s) for s in NUM_OBJECT_CLASSES + rng.choice(len(STUFF), rng.integers(1, 3), replace=False)
        )
    if not 1 <= len(stuff) <= 2 or any(not NUM_OBJECT_CLASSES <= s < len(CLASS_NAMES) for s in stuff):
        raise ValueError(
            f"stuff must be 1 or 2 stuff class indices in {NUM_OBJECT_CLASSES}..{len(CLASS_NAMES) - 1}"
        )
    if objects is None:
        objects = rng.integers(
            0, NUM_OBJECT_CLASSES, rng.integers(num_objects[0], num_objects[1] + 1)
        ).tolist()
    image, label = _background(rng, size, stuff)
    scale = size / IMAGE_SIZE
    placed: list[tuple[float, float, float]] = []
    for index in objects:
        shape = world.describe(index).get("shape") or SHAPES[int(rng.integers(len(SHAPES)))]
        r = rng.uniform(*radius) * scale
        for _ in range(20):  # keep centres apart so that occlusion stays partial
            cx, cy = rng.uniform(r, size - r, 2)
            if all(np.hypot(cx - px, cy - py) >= 0.8 * (r + pr) for px, py, pr in placed):
                break
        placed.append((cx, cy, r))
        mask = shape_mask(shape, size, cx, cy, r, rng.uniform(0, 2 * np.pi))
        image = np.where(mask[..., None], object_texture(rng, index, size, world), image)
        label[mask] = index
    image = image + rng.normal(0, 3.0, image.shape)
    visible = tuple(dict.fromkeys(int(i) for i in objects if (label == i).sum() >= min_visible))
    visible_stuff = tuple(int(s) for s in stuff if (label == s).any())
    return Scene(np.clip(np.rint(image), 0, 255).astype(np.uint8), label, visible, visible_stuff)


def render_single_object(
    rng: np.random.Generator, index: int, size: int = IMAGE_SIZE, world: World = SHAPES_WORLD
) -> tuple[Scene, str]:
    """One large object of class ``index`` (radius 14-22 px at 64 px) on one random stuff surface.

    Returns the scene and its caption ``"a photo of a <class name>"`` (the zero-shot template); used for
    contrastive pretraining and for zero-shot image classification.
    """
    stuff = (NUM_OBJECT_CLASSES + int(rng.integers(len(STUFF))),)
    scene = render_scene(rng, size, objects=[index], stuff=stuff, radius=(14.0, 22.0), world=world)
    return scene, f"a photo of a {world.class_names[index]}"


class ShapesDataset(Dataset):
    """Scenes of a synthetic world (``world``: ``"shapes"``, the default, ``"stripes"`` or ``"fabrics"``) as
    a map-style data set: index ``i`` of a split is rendered from seed ``(split seed, i)``, so every index is
    reproducible and the training split is an unlimited stream (``length`` only sets the epoch length a
    sampler sees).

    Items: ``dict(image=(3, H, W) float32 ImageNet-normalised, label=(H, W) int64, name=str)``.
    Defaults: ``train`` 100,000 images per epoch, ``val`` and ``test`` 200 fixed images each.
    """

    def __init__(
        self,
        split: str = "train",
        length: int | None = None,
        size: int = IMAGE_SIZE,
        world: str | World = "shapes",
    ) -> None:
        if split not in _SPLIT_SEEDS:
            raise ValueError(f"unknown split {split!r}; expected one of {tuple(_SPLIT_SEEDS)}")
        self.split, self.size, self.world = split, size, get_world(world)
        self.length = length if length is not None else (100_000 if split == "train" else 200)
        self.class_names = self.world.class_names

    def __len__(self) -> int:
        return self.length

    def scene(self, index: int) -> Scene:
        """The raw scene behind item ``index`` (uint8 image, exact labels, visible classes)."""
        if index < 0:
            raise IndexError(f"index {index} is negative")
        rng = np.random.default_rng((_SPLIT_SEEDS[self.split], index))
        return render_scene(rng, self.size, world=self.world)

    def __getitem__(self, index: int) -> dict:
        if index >= self.length:
            raise IndexError(f"index {index} out of range for {self.split} split of length {self.length}")
        scene = self.scene(index)
        return dict(
            image=normalise(scene.image),
            label=torch.from_numpy(scene.label),
            name=f"{self.world.name}_{self.split}_{index:06d}",
        )
