"""The runs folder and its environment variable, run naming, the shipped runs, checkpoint search, and
"load if it exists, else train" (:mod:`sptseg_lib.runs`)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sptseg_lib import runs
from sptseg_lib.checkpoint import checkpoint_name, save_checkpoint
from sptseg_lib.config import experiment_preset

ROOT = Path(__file__).resolve().parent.parent


def test_runs_dir_ignores_the_working_directory(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SPTSEG_RUNS", "some-runs")
    assert runs.runs_dir("x", create=False) == ROOT / "some-runs" / "x"
    monkeypatch.delenv("SPTSEG_RUNS")
    assert runs.runs_dir(create=False) == ROOT / "runs"
    monkeypatch.setenv("SPTSEG_RUNS", str(tmp_path / "abs"))
    assert runs.runs_dir("a", "b") == tmp_path / "abs" / "a" / "b" and (tmp_path / "abs/a/b").is_dir()


def test_find_spectral_filter_reads_a_checkpoint(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SPTSEG_RUNS", str(tmp_path))
    monkeypatch.setattr(runs, "SHIPPED_RUNS", tmp_path / "no-shipped-runs")
    assert runs.find_spectral_filter() is None
    weight = torch.randn(4, 3, 8, 2)
    save_checkpoint(
        tmp_path / "run" / "iter_000010.pt", {"model": {"encoder.spectral.filters.shared": weight}}
    )
    found, path = runs.find_spectral_filter()
    assert path.name == "iter_000010.pt"
    torch.testing.assert_close(found, torch.view_as_complex(weight))


def test_find_spectral_filter_falls_back_to_the_shipped_run(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SPTSEG_RUNS", str(tmp_path))
    found, path = runs.find_spectral_filter()
    assert path.parent == runs.SHIPPED_RUNS / "shapes-sptseg"
    assert found.is_complex() and found.shape[-1] == 128  # (h, w//2+1, C) of the tiny CLIP's width


def _finished_run(folder: Path, experiment) -> Path:
    steps = experiment.train.iterations
    return save_checkpoint(
        folder / checkpoint_name(steps), {"experiment": experiment.to_dict(), "step": steps, "model": {}}
    )


def test_smoke_training_run_prefers_a_finished_run_of_the_same_recipe(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SPTSEG_RUNS", str(tmp_path))
    preset = experiment_preset("shapes-sptseg")
    # the shipped run is found when the user has none ...
    shipped = runs.training_run("smoke", "shapes")
    assert shipped.reused and shipped.final.parent == runs.SHIPPED_RUNS / "shapes-sptseg"
    # ... a stale run of a changed recipe is ignored even when it is longer ...
    stale = preset.with_overrides({"train.lr": 1e-3, "train.iterations": 3000})
    _finished_run(tmp_path / "miniature_tables" / "shapes-sptseg" / "seed0", stale)
    assert runs.training_run("smoke", "shapes").final == shipped.final
    # ... and the user's own run of the whole schedule wins the tie with the shipped one
    own = _finished_run(tmp_path / "shapes-sptseg", preset)
    assert runs.training_run("smoke", "shapes").final == own
    monkeypatch.setattr(runs, "SHIPPED_RUNS", tmp_path / "none")
    (tmp_path / "shapes-sptseg" / own.name).unlink()
    fresh = runs.training_run("smoke", "shapes")
    assert not fresh.reused and fresh.steps == runs.SMOKE_ITERATIONS


def test_reports_of_the_shipped_run_go_to_the_runs_folder(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SPTSEG_RUNS", str(tmp_path))
    shipped = runs.SHIPPED_RUNS / "shapes-sptseg" / "iter_001500.pt"
    assert runs.is_shipped(shipped)
    json_path, md_path = runs.report_paths(shipped, "40", shipped_to_runs=True)
    assert json_path == tmp_path / "shipped" / "shapes-sptseg" / "iter_001500.eval40.json"
    assert md_path == json_path.with_suffix(".md")
    own = tmp_path / "shapes-sptseg" / "iter_001500.pt"
    assert not runs.is_shipped(own)
    assert runs.report_paths(own, shipped_to_runs=True)[0] == own.with_name("iter_001500.eval.json")
    # the command line's reports: beside any checkpoint, or in --out; a --limit run apart from a full one
    assert runs.report_paths(shipped)[0] == shipped.with_name("iter_001500.eval.json")
    assert runs.report_paths(own, "-first2")[1] == own.with_name("iter_001500.eval-first2.md")
    assert runs.report_paths(own, out_dir=tmp_path / "r") == (
        tmp_path / "r/report.json",
        tmp_path / "r/report.md",
    )
    assert runs.report_paths(own, "-first2", out_dir=tmp_path)[0] == tmp_path / "report-first2.json"


def test_training_minutes_sums_the_segments_of_a_run(tmp_path) -> None:
    import json

    log = [
        {"time": 100.0, "event": "start", "step": 0},
        {"time": 160.0, "step": 10, "loss": 1.0},
        {"time": 220.0, "step": 20, "loss": 1.0},
        {"time": 230.0, "event": "interrupted", "step": 20},
        {"time": 5000.0, "event": "resume", "step": 20},  # the pause before it does not count
        {"time": 5120.0, "step": 30, "loss": 1.0},
    ]
    (tmp_path / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))
    assert runs.training_minutes(tmp_path) == (130.0 + 120.0) / 60
    assert runs.training_minutes(tmp_path / "missing") is None
    shipped = runs.SHIPPED_RUNS / "shapes-sptseg"
    recorded = json.loads((shipped / "run.json").read_text())["train_wall_minutes"]
    assert abs(runs.training_minutes(shipped) - recorded) < 0.01  # what ship_miniature recorded


def test_a_changed_whole_schedule_run_gets_a_folder_of_its_own(tmp_path, monkeypatch) -> None:
    """The full profile's whole schedule with random weights (``clip="random"``) must not take
    ``<runs>/voc-sptseg/``, where the preset's real run (the command line's) belongs; a data root may
    differ."""
    monkeypatch.setenv("SPTSEG_RUNS", str(tmp_path))
    real = runs.training_run("full", "voc", data_root="/data/voc")
    assert real.run_dir == tmp_path / "voc-sptseg"
    random = runs.training_run("full", "voc", overrides={"model.pretrained": None})
    assert random.run_dir.parent == tmp_path / "train" and random.run_dir.name.startswith(
        "voc-sptseg-20000it-"
    )
    assert random.steps == real.steps == 20000


def test_only_a_run_of_the_preset_up_to_its_seed_is_shipped(tmp_path) -> None:
    """``ship_miniature`` refuses a run whose recipe is not its preset's, before touching the shipped copy."""
    from sptseg_lib.tools.ship_miniature import ship_run

    changed = experiment_preset("shapes-sptseg").with_overrides(["train.seed=3", "model.gate_init=randn"])
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(changed.to_json())
    save_checkpoint(
        run / checkpoint_name(changed.train.iterations), {"experiment": changed.to_dict(), "model": {}}
    )
    dest = tmp_path / "shipped"
    (dest / "shapes-sptseg").mkdir(parents=True)
    (dest / "shapes-sptseg" / "keep.txt").write_text("the shipped run")
    with pytest.raises(
        ValueError, match=r"not the shapes-sptseg preset \(up to its seed\): model.gate_init"
    ) as err:
        ship_run(run, dest)
    assert "train.seed" not in str(err.value) and "--seed 3" in str(err.value)
    assert (dest / "shapes-sptseg" / "keep.txt").read_text() == "the shipped run"


def test_a_run_outside_the_synthetic_worlds_is_not_shipped(tmp_path) -> None:
    from sptseg_lib.tools.ship_miniature import ship_run

    voc = experiment_preset("voc-sptseg")
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(voc.to_json())
    save_checkpoint(run / checkpoint_name(voc.train.iterations), {"experiment": voc.to_dict(), "model": {}})
    with pytest.raises(
        ValueError, match=r"voc-sptseg is not a miniature run \(its data set is 'voc'.*fabrics"
    ):
        ship_run(run, tmp_path / "shipped")
