"""download-data: fetch, resume, verify, extract and prepare, against a real HTTP server on 127.0.0.1.

The server serves tiny archives with the internal layout of the real ones, built from the fixtures of
test_data_voc.py and test_data_coco_stuff.py.
"""

from __future__ import annotations

import hashlib
import io
import re
import socket
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from test_data_coco_stuff import FILES, coco_root
from test_data_voc import AUG, SBD_VARIANT, VOC_TRAIN, voc_layout

from sptseg_lib.data.coco_stuff import COCOStuffDataset
from sptseg_lib.data.download import (
    ARCHIVES,
    BASE_URL_ENV_VAR,
    MARKER_DIR,
    Archive,
    download_dataset,
)
from sptseg_lib.data.paths import DataError, resolve_data_root
from sptseg_lib.data.voc import VOCAugDataset

# Fixtures of the other data tests, used here by name (listed so that the imports count as used).
__all__ = ["coco_root", "voc_layout"]

VOC_TAR, SBD_TGZ = ARCHIVES["voc"][0].filename, ARCHIVES["voc"][1].filename


@dataclass
class Server:
    """The state of the local server: files by name, requests seen as (name, Range header)."""

    url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    truncate: dict[str, int] = field(default_factory=dict)  # name -> body bytes sent once, then close
    ignore_range: bool = False

    def names(self) -> list[str]:
        return [name for name, _ in self.requests]


@pytest.fixture()
def server() -> Iterator[Server]:
    state = Server()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            name = self.path.lstrip("/")
            ask = self.headers.get("Range")
            state.requests.append((name, ask))
            data = state.files.get(name)
            if data is None:
                self.send_error(404)
                return
            start = 0
            if ask and not state.ignore_range:
                match = re.fullmatch(r"bytes=(\d+)-", ask)
                assert match, ask
                start = int(match.group(1))
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            cut = state.truncate.pop(name, None)
            self.wfile.write(body if cut is None else body[:cut])
            self.close_connection = True

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/mirror"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _tar(folder: Path, arcname: str, mode: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        tar.add(folder, arcname=arcname)
    return buf.getvalue()


def _zip(members: dict[str, Path]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for arcname, path in members.items():
            zf.write(path, arcname)
    return buf.getvalue()


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture()
def voc_archives(voc_layout, server: Server) -> list[Archive]:
    """The tiny VOC tar and SBD tgz on the server under the official file names; the table with their
    MD5s in place of the published ones."""
    data_root, _voc, sbd = voc_layout
    server.files[f"mirror/{VOC_TAR}"] = _tar(data_root / "VOCdevkit", "VOCdevkit", "w")
    server.files[f"mirror/{SBD_TGZ}"] = _tar(sbd, "benchmark_RELEASE", "w:gz")
    return [replace(a, md5=_md5(server.files[f"mirror/{a.filename}"])) for a in ARCHIVES["voc"]]


@pytest.fixture()
def coco_archives(coco_root: Path, server: Server) -> None:
    """The three tiny COCO zips on the server (the real table is used: it has no MD5s)."""
    for sub in FILES:
        images = {f"{sub}/{p.name}": p for p in sorted((coco_root / "images" / sub).iterdir())}
        server.files[f"mirror/{sub}.zip"] = _zip(images)
    maps = {f"{p.parent.name}/{p.name}": p for p in sorted((coco_root / "annotations").glob("*/*.png"))}
    server.files["mirror/stuffthingmaps_trainval2017.zip"] = _zip(maps)


def _voc(root: Path, server: Server, archives: list[Archive], **kwargs) -> object:
    kwargs = dict(base_url=server.url, archives=archives, progress=False, strict=False) | kwargs
    return download_dataset("voc", root, **kwargs)


def test_archive_table() -> None:
    voc, sbd = ARCHIVES["voc"]
    # The published checksums (carried by torchvision's VOCSegmentation and SBDataset).
    assert (voc.filename, voc.md5) == ("VOCtrainval_11-May-2012.tar", "6cd6e144f989b92b3379bac3b3de84fd")
    assert (sbd.filename, sbd.md5) == ("benchmark.tgz", "82b4d87ceb2ed10f6038a1cba92111cb")
    coco = ARCHIVES["coco_stuff"]
    assert [a.filename for a in coco] == ["val2017.zip", "stuffthingmaps_trainval2017.zip", "train2017.zip"]
    assert all(a.md5 is None for a in coco)  # none published
    assert voc.url_for(None) == voc.url and voc.url.startswith("https://")
    assert voc.url_for("http://mirror/data/") == "http://mirror/data/VOCtrainval_11-May-2012.tar"
    with pytest.raises(ValueError, match="unknown data set 'ade'; known: voc, coco_stuff"):
        download_dataset("ade", "x")


def test_voc_download_extract_prepare_and_load(tmp_path: Path, server: Server, voc_archives) -> None:
    root = tmp_path / "dl"
    report = _voc(root, server, voc_archives)
    assert server.requests == [(f"mirror/{VOC_TAR}", None), (f"mirror/{SBD_TGZ}", None)]
    assert [(r.action, r.bytes_fetched) for r in report.archives] == [
        ("downloaded", len(server.files[f"mirror/{n}"])) for n in (VOC_TAR, SBD_TGZ)
    ]
    assert report.data_root == resolve_data_root(root, "voc") == root.resolve() / "VOCdevkit" / "VOC2012"
    assert report.prepare.written == len(SBD_VARIANT)
    assert report.prepare.counts == {"train": 2, "val": 1, "aug": 3, "trainaug": 5}
    ds = VOCAugDataset(root, split="train_aug")
    assert [ds[k]["name"] for k in range(len(ds))] == VOC_TRAIN + AUG
    assert ds[len(ds) - 1]["label"].shape == (375, 500)
    text = str(report)
    assert f"{VOC_TAR}: downloaded" in text and f"pass --data {root.resolve()}" in text

    # Run again: everything is extracted, nothing is fetched.
    again = _voc(root, server, voc_archives)
    assert len(server.requests) == 2 and [r.action for r in again.archives] == ["extracted", "extracted"]
    assert again.prepare.written == 0
    # Archives present but not extracted: verified by MD5 and used, not fetched.
    (root / MARKER_DIR / f"{VOC_TAR}.extracted").unlink()
    third = _voc(root, server, voc_archives, prepare=False)
    assert len(server.requests) == 2 and [r.action for r in third.archives] == ["present", "extracted"]
    assert third.prepare is None


def test_resume_partial_download(tmp_path: Path, server: Server, voc_archives) -> None:
    root = tmp_path / "dl"
    root.mkdir()
    data = server.files[f"mirror/{VOC_TAR}"]
    half = len(data) // 2
    (root / f"{VOC_TAR}.part").write_bytes(data[:half])
    report = _voc(root, server, voc_archives[:1], prepare=False)
    assert server.requests == [(f"mirror/{VOC_TAR}", f"bytes={half}-")]
    assert (report.archives[0].action, report.archives[0].bytes_fetched) == ("resumed", len(data) - half)
    assert _md5((root / VOC_TAR).read_bytes()) == voc_archives[0].md5
    assert not (root / f"{VOC_TAR}.part").exists()
    # A .part that is already whole: the server answers 416, the file is used as it is.
    (root / MARKER_DIR).rename(root / "old-markers")
    (root / VOC_TAR).rename(root / f"{VOC_TAR}.part")
    report = _voc(root, server, voc_archives[:1], prepare=False)
    assert server.requests[-1] == (f"mirror/{VOC_TAR}", f"bytes={len(data)}-")
    assert (report.archives[0].action, report.archives[0].bytes_fetched) == ("resumed", 0)


def test_server_ignoring_range_gets_a_full_download(tmp_path: Path, server: Server, voc_archives) -> None:
    root = tmp_path / "dl"
    root.mkdir()
    server.ignore_range = True
    (root / f"{VOC_TAR}.part").write_bytes(b"x" * 1000)  # not even the right bytes: all replaced
    report = _voc(root, server, voc_archives[:1], prepare=False)
    assert server.requests == [(f"mirror/{VOC_TAR}", "bytes=1000-")]
    data = server.files[f"mirror/{VOC_TAR}"]
    assert (report.archives[0].action, report.archives[0].bytes_fetched) == ("downloaded", len(data))
    assert (root / VOC_TAR).read_bytes() == data


def test_truncated_transfer_then_rerun_resumes(tmp_path: Path, server: Server, voc_archives) -> None:
    root = tmp_path / "dl"
    size = len(server.files[f"mirror/{SBD_TGZ}"])
    server.truncate[f"mirror/{SBD_TGZ}"] = 1000
    with pytest.raises(DataError) as err:
        _voc(root, server, voc_archives)
    message = str(err.value)
    assert re.search(rf"download of {SBD_TGZ} from http://127\.0\.0\.1:\d+/mirror/{SBD_TGZ} stopped", message)
    assert f"after 1,000 of {size:,} bytes" in message and "run the same command again to resume" in message
    assert (root / f"{SBD_TGZ}.part").stat().st_size == 1000 and not (root / SBD_TGZ).exists()
    report = _voc(root, server, voc_archives)
    assert server.requests[-1] == (f"mirror/{SBD_TGZ}", "bytes=1000-")
    assert [r.action for r in report.archives] == ["extracted", "resumed"]
    assert report.data_root is not None and len(VOCAugDataset(root, split="train_aug")) == 5


def test_wrong_checksum_is_moved_aside(tmp_path: Path, server: Server, voc_archives) -> None:
    root = tmp_path / "dl"
    wrong = [replace(voc_archives[0], md5="0" * 32)]
    with pytest.raises(DataError) as err:
        _voc(root, server, wrong, prepare=False)
    message = str(err.value)
    assert f"{VOC_TAR} (downloaded from {server.url}/{VOC_TAR}) has MD5 {voc_archives[0].md5}" in message
    assert f"but the published checksum is {'0' * 32}" in message
    assert f"moved to {root.resolve() / VOC_TAR}.bad; run the same command again" in message
    assert (root / f"{VOC_TAR}.bad").is_file() and not (root / VOC_TAR).exists()
    assert not (root / "VOCdevkit").exists()
    _voc(root, server, voc_archives[:1], prepare=False)  # retried from scratch
    assert server.requests == [(f"mirror/{VOC_TAR}", None)] * 2
    # A damaged file put in the root by hand is refused too.
    (root / MARKER_DIR).rename(root / "old-markers")
    (root / VOC_TAR).write_bytes(b"not the archive")
    with pytest.raises(DataError, match=rf"{VOC_TAR} \(found in .*\) has MD5 .*moved to .*\.bad"):
        _voc(root, server, voc_archives[:1], prepare=False)


def test_unreachable_server_and_http_errors(tmp_path: Path, server: Server, voc_archives) -> None:
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DataError) as err:
        _voc(tmp_path / "dl", server, voc_archives, base_url=f"http://127.0.0.1:{port}")
    message = str(err.value)
    assert f"cannot reach http://127.0.0.1:{port}/{VOC_TAR}" in message
    assert BASE_URL_ENV_VAR in message and f"download {VOC_TAR} by hand into {tmp_path / 'dl'}" in message
    server.files.clear()
    with pytest.raises(DataError, match=rf"downloading {VOC_TAR} from .* failed: HTTP 404"):
        _voc(tmp_path / "dl", server, voc_archives)


def test_coco_stuff_from_the_env_mirror(
    tmp_path: Path, server: Server, coco_archives, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv(BASE_URL_ENV_VAR, server.url)
    root = tmp_path / "dl"
    report = download_dataset("coco_stuff", root, strict=False, keep_archives=False, progress=True)
    assert server.names() == [f"mirror/{a.filename}" for a in ARCHIVES["coco_stuff"]]
    assert [r.action for r in report.archives] == ["downloaded"] * 3
    assert report.data_root == resolve_data_root(root, "coco_stuff") == root.resolve() / "coco_stuff164k"
    assert report.prepare.counts == {"train2017": 2, "val2017": 1} and report.prepare.written == 3
    assert not list(root.glob("*.zip"))  # keep_archives=False
    train = COCOStuffDataset(root, split="train")
    assert [train[k]["name"] for k in range(len(train))] == FILES["train2017"]
    assert len(COCOStuffDataset(root, split="val")) == 1
    assert "downloading val2017.zip (1 GB) from" in capsys.readouterr().err
    again = download_dataset("coco_stuff", root, strict=False, progress=False)
    assert len(server.requests) == 3 and [r.action for r in again.archives] == ["extracted"] * 3


def test_coco_incomplete_zip_in_root_is_refused(tmp_path: Path, server: Server, coco_archives) -> None:
    root = tmp_path / "dl"
    root.mkdir()
    data = server.files["mirror/val2017.zip"]
    (root / "val2017.zip").write_bytes(data[: len(data) // 2])  # a truncated copy, made by hand
    val_only = ARCHIVES["coco_stuff"][:1]
    with pytest.raises(DataError, match=r"val2017\.zip \(found in .*\) is not a complete archive .*\.bad"):
        download_dataset("coco_stuff", root, base_url=server.url, archives=val_only, prepare=False)
    assert (root / "val2017.zip.bad").is_file() and not server.requests
    report = download_dataset(
        "coco_stuff", root, base_url=server.url, archives=val_only, prepare=False, progress=False
    )
    assert report.archives[0].action == "downloaded"
    assert sorted(p.stem for p in (root / "coco_stuff164k/images/val2017").iterdir()) == FILES["val2017"]


def test_download_data_command(tmp_path: Path, server: Server, coco_archives, voc_layout, capsys) -> None:
    from sptseg_lib.__main__ import main

    root = tmp_path / "cli"
    args = ["download-data", "coco_stuff", "--root", str(root), "--base-url", server.url, "--no-strict"]
    assert main([*args, "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert f"pass --data {root}" in printed
    assert len(COCOStuffDataset(root, "val")) > 0
    # The tiny VOC archives are not the published ones: the command stops with the checksum message.
    data_root, _voc, _sbd = voc_layout
    server.files[f"mirror/{VOC_TAR}"] = _tar(data_root / "VOCdevkit", "VOCdevkit", "w")
    args = ["download-data", "voc", "--root", str(tmp_path / "v"), "--base-url", server.url, "--no-progress"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "published checksum is 6cd6e144f989b92b3379bac3b3de84fd" in err
