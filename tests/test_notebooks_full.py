"""Notebooks 00-10 in the full profile, on a CPU: the path a GPU user takes, exercised on every change.

Each notebook runs as ``make run`` runs it (papermill, :mod:`sptseg_lib.tools.run_notebooks`) with
``profile="full"``: CLIP ViT-B/16 on 512-px crops (a 32 x 32 token grid), the VOC presets, but with
random weights (``clip="random"``: the OpenAI weights are not on the build machines), on a VOC 2012 + SBD
layout generated here (:mod:`voc_fixture`, prepared by ``prepare_voc`` into the ``train_aug`` split: five
training images, one 375 x 500 val image, scored with two sliding 512-px windows) and for a tiny budget:
one iteration of batch 1, one test image, Table 4 only in notebook 08. The notebooks share one runs folder
and run in the order of :data:`ORDER`: 05, 06 (which trains the run), then 00-04 and 07-10, of which 01-04,
07 and 09 load the run 06 trained (the same parameters name the same run folder; checked) instead of
training again. The numbers mean nothing; that each notebook runs to its end, with its checks, is the test.
About six minutes on a busy 2-core CPU (00-04: two and a half of them).

The same runs by hand, with a data root of your own (``DIR`` holding ``VOCdevkit/``): 06 first, since the
runner takes the notebooks in number order and 01-03 refuse to run without a trained run::

    P="{profile: full, clip: random, device: cpu, dataset: voc, data_root: DIR, iterations: 1, \\
        batch_size: 1, eval_images: 1, tables: '4'}"
    python -m sptseg_lib.tools.run_notebooks --only 05 06 -y "$P"
    python -m sptseg_lib.tools.run_notebooks --only 00 01 02 03 04 07 08 09 -y "$P"
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from voc_fixture import VOC_VAL, write_voc_layout

from sptseg_lib import notebook_env, runs
from sptseg_lib.data.prepare import prepare_voc
from sptseg_lib.tools import run_notebooks

ROOT = Path(__file__).resolve().parent.parent
ORDER = ("05", "06", "00", "01", "02", "03", "04", "07", "08", "09", "10")
"""06 trains the run that 01-04, 07 and 09 load."""
LOADERS = ("01", "02", "03", "04", "07", "09")
"""The notebooks that must load 06's run rather than train one of their own."""
NOTEBOOKS = sorted(
    run_notebooks.find_notebooks(ROOT / "notebooks", ORDER), key=lambda p: ORDER.index(p.name[:2])
)
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


def _printed(notebook: Path) -> str:
    """Everything an executed notebook printed."""
    cells = json.loads(notebook.read_text())["cells"]
    return "".join(
        "".join(o.get("text", "")) for c in cells if c["cell_type"] == "code" for o in c["outputs"]
    )


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_the_full_profile(path: Path, full_setting) -> None:
    parameters, out = full_setting
    [result] = run_notebooks.run_all([path], out, parameters)
    assert result.ok, f"{path.name}, full profile: code cell {result.failed_cell} failed: {result.error}"
    if path.name[:2] in LOADERS:  # 06's run, loaded: its folder named, trained once
        overrides = notebook_env.run_overrides(parameters["clip"], parameters["batch_size"])
        run = runs.training_run(
            "full", "voc", "", parameters["iterations"], parameters["data_root"], overrides
        )
        assert f"found {runs.shown_path(run.final)}: loading it" in _printed(result.output), path.name
        starts = [r for r in runs.read_log(run.run_dir) if r.get("event") == "start"]
        assert len(starts) == 1, f"{path.name}: {run.run_dir} was trained {len(starts)} times"
