"""The ``download-data`` step: fetch the official archives, verify, extract and prepare them.

``download_dataset("voc", root)`` or ``download_dataset("coco_stuff", root)`` leaves ``root`` in the layout
that :func:`~sptseg_lib.data.paths.resolve_data_root` finds, prepared as docs/reference.md §6.4 describes,
so that ``--data root`` works for the splits of docs/reference.md §6.1.

The archives (:data:`ARCHIVES`; sizes as published, roughly)::

    voc         VOCtrainval_11-May-2012.tar      ~2 GB    <root>/VOCdevkit/VOC2012/...
                benchmark.tgz (SBD)              ~1.4 GB  <root>/benchmark_RELEASE/dataset/{cls,...}
    coco_stuff  val2017.zip                      ~1 GB    <root>/coco_stuff164k/images/val2017/
                stuffthingmaps_trainval2017.zip  ~659 MB  <root>/coco_stuff164k/annotations/{train,val}2017/
                train2017.zip                    ~18 GB   <root>/coco_stuff164k/images/train2017/

then :func:`~sptseg_lib.data.prepare.prepare_voc` (with ``<root>/benchmark_RELEASE``) or
:func:`~sptseg_lib.data.prepare.prepare_coco_stuff`. The archives are downloaded into ``root`` itself, so an
archive downloaded by hand and put there is verified and used instead of being fetched.

Checksums: the URL, file name and MD5 of the two VOC archives are read from torchvision
(``torchvision.datasets.voc.DATASET_YEAR_DICT["2012"]`` and ``torchvision.datasets.sbd.SBDataset``), which
carries the published values. Neither the COCO site nor the COCO-Stuff page publishes a checksum for the
three COCO archives (the COCO-Stuff download table gives sizes only), so their ``md5`` is ``None``: they
are checked instead for a complete transfer (the byte count the server announced), a readable zip central
directory (absent from a truncated zip) and, while extracting, the CRC-32 of every member.

Downloads go to ``<file>.part`` and are renamed only when complete; running the same call again resumes a
``.part`` with an HTTP ``Range`` request (a server that ignores it sends the whole file again). An archive
whose checksum fails is moved to ``<file>.bad`` so that the next run fetches it afresh. Each extracted
archive leaves a marker in ``<root>/.sptseg-download/``; a later run skips what is already extracted, so the
whole call can be repeated until it succeeds.

Mirrors and tests: the base URL ``base_url`` (argument) or ``$SPTSEG_DOWNLOAD_BASE_URL``
(:data:`BASE_URL_ENV_VAR`) replaces the official locations by ``<base>/<file name>`` for every archive.

Extraction is done here rather than by torchvision's ``extract_archive`` to show progress on the large
archives and to apply tarfile's ``"data"`` filter (no paths outside the target, as a mirror is untrusted);
the MD5 is computed with torchvision's ``calculate_md5``.
"""

from __future__ import annotations

import errno
import http.client
import os
import re
import shutil
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torchvision.datasets.sbd as tv_sbd
import torchvision.datasets.voc as tv_voc
from torchvision.datasets.utils import calculate_md5
from tqdm.auto import tqdm

from .paths import ENV_VAR, DataError, DataRootError, resolve_data_root
from .prepare import PrepareReport, prepare_coco_stuff, prepare_voc

BASE_URL_ENV_VAR = "SPTSEG_DOWNLOAD_BASE_URL"
"""Environment variable: a base URL that holds every archive as ``<base>/<file name>`` (a mirror)."""

PART_SUFFIX = ".part"
BAD_SUFFIX = ".bad"
MARKER_DIR = ".sptseg-download"
SBD_FOLDER = "benchmark_RELEASE"
"""The folder benchmark.tgz extracts to, which :func:`prepare_voc` reads ``dataset/`` from."""

USER_AGENT = "sptseg-download/1.0 (python urllib)"
CHUNK_BYTES = 1 << 20
TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Archive:
    """One archive to fetch.

    Attributes:
        name: a short key (``"voc2012"``, ``"sbd"``, ...).
        url: the official, absolute URL.
        filename: the name it is saved under in the root (and looked up under on a mirror).
        md5: the published MD5, or ``None`` where none is published (then the zip is checked instead).
        extract_to: the folder, relative to the root, it is extracted into.
        creates: paths relative to the root that a correct extraction produces.
        size_hint: the published size, for messages.
    """

    name: str
    url: str
    filename: str
    md5: str | None
    extract_to: str
    creates: tuple[str, ...]
    size_hint: str = ""

    def url_for(self, base_url: str | None) -> str:
        """The URL to fetch: ``<base_url>/<filename>`` on a mirror, else the official one."""
        return f"{base_url.rstrip('/')}/{self.filename}" if base_url else self.url


_VOC2012 = tv_voc.DATASET_YEAR_DICT["2012"]


def _coco_images(split: str, size: str) -> Archive:
    """COCO 2017's image archive of ``split`` (``"train2017"``, ``"val2017"``); COCO publishes no MD5."""
    return Archive(
        name=f"coco_{split}",
        url=f"http://images.cocodataset.org/zips/{split}.zip",
        filename=f"{split}.zip",
        md5=None,
        extract_to="coco_stuff164k/images",
        creates=(f"coco_stuff164k/images/{split}",),
        size_hint=size,
    )


ARCHIVES: dict[str, tuple[Archive, ...]] = {
    "voc": (
        Archive(
            name="voc2012",
            url=_VOC2012["url"],
            filename=_VOC2012["filename"],
            md5=_VOC2012["md5"],
            extract_to=".",
            creates=("VOCdevkit/VOC2012/JPEGImages", "VOCdevkit/VOC2012/ImageSets/Segmentation"),
            size_hint="2 GB",
        ),
        Archive(
            name="sbd",
            url=tv_sbd.SBDataset.url,
            filename=tv_sbd.SBDataset.filename,
            md5=tv_sbd.SBDataset.md5,
            extract_to=".",
            creates=(f"{SBD_FOLDER}/dataset/cls",),
            size_hint="1.4 GB",
        ),
    ),
    "coco_stuff": (
        _coco_images("val2017", "1 GB"),
        Archive(
            name="stuffthingmaps",
            url="http://calvin.inf.ed.ac.uk/wp-content/uploads/data/cocostuffdataset/stuffthingmaps_trainval2017.zip",
            filename="stuffthingmaps_trainval2017.zip",
            md5=None,  # not published by COCO-Stuff (its download table gives sizes only)
            extract_to="coco_stuff164k/annotations",
            creates=("coco_stuff164k/annotations/train2017", "coco_stuff164k/annotations/val2017"),
            size_hint="659 MB",
        ),
        _coco_images("train2017", "18 GB"),
    ),
}
"""Data set -> its archives, in download order (the small ones first)."""


@dataclass
class ArchiveResult:
    """What happened to one archive: ``action`` is ``"downloaded"``, ``"resumed"``, ``"present"`` (found
    complete in the root, not fetched) or ``"extracted"`` (extracted by an earlier run: nothing done)."""

    archive: Archive
    path: Path
    action: str
    bytes_fetched: int = 0


@dataclass
class DownloadReport:
    """The outcome of :func:`download_dataset`; ``str(report)`` is a summary to print."""

    dataset: str
    root: Path
    data_root: Path | None = None
    archives: list[ArchiveResult] = field(default_factory=list)
    prepare: PrepareReport | None = None

    def summary(self) -> str:
        lines = [f"{self.dataset}: archives in {self.root}"]
        for r in self.archives:
            fetched = f", {_human(r.bytes_fetched)} fetched" if r.bytes_fetched else ""
            lines.append(f"  {r.archive.filename}: {r.action}{fetched}")
        if self.prepare is not None:
            counts = ", ".join(f"{k} {v:,}" for k, v in self.prepare.counts.items())
            lines.append(
                f"prepared: {self.prepare.written:,} files written, {self.prepare.skipped:,} kept ({counts})"
            )
        if self.data_root is not None:
            lines.append(f"data ready in {self.data_root}; pass --data {self.root}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


@dataclass(frozen=True)
class FetchResult:
    """What :func:`fetch_file` transferred: bytes received in this call, and whether it resumed."""

    bytes_fetched: int
    resumed: bool


def _human(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError  # unreachable


def _say(message: str, progress: bool) -> None:
    if progress:
        tqdm.write(message, file=sys.stderr)


def resolve_base_url(base_url: str | None = None) -> str | None:
    """``base_url`` if given, else ``$SPTSEG_DOWNLOAD_BASE_URL`` if set, else ``None`` (official URLs)."""
    return base_url or os.environ.get(BASE_URL_ENV_VAR) or None


def _where_else(filename: str, root: Path) -> str:
    return (
        f"Check the network, or set {BASE_URL_ENV_VAR} (or pass a base URL) to a mirror that holds "
        f"{filename}, or download {filename} by hand into {root} and run the same command again "
        "(a file found there is verified and used)"
    )


def _content_range(header: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size) of a ``Content-Range`` header (``bytes 10-99/100`` or ``bytes */100``)."""
    match = re.fullmatch(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*", header or "")
    if not match:
        return None, None
    start, total = match.groups()
    return (int(start) if start else None), (int(total) if total and total != "*" else None)


def fetch_file(url: str, path: Path, *, progress: bool = True, timeout: float = TIMEOUT_S) -> FetchResult:
    """Download ``url`` to ``path`` through ``<path>.part``, resuming a ``.part`` left by an earlier call.

    Raises :class:`DataError` when the server cannot be reached or answers with an error, and when the
    transfer stops before the announced length (the ``.part`` is kept: calling again resumes it).
    """
    part = path.with_name(path.name + PART_SUFFIX)
    offset = part.stat().st_size if part.is_file() else 0
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as err:
        err.close()
        if err.code == 416 and offset:  # nothing left after `offset`: the .part is whole, or too long
            _, total = _content_range(err.headers.get("Content-Range"))
            if total == offset:
                os.replace(part, path)
                return FetchResult(0, True)
            part.unlink()
            return fetch_file(url, path, progress=progress, timeout=timeout)
        raise DataError(
            f"downloading {path.name} from {url} failed: HTTP {err.code} {err.reason}. "
            f"{_where_else(path.name, path.parent)}."
        ) from err
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        reason = getattr(err, "reason", err)
        raise DataError(f"cannot reach {url} ({reason}). {_where_else(path.name, path.parent)}.") from err

    with response:
        resumed = offset > 0 and response.status == 206
        if resumed:
            start, _ = _content_range(response.headers.get("Content-Range"))
            if start != offset:
                raise DataError(
                    f"{url} answered the request for bytes {offset}- of {path.name} with the range "
                    f"{response.headers.get('Content-Range')!r}; delete {part} and run the same command again"
                )
        else:  # a full answer (200): the server ignored Range, or none was sent
            offset = 0
        length_header = response.headers.get("Content-Length")
        expected = int(length_header) if length_header and length_header.isdigit() else None
        total = offset + expected if expected is not None else None
        if expected is not None:
            free = shutil.disk_usage(path.parent).free
            if free < expected:
                raise DataError(
                    f"not enough disk space for {path.name} in {path.parent}: {_human(expected)} still to "
                    f"download, {_human(free)} free. Free some space (extracting needs about as much "
                    "again) and run the same command again"
                )
        received = 0
        failure: BaseException | None = None
        with (
            open(part, "ab" if resumed else "wb") as out,
            tqdm(
                total=total,
                initial=offset,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=path.name,
                disable=not progress,
            ) as bar,
        ):
            while True:
                try:
                    chunk = response.read(CHUNK_BYTES)
                except (OSError, http.client.HTTPException) as err:  # reset, timeout, broken chunking
                    failure = err
                    break
                if not chunk:
                    break
                try:
                    out.write(chunk)
                except OSError as err:
                    if err.errno == errno.ENOSPC:
                        raise DataError(
                            f"the disk filled up while writing {part}; free some space and run the same "
                            "command again to resume"
                        ) from err
                    raise
                received += len(chunk)
                bar.update(len(chunk))
    if failure is not None or (expected is not None and received < expected):
        what = f"{offset + received:,} of {total:,} bytes" if total is not None else f"{received:,} bytes"
        why = f" ({failure})" if failure is not None else ""
        raise DataError(
            f"the download of {path.name} from {url} stopped after {what}{why}. The partial file {part} is "
            "kept: run the same command again to resume it"
        ) from failure
    os.replace(part, path)
    return FetchResult(received, resumed)


def _move_aside(path: Path) -> Path:
    bad = path.with_name(path.name + BAD_SUFFIX)
    os.replace(path, bad)
    return bad


def verify_archive(archive: Archive, path: Path, *, source: str, progress: bool = True) -> None:
    """Check ``path`` against the archive's MD5 (or, without one, that it is a readable zip / tar); a
    failing file is moved to ``<path>.bad`` and a :class:`DataError` says so and how to retry."""
    if archive.md5 is not None:
        _say(f"checking the MD5 of {path.name} ...", progress)
        actual = calculate_md5(path)
        if actual == archive.md5:
            return
        bad = _move_aside(path)
        raise DataError(
            f"{path.name} ({source}) has MD5 {actual}, but the published checksum is {archive.md5}: the file "
            f"is damaged or not the official archive. It was moved to {bad}; run the same command again to "
            f"download it afresh (if that fails again, the source serves another file: download it by hand "
            f"from {archive.url} into {path.parent})"
        )
    try:
        if path.name.endswith(".zip"):
            with zipfile.ZipFile(path) as zf:
                zf.infolist()
        else:
            with tarfile.open(path) as tar:
                tar.next()
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as err:
        bad = _move_aside(path)
        raise DataError(
            f"{path.name} ({source}) is not a complete archive ({err}); no checksum is published for it, "
            f"so it was checked as an archive. It was moved to {bad}; run the same command again to download "
            "it afresh"
        ) from err


def _extract(path: Path, dest: Path, *, progress: bool) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    desc = f"extracting {path.name}"
    if path.name.endswith(".zip"):
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            with tqdm(
                total=sum(i.file_size for i in infos),
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=desc,
                disable=not progress,
            ) as bar:
                for info in infos:
                    zf.extract(info, dest)  # zipfile drops absolute and ".." parts; CRC-32 checked
                    bar.update(info.file_size)
        return
    safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    with (
        open(path, "rb") as raw,
        tarfile.open(fileobj=raw, mode="r:*") as tar,
        tqdm(
            total=path.stat().st_size,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=desc,
            disable=not progress,
        ) as bar,
    ):
        for member in tar:
            tar.extract(member, dest, **safe)
            bar.update(raw.tell() - bar.n)  # progress through the (compressed) file


def _extract_archive(archive: Archive, path: Path, root: Path, *, progress: bool) -> None:
    dest = root / archive.extract_to
    try:
        _extract(path, dest, progress=progress)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as err:
        bad = _move_aside(path)
        raise DataError(
            f"{path.name} is damaged: extracting it into {dest} failed ({err}). It was moved to {bad}; run "
            "the same command again to download it afresh"
        ) from err
    except OSError as err:
        raise DataError(
            f"extracting {path} into {dest} failed ({err}); fix the cause (disk space, permissions) and run "
            "the same command again"
        ) from err
    missing = [c for c in archive.creates if not (root / c).is_dir()]
    if missing:
        raise DataError(
            f"extracting {path.name} into {dest} did not give {', '.join(str(root / m) for m in missing)}: "
            f"is {path} the archive {archive.url}?"
        )


def download_dataset(
    dataset: str,
    root: str | os.PathLike[str] | None,
    *,
    base_url: str | None = None,
    progress: bool = True,
    prepare: bool = True,
    keep_archives: bool = True,
    strict: bool = True,
    workers: int = 0,
    archives: Sequence[Archive] | None = None,
    timeout: float = TIMEOUT_S,
) -> DownloadReport:
    """Fetch, verify and extract the archives of ``dataset`` into ``root``, then prepare it.

    Args:
        dataset: ``"voc"`` (VOC 2012 + SBD) or ``"coco_stuff"`` (COCO 2017 images + stuffthingmaps).
        root: the data folder (``None``: ``$SPTSEG_DATA``); created if missing. Afterwards ``--data root``
            works.
        base_url: a mirror holding every archive as ``<base_url>/<file name>`` (default:
            ``$SPTSEG_DOWNLOAD_BASE_URL``, else the official URLs).
        progress: show progress bars and status lines (on stderr).
        prepare: run :func:`prepare_voc` / :func:`prepare_coco_stuff` afterwards.
        keep_archives: keep each archive after extracting it (else delete it).
        strict: passed to the preparation: require the real data set's counts.
        workers: conversion threads for the preparation.
        archives: the archives to use instead of :data:`ARCHIVES` ``[dataset]`` (tests, other mirrors).
        timeout: seconds to wait for the server on connecting and on each read.

    Raises :class:`DataError` with what to do: an unreachable server, an HTTP error, a transfer that
    stopped early (run again to resume), a checksum failure (the file is moved to ``.bad``; run again).
    """
    if dataset not in ARCHIVES:
        raise ValueError(f"unknown data set {dataset!r}; known: {', '.join(ARCHIVES)}")
    if root is None:
        if not os.environ.get(ENV_VAR):
            raise DataRootError(f"no folder to download {dataset!r} into: pass a root or set {ENV_VAR}")
        root = os.environ[ENV_VAR]
    root_path = Path(root).expanduser().resolve()
    root_path.mkdir(parents=True, exist_ok=True)
    mirror = resolve_base_url(base_url)
    report = DownloadReport(dataset=dataset, root=root_path)
    for archive in ARCHIVES[dataset] if archives is None else archives:
        report.archives.append(
            _get_archive(archive, root_path, mirror, progress=progress, keep=keep_archives, timeout=timeout)
        )
    if prepare:
        common = dict(strict=strict, workers=workers, progress=progress)
        if dataset == "voc":
            report.prepare = prepare_voc(root_path, root_path / SBD_FOLDER, **common)
        else:
            report.prepare = prepare_coco_stuff(root_path, **common)
    try:
        report.data_root = resolve_data_root(root_path, dataset)
    except DataRootError:  # only part of the archives was asked for
        if prepare:
            raise
    return report


def _get_archive(
    archive: Archive, root: Path, mirror: str | None, *, progress: bool, keep: bool, timeout: float
) -> ArchiveResult:
    path = root / archive.filename
    marker = root / MARKER_DIR / f"{archive.filename}.extracted"
    if marker.is_file() and all((root / c).is_dir() for c in archive.creates):
        _say(f"{archive.filename}: already extracted", progress)
        return ArchiveResult(archive, path, "extracted")
    url = archive.url_for(mirror)
    if path.is_file():
        verify_archive(archive, path, source=f"found in {root}", progress=progress)
        result = ArchiveResult(archive, path, "present")
    else:
        size = f" ({archive.size_hint})" if archive.size_hint else ""
        _say(f"downloading {archive.filename}{size} from {url}", progress)
        fetched = fetch_file(url, path, progress=progress, timeout=timeout)
        verify_archive(archive, path, source=f"downloaded from {url}", progress=progress)
        action = "resumed" if fetched.resumed else "downloaded"
        result = ArchiveResult(archive, path, action, fetched.bytes_fetched)
    _say(f"extracting {archive.filename} into {root / archive.extract_to}", progress)
    _extract_archive(archive, path, root, progress=progress)
    marker.parent.mkdir(exist_ok=True)
    marker.write_text(f"{archive.url}\nmd5 {archive.md5 or 'not published; zip checked'}\n", encoding="utf-8")
    if not keep:
        path.unlink()
    return result
