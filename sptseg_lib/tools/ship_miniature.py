"""Ship a finished miniature run in ``data/miniature/<preset>/``: what the notebooks' smoke profile shows.

A learner's laptop should open notebooks 06-09 on a model that has really been trained, not on the 40
iterations a smoke run has time for. This script takes a finished run of a miniature preset (``shapes-*``,
or a spectral world's ``stripes-*`` / ``fabrics-*``; the command line's ``runs/<preset>/``), and writes beside
the other shipped data:

- ``iter_<N>.pt``: the final checkpoint's trained weights only (``checkpoint.export_weights``);
- ``config.json`` and ``log.jsonl``: the run's own (the loss curves notebook 06 draws);
- ``eval_test.json`` / ``eval_test.md``: the metrics on the 200 fixed scenes of its world's ``test`` split
  (whole-image inference, seen penalty 0.1), re-checked by ``tests/test_miniature.py``;
- ``run.json``: training wall time, the training-free baselines on the same scenes, the command (with the
  run's seed: the shipped run is one seed of the miniature tables, the median one of ``shapes-sptseg``).

The run must be its preset's recipe, up to ``train.seed``; anything else would show the notebooks a model
their preset does not make.

Usage (the run first, then the copy)::

    python -m sptseg_lib train --preset shapes-sptseg --seed 3 --out runs/shapes-sptseg
    python -m sptseg_lib.tools.ship_miniature runs/shapes-sptseg
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from ..baselines import BASELINES, evaluate_baseline
from ..checkpoint import checkpoint_experiment, checkpoint_name, export_weights, load_checkpoint
from ..clip_loading import get_tokenizer, load_clip
from ..config import MINIATURE_WORLDS, RUNTIME_FIELDS, config_differences, experiment_preset
from ..data.shapes import ShapesDataset, get_world
from ..evaluate import evaluate, write_report
from ..inference import Predictor
from ..model import SPTSeg
from ..runs import SHIPPED_RUNS
from ..train import RunLog

METRICS = ("pAcc", "mIoU_seen", "mIoU_unseen", "hIoU")


def ship_run(run_dir: str | Path, dest_root: str | Path = SHIPPED_RUNS) -> Path:
    """Copy the finished run in ``run_dir`` to ``dest_root/<preset>/`` (replacing an older copy)."""
    run_dir = Path(run_dir)
    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    final = run_dir / checkpoint_name(config["train"]["iterations"])
    if not final.is_file():
        raise FileNotFoundError(
            f"{final} does not exist: the run in {run_dir} has not finished; resume it with "
            f"`python -m sptseg_lib train --preset {config['name']} --out {run_dir} --resume`"
        )
    experiment = checkpoint_experiment(load_checkpoint(final), final)
    if experiment.data.dataset not in MINIATURE_WORLDS:
        raise ValueError(
            f"{experiment.name} is not a miniature run (its data set is {experiment.data.dataset!r}, not one "
            f"of the synthetic worlds {', '.join(MINIATURE_WORLDS)}); only those are shipped"
        )
    preset = experiment_preset(experiment.name)
    changed = config_differences(experiment, preset, ignore=RUNTIME_FIELDS | {"train.seed"})
    if changed:
        raise ValueError(
            f"the run in {run_dir} is not the {experiment.name} preset (up to its seed): "
            + "; ".join(changed)
            + ". Train the preset as it is, e.g. `python -m sptseg_lib train --preset "
            + f"{experiment.name} --seed {experiment.train.seed} --out {run_dir}`"
        )
    dest = Path(dest_root) / experiment.name
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    shipped = export_weights(final, dest / final.name)
    for name in ("config.json", "log.jsonl"):
        shutil.copy2(run_dir / name, dest / name)

    log = RunLog(run_dir).read()
    start = next(r["time"] for r in log if r.get("event") in ("start", "resume"))
    model = SPTSeg.from_checkpoint(shipped, "cpu")
    world = get_world(experiment.data.dataset)
    test = ShapesDataset("test", world=world)
    protocol = Predictor.for_protocol(model, experiment, world.split, mode="whole")
    result = evaluate(protocol, test, world.split, progress=False)
    write_report(
        result,
        world.split,
        dest / "eval_test.json",
        dest / "eval_test.md",
        experiment=experiment.name,
        checkpoint=shipped.name,
        scenes=f"200 fixed scenes of the {world.name} test split, whole-image inference, seen penalty 0.1",
    )
    clip = load_clip(experiment.model.clip_model, experiment.model.pretrained)
    tokenizer = get_tokenizer(experiment.model.clip_model)
    baselines = {
        kind: {m: evaluate_baseline(clip, tokenizer, kind, test, world.split)[m] for m in METRICS}
        for kind in BASELINES
    }
    facts = {
        "experiment": experiment.name,
        "iterations": experiment.train.iterations,
        "train_wall_minutes": round((log[-1]["time"] - start) / 60, 2),
        "test": {m: result[m] for m in METRICS},
        "training_free_baselines_test": baselines,
        "seed": experiment.train.seed,
        "command": f"python -m sptseg_lib train --preset {experiment.name} --seed {experiment.train.seed} "
        f"--out {run_dir}",
    }
    (dest / "run.json").write_text(json.dumps(facts, indent=2) + "\n", encoding="utf-8")
    return dest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run", type=Path, help="a finished run folder of a miniature preset")
    p.add_argument("--dest", type=Path, default=SHIPPED_RUNS, help=f"default: {SHIPPED_RUNS}")
    args = p.parse_args(argv)
    dest = ship_run(args.run, args.dest)
    facts = json.loads((dest / "run.json").read_text(encoding="utf-8"))
    print(f"wrote {dest}: test " + ", ".join(f"{m} {v:.1f}" for m, v in facts["test"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
