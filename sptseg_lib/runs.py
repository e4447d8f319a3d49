"""Runs: the runs folder, the runs the project ships, how runs are named, and "load if it exists, else train".

One home for where training runs live, used by the command line, the notebooks and the benchmarks:

* the runs folder is ``$SPTSEG_RUNS`` (:data:`RUNS_ENV_VAR`, read in this module only; default ``runs``). A
  relative value is taken relative to the project checkout (the folder holding ``pyproject.toml`` next to
  ``sptseg_lib/``; ``~/sptseg`` for an installed package), never to the working directory, so the command
  line, a notebook kernel and a benchmark started anywhere agree;
* a preset's whole schedule lives in ``<runs>/<preset>/`` (what ``python -m sptseg_lib train --preset``
  writes); a run shortened to ``N`` iterations (:meth:`ExperimentConfig.shortened
  <sptseg_lib.config.ExperimentConfig.shortened>`) in ``<runs>/train/<preset>-<N>it-<digest>/``, the digest
  of its config meaning that a changed preset starts a new run, never a stale one (:func:`run_folder`);
* :func:`report_paths` says where the evaluation report of a checkpoint goes (the command line's, the
  notebooks' and :func:`evaluated_run`'s alike);
* :func:`read_log` and :func:`training_minutes` read a run's ``log.jsonl``;
* finished miniature runs ship in ``data/miniature/<preset>/`` (:data:`SHIPPED_RUNS`, read-only): what the
  smoke profile of the notebooks shows when the user has no longer run of the same recipe.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .checkpoint import (
    CheckpointError,
    check_compatible,
    checkpoint_experiment,
    checkpoint_name,
    load_checkpoint,
)
from .clip_loading import PROJECT_DATA_DIR
from .config import RUNTIME_FIELDS, TABLE_FAMILIES, ExperimentConfig, config_differences, experiment_preset
from .data.factory import build_dataset
from .data.splits import get_split
from .evaluate import evaluate, write_report
from .inference import Predictor
from .model import SPTSeg
from .train import RunLog, Trainer

RUNS_ENV_VAR = "SPTSEG_RUNS"
SHIPPED_RUNS = PROJECT_DATA_DIR / "miniature"
"""Finished miniature runs the project ships (``data/miniature/<preset>/``, weights only, with their log and
evaluation), and the miniature tables (``data/miniature/tables.json``)."""
SMOKE_ITERATIONS = 40
"""Iterations a smoke-profile notebook trains when no finished run is found (batch 16): under a minute."""
DATASET_FAMILIES = {dataset: family for family, dataset in TABLE_FAMILIES.items()}
"""Data set name -> the prefix of its presets (``shapes-sptseg``, ``voc-sptseg``, ``coco-sptseg``)."""
TABLES_FILE = "tables.json"
_SCHEDULE_FIELDS = frozenset({"train.iterations", "train.warmup_iters", "train.seed", "train.schedule"})


def project_root() -> Path | None:
    """The checkout holding ``sptseg_lib/`` (a folder with ``pyproject.toml``), or ``None`` if installed."""
    root = PROJECT_DATA_DIR.parent
    return root if (root / "pyproject.toml").is_file() else None


def runs_dir(*parts: str, create: bool = True) -> Path:
    """``$SPTSEG_RUNS`` (default ``runs``) joined with ``parts``, as an absolute path (see the module
    docstring for how a relative value is resolved); created unless ``create=False``."""
    base = Path(os.environ.get(RUNS_ENV_VAR) or "runs").expanduser()
    if not base.is_absolute():
        root = project_root()
        base = (root if root is not None else Path.home() / "sptseg") / base
    path = base.joinpath(*parts)
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def shown_path(path: str | Path) -> str:
    """``path`` as the notebooks and messages print it, without the machine's own folders: relative to the
    project checkout when inside it (``data/miniature/...``, ``runs/...``), ``$SPTSEG_RUNS/...`` inside a
    runs folder set elsewhere, ``~/...`` inside the home folder, else as given. An executed notebook then
    reads the same on every machine (tests/test_course.py checks it)."""
    resolved = Path(path).expanduser().resolve()
    bases = [(project_root(), ""), (runs_dir(create=False), f"${RUNS_ENV_VAR}/"), (Path.home(), "~/")]
    for base, prefix in bases:
        if base is not None and (resolved == base.resolve() or base.resolve() in resolved.parents):
            relative = resolved.relative_to(base.resolve()).as_posix()
            return (prefix + relative).rstrip("/") if relative != "." else (prefix.rstrip("/") or ".")
    return str(path)


def family_for(profile: str, dataset: str) -> str:
    """The preset prefix of ``dataset`` (:data:`DATASET_FAMILIES`), checking it suits the notebook profile:
    the smoke profile runs on the shapes world, the full profile on the paper's data sets."""
    if dataset not in DATASET_FAMILIES:
        raise ValueError(f"dataset must be one of {sorted(DATASET_FAMILIES)}, got {dataset!r}")
    if (profile == "smoke") != (dataset == "shapes"):
        raise ValueError(
            f"profile={profile!r} with dataset={dataset!r}: the smoke profile runs on the shapes world, "
            "the full profile on the paper's data sets (dataset='voc' or 'coco_stuff')"
        )
    return DATASET_FAMILIES[dataset]


def run_folder(experiment: ExperimentConfig, preset_iterations: int) -> Path:
    """Where a run of ``experiment`` lives: ``<runs>/<name>/`` for the preset's own model and recipe at its
    whole schedule (``preset_iterations``; the data root may differ), else
    ``<runs>/train/<name>-<N>it-<digest>/`` (not created). So a changed run (random weights, another batch)
    never takes the folder where the preset's real run belongs."""
    steps = experiment.train.iterations
    if steps == preset_iterations and _is_preset_recipe(experiment):
        return runs_dir(experiment.name, create=False)
    digest = hashlib.sha1(experiment.to_json().encode()).hexdigest()[:8]
    return runs_dir("train", f"{experiment.name}-{steps}it-{digest}", create=False)


def _is_preset_recipe(experiment: ExperimentConfig) -> bool:
    """Whether ``experiment`` has the model and training recipe of the preset it is named after (``True``
    for a name that is no preset)."""
    try:
        preset = experiment_preset(experiment.name)
    except KeyError:
        return True
    return experiment.model == preset.model and experiment.train == preset.train


def is_shipped(checkpoint: str | Path) -> bool:
    """Whether ``checkpoint`` belongs to a run the project ships (:data:`SHIPPED_RUNS`): read-only."""
    return SHIPPED_RUNS.resolve() in Path(checkpoint).resolve().parents


def report_paths(
    checkpoint: str | Path, tag: str = "", *, out_dir: str | Path | None = None, shipped_to_runs: bool = False
) -> tuple[Path, Path]:
    """Where the evaluation report of ``checkpoint`` goes, as ``(JSON, Markdown)``: the one rule.

    * ``<out_dir>/report<tag>.json`` and ``.md`` when ``out_dir`` is given (a report folder of its own);
    * else ``<checkpoint stem>.eval<tag>.json`` and ``.md`` beside the checkpoint
      (``iter_020000.pt`` -> ``iter_020000.eval.json``);
    * with ``shipped_to_runs``, a run the project ships (:func:`is_shipped`, read-only) has them in
      ``<runs>/shipped/<preset>/`` instead, so that ``data/`` stays as committed (notebook 07 asks so;
      ``python -m sptseg_lib evaluate`` writes beside any checkpoint).

    ``tag`` tells evaluations of one checkpoint apart: ``"40"`` for the first 40 test images
    (``iter_020000.eval40.json``), ``"-first2"`` for a run that ``--limit`` cut short
    (``report-first2.json``).
    """
    checkpoint = Path(checkpoint)
    if out_dir is not None:
        folder, name = Path(out_dir), f"report{tag}"
    else:
        folder, name = checkpoint.parent, f"{checkpoint.stem}.eval{tag}"
        if shipped_to_runs and is_shipped(checkpoint):
            folder = runs_dir("shipped", checkpoint.parent.name)
    return folder / f"{name}.json", folder / f"{name}.md"


def _same_recipe(saved: ExperimentConfig, experiment: ExperimentConfig) -> bool:
    """Whether a saved run is ``experiment`` up to its length and seed (a stale run of a changed preset
    is not)."""
    return not config_differences(saved, experiment, ignore=RUNTIME_FIELDS | _SCHEDULE_FIELDS)


@dataclass
class TrainingRun:
    """A run to train or load: the experiment (shortened to ``steps``), its folder and final checkpoint.
    ``schedule`` is the preset's own length in words; ``reused`` says whether a finished longer run was
    picked instead of training :data:`SMOKE_ITERATIONS` fresh iterations."""

    experiment: ExperimentConfig
    schedule: str
    steps: int
    run_dir: Path
    final: Path
    reused: bool

    def __str__(self) -> str:
        e = self.experiment
        return (
            f"experiment {e.name}: {e.description}\n"
            f"CLIP: {e.model.clip_model} with weights {e.model.pretrained or 'RANDOM (none)'}\n"
            f"{self.steps} iterations of batch {e.train.batch_size} (the preset's: {self.schedule})"
            + (
                f"; a finished run was found and is used instead of {SMOKE_ITERATIONS} fresh iterations"
                if self.reused
                else ""
            )
            + f"\nrun folder: {shown_path(self.run_dir)}"
        )


def training_run(
    profile: str,
    dataset: str,
    preset: str = "",
    iterations: int = 0,
    data_root: str = "",
    overrides: Mapping[str, Any] | None = None,
) -> TrainingRun:
    """The run notebooks 01-04, 06, 07 and 09 share: ``preset`` (default ``<dataset>-sptseg``) for
    ``iterations`` (default: :data:`SMOKE_ITERATIONS` in smoke, the preset's schedule in full), in
    :func:`run_folder`;
    ``overrides`` are dotted config fields changed after that (``{"model.pretrained": None}``: see
    :func:`sptseg_lib.notebook_env.run_overrides`), part of the run's configuration and so of its folder.

    In smoke, with no ``iterations`` given, a finished longer run of the preset with the same recipe (the
    command line's, one of ``benchmarks/miniature_tables.py``, or the one the project ships) is used instead
    when one exists; the longest wins, the user's own on a tie.
    """
    experiment = experiment_preset(preset or f"{family_for(profile, dataset)}-sptseg")
    whole = experiment.train.iterations
    steps = iterations or (SMOKE_ITERATIONS if profile == "smoke" else whole)
    schedule = experiment.train.schedule
    experiment = experiment.shortened(steps)
    changes = {**(overrides or {}), **({"data.root": data_root} if data_root else {})}
    if changes:
        experiment = experiment.with_overrides(changes)
    folder = run_folder(experiment, whole)
    run = TrainingRun(experiment, schedule, steps, folder, folder / checkpoint_name(steps), False)
    if profile != "smoke" or iterations:
        return run
    candidates = [
        runs_dir(experiment.name, create=False) / checkpoint_name(whole),
        *runs_dir("miniature_tables", create=False).glob(f"{experiment.name}/seed*/iter_*.pt"),
        *(SHIPPED_RUNS / experiment.name).glob("iter_*.pt"),
    ]
    longer = []
    for path in filter(Path.is_file, candidates):
        saved = checkpoint_experiment(load_checkpoint(path), path)
        finished = int(path.stem.removeprefix("iter_")) == saved.train.iterations > steps
        if finished and _same_recipe(saved, experiment):
            longer.append((saved.train.iterations, path, saved))
    if longer:
        steps, path, saved = max(longer, key=lambda found: found[0])
        run = TrainingRun(saved, schedule, steps, path.parent, path, True)
    return run


def train_or_load(
    run: TrainingRun, device: torch.device | str, checkpoint: str = "", progress: bool = False
) -> SPTSeg:
    """The model of ``run`` (or of an explicit ``checkpoint`` file), in eval mode: loaded when its final
    checkpoint exists, trained first otherwise (an interrupted run resumes). A checkpoint of another
    configuration than the run's is refused with the differing fields named. The model's ``experiment`` and
    ``step`` say what was loaded (:meth:`~sptseg_lib.model.SPTSeg.from_checkpoint`)."""
    if checkpoint:
        print(f"using the given checkpoint {shown_path(checkpoint)}")
        return SPTSeg.from_checkpoint(checkpoint, device)
    if run.final.is_file():
        print(f"found {shown_path(run.final)}: loading it")
        check_compatible(load_checkpoint(run.final), run.experiment, path=run.final)
    else:
        print(f"no {shown_path(run.final)} yet: training it now ({run.steps} iterations)")
        Trainer(run.experiment, run.run_dir, resume="auto", device=device, progress=progress).fit()
    model = SPTSeg.from_checkpoint(run.final, device)
    print(f"model {model.experiment.name} at step {model.step}")
    return model


def evaluated_run(
    experiment: ExperimentConfig,
    preset_iterations: int,
    device: torch.device | str,
    limit: int | None = None,
) -> tuple[dict[str, Any], str]:
    """Train ``experiment`` in its :func:`run_folder` (resuming), evaluate its final checkpoint on the first
    ``limit`` test images with its protocol (:meth:`Predictor.for_protocol
    <sptseg_lib.inference.Predictor.for_protocol>`), and keep the report beside it (:func:`report_paths`);
    a report written earlier is read back instead. Returns ``(report, what was done)``."""
    folder = run_folder(experiment, preset_iterations)
    final = folder / checkpoint_name(experiment.train.iterations)
    split = get_split(experiment.data.dataset)
    test_set = build_dataset(experiment.data, "test")
    count = min(limit or len(test_set), len(test_set))
    json_path, md_path = report_paths(final, f"{count}")
    if final.is_file():
        check_compatible(load_checkpoint(final), experiment, path=final)  # the preset may have changed
    if json_path.is_file():
        return json.loads(json_path.read_text(encoding="utf-8")), "loaded"
    trainer = Trainer(experiment, folder, resume="auto", device=device, progress=False)
    how = "evaluated" if trainer.step >= experiment.train.iterations else "trained and evaluated"
    trainer.fit()
    predictor = Predictor.for_protocol(trainer.model, experiment, split, device=device)
    result = evaluate(predictor, test_set, split, progress=False, limit=count)
    step = experiment.train.iterations
    return write_report(result, split, json_path, md_path, experiment=experiment.name, step=step), how


def evaluated_presets(
    names: list[str],
    device: torch.device | str,
    *,
    iterations: int = 0,
    limit: int | None = None,
    data_root: str = "",
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """:func:`evaluated_run` for each preset, shortened to ``iterations`` when given (else its whole
    schedule), with ``overrides`` (dotted config fields, as in :func:`training_run`) applied; presets whose
    configurations agree up to their names (``shapes-sptseg`` and ``shapes-sptseg-dec3``) share one run.
    Returns preset name -> report; prints one line per run."""
    results: dict[str, dict[str, Any]] = {}
    by_recipe: dict[str, dict[str, Any]] = {}
    changes = {**(overrides or {}), **({"data.root": data_root} if data_root else {})}
    for name in names:
        preset = experiment_preset(name)
        experiment = preset.shortened(iterations or preset.train.iterations)
        if changes:
            experiment = experiment.with_overrides(changes)
        recipe = {k: v for k, v in experiment.to_dict().items() if k not in ("name", "description")}
        key = json.dumps(recipe, sort_keys=True)
        if key not in by_recipe:
            by_recipe[key], how = evaluated_run(experiment, preset.train.iterations, device, limit)
            print(f"  {name:28s} {how}: {experiment.train.iterations} iterations")
        results[name] = by_recipe[key]
    return results


def read_log(run_dir: str | Path) -> list[dict[str, Any]]:
    """The records of a run's ``log.jsonl`` (one dict per logged step or event); empty before the first
    (:meth:`sptseg_lib.train.RunLog.read`, the one reader of the log)."""
    return RunLog(run_dir).read()


def training_minutes(run_dir: str | Path) -> float | None:
    """Wall-clock minutes a run spent training, read from its ``log.jsonl`` (:func:`read_log`).

    Each segment of the run (from a ``start`` or ``resume`` record to the last record before the next
    one) counts the time between its first and last records; the segments are summed, so the pause of an
    interrupted run does not count. ``None`` when the log is missing or carries no times.
    """
    total, begin, last = 0.0, None, None
    for record in read_log(run_dir):
        if "time" not in record:
            continue
        if record.get("event") in ("start", "resume"):
            if begin is not None:
                total += last - begin
            begin = record["time"]
        elif begin is None:
            begin = record["time"]
        last = record["time"]
    if begin is None:
        return None
    return (total + last - begin) / 60


def find_tables(path: str = "") -> Path | None:
    """The miniature tables of ``benchmarks/miniature_tables.py``: ``path`` if given (it must exist), else
    the runs folder's own ``miniature_tables/tables.json``, else the shipped ``data/miniature/tables.json``;
    ``None`` when there is none."""
    if path:
        found = Path(path).expanduser()
        if not found.is_file():
            raise FileNotFoundError(f"tables file {path!r} does not exist")
        return found
    for candidate in (runs_dir("miniature_tables", create=False) / TABLES_FILE, SHIPPED_RUNS / TABLES_FILE):
        if candidate.is_file():
            return candidate
    return None


def tables_row(tables: dict[str, Any], table: str, preset: str) -> dict[str, Any]:
    """The metrics of the row that trained ``preset`` in Table ``table`` of a :func:`find_tables` file
    (``{metric: {"mean", "std", "n", "values"}}``)."""
    for row in tables["tables"][f"table{table}"]["rows"]:
        if row["preset"] == preset:
            return row["metrics"]
    raise KeyError(f"the miniature tables have no row for {preset} in table {table}; rerun the tables script")


def find_spectral_filter(path: str | Path | None = None) -> tuple[torch.Tensor, Path] | None:
    """The learned complex filter ``w_f`` ``(h, w//2+1, C)`` of a trained SPT model, and its checkpoint.

    ``path``: a checkpoint file; ``None`` searches the runs folder for ``iter_*.pt`` files (newest first)
    holding spectral filters, then the shipped runs (:data:`SHIPPED_RUNS`; the shapes world's
    ``shapes-sptseg`` first, the other worlds' after). ``None`` when there is none.
    """
    if path:
        candidates = [Path(path)]
    else:
        candidates = sorted(runs_dir(create=False).glob("**/iter_*.pt"), key=lambda p: -p.stat().st_mtime)
        shipped = sorted(SHIPPED_RUNS.glob("*/iter_*.pt"))
        candidates += sorted(
            shipped, key=lambda p: p.parent.name != "shapes-sptseg"
        )  # stable: the rest by name
    for candidate in candidates:
        try:
            state = load_checkpoint(candidate)["model"]
        except (CheckpointError, KeyError):
            if path:
                raise
            continue
        keys = sorted(k for k in state if "spectral.filters" in k)
        if keys:
            return torch.view_as_complex(state[keys[0]].float()), candidate
        if path:
            raise CheckpointError(f"{path} holds no spectral filter (was it trained with spt=False?)")
    return None


__all__ = [
    "DATASET_FAMILIES",
    "RUNS_ENV_VAR",
    "SHIPPED_RUNS",
    "SMOKE_ITERATIONS",
    "TABLES_FILE",
    "TrainingRun",
    "evaluated_presets",
    "evaluated_run",
    "family_for",
    "find_spectral_filter",
    "find_tables",
    "is_shipped",
    "project_root",
    "read_log",
    "report_paths",
    "run_folder",
    "runs_dir",
    "shown_path",
    "tables_row",
    "train_or_load",
    "training_minutes",
    "training_run",
]
