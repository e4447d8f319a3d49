"""Data-root resolution: argument, then $SPTSEG_DATA, never the working directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from sptseg_lib.data.paths import ENV_VAR, DataError, DataRootError, resolve_data_root


def _voc(base: Path) -> Path:
    root = base / "VOCdevkit" / "VOC2012"
    for sub in ("JPEGImages", "ImageSets"):
        (root / sub).mkdir(parents=True)
    return root


def _coco(base: Path) -> Path:
    root = base / "coco_stuff164k"
    for sub in ("images", "annotations"):
        (root / sub).mkdir(parents=True)
    return root


def test_argument_parent_or_dataset_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    voc, coco = _voc(tmp_path), _coco(tmp_path)
    assert resolve_data_root(tmp_path, "voc") == voc.resolve()
    assert resolve_data_root(str(voc), "voc") == voc.resolve()
    assert resolve_data_root(tmp_path / "VOCdevkit", "voc") == voc.resolve()
    assert resolve_data_root(tmp_path, "coco_stuff") == coco.resolve()
    assert resolve_data_root(coco, "coco_stuff") == coco.resolve()


def test_env_var_and_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    voc = _voc(tmp_path / "env")
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env"))
    assert resolve_data_root(None, "voc") == voc.resolve()
    # An explicit argument wins and does not fall back to the env var.
    with pytest.raises(DataRootError, match=r"'voc' not found from the root argument"):
        resolve_data_root(tmp_path / "elsewhere", "voc")


def test_missing_root_messages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    _voc(tmp_path)
    monkeypatch.chdir(tmp_path)  # the working directory holds a data set, and must be ignored
    with pytest.raises(
        DataRootError, match=r"no data root for 'voc': pass --data DIR \(root=\.\.\. in Python\) or set "
    ) as err:
        resolve_data_root(None, "voc")
    assert "python -m sptseg_lib download-data voc" in str(err.value)
    assert "python -m sptseg_lib prepare-data voc" in str(err.value)
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nothing"))
    with pytest.raises(DataRootError) as err:
        resolve_data_root(None, "coco_stuff")
    msg = str(err.value)
    assert "from $SPTSEG_DATA" in msg and "images/ and annotations/" in msg
    assert str((tmp_path / "nothing" / "coco_stuff164k").resolve()) in msg
    assert "python -m sptseg_lib prepare-data coco_stuff" in msg
    assert isinstance(err.value, DataError) and isinstance(err.value, FileNotFoundError)


def test_unknown_dataset() -> None:
    with pytest.raises(ValueError, match="unknown data set 'ade'; known: voc, coco_stuff"):
        resolve_data_root("/", "ade")
