"""Data: zero-shot splits, the VOC 2012 and COCO-Stuff 164K loaders, their preparation, augmentation.

The synthetic world lives in :mod:`sptseg_lib.data.shapes`.
"""

from __future__ import annotations

from .coco_stuff import COCOStuffDataset
from .custom import FolderDataset, check_class_names, custom_split, parse_class_names
from .download import download_dataset
from .paths import ENV_VAR, DataError, DataRootError, resolve_data_root
from .prepare import PrepareReport, prepare_coco_stuff, prepare_voc
from .splits import (
    COCO_STUFF_SPLIT,
    IGNORE_INDEX,
    UNSEEN_PSEUDO,
    VOC_SPLIT,
    ZeroShotSplit,
    channels_to_classes,
    get_split,
    remap_for_training,
    training_classes,
)
from .transforms import TestTransform, TrainTransform, build_test_transform, build_train_transform
from .voc import VOCAugDataset

__all__ = [
    "COCO_STUFF_SPLIT",
    "ENV_VAR",
    "IGNORE_INDEX",
    "UNSEEN_PSEUDO",
    "VOC_SPLIT",
    "COCOStuffDataset",
    "DataError",
    "DataRootError",
    "FolderDataset",
    "PrepareReport",
    "TestTransform",
    "TrainTransform",
    "VOCAugDataset",
    "ZeroShotSplit",
    "build_test_transform",
    "build_train_transform",
    "channels_to_classes",
    "check_class_names",
    "custom_split",
    "download_dataset",
    "get_split",
    "parse_class_names",
    "prepare_coco_stuff",
    "prepare_voc",
    "remap_for_training",
    "resolve_data_root",
    "training_classes",
]
