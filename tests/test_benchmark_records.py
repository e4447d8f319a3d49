"""``benchmarks/miniature_tables.py`` keeps each finished run in a record folder and skips it next time; a
record of another configuration (another ``--set`` recipe) is refused, never silently reused."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import pytest
from benchmark_scripts import benchmark_script

ROOT = Path(__file__).resolve().parents[1]


def _tables_module():
    spec = importlib.util.spec_from_file_location(
        "miniature_tables", ROOT / "benchmarks" / "miniature_tables.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _options(record: Path, changes: list[str]) -> dict:
    return dict(iterations=1500, set=changes, split="val", record=str(record), threads=1)


def test_recorded_runs_are_reused_only_for_their_own_configuration(tmp_path: Path) -> None:
    tables = benchmark_script("miniature_tables")
    recipe = ["model.gate_init=first_batch"]
    exp = tables.run_experiment("shapes-sgd", tables.argparse.Namespace(**_options(tmp_path, recipe)), 2)
    assert exp.model.gate_init == "first_batch" and exp.train.seed == 2 and exp.train.iterations == 1500
    record = tmp_path / "shapes-sgd" / "seed2.json"
    record.parent.mkdir()
    recorded = {"hIoU": 50.0, "set": recipe, "config": json.loads(tables.config_key(exp))}
    record.write_text(json.dumps(recorded))
    deadline = time.time() - 1  # no run may start: a reused record needs none
    res, trained = tables.run_one(
        "shapes-sgd", 2, _options(tmp_path, recipe), str(tmp_path / "out"), deadline
    )
    assert (res, trained) == (recorded, False)
    with pytest.raises(SystemExit, match="another configuration"):  # the reference's gate: another recipe
        tables.run_one(
            "shapes-sgd", 2, _options(tmp_path, ["model.gate_init=randn"]), str(tmp_path / "out"), deadline
        )
    assert tables.run_one("shapes-sgd", 2, _options(tmp_path, []), str(tmp_path / "out"), deadline) == (
        recorded,
        False,
    )  # the presets carry gate_init=first_batch: the same configuration
    assert tables.run_one("shapes-sgd", 3, _options(tmp_path, recipe), str(tmp_path / "out"), deadline) == (
        None,
        False,
    )
