"""What macOS and Windows do differently, done here: DataLoader workers and the miniature tables' process pool
started with ``spawn``; stop signals a platform lacks or refuses; paths with spaces and non-ASCII characters;
Apple's MPS as an explicit device; and the README's commands for machines without ``make``."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_cli_inputs import checkpoint  # noqa: F401  (the fixture)
from test_train import experiment, make_trainer

from sptseg_lib.__main__ import main
from sptseg_lib.baselines import BASELINES
from sptseg_lib.distributed import init_distributed
from sptseg_lib.notebook_env import resolve_device
from sptseg_lib.study import METRICS, Recipe, config_key
from sptseg_lib.train.interrupts import StopSignals, stop_signals, worker_ignores_stop_signals

ROOT = Path(__file__).resolve().parents[1]

# A fresh interpreter whose multiprocessing starts processes as macOS and Windows do.
SPAWNED_CLI = (
    "import multiprocessing as mp, sys\n"
    "mp.set_start_method('spawn')\n"
    "from sptseg_lib.__main__ import main\n"
    "status = main(sys.argv[1:])\n"
    "assert mp.get_start_method() == 'spawn'\n"
    "sys.exit(status)\n"
)


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(command, capture_output=True, text=True, encoding="utf-8", env=env, **kwargs)


# --- spawn ---------------------------------------------------------------------------------------------


def test_cli_training_with_spawned_dataloader_workers_into_a_non_ascii_run_folder(tmp_path: Path) -> None:
    out = tmp_path / "my runs" / "ünïcödé run"
    options = "--iterations 2 --set train.batch_size=2 --set data.num_workers=2 --set train.log_every=1"
    command = [sys.executable, "-c", SPAWNED_CLI, "train", "--preset", "shapes-sptseg", "--out", str(out)]
    result = _run([*command, *options.split(), "--device", "cpu", "--no-progress"], cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    records = [json.loads(line) for line in (out / "log.jsonl").read_text(encoding="utf-8").splitlines()]
    assert records[0]["event"] == "start" and records[0]["num_workers"] == 2
    assert max(r.get("step", 0) for r in records) == 2
    assert (out / "iter_000002.pt").is_file() and (out / "config.json").is_file()


def test_miniature_tables_pool_under_spawn_without_getloadavg(tmp_path: Path) -> None:
    """The script's process pool (``spawn``, as everywhere) with recorded runs, so that the workers import
    the script afresh and return without training; ``os.getloadavg`` removed, as on Windows."""
    out, record = tmp_path / "tables ü", tmp_path / "récords"
    out.mkdir()
    (out / "baselines.json").write_text(
        json.dumps({kind: dict.fromkeys(METRICS, 1.0) for kind in BASELINES}), encoding="utf-8"
    )
    for k, preset in enumerate(("shapes-sptseg", "shapes-zegclip")):
        exp = Recipe(iterations=2).experiment(preset, 0)
        (record / preset).mkdir(parents=True)
        recorded = {
            "experiment": exp.name, "seed": 0, "train_seconds": 1.0, "set": [],
            "config": json.loads(config_key(exp)), **dict.fromkeys(METRICS, 10.0 + k),
        }  # fmt: skip
        (record / preset / "seed0.json").write_text(json.dumps(recorded), encoding="utf-8")
    script = ROOT / "benchmarks" / "miniature_tables.py"
    windows_like = (
        "import os, runpy, sys\n"
        "del os.getloadavg\n"
        "sys.argv = [sys.argv[1], *sys.argv[2:]]\n"
        "runpy.run_path(sys.argv[0], run_name='__main__')\n"
    )
    options = "--iterations 2 --seeds 1 --rows sptseg zegclip --jobs 2 --split val".split()
    command = [sys.executable, "-c", windows_like, str(script), *options, "--out", str(out)]
    result = _run([*command, "--record", str(record)], cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "tables.json").read_text(encoding="utf-8"))
    assert "load average" not in report["meta"]["machine"]
    assert report["runs"]["shapes-sptseg"]["0"]["hIoU"] == 10.0
    assert report["runs"]["shapes-zegclip"]["0"]["hIoU"] == 11.0


# --- signals -------------------------------------------------------------------------------------------


def test_training_stops_cleanly_where_sigterm_does_not_exist(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delattr(signal, "SIGTERM")
    assert stop_signals() == (signal.SIGINT,)
    before = signal.getsignal(signal.SIGINT)
    stops = StopSignals()
    with stops.caught():
        assert signal.getsignal(signal.SIGINT) is stops and stops.installed == ["SIGINT"]
    assert signal.getsignal(signal.SIGINT) is before
    trainer = make_trainer(tmp_path, experiment(iterations=2))
    trainer.fit(1)
    assert trainer.step == 1


def test_a_stop_signal_the_platform_refuses_is_skipped(monkeypatch, tmp_path: Path) -> None:
    """Windows' ``signal.signal`` accepts a few signals only; a refused one must not stop training."""
    real = signal.signal

    def windows_like(sig: int, handler):
        if sig == signal.SIGTERM:
            raise ValueError("invalid signal value")
        return real(sig, handler)

    monkeypatch.setattr(signal, "signal", windows_like)
    before = signal.getsignal(signal.SIGINT)
    stops = StopSignals()
    with stops.caught():
        assert stops.installed == ["SIGINT"]
    assert signal.getsignal(signal.SIGINT) is before
    try:
        worker_ignores_stop_signals(0)
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        real(signal.SIGINT, before)
    trainer = make_trainer(tmp_path, experiment(iterations=2))
    trainer.fit(1)
    assert trainer.step == 1


# --- paths ---------------------------------------------------------------------------------------------


def test_images_masks_class_files_and_outputs_with_spaces_and_non_ascii_names(
    tmp_path: Path,
    checkpoint: Path,  # noqa: F811
) -> None:
    base = tmp_path / "dätä sét"
    images, masks = base / "my ïmages", base / "the mäsks"
    images.mkdir(parents=True)
    masks.mkdir()
    rng = np.random.default_rng(0)
    for i, suffix in enumerate((".jpg", ".png")):
        photo, mask = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), rng.integers(0, 3, (48, 64))
        Image.fromarray(photo).save(images / f"ïmage {i}{suffix}")
        Image.fromarray(mask.astype(np.uint8), mode="L").save(masks / f"ïmage {i}.png")
    classes = base / "clässes list.txt"
    classes.write_text("sky\ncafé table\ntree\n", encoding="utf-8")
    report_dir, predictions = base / "répört out", base / "prédictions"
    args = [
        "evaluate", "--checkpoint", str(checkpoint), "--images", str(images), "--masks", str(masks),
        "--classes", str(classes), "--unseen", "tree", "--device", "cpu", "--no-progress",
        "--out", str(report_dir), "--save-predictions", str(predictions),
    ]  # fmt: skip
    assert main(args) == 0
    report = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
    assert report["num_images"] == 2 and set(report["IoU"]) == {"sky", "café table", "tree"}
    assert "café table" in (report_dir / "report.md").read_text(encoding="utf-8")
    assert sorted(p.name for p in predictions.iterdir()) == ["ïmage 0.png", "ïmage 1.png"]
    out = base / "prédict out"
    image = str(images / "ïmage 0.jpg")
    predict = ["predict", "--checkpoint", str(checkpoint), "--image", image, "--classes", str(classes)]
    assert main([*predict, "--out", str(out), "--device", "cpu"]) == 0
    legend = json.loads((out / "ïmage 0.legend.json").read_text(encoding="utf-8"))
    assert "café table" in json.dumps(legend, ensure_ascii=False)


# --- Apple's MPS ---------------------------------------------------------------------------------------


def test_mps_is_an_explicit_choice_where_pytorch_reports_it(monkeypatch) -> None:
    auto = "cuda" if torch.cuda.is_available() else "cpu"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("mps") == torch.device("mps")
    assert init_distributed("mps").device == torch.device("mps")
    assert resolve_device("auto").type == auto  # auto never picks MPS
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    for choose in (resolve_device, init_distributed):
        with pytest.raises(RuntimeError, match=r"device='mps' .* no Apple GPU \(MPS\).*use 'auto' or 'cpu'"):
            choose("mps")


# --- without make --------------------------------------------------------------------------------------

VENV_PYTHON = ".venv\\Scripts\\python"


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### Without `make`", 1)[1]
    block = re.search(r"```bat\n(.*?)```", section, re.DOTALL)
    assert block, "README: no ```bat block under 'Without `make`'"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def _makefile_installs() -> list[str]:
    """The Makefile's default install (its pip lines, ``--quiet`` dropped), ``PY`` for the venv's Python."""
    recipe = (ROOT / "Makefile").read_text(encoding="utf-8").split("$(STAMP): ", 1)[1].split("\n\n", 1)[0]
    lines = [line.strip() for line in recipe.splitlines() if "-m pip install" in line]
    default = [line for line in lines if "TORCH_CPU_INDEX" not in line and "requirements-cpu" not in line]
    return [line.replace("$(PY)", "PY").replace(" --quiet", "") for line in default]


def _argv(line: str) -> list[str]:
    assert line.startswith(VENV_PYTHON + " "), line
    return [sys.executable, *line[len(VENV_PYTHON) + 1 :].split()]


def test_the_readme_commands_without_make_are_makes_and_run(tmp_path: Path) -> None:
    commands = _readme_commands()
    venv, *installs, run, test = commands
    assert re.fullmatch(r"py -3\.1[123] -m venv \.venv", venv), venv
    assert [line.replace(VENV_PYTHON, "PY") for line in installs] == _makefile_installs()
    made = _run([sys.executable, *venv.split()[2:], "--without-pip"], cwd=tmp_path, timeout=120)
    assert made.returncode == 0 and (tmp_path / ".venv" / "pyvenv.cfg").is_file(), made.stderr
    # `make run`, restricted to notebook 00 into a scratch folder
    out = tmp_path / "notebooks out"
    env = {**os.environ, "SPTSEG_RUNS": str(tmp_path / "runs")}
    ran = subprocess.run(
        [*_argv(run), "--only", "00", "--no-site", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
    assert (out / "00_overview.ipynb").is_file()
    # `make test`, restricted to one quick test
    selected = "tests/test_lock.py::test_the_lock_is_a_universal_resolution_with_markers"
    tested = subprocess.run(
        [*_argv(test), selected, "--", "-p", "no:cacheprovider"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert tested.returncode == 0, tested.stdout[-2000:]
    assert re.search(r"\b1 passed\b", tested.stdout), tested.stdout[-2000:]
