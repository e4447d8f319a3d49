"""Bad input at the command line: one ``error:`` line and exit 2, never a traceback; custom-data evaluation;
whole-image inference on any size; predict's legend and folders; random-weight runs that reproduce.

Each case here is one a user of the first version hit.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_configs import tiny_model_config

from sptseg_lib.__main__ import main
from sptseg_lib.checkpoint import save_checkpoint
from sptseg_lib.config import DataConfig, ExperimentConfig, experiment_preset
from sptseg_lib.data.base import read_image
from sptseg_lib.data.custom import check_class_names, custom_split, parse_class_names
from sptseg_lib.data.paths import DataError
from sptseg_lib.inference import Predictor
from sptseg_lib.metrics import ConfusionMatrix
from sptseg_lib.model import SPTSeg, build_model

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["sky", "road", "tree"]


def run_error(args: list[str], capsys) -> str:
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and "Traceback" not in captured.err
    assert len(captured.err.strip().splitlines()) >= 1
    return captured.err


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A random-weight tiny SPT-SEG (spectral filter fixed to the 8x8 grid of 64-px crops), perturbed so
    that it is not a fresh build."""
    folder = tmp_path_factory.mktemp("ckpt")
    model_config = tiny_model_config(spt_layers=(0,))
    exp = ExperimentConfig(
        "tiny", model_config, DataConfig(dataset="shapes", crop_size=64, test_mode="whole", test_stride=48)
    )
    torch.manual_seed(exp.train.seed)
    model = build_model(model_config)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn(p.shape, generator=gen))
    return save_checkpoint(
        folder / "iter_000001.pt",
        {"experiment": exp.to_dict(), "step": 1, "model": model.trainable_state_dict()},
    )


def _photo(path: Path, shape=(48, 80, 3), seed: int = 0) -> Path:
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, shape, dtype=np.uint8)).save(path)
    return path


# --- unreadable images -------------------------------------------------------------------------------


def test_predict_refuses_broken_and_non_image_files(tmp_path: Path, checkpoint: Path, capsys) -> None:
    good = _photo(tmp_path / "good.jpg", (64, 64, 3))
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    text = tmp_path / "notes.png"
    text.write_text("not an image at all")
    base = ["predict", "--checkpoint", str(checkpoint), "--classes", "a,b", "--out", str(tmp_path / "o")]
    err = run_error([*base, "--image", str(truncated)], capsys)
    assert "cannot read image" in err and "truncated.jpg" in err
    err = run_error([*base, "--image", str(text)], capsys)
    assert "cannot read image" in err and "notes.png" in err
    err = run_error([*base, "--image", str(tmp_path / "missing.jpg")], capsys)
    assert "does not exist" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    err = run_error([*base, "--image", str(empty)], capsys)
    assert "no image files" in err
    assert not (tmp_path / "o").exists()


def test_16_bit_images_are_scaled_not_saturated(tmp_path: Path) -> None:
    ramp = (np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)  # 0 .. 65520
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode == "I;16"
    rgb = np.asarray(read_image(tmp_path / "deep.png"))
    assert rgb.shape == (64, 64, 3) and (rgb[..., 0] == rgb[..., 2]).all()
    np.testing.assert_array_equal(rgb[..., 0], np.round(ramp * (255 / 65535)).astype(np.uint8))
    assert 120 < rgb.mean() < 135  # a plain convert("RGB") gives 254.5 (all white)
    palette = Image.fromarray(np.arange(16, dtype=np.uint8).reshape(4, 4), mode="P")
    palette.putpalette([v for i in range(256) for v in (i * 10 % 256, 0, 0)])
    palette.save(tmp_path / "pal.png")
    assert np.asarray(read_image(tmp_path / "pal.png"))[0, 1].tolist() == [10, 0, 0]
    Image.fromarray(np.ones((4, 4), np.float32)).save(tmp_path / "float.tif")
    with pytest.raises(DataError, match="floating-point"):
        read_image(tmp_path / "float.tif")


# --- --set ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("assignment", "expected"),
    [
        (
            "train.iterations=abc",
            "train.iterations expects an integer (e.g. --set train.iterations=20000), got 'abc'",
        ),
        ("train.lr=fast", "train.lr expects a number"),
        (
            "model.spt_layers=5",
            "model.spt_layers expects a list of integers (e.g. --set model.spt_layers=[0,1])",
        ),
        ("model.spt_layers=[5]", "spt_layers [5] out of range: sptseg-tiny-clip's ViT has blocks 0..3"),
        ("train.amp=fast", 'train.amp expects one of "auto", "bf16", "fp16", "off"'),
        ("train.compile=1", "train.compile expects true or false"),
        ("train.iterations=0", "iterations and batch_size must be >= 1"),
        ("train.lrr=1", "unknown config field 'train.lrr'"),
    ],
)
def test_bad_set_values_fail_before_any_work(tmp_path: Path, capsys, assignment: str, expected: str) -> None:
    out = tmp_path / "run"
    err = run_error(["train", "--preset", "shapes-sptseg", "--set", assignment, "--out", str(out)], capsys)
    assert expected in err
    assert not out.exists()


def test_set_accepts_well_typed_values() -> None:
    exp = experiment_preset("shapes-sptseg").with_overrides(
        ["train.lr=1", "model.pretrained=null", "model.spt_layers=[0,1]", "train.amp=off"]
    )
    assert exp.train.lr == 1.0 and isinstance(exp.train.lr, float)
    assert exp.model.pretrained is None and exp.model.spt_layers == (0, 1) and exp.train.amp == "off"


# --- class names --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sky,road,sky", "class names 1 ('sky') and 3 ('sky') are the same name"),
        ("sky,Sky", "class names 1 ('sky') and 2 ('Sky') are the same name"),
        ("sky, road , sky ", "class names 1 ('sky') and 3 ('sky')"),
        ("sky,,road", "class name 2 of 3 is empty"),
    ],
)
def test_duplicate_or_empty_class_names_are_refused(
    tmp_path: Path, checkpoint: Path, capsys, text: str, expected: str
) -> None:
    image = _photo(tmp_path / "x.png")
    args = ["predict", "--checkpoint", str(checkpoint), "--image", str(image), "--classes", text]
    err = run_error([*args, "--out", str(tmp_path / "o")], capsys)
    assert expected in err
    assert not (tmp_path / "o").exists()


def test_class_names_from_a_file_and_the_custom_split(tmp_path: Path) -> None:
    (tmp_path / "classes.txt").write_text("# my classes\nsky\n  road  \n\ntree\n")
    assert parse_class_names(tmp_path / "classes.txt") == CLASSES
    assert parse_class_names("sky, road,tree") == CLASSES
    split = custom_split(CLASSES, ["Tree"])
    assert split.unseen == (2,) and split.seen == (0, 1)
    with pytest.raises(ValueError, match=r"unseen class\(es\) \['car'\] are not among"):
        custom_split(CLASSES, ["car"])
    assert check_class_names([" a  b "]) == ["a b"]


# --- custom data sets ---------------------------------------------------------------------------------


def _folder_data(tmp_path: Path, count: int = 4, bad: dict[int, str] | None = None) -> tuple[Path, Path]:
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    rng = np.random.default_rng(0)
    for i in range(count):
        h, w = (48, 80) if i % 2 else (64, 64)
        _photo(images / f"im{i}.jpg", (h, w, 3), seed=i)
        mask = rng.integers(0, len(CLASSES), (h, w)).astype(np.uint8)
        mask[:4] = 255
        Image.fromarray(mask, mode="L").save(masks / f"im{i}.png")
    for i, kind in (bad or {}).items():
        if kind == "value":
            Image.fromarray(np.full((64, 64), 7, np.uint8), mode="L").save(masks / f"im{i}.png")
        elif kind == "truncated":
            (masks / f"im{i}.png").write_bytes((masks / f"im{i}.png").read_bytes()[:40])
    return images, masks


def _custom_args(checkpoint: Path, images: Path, masks: Path) -> list[str]:
    return [
        "evaluate", "--checkpoint", str(checkpoint), "--images", str(images), "--masks", str(masks),
        "--classes", ",".join(CLASSES), "--unseen", "tree", "--device", "cpu", "--no-progress",
    ]  # fmt: skip


def test_custom_evaluation_matches_an_independent_computation(tmp_path: Path, checkpoint: Path) -> None:
    images, masks = _folder_data(tmp_path)
    out, preds = tmp_path / "report", tmp_path / "preds"
    assert (
        main([*_custom_args(checkpoint, images, masks), "--out", str(out), "--save-predictions", str(preds)])
        == 0
    )
    report = json.loads((out / "report.json").read_text())
    assert (out / "report.md").is_file()
    for key in ("pAcc", "mIoU", "mIoU_seen", "mIoU_unseen", "hIoU", "IoU", "num_images", "num_pixels"):
        assert key in report
    assert report["num_images"] == 4 and report["partial"] is False and set(report["IoU"]) == set(CLASSES)
    # The saved predictions, scored by hand against the masks, give the report's numbers.
    cm = ConfusionMatrix(len(CLASSES))
    for i in range(4):
        pred = np.asarray(Image.open(preds / f"im{i}.png"))
        mask = np.asarray(Image.open(masks / f"im{i}.png"))
        assert pred.shape == mask.shape and pred.max() < len(CLASSES)
        cm.update(torch.from_numpy(pred.astype(np.int64)), torch.from_numpy(mask.astype(np.int64)))
    direct = cm.compute((0, 1), (2,))
    assert report["num_pixels"] == direct["num_pixels"]
    for key in ("pAcc", "mIoU_seen", "mIoU_unseen"):
        assert report[key] == pytest.approx(direct[key], abs=1e-9)
    labelled = sum(int((np.asarray(Image.open(masks / f"im{i}.png")) != 255).sum()) for i in range(4))
    assert report["num_pixels"] == labelled


def test_a_bad_mask_stops_before_inference_and_keeps_the_old_report(
    tmp_path: Path, checkpoint: Path, capsys
) -> None:
    images, masks = _folder_data(tmp_path, count=5, bad={2: "value", 4: "truncated"})
    out = tmp_path / "report"
    out.mkdir()
    (out / "report.json").write_text("{}")
    err = run_error([*_custom_args(checkpoint, images, masks), "--out", str(out)], capsys)
    assert (
        "2 of 5" in err
        and "im2.png" in err
        and "[7]" in err
        and "im4.png" in err
        and "nothing was evaluated" in err
    )
    assert (out / "report.json").read_text() == "{}"


def test_missing_masks_and_mixed_sources_are_refused(tmp_path: Path, checkpoint: Path, capsys) -> None:
    images, masks = _folder_data(tmp_path)
    (masks / "im2.png").unlink()
    err = run_error(_custom_args(checkpoint, images, masks), capsys)
    assert "1 of 4 masks" in err and "im2.png" in err
    err = run_error(["evaluate", "--checkpoint", str(checkpoint), "--images", str(images)], capsys)
    assert "missing --masks, --classes, --unseen" in err
    err = run_error([*_custom_args(checkpoint, images, masks), "--data", str(tmp_path)], capsys)
    assert "exclude each other" in err


def test_limit_writes_a_partial_report_beside_the_full_one(tmp_path: Path, checkpoint: Path, capsys) -> None:
    images, masks = _folder_data(tmp_path)
    out = tmp_path / "report"
    args = [*_custom_args(checkpoint, images, masks), "--out", str(out)]
    assert main(args) == 0
    full = (out / "report.json").read_text()
    assert main([*args, "--limit", "2"]) == 0
    assert "partial" in capsys.readouterr().out
    assert (out / "report.json").read_text() == full
    partial = json.loads((out / "report-first2.json").read_text())
    assert partial["partial"] is True and partial["num_images"] == 2 and partial["num_images_total"] == 4
    assert "images: 2 of 4" in (out / "report-first2.md").read_text()
    for bad in ("0", "-3"):
        assert "limit must be at least 1" in run_error([*args, "--limit", bad], capsys)


def test_a_data_root_for_the_shapes_world_is_refused(tmp_path: Path, checkpoint: Path, capsys) -> None:
    err = run_error(["evaluate", "--checkpoint", str(checkpoint), "--data", str(tmp_path)], capsys)
    assert "'shapes' world" in err and "--images" in err


def test_a_root_of_another_data_set_is_named(tmp_path: Path) -> None:
    from sptseg_lib.data.paths import resolve_data_root

    for sub in ("coco_stuff164k/images", "coco_stuff164k/annotations"):
        (tmp_path / sub).mkdir(parents=True)
    with pytest.raises(DataError, match="That folder holds 'coco_stuff', another data set than the 'voc'"):
        resolve_data_root(tmp_path, "voc")


# --- whole-image inference on any size ----------------------------------------------------------------


def test_whole_inference_of_a_fixed_grid_model_takes_any_size(checkpoint: Path) -> None:
    model = SPTSeg.from_checkpoint(checkpoint, "cpu")
    predictor = Predictor(model, CLASSES, mode="whole", crop=64, stride=48)
    image = torch.randn(1, 3, 64, 150)
    scores = predictor.scores(image)
    assert scores.shape == (1, 3, 64, 150) and torch.isfinite(scores).all()
    # Tiles of 64: the first tile is the model's own prediction of that crop.
    direct = model.predict(image[..., :64], predictor.text)
    torch.testing.assert_close(scores[..., :64], direct)
    assert "tiles of 64" in predictor.description
    square = torch.randn(1, 3, 64, 64)  # exactly one tile: the same as one whole pass
    torch.testing.assert_close(predictor.scores(square), model.predict(square, predictor.text))


def test_evaluate_whole_mode_on_non_square_images(tmp_path: Path, checkpoint: Path) -> None:
    images, masks = _folder_data(tmp_path)
    assert (
        main([*_custom_args(checkpoint, images, masks), "--mode", "whole", "--out", str(tmp_path / "r")]) == 0
    )
    assert json.loads((tmp_path / "r" / "report.json").read_text())["inference"] == "whole"


# --- predict: legend and folders ----------------------------------------------------------------------


def test_predict_writes_a_legend_and_takes_a_folder(tmp_path: Path, checkpoint: Path, capsys) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    _photo(folder / "a.jpg", (48, 80, 3), seed=1)
    _photo(folder / "b.png", (64, 64, 3), seed=2)
    (folder / "readme.txt").write_text("not an image")
    out = tmp_path / "pred"
    args = [
        "predict",
        "--checkpoint",
        str(checkpoint),
        "--image",
        str(folder),
        "--classes",
        ",".join(CLASSES),
    ]
    assert main([*args, "--out", str(out), "--device", "cpu"]) == 0
    for stem, (h, w) in (("a", (48, 80)), ("b", (64, 64))):
        legend = json.loads((out / f"{stem}.legend.json").read_text())
        assert [c["name"] for c in legend["classes"]] == CLASSES
        assert [c["value"] for c in legend["classes"]] == [0, 1, 2]
        label = np.asarray(Image.open(out / f"{stem}.label.png"))
        for c in legend["classes"]:
            assert c["share"] == pytest.approx((label == c["value"]).mean())
        overlay = Image.open(out / f"{stem}.overlay.png")
        present = sum(c["share"] > 0 for c in legend["classes"])
        assert overlay.size[1] == h + 14 * present + 4 and overlay.size[0] >= w  # legend rows below
    assert not (out / "readme.label.png").exists()


# --- random frozen weights reproduce in any process ---------------------------------------------------


def test_random_weight_checkpoint_evaluates_the_same_in_two_processes(
    tmp_path: Path, checkpoint: Path
) -> None:
    images, masks = _folder_data(tmp_path)
    reports = []
    for k in range(2):
        out = tmp_path / f"r{k}"
        cmd = [
            sys.executable,
            "-m",
            "sptseg_lib",
            *_custom_args(checkpoint, images, masks),
            "--out",
            str(out),
        ]
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True)
        report = json.loads((out / "report.json").read_text())
        reports.append({k: report[k] for k in ("pAcc", "IoU", "hIoU")})
    assert reports[0] == reports[1]
