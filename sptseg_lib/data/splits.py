"""Zero-shot class splits as data: class names (as the text encoder sees them) and seen/unseen indices.

Also the label settings of the protocol (docs/reference.md §6.3): how a ground-truth label map becomes the
training target in the *inductive*, *transductive* and *fully supervised* settings, and how a predicted
channel index maps back to a data-set label.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

IGNORE_INDEX = 255
"""Label of pixels that no loss or metric sees (VOC background after reduce-zero-label, boundaries,
COCO-Stuff "unlabelled", padding)."""

UNSEEN_PSEUDO = -1
"""Transductive setting: the target value of pixels whose ground truth is an unseen class. The trainer
replaces it, every iteration, with a pseudo-label (the argmax over the unseen channels of the current
prediction). ``-1`` as in the reference code; it cannot collide with a class index or with 255."""

Setting = Literal["inductive", "transductive", "fully"]
SETTINGS: tuple[str, ...] = ("inductive", "transductive", "fully")


@dataclass(frozen=True)
class ZeroShotSplit:
    """A data set's classes and its seen/unseen partition.

    ``class_names[i]`` is the raw name of label ``i`` (the string the text embeddings are made from);
    ``seen`` and ``unseen`` are sorted label indices that partition ``range(len(class_names))``.
    """

    name: str
    class_names: tuple[str, ...]
    unseen: tuple[int, ...]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def seen(self) -> tuple[int, ...]:
        unseen = set(self.unseen)
        return tuple(i for i in range(self.num_classes) if i not in unseen)

    def __post_init__(self) -> None:
        if len(set(self.class_names)) != len(self.class_names):
            raise ValueError(f"split {self.name!r}: class names are not unique")
        bad = [i for i in self.unseen if not 0 <= i < len(self.class_names)]
        if bad:
            raise ValueError(f"split {self.name!r}: unseen indices {bad} out of range")


# --- the class lists (docs/reference.md §6.2) -----------------------------------------------------

VOC_CLASS_NAMES: tuple[str, ...] = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
    "tvmonitor",
)  # fmt: skip
"""PASCAL VOC 2012, index = label after reduce-zero-label (raw label - 1); background is not a class."""

VOC_UNSEEN: tuple[int, ...] = (15, 16, 17, 18, 19)
"""pottedplant, sheep, sofa, train, tvmonitor."""

COCO_STUFF_CLASS_NAMES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush", "banner", "blanket", "branch", "bridge",
    "building-other", "bush", "cabinet", "cage", "cardboard", "carpet", "ceiling-other",
    "ceiling-tile", "cloth", "clothes", "clouds", "counter", "cupboard", "curtain", "desk-stuff",
    "dirt", "door-stuff", "fence", "floor-marble", "floor-other", "floor-stone", "floor-tile",
    "floor-wood", "flower", "fog", "food-other", "fruit", "furniture-other", "grass", "gravel",
    "ground-other", "hill", "house", "leaves", "light", "mat", "metal", "mirror-stuff", "moss",
    "mountain", "mud", "napkin", "net", "paper", "pavement", "pillow", "plant-other", "plastic",
    "platform", "playingfield", "railing", "railroad", "river", "road", "rock", "roof", "rug",
    "salad", "sand", "sea", "shelf", "sky-other", "skyscraper", "snow", "solid-other", "stairs",
    "stone", "straw", "structural-other", "table", "tent", "textile-other", "towel", "tree",
    "vegetable", "wall-brick", "wall-concrete", "wall-other", "wall-panel", "wall-stone",
    "wall-tile", "wall-wood", "water-other", "waterdrops", "window-blind", "window-other", "wood",
)  # fmt: skip
"""COCO-Stuff 164K in ``*_labelTrainIds.png`` order (train id 0..170)."""

COCO_STUFF_UNSEEN: tuple[int, ...] = (19, 23, 28, 29, 36, 51, 76, 88, 94, 112, 133, 136, 137, 157, 160)
"""cow, giraffe, suitcase, frisbee, skateboard, carrot, scissors, cardboard, clouds, grass, playingfield,
river, road, tree, wall-concrete."""

VOC_SPLIT = ZeroShotSplit("voc", VOC_CLASS_NAMES, VOC_UNSEEN)
COCO_STUFF_SPLIT = ZeroShotSplit("coco_stuff", COCO_STUFF_CLASS_NAMES, COCO_STUFF_UNSEEN)

# --- the project's synthetic world (its scenes are drawn by sptseg_lib.data.shapes) ---------------------
SHAPES_COLOURS: tuple[str, ...] = ("red", "green", "blue", "yellow")
SHAPES_SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star")
SHAPES_STUFF: tuple[str, ...] = ("grass", "sand", "water", "brick")
SHAPES_OBJECT_CLASSES: tuple[tuple[str, str], ...] = tuple(
    (c, s) for c in SHAPES_COLOURS for s in SHAPES_SHAPES
)
"""The 16 compositional object classes (colour, shape), in class order; the 4 stuff classes follow."""
SHAPES_CLASS_NAMES: tuple[str, ...] = tuple(f"{c} {s}" for c, s in SHAPES_OBJECT_CLASSES) + SHAPES_STUFF
SHAPES_UNSEEN_NAMES: tuple[str, ...] = ("red star", "green triangle", "blue square", "yellow circle")
"""A Latin-square diagonal: each colour and each shape is in one unseen class (and in three seen ones)."""
SHAPES_SPLIT = ZeroShotSplit(
    "shapes", SHAPES_CLASS_NAMES, tuple(sorted(SHAPES_CLASS_NAMES.index(n) for n in SHAPES_UNSEEN_NAMES))
)

# --- its spectral variant: the same shapes and surfaces, the object attribute a stripe texture -----------
STRIPES_TEXTURES: tuple[str, ...] = ("pinstriped", "corded", "barred", "banded")
"""Fine vertical, fine horizontal, coarse vertical and coarse horizontal stripes (``shapes.STRIPE_TEXTURE``
gives their periods and orientations); colour is drawn at random and tells nothing."""
STRIPES_OBJECT_CLASSES: tuple[tuple[str, str], ...] = tuple(
    (t, s) for t in STRIPES_TEXTURES for s in SHAPES_SHAPES
)
"""The 16 object classes (texture, shape) of the stripes world, in class order; the 4 stuff classes follow."""
STRIPES_CLASS_NAMES: tuple[str, ...] = tuple(f"{t} {s}" for t, s in STRIPES_OBJECT_CLASSES) + SHAPES_STUFF
STRIPES_UNSEEN_NAMES: tuple[str, ...] = (
    "pinstriped star",
    "corded triangle",
    "barred square",
    "banded circle",
)
"""The shapes world's Latin-square diagonal with textures for colours: each texture and each shape is in one
unseen class and in three seen ones."""
STRIPES_SPLIT = ZeroShotSplit(
    "stripes",
    STRIPES_CLASS_NAMES,
    tuple(sorted(STRIPES_CLASS_NAMES.index(n) for n in STRIPES_UNSEEN_NAMES)),
)


# --- its second spectral variant: colour x stripe texture, the shape drawn at random ---------------------
FABRICS_OBJECT_CLASSES: tuple[tuple[str, str], ...] = tuple(
    (c, t) for c in SHAPES_COLOURS for t in STRIPES_TEXTURES
)
"""The 16 object classes (colour, texture) of the fabrics world, in class order; the 4 stuff classes
follow."""
FABRICS_CLASS_NAMES: tuple[str, ...] = tuple(f"{c} {t}" for c, t in FABRICS_OBJECT_CLASSES) + SHAPES_STUFF
FABRICS_UNSEEN_NAMES: tuple[str, ...] = ("red banded", "green barred", "blue corded", "yellow pinstriped")
"""The other worlds' Latin-square diagonal with textures for shapes: each colour and each texture is in one
unseen class and in three seen ones."""
FABRICS_SPLIT = ZeroShotSplit(
    "fabrics",
    FABRICS_CLASS_NAMES,
    tuple(sorted(FABRICS_CLASS_NAMES.index(n) for n in FABRICS_UNSEEN_NAMES)),
)


def values_outside(labels: torch.Tensor, num_classes: int, ignore_index: int | None = None) -> list[int]:
    """The (at most 10 smallest) values of ``labels`` outside ``0..num_classes-1`` other than
    ``ignore_index``; empty when every value is a class index or ignored."""
    bad = (labels < 0) | (labels >= num_classes)
    if ignore_index is not None:
        bad &= labels != ignore_index
    return sorted(set(labels[bad].unique().tolist()))[:10] if bad.any() else []


SPLIT_NAMES: tuple[str, ...] = ("voc", "coco_stuff", "shapes", "stripes", "fabrics")


def get_split(name: str) -> ZeroShotSplit:
    """The :class:`ZeroShotSplit` called ``name``: ``voc``, ``coco_stuff``, ``shapes``, ``stripes`` or
    ``fabrics``."""
    splits = {
        "voc": VOC_SPLIT,
        "coco_stuff": COCO_STUFF_SPLIT,
        "shapes": SHAPES_SPLIT,
        "stripes": STRIPES_SPLIT,
        "fabrics": FABRICS_SPLIT,
    }
    if name in splits:
        return splits[name]
    raise KeyError(f"unknown split {name!r}; known splits: {', '.join(SPLIT_NAMES)}")


# --- label settings (docs/reference.md §6.3) --------------------------------------------------------


def _check_setting(setting: str) -> None:
    if setting not in SETTINGS:
        raise ValueError(f"unknown setting {setting!r}; use one of: {', '.join(SETTINGS)}")


def training_classes(split: ZeroShotSplit, setting: Setting) -> tuple[int, ...]:
    """Class index of each decoder output channel during training: channel ``c`` predicts class
    ``training_classes(...)[c]``. Inductive: the seen classes only; transductive and fully: all classes.

    At inference every setting uses all classes, so channel ``c`` is class ``c``.
    """
    _check_setting(setting)
    return split.seen if setting == "inductive" else tuple(range(split.num_classes))


def remap_for_training(label: torch.Tensor, split: ZeroShotSplit, setting: Setting) -> torch.Tensor:
    """The training target of a label map in one setting.

    Args:
        label: (H, W) or (B, H, W) integer tensor of data-set labels ``0..C-1`` and ``IGNORE_INDEX``.
        split: the data set's seen/unseen partition.
        setting: ``"inductive"``: seen class ``n`` -> its position in ``split.seen`` (the channel of
            :func:`training_classes`), unseen -> ``IGNORE_INDEX`` (unlabelled, yet still a negative for
            every seen channel in the losses); ``"transductive"``: seen ``n`` -> ``n``, unseen ->
            ``UNSEEN_PSEUDO`` for the trainer's pseudo-labels; ``"fully"``: identity.

    Returns:
        A long tensor of the same shape. ``IGNORE_INDEX`` stays ``IGNORE_INDEX`` in every setting.
    """
    _check_setting(setting)
    label = label.long()
    valid = (label >= 0) & (label < split.num_classes)
    bad = ~valid & (label != IGNORE_INDEX)
    if bad.any():
        values = sorted(set(label[bad].unique().tolist()))[:10]
        raise ValueError(
            f"label values {values} are neither a class of split {split.name!r} "
            f"(0..{split.num_classes - 1}) nor the ignore index {IGNORE_INDEX}"
        )
    if setting == "fully":
        return label.clone()
    lut = torch.full((split.num_classes,), IGNORE_INDEX, dtype=torch.long)
    if setting == "inductive":
        lut[list(split.seen)] = torch.arange(len(split.seen))
    else:
        lut[:] = torch.arange(split.num_classes)
        lut[list(split.unseen)] = UNSEEN_PSEUDO
    out = torch.full_like(label, IGNORE_INDEX)
    out[valid] = lut[label[valid]]
    return out


def channels_to_classes(channels: torch.Tensor, classes: tuple[int, ...]) -> torch.Tensor:
    """Inverse of the channel numbering: predicted channel indices -> data-set class labels.

    ``channels`` is an integer tensor of any shape holding ``0..len(classes)-1`` (and ``IGNORE_INDEX``,
    kept); ``classes`` is e.g. :func:`training_classes`. Returns a long tensor of the same shape.
    """
    channels = channels.long()
    lut = torch.tensor(classes, dtype=torch.long)
    inside = (channels >= 0) & (channels < len(classes))
    bad = ~inside & (channels != IGNORE_INDEX)
    if bad.any():
        raise ValueError(f"channel indices must lie in 0..{len(classes) - 1} (or be {IGNORE_INDEX})")
    out = torch.full_like(channels, IGNORE_INDEX)
    out[inside] = lut[channels[inside]]
    return out
