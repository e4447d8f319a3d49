"""Notebooks 05-09 in the full profile, on a CPU: the path a GPU user takes, exercised on every change.

Each notebook runs as ``make run`` runs it (papermill, :mod:`sptseg_lib.tools.run_notebooks`) with
``profile="full"``: CLIP ViT-B/16 on 512-px crops (a 32 x 32 token grid), the VOC presets, but with
random weights (``clip="random"``: the OpenAI weights are not on the build machines), on a VOC 2012 + SBD
layout generated here (:mod:`voc_fixture`, prepared by ``prepare_voc`` into the ``train_aug`` split: five
training images, one 375 x 500 val image, scored with two sliding 512-px windows) and for a tiny budget:
one iteration of batch 1, one test image, Table 4 only in notebook 08. The notebooks share one runs folder,
in this order, so 07 and 09 load the run 06 trained. The numbers mean nothing; that each notebook runs to
its end, with its checks, is the test. About three minutes on a 2-core CPU.

The same runs by hand, with a data root of your own (``DIR`` holding ``VOCdevkit/``)::

    python -m sptseg_lib.tools.run_notebooks --only 05 06 07 08 09 \\
        -y "{profile: full, clip: random, device: cpu, dataset: voc, data_root: DIR, iterations: 1, \\
            batch_size: 1, eval_images: 1, tables: '4'}"
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from voc_fixture import VOC_VAL, write_voc_layout

from sptseg_lib import notebook_env, runs
from sptseg_lib.data.prepare import prepare_voc
from sptseg_lib.tools import run_notebooks

ROOT = Path(__file__).resolve().parent.parent
NUMBERS = ("05", "06", "07", "08", "09")
NOTEBOOKS = run_notebooks.find_notebooks(ROOT / "notebooks", NUMBERS)
TINY_FULL = {
    "profile": "full",
    "clip": "random",
    "device": "cpu",
    "threads": 1,
    "dataset": "voc",
    "iterations": 1,
    "batch_size": 1,
    "eval_images": len(VOC_VAL),
    "tables": "4",
}
"""The parameters every notebook gets (each uses those of its parameters cell), ``data_root`` aside."""


@pytest.fixture(scope="module")
def full_setting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], Path]]:
    """(the notebooks' parameters, the folder of their executed copies); a runs folder of their own."""
    base = tmp_path_factory.mktemp("full_profile")
    data_root, _voc, sbd = write_voc_layout(base)
    prepare_voc(data_root, sbd, strict=False, progress=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SPTSEG_RUNS", str(base / "runs"))  # the kernels inherit it
        patch.delenv("SPTSEG_DATA", raising=False)
        yield {**TINY_FULL, "data_root": str(data_root)}, base / "runs" / "notebooks"


def test_random_weights_reach_the_run_and_are_said_plainly(tmp_path, monkeypatch) -> None:
    """``clip="random"`` and ``batch_size`` become config overrides, a run of their own, and a plain note;
    in the notebooks that load a CLIP themselves, the full profile's random CLIP is ViT-B/16."""
    monkeypatch.setenv("SPTSEG_RUNS", str(tmp_path))
    assert notebook_env.run_overrides() == {}
    overrides = notebook_env.run_overrides("random", batch_size=2)
    assert overrides == {"model.pretrained": None, "train.batch_size": 2}
    with pytest.raises(ValueError, match="clip must be one of"):
        notebook_env.run_overrides("real")
    real = runs.training_run("full", "voc", iterations=1)
    run = runs.training_run("full", "voc", iterations=1, overrides=overrides)
    assert run.experiment.model.pretrained is None and run.experiment.train.batch_size == 2
    assert run.run_dir != real.run_dir and "RANDOM" in str(run)
    assert notebook_env.weights_note(real.experiment.model) == ""
    assert notebook_env.weights_note(run.experiment.model).startswith("RANDOM WEIGHTS: the CLIP (ViT-B-16)")
    env = notebook_env.setup("full", "cpu", clip="random", notebook="t")
    assert env.clip_name == "ViT-B-16" and env.grid == (32, 32) and "RANDOM WEIGHTS" in env.clip_description


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_the_full_profile(path: Path, full_setting) -> None:
    parameters, out = full_setting
    [result] = run_notebooks.run_all([path], out, parameters)
    assert result.ok, f"{path.name}, full profile: code cell {result.failed_cell} failed: {result.error}"
