"""Where the real data sets live, and the errors the data modules raise.

A data root is resolved from an explicit argument first, then from the ``SPTSEG_DATA`` environment
variable; never from the working directory. ``SPTSEG_DATA`` may name a folder that holds
``VOCdevkit/`` and ``coco_stuff164k/``, or point straight at one data set.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "SPTSEG_DATA"

DATASETS: tuple[str, ...] = ("voc", "coco_stuff")

# Relative places a data set may sit under a root, tried in order; "." is the root itself.
_CANDIDATES: dict[str, tuple[str, ...]] = {
    "voc": ("VOCdevkit/VOC2012", "VOC2012", "."),
    "coco_stuff": ("coco_stuff164k", "."),
}
# What makes a folder the data set's own root.
_MARKERS: dict[str, tuple[str, ...]] = {
    "voc": ("JPEGImages", "ImageSets"),
    "coco_stuff": ("images", "annotations"),
}
_HOW_TO = {
    "voc": (
        "`python -m sptseg_lib download-data voc --root DIR` (VOC 2012 and SBD, prepared), or download "
        "VOCtrainval_11-May-2012.tar and benchmark.tgz yourself and run "
        "`python -m sptseg_lib prepare-data voc`"
    ),
    "coco_stuff": (
        "`python -m sptseg_lib download-data coco_stuff --root DIR`, or put COCO 2017 images and "
        "stuffthingmaps_trainval2017.zip into coco_stuff164k/{images,annotations} yourself and run "
        "`python -m sptseg_lib prepare-data coco_stuff`"
    ),
}


class DataError(Exception):
    """A data set's file is missing or malformed; the message names the file and what to do."""


class DataRootError(DataError, FileNotFoundError):
    """No data set was found where it was looked for."""


def _is_dataset_root(path: Path, dataset: str) -> bool:
    return all((path / marker).is_dir() for marker in _MARKERS[dataset])


def resolve_data_root(root: str | os.PathLike[str] | None, dataset: str) -> Path:
    """The folder of ``dataset`` (``"voc"``: the ``VOC2012`` folder; ``"coco_stuff"``: the folder holding
    ``images/`` and ``annotations/``).

    ``root`` (if given) or else ``$SPTSEG_DATA`` may be that folder itself or a parent holding
    ``VOCdevkit/VOC2012`` (or ``VOC2012``) / ``coco_stuff164k``. Raises :class:`DataRootError` naming every
    place looked at, and how to fix it.
    """
    if dataset not in DATASETS:
        raise ValueError(f"unknown data set {dataset!r}; known: {', '.join(DATASETS)}")
    if root is not None:
        base, source = Path(root).expanduser(), "the root argument"
    elif os.environ.get(ENV_VAR):
        base, source = Path(os.environ[ENV_VAR]).expanduser(), f"${ENV_VAR}"
    else:
        raise DataRootError(
            f"no data root for {dataset!r}: pass --data DIR (root=... in Python) or set {ENV_VAR} to a "
            f"folder holding VOCdevkit/ and coco_stuff164k/. To get the data: {_HOW_TO[dataset]}."
        )
    tried = [(base / rel).resolve() if rel != "." else base.resolve() for rel in _CANDIDATES[dataset]]
    for path in tried:
        if _is_dataset_root(path, dataset):
            return path
    markers = " and ".join(f"{m}/" for m in _MARKERS[dataset])
    looked = ", ".join(str(p) for p in tried)
    other = [
        d for d in DATASETS if d != dataset and any(_is_dataset_root(base / rel, d) for rel in _CANDIDATES[d])
    ]
    holds = (
        f" That folder holds {other[0]!r}, another data set than the {dataset!r} asked for." if other else ""
    )
    raise DataRootError(
        f"{dataset!r} not found from {source} ({base}): looked for a folder with {markers} at {looked}."
        f"{holds} Fix the path or {ENV_VAR}; to get the data: {_HOW_TO[dataset]}."
    )
