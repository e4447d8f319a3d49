"""The data set factory: the data set a :class:`~sptseg_lib.config.DataConfig` names, for training or test.

Training, evaluation, the command line and the notebooks all build their data sets here, so that evaluation
never imports the trainer to get its test set.
"""

from __future__ import annotations

from torch.utils.data import Dataset

from ..config import DataConfig
from .coco_stuff import COCOStuffDataset
from .shapes import WORLDS, ShapesDataset
from .transforms import build_test_transform, build_train_transform
from .voc import VOCAugDataset

PARTS = ("train", "test")


def build_dataset(data: DataConfig, part: str) -> Dataset:
    """The data set ``data`` names, with the reference pipelines (docs/reference.md §6.1).

    ``part="train"``: VOC ``train_aug`` (train + SBD aug), COCO-Stuff ``train2017``, shapes and stripes
    ``train``; random rescale, crop ``crop_size``, flip, photometric distortion. ``part="test"``: VOC ``val``,
    COCO-Stuff ``val2017``, shapes and stripes ``val``; short side resized to ``crop_size``, labels at their
    original size.
    A missing data root raises :class:`~sptseg_lib.data.paths.DataRootError` saying where it looked.
    """
    if part not in PARTS:
        raise ValueError(f"part must be 'train' or 'test', got {part!r}")
    train = part == "train"
    if data.dataset in WORLDS:
        return ShapesDataset("train" if train else "val", size=data.crop_size, world=data.dataset)
    transform = build_train_transform(crop=data.crop_size) if train else build_test_transform(data.crop_size)
    if data.dataset == "voc":
        return VOCAugDataset(data.root, "train_aug" if train else "val", transform)
    if data.dataset == "coco_stuff":
        return COCOStuffDataset(data.root, "train" if train else "val", transform)
    raise ValueError(f"unknown data set {data.dataset!r}; use voc, coco_stuff, shapes or stripes")


__all__ = ["PARTS", "build_dataset"]
