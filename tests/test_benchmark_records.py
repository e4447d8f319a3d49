"""A seeded run of the miniature benchmarks (:func:`sptseg_lib.study.run_one`) is kept in a record folder
and skipped next time; a record of another configuration (another ``--set`` recipe) is refused, never
silently reused."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from sptseg_lib.study import Recipe, config_key, run_one


def _recipe(record: Path, changes: tuple[str, ...]) -> Recipe:
    return Recipe(iterations=1500, changes=changes, split="val", record=record, threads=1)


def test_recorded_runs_are_reused_only_for_their_own_configuration(tmp_path: Path) -> None:
    recipe = ("model.gate_init=first_batch",)
    exp = _recipe(tmp_path, recipe).experiment("shapes-sgd", 2)
    assert exp.model.gate_init == "first_batch" and exp.train.seed == 2 and exp.train.iterations == 1500
    record = tmp_path / "shapes-sgd" / "seed2.json"
    record.parent.mkdir()
    recorded = {"hIoU": 50.0, "set": list(recipe), "config": json.loads(config_key(exp))}
    record.write_text(json.dumps(recorded))
    deadline = time.time() - 1  # no run may start: a reused record needs none
    out = tmp_path / "out"
    assert run_one("shapes-sgd", 2, _recipe(tmp_path, recipe), out, deadline) == (recorded, False)
    with pytest.raises(SystemExit, match="another configuration"):  # the reference's gate: another recipe
        run_one("shapes-sgd", 2, _recipe(tmp_path, ("model.gate_init=randn",)), out, deadline)
    assert run_one("shapes-sgd", 2, _recipe(tmp_path, ()), out, deadline) == (
        recorded,
        False,
    )  # the presets carry gate_init=first_batch: the same configuration
    assert run_one("shapes-sgd", 3, _recipe(tmp_path, recipe), out, deadline) == (None, False)
