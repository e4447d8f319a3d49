"""Bad input, round two: outputs never overwritten without a word, work checked before it starts, devices,
``--config`` files, masks whose 0 is unlabelled, and the clearer messages of the smaller cases.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_cli_inputs import CLASSES, _custom_args, _folder_data, _photo, run_error
from test_cli_inputs import checkpoint as checkpoint  # the fixture

from sptseg_lib.__main__ import main

# --- 4 and 5. predict: no silent overwrite, every image read before anything is written -----------------


def _predict(checkpoint: Path, image: Path, out: Path, classes: str = "a,b") -> list[str]:
    return ["predict", "--checkpoint", str(checkpoint), "--image", str(image), "--classes", classes,
            "--out", str(out), "--device", "cpu"]  # fmt: skip


def test_predict_refuses_two_images_with_one_stem(tmp_path: Path, checkpoint: Path, capsys) -> None:
    _photo(tmp_path / "photo.jpg", (32, 32, 3))
    _photo(tmp_path / "photo.png", (32, 32, 3))
    err = run_error(_predict(checkpoint, tmp_path, tmp_path / "out"), capsys)
    assert "photo.jpg and photo.png in" in err and "share the stem 'photo'" in err
    assert "would overwrite each other; rename one of them" in err
    assert not (tmp_path / "out").exists()


def test_predict_into_its_input_folder_does_not_read_its_outputs_back(
    tmp_path: Path, checkpoint: Path
) -> None:
    _photo(tmp_path / "one.png", (32, 32, 3))
    assert main(_predict(checkpoint, tmp_path, tmp_path)) == 0
    assert main(_predict(checkpoint, tmp_path, tmp_path)) == 0  # a second run: one input, not three
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "one.label.png", "one.legend.json", "one.overlay.png", "one.png",
    ]  # fmt: skip


def test_predict_reads_every_image_before_writing_any(tmp_path: Path, checkpoint: Path, capsys) -> None:
    images = tmp_path / "images"
    images.mkdir()
    for i in range(4):
        _photo(images / f"im{i}.jpg", (32, 32, 3), seed=i)
    data = (images / "im2.jpg").read_bytes()
    (images / "im2.jpg").write_bytes(data[: len(data) // 2])
    err = run_error(_predict(checkpoint, images, tmp_path / "out"), capsys)
    assert err.startswith("error: 1 of 4 images cannot be used (nothing was written): cannot read image ")
    assert "im2.jpg" in err
    assert not (tmp_path / "out").exists()


def test_predict_to_an_out_that_is_a_file_fails_before_any_work(
    tmp_path: Path, checkpoint: Path, capsys
) -> None:
    image = _photo(tmp_path / "a.png", (32, 32, 3))
    (tmp_path / "out").write_text("a file")
    err = run_error(_predict(checkpoint, image, tmp_path / "out"), capsys)
    assert f"output folder {tmp_path / 'out'} is a file, not a folder; choose a folder for --out" in err


def test_predict_legend_records_the_checkpoint_and_one_class_is_a_warning(
    tmp_path: Path, checkpoint: Path, capsys
) -> None:
    image = _photo(tmp_path / "a.png", (32, 32, 3))
    with pytest.warns(UserWarning) as caught:
        assert main(_predict(checkpoint, image, tmp_path / "out", classes="sky")) == 0
    assert [str(w.message) for w in caught if "class name" in str(w.message)] == [
        "only one class name ('sky'): every pixel gets it; give the other things the images show too "
        "(--classes a,b,...)"
    ]
    legend = json.loads((tmp_path / "out" / "a.legend.json").read_text())
    assert legend["checkpoint"] == str(checkpoint)


# --- 4. evaluate: one default report folder per data set --------------------------------------------------


def test_two_data_sets_with_one_images_folder_name_get_two_report_folders(
    tmp_path: Path, checkpoint: Path, capsys
) -> None:
    first = tmp_path / "first"
    second = tmp_path / "second"
    first.mkdir()
    second.mkdir()
    (images_a, masks_a), (images_b, masks_b) = _folder_data(first), _folder_data(second, count=2)
    ckpt = tmp_path / "run" / "iter_000001.pt"
    ckpt.parent.mkdir()
    shutil.copy(checkpoint, ckpt)
    assert images_a.name == images_b.name == "images"
    assert main(_custom_args(ckpt, images_a, masks_a)) == 0
    assert main(_custom_args(ckpt, images_b, masks_b)) == 0
    assert main(_custom_args(ckpt, images_a, masks_a)) == 0  # the same data set again: its own folder
    out = capsys.readouterr().out
    folders = sorted(p.name for p in ckpt.parent.iterdir() if p.is_dir())
    assert folders == ["iter_000001.eval-images", "iter_000001.eval-images-2"]
    a = json.loads((ckpt.parent / folders[0] / "report.json").read_text())
    b = json.loads((ckpt.parent / folders[1] / "report.json").read_text())
    assert a["data"] == f"folder {images_a.resolve()}" and b["data"] == f"folder {images_b.resolve()}"
    assert a["num_images"] != b["num_images"] and "eval-images-2/report.json" in out


# --- 8. devices and --config ----------------------------------------------------------------------------


def test_device_names_and_missing_gpus_are_one_line(
    tmp_path: Path, checkpoint: Path, capsys, monkeypatch
) -> None:
    image = _photo(tmp_path / "a.png", (32, 32, 3))
    base = _predict(checkpoint, image, tmp_path / "out")[:-2]
    err = run_error([*base, "--device", "gpu"], capsys)
    assert err.strip() == (
        "error: --device 'gpu' is not a device name (for a GPU: cuda); use cpu, cuda, cuda:N "
        "(N = 0, 1, ...) or mps"
    )
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for command in (base, ["train", "--preset", "shapes-sptseg", "--out", str(tmp_path / "run")],
                    ["evaluate", "--checkpoint", str(checkpoint)]):  # fmt: skip
        err = run_error([*command, "--device", "cuda"], capsys)
        assert err.strip() == (
            "error: --device 'cuda' was asked for, but CUDA is not available: PyTorch sees no CUDA GPU on "
            "this machine; use --device cpu, or leave --device out to use a GPU when there is one"
        )
    assert not (tmp_path / "run").exists() and not (tmp_path / "out").exists()


def _train_config(tmp_path: Path, config: Path) -> list[str]:
    return ["train", "--config", str(config), "--out", str(tmp_path / "run"), "--device", "cpu"]


def test_config_files_that_are_not_experiments_name_the_file(tmp_path: Path, capsys) -> None:
    run = tmp_path / "old"
    run.mkdir()
    assert main(["train", "--preset", "shapes-sptseg", "--out", str(run), "--iterations", "1",
                 "--set", "train.batch_size=2", "--set", "data.num_workers=0", "--device", "cpu",
                 "--no-progress"]) == 0  # fmt: skip
    config = run / "config.json"
    config.write_text(config.read_text()[:300])
    err = run_error(_train_config(tmp_path, config), capsys)
    assert err.startswith(f"error: --config {config} is not valid JSON (")
    assert (
        "truncated or edited?); the run's checkpoints (e.g. iter_000001.pt) hold its full configuration"
        in err
    )
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"pAcc": 90.0, "mIoU": 50.0}))
    err = run_error(_train_config(tmp_path, report), capsys)
    assert err.strip() == (
        f"error: --config {report} has no name, model, data, train field(s): it is not an experiment "
        "configuration (the config.json a train run writes: name, model, data, train)"
    )
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    err = run_error(_train_config(tmp_path, listed), capsys)
    assert f"--config {listed} holds a JSON list, not an experiment configuration" in err
    assert not (tmp_path / "run").exists()


# --- 8. masks whose 0 is unlabelled; clearer mask messages ---------------------------------------------


def test_ignore_index_0_shifts_the_values_down_and_says_so(tmp_path: Path, checkpoint: Path) -> None:
    images, masks = _folder_data(tmp_path)
    shifted = tmp_path / "shifted"
    shifted.mkdir()
    for mask in masks.iterdir():  # the same labels, ADE20K-style: 0 unlabelled, class i stored as i + 1
        values = np.asarray(Image.open(mask)).astype(np.int16)
        Image.fromarray(np.where(values == 255, 0, values + 1).astype(np.uint8), mode="L").save(
            shifted / mask.name
        )
    plain, zero = tmp_path / "plain", tmp_path / "zero"
    assert main([*_custom_args(checkpoint, images, masks), "--out", str(plain)]) == 0
    assert main([*_custom_args(checkpoint, images, shifted), "--out", str(zero), "--ignore-index", "0"]) == 0
    a = json.loads((plain / "report.json").read_text())
    b = json.loads((zero / "report.json").read_text())
    assert a["IoU"] == b["IoU"] and a["num_pixels"] == b["num_pixels"]
    assert b["data"].endswith("(mask value 0 unlabelled, value i is class i-1)")


def test_a_mask_value_one_past_the_names_suggests_ignore_index_or_a_name(
    tmp_path: Path, checkpoint: Path, capsys
) -> None:
    images, masks = _folder_data(tmp_path, count=1)
    Image.fromarray(np.full((64, 64), len(CLASSES), np.uint8), mode="L").save(masks / "im0.png")
    err = run_error(_custom_args(checkpoint, images, masks), capsys)
    assert f"holds values [{len(CLASSES)}]" in err
    assert "pass --ignore-index N if a value N marks unlabelled pixels (now 255), or add a class name" in err


@pytest.mark.parametrize(
    "mode, why", [("1", "A 1-bit (black and white) image"), ("LA", "greyscale with an alpha channel")]
)
def test_masks_of_modes_without_indices_get_their_own_reason(
    tmp_path: Path, checkpoint: Path, capsys, mode: str, why: str
) -> None:
    images, masks = _folder_data(tmp_path, count=1)
    Image.open(masks / "im0.png").convert(mode).save(masks / "im0.png")
    err = run_error(_custom_args(checkpoint, images, masks), capsys)
    assert f"has mode {mode!r}" in err and why in err and "colour rendering" not in err


# --- 8. training values named by their field, before anything is written ---------------------------------


@pytest.mark.parametrize(
    "setting, message",
    [
        (["train.lr=-1"], "train.lr must be positive (e.g. --set train.lr=2e-4), got -1.0"),
        (
            ["data.crop_size=7", "data.test_stride=7"],
            "data.crop_size 7 is too small; use at least 16 px (e.g. --set data.crop_size=64)",
        ),
    ],
)
def test_bad_training_values_name_their_field_and_write_nothing(
    tmp_path: Path, capsys, setting: list[str], message: str
) -> None:
    out = tmp_path / "run"
    sets = [arg for s in setting for arg in ("--set", s)]
    err = run_error(["train", "--preset", "shapes-sptseg", "--out", str(out), *sets], capsys)
    assert err.strip() == f"error: {message}"
    assert not out.exists()


# --- 8. the notebook runner: malformed -y, unknown parameters ---------------------------------------------


def _one_notebook(folder: Path) -> Path:
    nbformat = pytest.importorskip("nbformat")
    cell = nbformat.v4.new_code_cell('profile = "smoke"\nuse_widgets = True')
    cell.metadata["tags"] = ["parameters"]
    folder.mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), folder / "01_one.ipynb")
    return folder


def test_notebook_runner_refuses_malformed_yaml_and_unknown_parameters(tmp_path: Path) -> None:
    from sptseg_lib.tools import run_notebooks

    source = _one_notebook(tmp_path / "nbs")
    base = ["--notebooks-dir", str(source), "--out", str(tmp_path / "out"), "--no-site"]
    with pytest.raises(SystemExit) as caught:
        run_notebooks.main([*base, "-y", "{profile: full"])
    assert str(caught.value).startswith("error: -y '{profile: full' is not valid YAML (")
    assert "write a mapping such as 'use_widgets: false'" in str(caught.value)
    with pytest.raises(SystemExit) as caught:
        run_notebooks.main([*base, "-y", "{profil: full}"])
    assert str(caught.value) == (
        "error: unknown notebook parameter(s) 'profil': no notebook of this run declares it (a typo?). "
        "Their parameters: 01_one.ipynb: profile, use_widgets"
    )
    assert not (tmp_path / "out").exists()
