"""The command line: help texts, clear errors that write nothing, and predict end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from benchmark_scripts import benchmark_script
from PIL import Image
from tiny_configs import tiny_model_config

from sptseg_lib.__main__ import build_parser, main
from sptseg_lib.checkpoint import save_checkpoint
from sptseg_lib.cli import parser as cli_parser
from sptseg_lib.config import EXPERIMENT_PRESETS, DataConfig, ExperimentConfig, experiment_preset

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ("train", "evaluate", "predict", "prepare-data", "download-data", "presets", "demo")


def test_help_explains_every_command() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "sptseg_lib", "--help"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    for command in COMMANDS:
        assert command in out
    assert "torchrun" in out
    parser = build_parser()
    for command in COMMANDS:
        with pytest.raises(SystemExit) as exit_:
            parser.parse_args([command, "--help"])
        assert exit_.value.code == 0


# A fresh interpreter that runs `python -m sptseg_lib ARGS...` and then prints, as its last line, the exit
# status and which heavy libraries were imported on the way.
IMPORT_PROBE = (
    "import runpy, sys\n"
    "sys.argv = ['sptseg_lib', *sys.argv[1:]]\n"
    "try:\n"
    "    runpy.run_module('sptseg_lib', run_name='__main__', alter_sys=True)\n"
    "except SystemExit as done:\n"
    "    status = done.code\n"
    "heavy = [m for m in ('torch', 'open_clip', 'numpy', 'PIL') if m in sys.modules]\n"
    "print(status, *heavy)\n"
)


@pytest.mark.parametrize(
    ("args", "status"),
    [(["--help"], 0), (["evaluate", "--help"], 0), (["train"], 2), (["predict", "--mode", "x"], 2)],
)
def test_help_and_argument_errors_import_no_heavy_library(args: list[str], status: int) -> None:
    """The command line is thin: parsing it, printing help or refusing an option loads no torch (seconds)."""
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE, *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == str(status)


def test_help_names_the_library_environment_variables(capsys) -> None:
    """The parser spells the two variables out (importing them would load torch): they must stay the same."""
    from sptseg_lib.data.download import BASE_URL_ENV_VAR
    from sptseg_lib.runs import RUNS_ENV_VAR

    assert cli_parser.RUNS_ENV_VAR == RUNS_ENV_VAR and cli_parser.BASE_URL_ENV_VAR == BASE_URL_ENV_VAR
    for command, named in (("train", f"${RUNS_ENV_VAR}/<preset>"), ("download-data", f"${BASE_URL_ENV_VAR}")):
        with pytest.raises(SystemExit):
            build_parser().parse_args([command, "--help"])
        assert named in capsys.readouterr().out


def test_startup_benchmark_measures_fresh_interpreters() -> None:
    startup = benchmark_script("cli_startup")
    runs = startup.measure(["-m", "sptseg_lib", "--help"], 2)
    assert len(runs) == 2 and all(r.seconds > 0 and r.peak_mib > 0 for r in runs)
    lines = startup.report({"python -m sptseg_lib --help": runs})
    assert lines[1].startswith("python -m sptseg_lib --help") and lines[1].split()[-2] == "1.0"
    with pytest.raises(SystemExit, match="failed"):
        startup.run_once(["-m", "sptseg_lib", "no-such-command"])


def test_presets_lists_every_preset(capsys) -> None:
    assert main(["presets"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == sorted(EXPERIMENT_PRESETS)


def run_error(args: list[str], capsys) -> str:
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ")
    return captured.err


def test_unknown_preset_and_wrong_data_root_write_nothing(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    err = run_error(["train", "--preset", "voc-sptsegg", "--data", str(tmp_path), "--out", str(out)], capsys)
    assert "unknown preset 'voc-sptsegg'" in err and "voc-sptseg," in err
    err = run_error(
        ["train", "--preset", "voc-sptseg", "--data", str(tmp_path / "nowhere"), "--out", str(out)], capsys
    )
    assert "'voc' not found" in err and "JPEGImages" in err
    assert not out.exists()
    err = run_error(["train", "--preset", "voc-sptseg", "--set", "train.lrr=1", "--out", str(out)], capsys)
    assert "unknown config field 'train.lrr'" in err


def test_resuming_another_presets_checkpoint_is_refused_and_kept(tmp_path: Path, capsys) -> None:
    ckpt = save_checkpoint(
        tmp_path / "iter_000100.pt",
        {"experiment": experiment_preset("voc-zegclip").to_dict(), "step": 100, "model": {}},
    )
    before = ckpt.read_bytes()
    args = ["train", "--preset", "voc-sptseg", "--data", str(tmp_path), "--out", str(tmp_path)]
    err = run_error([*args, "--resume"], capsys)
    assert "model.spt: False != True" in err and "voc-zegclip" in err
    err = run_error(args, capsys)
    assert "already holds checkpoints" in err and "--resume" in err
    assert ckpt.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["iter_000100.pt"]


def test_corrupt_checkpoint_is_a_clear_error(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "iter_000001.pt"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    err = run_error(["evaluate", "--checkpoint", str(bad)], capsys)
    assert "corrupt or truncated" in err
    err = run_error(["predict", "--checkpoint", str(bad), "--image", str(bad), "--classes", "a"], capsys)
    assert "corrupt or truncated" in err
    assert bad.read_bytes() == b"PK\x03\x04 not really a zip"


def test_predict_writes_a_label_png_and_an_overlay(tmp_path: Path, capsys) -> None:
    from sptseg_lib.model import build_model

    model_config = tiny_model_config()
    exp = ExperimentConfig(
        "tiny", model_config, DataConfig(dataset="shapes", crop_size=64, test_mode="whole", test_stride=48)
    )
    model = build_model(model_config)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p))  # a "trained" state, different from a fresh build
    ckpt = save_checkpoint(
        tmp_path / "iter_000001.pt",
        {"experiment": exp.to_dict(), "step": 1, "model": model.trainable_state_dict()},
    )
    image = tmp_path / "photo.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 80, 3), dtype=np.uint8)).save(image)
    names = ["red circle", "grass", "a teapot"]
    args = ["predict", "--checkpoint", str(ckpt), "--image", str(image), "--classes", ",".join(names)]
    assert main([*args, "--out", str(tmp_path / "pred"), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    label = Image.open(tmp_path / "pred" / "photo.label.png")
    overlay = Image.open(tmp_path / "pred" / "photo.overlay.png")
    assert label.mode == "P" and label.size == (80, 48)
    assert overlay.size[0] >= 80 and overlay.size[1] > 48  # the image above its legend
    values = np.asarray(label)
    assert values.max() < len(names)
    shares = [float(line.split()[-2]) for line in printed.splitlines() if line.endswith("%")]
    assert len(shares) == 3 and sum(shares) == pytest.approx(100, abs=0.3)
    for i, share in enumerate(shares):
        assert share == pytest.approx(100 * (values == i).mean(), abs=0.06)


def test_prepare_data_errors_name_the_missing_input(tmp_path: Path, capsys) -> None:
    err = run_error(["prepare-data", "voc", "--root", str(tmp_path)], capsys)
    assert "--sbd-root" in err
    err = run_error(["prepare-data", "coco_stuff", "--root", str(tmp_path / "nowhere")], capsys)
    assert "coco_stuff" in err and "not found" in err
    assert list(tmp_path.iterdir()) == []


def test_demo_explains_its_numbers_and_cleans_up(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """`demo` with small arguments: the shipped model beats the baseline on the fresh scenes, the output
    says what each metric means and why the short run scores low, and no temporary folder is left."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    # PyTorch makes its compiler cache in TMPDIR when open_clip imports torch._dynamo: not the demo's folder
    cache = tmp_path_factory.mktemp("torchinductor")
    env = {**os.environ, "TMPDIR": str(scratch), "TORCHINDUCTOR_CACHE_DIR": str(cache)}
    done = subprocess.run(
        [sys.executable, "-m", "sptseg_lib", "demo", "--iterations", "2", "--images", "6"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for words in ("What the numbers mean", "pAcc", "mIoU(S)", "mIoU(U)", "hIoU", "zero-shot", "harmonic"):
        assert words in out
    assert "expected, not a bug" in out  # the short run's low scores are explained
    rows = {line.split("|")[1].strip(): line for line in out.splitlines() if line.startswith("| ")}
    hiou = {name: float(line.split("|")[-2]) for name, line in rows.items() if name.startswith(("SPT", "tr"))}
    shipped = next(v for k, v in hiou.items() if "shipped" in k)
    assert shipped > hiou["training-free MaskCLIP"] + 10
    assert "now removed" in out
    assert list(scratch.iterdir()) == []  # the short run's temporary folder is gone
    assert list(tmp_path.iterdir()) == [scratch]  # and nothing was written to the working directory
