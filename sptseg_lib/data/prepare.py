"""The ``prepare-data`` step: turn the downloaded archives into the loaders' layouts (docs/reference.md §6.4).

* :func:`prepare_voc`: SBD's ``dataset/cls/<id>.mat`` (struct ``GTcls``, field ``Segmentation``: uint8
  VOC indices) -> ``VOC2012/SegmentationClassAug/<id>.png``, plus the lists ``aug.txt`` and
  ``trainaug.txt`` in ``ImageSets/Segmentation``.
* :func:`prepare_coco_stuff`: raw annotation PNGs (COCO category id - 1) -> ``*_labelTrainIds.png``
  (0..170, 255).

Both are idempotent (existing outputs are kept unless ``overwrite``), check the expected counts of the
real data when ``strict`` (switch it off for partial downloads and test fixtures), and name every file
they cannot use.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.io import loadmat
from tqdm.auto import tqdm

from .base import missing_files_error, read_label
from .coco_stuff import COCO_STUFF_SPLITS, TRAIN_ID_SUFFIX
from .paths import DataError, resolve_data_root
from .splits import COCO_STUFF_SPLIT, IGNORE_INDEX
from .voc import read_id_list

VOC_EXPECTED = {"train": 1464, "val": 1449, "aug": 9118, "trainaug": 10582}
COCO_STUFF_EXPECTED = {"train2017": 118287, "val2017": 5000}
COCO_STUFF_UNUSED_RAW_IDS: tuple[int, ...] = (11, 25, 28, 29, 44, 65, 67, 68, 70, 82, 90)
"""Raw annotation values (COCO category id - 1) of the thing ids COCO never used."""


@dataclass
class PrepareReport:
    """What a preparation step did: files written and kept, and the size of each list or split."""

    written: int = 0
    skipped: int = 0
    counts: dict[str, int] = field(default_factory=dict)


def voc_palette() -> list[int]:
    """The 256-colour VOC palette (flat RGB list), so that written masks display like VOC's own."""
    palette = []
    for index in range(256):
        r = g = b = 0
        c = index
        for bit in range(8):
            r |= ((c >> 0) & 1) << (7 - bit)
            g |= ((c >> 1) & 1) << (7 - bit)
            b |= ((c >> 2) & 1) << (7 - bit)
            c >>= 3
        palette += [r, g, b]
    return palette


def _save_index_png(label: np.ndarray, path: Path, palette: list[int] | None = None) -> None:
    im = Image.fromarray(label.astype(np.uint8), mode="L")
    if palette is not None:
        im = im.convert("P")
        im.putpalette(palette)
    tmp = path.with_name(path.name + ".tmp")
    im.save(tmp, format="PNG")
    os.replace(tmp, path)  # no half-written outputs if interrupted


def _run(
    jobs: list[Path], work: Callable[[Path], bool], workers: int, progress: bool, desc: str
) -> tuple[int, int]:
    """Apply ``work`` (returns True when it wrote a file) to every job; (written, skipped)."""
    bar = tqdm(total=len(jobs), desc=desc, disable=not progress, unit="file")
    written = 0
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            for did in pool.map(work, jobs):
                written += did
                bar.update()
    else:
        for job in jobs:
            written += work(job)
            bar.update()
    bar.close()
    return written, len(jobs) - written


def _check_counts(counts: dict[str, int], expected: dict[str, int], what: str) -> None:
    wrong = [f"{k}: {counts.get(k, 0)} (expected {v})" for k, v in expected.items() if counts.get(k, 0) != v]
    if wrong:
        raise DataError(
            f"{what} does not have the expected sizes: {'; '.join(wrong)}. Is the download complete? "
            "Pass strict=False to prepare a partial copy."
        )


def _require(paths: list[Path], what: str, fix: str) -> None:
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise missing_files_error(what, missing, len(paths), fix)


# --- VOC + SBD --------------------------------------------------------------------------------------------


def read_sbd_mat(path: Path) -> np.ndarray:
    """The class map of one SBD ``cls/<id>.mat`` file (``GTcls.Segmentation``) as uint8 (H, W), checked
    to hold VOC values only (0..20, 255)."""
    try:
        seg = loadmat(path, squeeze_me=True, struct_as_record=False)["GTcls"].Segmentation
    except (OSError, ValueError, KeyError, AttributeError) as err:
        raise DataError(f"cannot read GTcls.Segmentation from SBD file {path}: {err!r}") from err
    seg = np.asarray(seg)
    if seg.ndim != 2:
        raise DataError(f"SBD file {path}: GTcls.Segmentation has shape {seg.shape}, expected (H, W)")
    bad = np.setdiff1d(np.unique(seg), [*range(21), IGNORE_INDEX])
    if bad.size:
        raise DataError(f"SBD file {path} holds values {bad[:10].tolist()}; VOC masks hold 0..20 and 255")
    return seg.astype(np.uint8)


def _sbd_dataset_dir(sbd_root: Path) -> Path:
    for candidate in (sbd_root / "dataset", sbd_root / "benchmark_RELEASE" / "dataset", sbd_root):
        if (candidate / "cls").is_dir():
            return candidate
    raise DataError(
        f"no SBD 'cls/' folder under {sbd_root} (looked in dataset/, benchmark_RELEASE/dataset/ and "
        "the folder itself); extract benchmark.tgz and pass the folder that holds dataset/"
    )


def prepare_voc(
    voc_root: str | os.PathLike[str] | None,
    sbd_root: str | os.PathLike[str],
    *,
    strict: bool = True,
    copy_voc_masks: bool = False,
    overwrite: bool = False,
    workers: int = 0,
    progress: bool = True,
) -> PrepareReport:
    """Build ``SegmentationClassAug`` and the ``aug`` / ``trainaug`` lists from SBD.

    * ``aug.txt`` = (SBD train ∪ SBD val) − VOC train − VOC val (9,118 ids on the real data);
    * ``trainaug.txt`` = (VOC train ∪ SBD train ∪ SBD val) − VOC val (10,582 ids);
    * every SBD mat of SBD train ∪ val becomes ``SegmentationClassAug/<id>.png`` (index PNG, VOC palette).

    The reference ``train_aug`` split reads VOC train ids from ``SegmentationClass`` and only ``aug`` ids
    from ``SegmentationClassAug``, so nothing more is needed for it. ``copy_voc_masks=True`` also copies
    VOC's own masks of the VOC train ids that SBD lacks, so that the whole of ``trainaug.txt`` can be read
    from ``SegmentationClassAug`` (the loader's ``"trainaug"`` split); SBD's masks are never overwritten.

    Args:
        voc_root: the ``VOC2012`` folder or a parent (``None``: ``$SPTSEG_DATA``).
        sbd_root: the folder holding SBD's ``dataset/`` (``cls/``, ``train.txt``, ``val.txt``).
        strict: require the real data set's counts (1,464 / 1,449 / 9,118 / 10,582).
        overwrite: rewrite existing PNGs and lists.
        workers: threads for the conversion (0 or 1: none).
    """
    voc = resolve_data_root(voc_root, "voc")
    sbd = _sbd_dataset_dir(Path(sbd_root).expanduser())
    sets_dir = voc / "ImageSets" / "Segmentation"
    voc_train = read_id_list(sets_dir / "train.txt")
    voc_val = read_id_list(sets_dir / "val.txt")
    sbd_ids = sorted(set(read_id_list(sbd / "train.txt")) | set(read_id_list(sbd / "val.txt")))
    aug = sorted(set(sbd_ids) - set(voc_train) - set(voc_val))
    trainaug = sorted((set(voc_train) | set(sbd_ids)) - set(voc_val))
    counts = {"train": len(voc_train), "val": len(voc_val), "aug": len(aug), "trainaug": len(trainaug)}
    if strict:
        _check_counts(counts, VOC_EXPECTED, f"VOC 2012 + SBD ({voc}, {sbd})")

    _require([sbd / "cls" / f"{i}.mat" for i in sbd_ids], "SBD .mat files", "Is SBD's dataset/cls complete?")
    _require(
        [voc / "JPEGImages" / f"{i}.jpg" for i in aug],
        "JPEG images of aug.txt",
        "SBD's images are all in VOC 2012's JPEGImages: is it complete?",
    )
    out_dir = voc / "SegmentationClassAug"
    out_dir.mkdir(exist_ok=True)
    palette = voc_palette()

    def convert(mat: Path) -> bool:
        out = out_dir / f"{mat.stem}.png"
        if out.exists() and not overwrite:
            return False
        _save_index_png(read_sbd_mat(mat), out, palette)
        return True

    written, skipped = _run(
        [sbd / "cls" / f"{i}.mat" for i in sbd_ids], convert, workers, progress, "SBD -> SegmentationClassAug"
    )
    if copy_voc_masks:
        gap = sorted(set(voc_train) - set(sbd_ids))
        _require(
            [voc / "SegmentationClass" / f"{i}.png" for i in gap],
            "VOC train masks",
            "Is SegmentationClass complete?",
        )
        for i in gap:
            out = out_dir / f"{i}.png"
            if out.exists() and not overwrite:
                skipped += 1
                continue
            read_label(voc / "SegmentationClass" / f"{i}.png")  # refuses RGB renderings
            shutil.copyfile(voc / "SegmentationClass" / f"{i}.png", out)
            written += 1
    for name, ids in (("aug", aug), ("trainaug", trainaug)):
        path = sets_dir / f"{name}.txt"
        if overwrite or not path.exists():
            path.write_text("".join(f"{i}\n" for i in ids), encoding="utf-8")
        elif path.read_text(encoding="utf-8").split() != ids:
            raise DataError(f"{path} exists with different ids; pass overwrite=True to rewrite it")
    return PrepareReport(written=written, skipped=skipped, counts=counts)


# --- COCO-Stuff -----------------------------------------------------------------------------------------


def coco_stuff_raw_to_train_id_lut() -> np.ndarray:
    """Raw annotation value -> train id (int16, 256 entries): the 171 used raw values in increasing order
    -> 0..170, 255 -> 255, anything else -> -1 (never occurs in valid data)."""
    used = [r for r in range(182) if r not in COCO_STUFF_UNUSED_RAW_IDS]
    assert len(used) == COCO_STUFF_SPLIT.num_classes
    lut = np.full(256, -1, dtype=np.int16)
    lut[used] = np.arange(len(used))
    lut[IGNORE_INDEX] = IGNORE_INDEX
    return lut


def convert_coco_stuff_annotation(raw_path: Path, out_path: Path, lut: np.ndarray | None = None) -> None:
    """One raw annotation PNG -> its ``_labelTrainIds.png``; a value that should never occur raises a
    :class:`DataError` naming the file."""
    lut = coco_stuff_raw_to_train_id_lut() if lut is None else lut
    raw = read_label(raw_path)
    if raw.dtype != np.uint8 and (raw.min() < 0 or raw.max() > 255):
        raise DataError(f"COCO-Stuff annotation {raw_path} holds values outside 0..255")
    train = lut[raw.astype(np.uint8)]
    if (train < 0).any():
        bad = np.unique(raw[train < 0]).tolist()
        raise DataError(
            f"COCO-Stuff annotation {raw_path} holds raw values {bad[:10]} that no COCO-Stuff class uses "
            f"(valid: 0..181 except {list(COCO_STUFF_UNUSED_RAW_IDS)}, and 255). Is it a raw "
            "stuffthingmaps PNG (not a panoptic or colour PNG)?"
        )
    _save_index_png(train, out_path)


def prepare_coco_stuff(
    root: str | os.PathLike[str] | None,
    *,
    strict: bool = True,
    overwrite: bool = False,
    workers: int = 0,
    progress: bool = True,
) -> PrepareReport:
    """Write ``annotations/<split>/<name>_labelTrainIds.png`` next to every raw annotation PNG.

    Args:
        root: the ``coco_stuff164k`` folder or its parent (``None``: ``$SPTSEG_DATA``).
        strict: require both splits with 118,287 and 5,000 raw annotations; otherwise the splits found.
        overwrite: rewrite existing outputs (else they are kept: the step can be resumed).
        workers: threads for the conversion (0 or 1: none).
    """
    base = resolve_data_root(root, "coco_stuff")
    lut = coco_stuff_raw_to_train_id_lut()
    jobs: list[Path] = []
    counts: dict[str, int] = {}
    for sub in COCO_STUFF_SPLITS.values():
        folder = base / "annotations" / sub
        pngs = folder.glob("*.png") if folder.is_dir() else []
        raw = sorted(p for p in pngs if not p.name.endswith(TRAIN_ID_SUFFIX))
        counts[sub] = len(raw)
        jobs += raw
    if strict:
        _check_counts(counts, COCO_STUFF_EXPECTED, f"COCO-Stuff annotations in {base / 'annotations'}")
    if not jobs:
        raise DataError(
            f"no raw annotation PNGs in {base / 'annotations'}/{{train2017,val2017}}; "
            "extract stuffthingmaps_trainval2017.zip there"
        )

    def convert(raw_path: Path) -> bool:
        out = raw_path.with_name(raw_path.stem + TRAIN_ID_SUFFIX)
        if out.exists() and not overwrite:
            return False
        convert_coco_stuff_annotation(raw_path, out, lut)
        return True

    written, skipped = _run(jobs, convert, workers, progress, "COCO-Stuff -> labelTrainIds")
    return PrepareReport(written=written, skipped=skipped, counts=counts)
