"""``benchmarks/spt_study.py``: the arms are the pre-registered ones, each side changes only what its arm
says, the rule for more seeds, and the paired summary of recorded runs (checked by hand)."""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
from pathlib import Path

import pytest
import scipy.stats
from benchmark_scripts import benchmark_script

from sptseg_lib.clip_loading import FABRICS_CLIP_WEIGHTS, STRIPES_CLIP_WEIGHTS

study = benchmark_script("spt_study")


def _experiment(side, seed: int = 0):
    return side.recipe(1).experiment(side.preset, seed)


def test_the_arms_change_only_what_they_say() -> None:
    names = [a.name for a in study.ARMS]
    assert names == [
        "default_world",
        "zero_init_filter",
        "per_layer_filter",
        "grid_16x16",
        "long_schedule",
        "later_blocks",
        "spectral_world",
        "fabric_world",
    ]
    for a in study.ARMS:
        for side in (s for pair in a.comparisons for s in pair):
            exp = _experiment(side, seed=3)
            assert exp.model.gate_init == "first_batch" and exp.train.seed == 3  # the tables' recipe
    sgd = _experiment(study.SGD).model
    zero = _experiment(study.arm("zero_init_filter").comparisons[0][0]).model
    assert (
        zero.spt
        and zero.spt_filter_init_std == 0.0
        and zero.replace(spt=False, spt_filter_init_std=0.02) == sgd
    )
    per_layer = _experiment(study.arm("per_layer_filter").comparisons[0][0]).model
    assert per_layer.spt_layers == (0, 1) and not per_layer.spt_shared_filter
    treated, control = (_experiment(s) for s in study.arm("grid_16x16").comparisons[0])
    for exp in (treated, control):
        assert exp.model.image_size == exp.data.crop_size == exp.data.test_stride == 128
    assert treated.model.spt and not control.model.spt and treated.model.replace(spt=False) == control.model
    long_t, long_c = (_experiment(s) for s in study.arm("long_schedule").comparisons[0])
    assert long_t.train.iterations == long_c.train.iterations == 4500
    assert long_t.train.warmup_iters == 3 * _experiment(study.SPTSEG).train.warmup_iters
    later_t, later_c = (_experiment(s) for s in study.arm("later_blocks").comparisons[0])
    assert later_c == _experiment(study.SGD)
    assert later_t == _experiment(study.Side("t", "shapes-sptseg-depth6-12", from_tables=True))
    assert later_t.model.spt_layers != _experiment(study.SPTSEG).model.spt_layers
    for name, world, weights in (
        ("spectral_world", "stripes", STRIPES_CLIP_WEIGHTS),
        ("fabric_world", "fabrics", FABRICS_CLIP_WEIGHTS),
    ):
        world_t, world_c = (_experiment(s) for s in study.arm(name).comparisons[0])
        for exp, shapes in ((world_t, study.SPTSEG), (world_c, study.SGD)):
            reference = _experiment(shapes)
            assert exp.data == dataclasses.replace(reference.data, dataset=world)  # the world alone differs
            assert exp.model.pretrained == weights
            assert exp.model.replace(pretrained=reference.model.pretrained) == reference.model
            assert exp.train == reference.train
    stripes = study.arm("spectral_world")
    assert "0.44" in stripes.rule_failed and all(not a.rule_failed for a in study.ARMS if a is not stripes)
    assert not any(a.not_run for a in study.ARMS)  # the stripes world runs all the same, and says so:
    assert (
        stripes.outside_rule.startswith(stripes.rule_failed)
        and stripes.run_despite_rule in stripes.outside_rule
    )
    assert not any(a.outside_rule for a in study.ARMS if a is not stripes)
    with pytest.raises(SystemExit, match="default_world"):
        study.arm("nope")


def test_an_arm_with_a_world_of_its_own_waits_for_its_clip_then_obeys_its_rule(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(study, "ROOT", tmp_path)
    monkeypatch.setattr(study, "STUDY_RECORD", tmp_path / "study")
    a = study.arm("fabric_world")
    assert a.waiting and not a.not_run and study.pending([a]) == []  # no CLIP yet: waits, not stopped
    record = tmp_path / "data" / a.clip / "pretraining.json"
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"zero_shot": {"unseen": 0.5}}))
    assert not a.waiting and not a.not_run and len(study.pending([a])) == 10  # at the bar: 5 seeds x 2 sides
    record.write_text(json.dumps({"zero_shot": {"unseen": 0.49}}))
    assert not a.waiting and "0.49" in a.not_run and study.pending([a]) == []
    assert study.summary([a])["arms"]["fabric_world"]["not_run"] == a.not_run
    assert not a.outside_rule  # stopped, not run outside its rule
    forced = dataclasses.replace(a, run_despite_rule="asked for")
    assert not forced.not_run and len(study.pending([forced])) == 10
    assert forced.outside_rule == f"{a.not_run}; run all the same: asked for"
    assert study.summary([forced])["arms"]["fabric_world"]["outside_rule"] == forced.outside_rule
    for seed in range(5):
        for side in forced.comparisons[0]:
            _record(
                study.STUDY_RECORD / side.key, side, seed, 50.0 + seed * (side.key.startswith("sptseg")), 40.0
            )
    assert "| fabric_world (outside its rule) |" in study.markdown(study.summary([forced]))


def test_more_seeds_only_when_an_interval_is_wider_than_five() -> None:
    def entry(low: float, high: float) -> dict:
        return {"hIoU": {"ci95": [low, high]}}

    assert not study.needs_more_seeds([entry(-4.9, 4.9), entry(1.0, 10.0)])
    assert study.needs_more_seeds([entry(-4.9, 4.9), entry(0.0, 10.2)])
    assert study.needs_more_seeds([entry(math.nan, math.nan)])


def _record(root: Path, side, seed: int, hiou: float, unseen: float) -> None:
    path = root / side.preset / f"seed{seed}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pAcc": 90.0, "mIoU_seen": 60.0, "mIoU_unseen": unseen, "hIoU": hiou}))


def test_summary_pairs_recorded_seeds_and_asks_for_more_when_the_rule_says(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(study, "TABLES_RECORD", tmp_path / "tables")
    monkeypatch.setattr(study, "STUDY_RECORD", tmp_path / "study")
    a = study.arm("zero_init_filter")
    treatment, control = a.comparisons[0]
    assert len(study.pending([a])) == 10  # 5 seeds x 2 sides
    treated = [55.0, 57.0, 52.0, 58.0, 54.0]
    controls = [54.0, 55.0, 53.0, 55.0, 54.0]
    for seed, (t, c) in enumerate(zip(treated, controls)):
        _record(study.STUDY_RECORD / treatment.key, treatment, seed, t, t - 8)
        _record(study.TABLES_RECORD, control, seed, c, c - 8)
        if seed == 2:  # 3 of 5 seeds: an interval (wide, over 2 degrees of freedom), no verdict yet
            partial = study.summary([a])["arms"]["zero_init_filter"]
            assert not partial["complete"] and partial["comparisons"][0]["seeds"] == [0, 1, 2]
            assert (
                partial["verdict"]
                == partial["comparisons"][0]["mIoU_unseen"]["verdict"]
                == "none yet (3 of 5 seeds)"
            )
            assert "none yet (3 of 5 seeds)" in study.markdown(study.summary([a]))
    diffs = [t - c for t, c in zip(treated, controls)]
    half = scipy.stats.t.ppf(0.975, 4) * statistics.stdev(diffs) / math.sqrt(5)
    assert half < 5 and study.arm_seeds(a) == [0, 1, 2, 3, 4] and study.pending([a]) == []
    result = study.summary([a])["arms"]["zero_init_filter"]
    (c,) = result["comparisons"]
    assert result["complete"] and c["seeds"] == [0, 1, 2, 3, 4]
    assert c["hIoU"]["ci95"] == pytest.approx(
        [statistics.fmean(diffs) - half, statistics.fmean(diffs) + half]
    )
    assert c["treatment_summary"]["hIoU"]["std"] == pytest.approx(statistics.stdev(treated))
    assert result["verdict"] == c["verdict"] == "no detectable difference"
    assert "zero_init_filter" in study.markdown(study.summary([a]))
    # a wide interval after 5 seeds: 5 more seeds for both sides, whichever the sign
    _record(study.STUDY_RECORD / treatment.key, treatment, 4, 20.0, 12.0)
    assert study.arm_seeds(a) == list(range(10))
    assert sorted(k for _, k in study.pending([a])) == sorted(2 * list(range(5, 10)))
    assert not study.summary([a])["arms"]["zero_init_filter"]["complete"]


def test_later_blocks_takes_fresh_seeds_and_records_apart_from_the_tables(tmp_path, monkeypatch) -> None:
    """The arm suggested by the tables' seeds 0-4 runs on seeds 5-9 (10-14 by the rule), never on those."""
    monkeypatch.setattr(study, "TABLES_RECORD", tmp_path / "tables")
    monkeypatch.setattr(study, "STUDY_RECORD", tmp_path / "study")
    a = study.arm("later_blocks")
    treatment, control = a.comparisons[0]
    assert not treatment.from_tables and not control.from_tables
    assert study.arm_seeds(a) == [5, 6, 7, 8, 9]
    assert sorted(k for _, k in study.pending([a])) == sorted(2 * [5, 6, 7, 8, 9])
    for seed, t in zip(range(5, 10), [40.0, 60.0, 45.0, 65.0, 50.0]):  # a wide interval
        _record(study.STUDY_RECORD / treatment.key, treatment, seed, t, t - 8)
        _record(study.STUDY_RECORD / control.key, control, seed, 52.0, 44.0)
    assert study.arm_seeds(a) == list(range(5, 15))
    assert study.summary([a])["arms"]["later_blocks"]["comparisons"][0]["seeds"] == [5, 6, 7, 8, 9]


def test_a_quick_rerun_scales_every_schedule_and_records_apart(tmp_path) -> None:
    arms = [study.arm("default_world"), study.arm("long_schedule"), study.arm("later_blocks")]
    quick = study.quick_arms(arms, 100, tmp_path, seeds=2)
    sides = [s for a in quick for pair in a.comparisons for s in pair]
    assert [s.iterations for s in sides] == [100, 100, 100, 100, 300, 300, 100, 100]
    assert all(s.record == tmp_path / s.key and not s.from_tables for s in sides)
    assert study.pending(quick) == [(s, k) for k in (0, 1) for s in sides[:6]] + [
        (s, k) for k in (5, 6) for s in sides[6:]
    ]
    for bad in (["--quick", "10"], ["--out", str(tmp_path)], ["--seeds", "2"]):
        with pytest.raises(SystemExit):
            study.main(bad)  # the study's own records take only the pre-registered runs


@pytest.mark.slow
def test_notebook_10_reruns_an_arm_on_request(tmp_path, monkeypatch) -> None:
    """``rerun="<arm>"``: the notebook runs the study script's quick mode into its own folder and shows it."""
    from sptseg_lib.tools import run_notebooks

    monkeypatch.setenv("SPTSEG_RUNS", str(tmp_path / "runs"))  # the kernel inherits it
    notebook = Path(__file__).resolve().parents[1] / "notebooks" / "10_when_does_spt_help.ipynb"
    parameters = {"rerun": "zero_init_filter", "rerun_iterations": 2, "rerun_seeds": 1}
    [result] = run_notebooks.run_all([notebook], tmp_path / "out", parameters)
    assert result.ok, f"code cell {result.failed_cell} failed: {result.error}"
    folder = tmp_path / "runs" / "notebooks" / "10_when_does_spt_help" / "rerun_zero_init_filter"
    quick = json.loads((folder / "spt_study.json").read_text())
    assert quick["iterations"] == [2] and list(quick["arms"]) == ["zero_init_filter"]
    assert quick["arms"]["zero_init_filter"]["comparisons"][0]["seeds"] == [0]
    assert "QUICK RERUN of zero_init_filter" in result.output.read_text()


def test_the_shipped_study_is_what_its_records_give_and_every_arm_that_runs_is_complete() -> None:
    """``data/miniature/spt_study.json`` is rewritten from the shipped records (nothing edited by hand), and
    every arm but the one its own rule stopped holds its 5 paired seeds with intervals and verdicts."""
    shipped = json.loads(study.STUDY_JSON.read_text())
    assert shipped == json.loads(json.dumps(study.summary(list(study.ARMS))))
    assert study.STUDY_JSON.with_suffix(".md").read_text() == study.markdown(shipped)
    assert study.pending(list(study.ARMS)) == []
    for name, a in shipped["arms"].items():
        if a["not_run"]:
            assert name == "spectral_world" and not a["comparisons"]
            continue
        assert a["complete"] and len(a["seeds"]) == 5, name
        for c in a["comparisons"]:
            assert c["verdict"] in ("helps", "hurts", "no detectable difference"), name
            assert len(c["hIoU"]["differences"]) == 5 and c["hIoU"]["ci95"][0] < c["hIoU"]["mean"], name
