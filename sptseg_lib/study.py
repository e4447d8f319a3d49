"""The miniature study: the rows of the miniature Tables 1-4, and one seeded run trained, scored, recorded.

``benchmarks/miniature_tables.py`` (the paper's Tables 1-4 on the shapes world), ``benchmarks/spt_study.py``
(the pre-registered study of when spectral prompts help) and ``benchmarks/gate_open_share.py`` share what
is here:

* :func:`miniature_tables`: each table's title and ``(label, preset)`` rows, from
  :mod:`sptseg_lib.ablations` (Table 3's labels with the tiny ViT's blocks);
* :class:`Recipe`: what every run of a table (or of one side of the study) shares: its length, its
  ``--set`` changes, the split it is scored on, where its result is recorded, its torch threads;
* :func:`run_one`: one ``(preset, seed)`` run of a recipe: trained (resuming an interrupted one), scored on
  the world's 200 fixed scenes of the split by the preset's protocol with whole-image inference (the
  seen-class penalty in the inductive setting), and its result recorded as JSON; a recorded result is
  read back instead of training again, and one recorded for another configuration is refused.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from . import ablations
from .config import TINY_CLIP_DEPTH, ExperimentConfig, experiment_preset
from .data.shapes import ShapesDataset, get_world
from .evaluate import evaluate
from .inference import Predictor
from .train import Trainer

METRICS = ("pAcc", "mIoU_seen", "mIoU_unseen", "hIoU")
"""The metrics a run records and the tables report (besides the per-class IoU)."""
TINY_NOTES = {"table3": f" mapped onto tiny ViT blocks (of {TINY_CLIP_DEPTH}, 0-based)"}
"""What a miniature table's title adds to the paper's (:data:`sptseg_lib.ablations.TABLES`)."""

TableRows = dict[str, tuple[str, list[tuple[str, str]]]]
"""Table key (``"table1"``) -> ``(title, [(label, preset), ...])``."""


def miniature_label(table: str, label: str, preset: str) -> str:
    """The paper's row label (:func:`sptseg_lib.ablations.row_label`: Table 3 with the tiny blocks), marked
    ``default`` in Tables 3-4 where the row is SPT-SEG itself, and ``fully supervised`` where it is."""
    shown = ablations.row_label(table, label, preset)
    exp = experiment_preset(preset)
    notes = []
    if table in ("table3", "table4") and exp.model == experiment_preset("shapes-sptseg").model:
        notes.append("default")
    if exp.train.setting == "fully":
        notes.append("fully supervised")
    if not notes:
        return shown
    if shown != label:  # "layers 1-2 (tiny block 0)" -> "layers 1-2 (tiny block 0, default)"
        return f"{shown[:-1]}, {', '.join(notes)})"
    return f"{shown} ({', '.join(notes)})"


def miniature_tables() -> tuple[TableRows, list[tuple[str, str]]]:
    """``(tables, fully_rows)``: each table's title and ``(label, preset)`` rows for the shapes world, from
    :mod:`sptseg_lib.ablations`; Table 1 starts with the training-free rows (``baseline:<kind>``), and
    ``fully_rows`` are Table 1's fully supervised rows."""
    tables = {}
    for key, table in ablations.TABLES.items():
        title = f"Table {table.number} (miniature, shapes world): {table.subject}{TINY_NOTES.get(key, '')}"
        rows = [(miniature_label(key, label, p), p) for label, p in ablations.table_rows(key, "shapes")]
        if key == "table1":
            rows = [(label, f"baseline:{kind}") for label, kind in ablations.TRAINING_FREE_ROWS] + rows
        tables[key] = (title, rows)
    inductive = ablations.table_rows("table1", "shapes")
    fully = ablations.table_rows("table1", "shapes", fully=True)[len(inductive) :]
    return tables, [(miniature_label("table1", label, p), p) for label, p in fully]


@dataclass(frozen=True)
class Recipe:
    """What the runs of a miniature table (or of one side of the SPT study) share.

    Attributes:
        iterations: training iterations of each run (the preset's warm-up scaled with them).
        changes: ``--set`` assignments applied to every preset (``"model.gate_init=first_batch"``).
        split: the shapes world's scenes a run is scored on: ``"test"`` (the tables') or ``"val"``.
        record: where each run's result goes (``<record>/<preset>/seed<k>.json``); ``None``: beside its
            checkpoints (``<out>/<preset>/seed<k>/result.json``).
        threads: torch CPU threads of a run.
    """

    iterations: int
    changes: tuple[str, ...] = ()
    split: str = "test"
    record: Path | None = None
    threads: int = 1

    def experiment(self, preset: str, seed: int) -> ExperimentConfig:
        """``preset`` with this recipe: shortened to :attr:`iterations` (warm-up scaled), ``seed``, and the
        :attr:`changes`."""
        exp = experiment_preset(preset).shortened(self.iterations)
        return exp.with_overrides([*self.changes, f"train.seed={seed}"])


def config_key(exp: ExperimentConfig) -> str:
    """Runs whose model and training recipe agree are the same run, whatever the preset is called."""
    d = exp.to_dict()
    return json.dumps({"model": d["model"], "train": d["train"]}, sort_keys=True)


def run_one(
    preset: str, seed: int, recipe: Recipe, out: str | Path, deadline: float
) -> tuple[dict[str, Any] | None, bool]:
    """One ``(preset, seed)`` run of ``recipe`` (in a worker process of a benchmark): ``(result, trained)``.

    The run trains in ``<out>/<preset>/seed<seed>/`` (continuing an interrupted one) on the CPU, is scored
    on the 200 fixed scenes of :attr:`Recipe.split` of its world (:meth:`Predictor.for_protocol
    <sptseg_lib.inference.Predictor.for_protocol>` with whole-image inference) and its result is recorded
    (:attr:`Recipe.record`). A result recorded earlier is returned instead (``trained`` False); one
    recorded for another configuration stops the benchmark. No run starts after ``deadline``
    (``time.time()``): ``(None, False)``.
    """
    run_dir = Path(out) / preset / f"seed{seed}"
    result_file = recipe.record / preset / f"seed{seed}.json" if recipe.record else run_dir / "result.json"
    exp = recipe.experiment(preset, seed)
    if result_file.is_file():
        recorded = json.loads(result_file.read_text(encoding="utf-8"))
        if "config" in recorded and recorded["config"] != json.loads(config_key(exp)):
            raise SystemExit(
                f"{result_file} records a run of another configuration than {preset} seed {seed} with "
                f"--set {list(recipe.changes)}: record runs of another recipe in another --record folder"
            )
        return recorded, False
    if time.time() > deadline:
        return None, False
    torch.set_num_threads(recipe.threads)
    start = time.perf_counter()
    trainer = Trainer(exp, run_dir, device="cpu", progress=False, resume="auto")
    record = trainer.fit()
    train_s = time.perf_counter() - start
    world = get_world(exp.data.dataset)
    scenes = ShapesDataset(recipe.split, size=exp.data.crop_size, world=world)
    predictor = Predictor.for_protocol(trainer.model, exp, world.split, mode="whole")
    result = evaluate(predictor, scenes, world.split, progress=False)
    res = {
        "experiment": exp.name,
        "seed": exp.train.seed,
        "iterations": exp.train.iterations,
        "train_seconds": round(train_s, 1),
        "eval_seconds": round(time.perf_counter() - start - train_s, 1),
        "final_loss": record.get("loss"),
        "set": list(recipe.changes),
        "config": json.loads(config_key(exp)),
        **{m: result[m] for m in METRICS},
        "IoU": dict(zip(world.class_names, result["IoU"])),
    }
    result_file.parent.mkdir(parents=True, exist_ok=True)
    result_file.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    return res, True


__all__ = [
    "METRICS",
    "TINY_NOTES",
    "Recipe",
    "TableRows",
    "config_key",
    "miniature_label",
    "miniature_tables",
    "run_one",
]
