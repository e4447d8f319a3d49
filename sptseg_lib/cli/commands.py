"""The commands of ``python -m sptseg_lib``: one function per command, from parsed arguments to a status.

Each command imports the library functions it calls when it runs, so that parsing the command line (and
``--help``) loads none of them; ``presets`` needs :mod:`sptseg_lib.config` only. The commands call what
the notebooks call: :class:`~sptseg_lib.train.Trainer`, :func:`~sptseg_lib.evaluate.evaluate_checkpoint`,
:func:`~sptseg_lib.custom_eval.evaluate_folder`, :func:`~sptseg_lib.predict.predict_files`,
:mod:`sptseg_lib.data.prepare`, :func:`~sptseg_lib.data.download.download_dataset` and
:func:`~sptseg_lib.demo.run_demo`.
"""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config import ExperimentConfig

_TRAIN_OVERRIDES = {
    "data": "data.root",
    "iterations": "train.iterations",
    "micro_batch": "train.micro_batch",
    "seed": "train.seed",
    "init_from": "train.init_from",
}
"""``train``'s options that override one config field each (when given), in the order they apply."""

_OWN_DATA = {"--images": "images", "--masks": "masks", "--classes": "classes", "--unseen": "unseen"}
"""``evaluate``'s options of a folder data set, which come all together or not at all."""


def _experiment(args: Namespace) -> ExperimentConfig:
    """``train``'s experiment: the preset or config file, then the named options, then every ``--set``."""
    from ..config import experiment_preset
    from ..config_files import read_experiment_file

    experiment = experiment_preset(args.preset) if args.preset else read_experiment_file(args.config)
    overrides: dict[str, object] = {
        field: getattr(args, option)
        for option, field in _TRAIN_OVERRIDES.items()
        if getattr(args, option) is not None
    }
    if args.compile:
        overrides["train.compile"] = True
    if overrides:
        experiment = experiment.with_overrides(overrides)
    return experiment.with_overrides(args.set) if args.set else experiment


def _print_metrics(report: dict[str, Any]) -> None:
    """The headline metrics of an evaluation report on one line (``n/a`` where undefined)."""
    keys = ("pAcc", "mIoU_seen", "mIoU_unseen", "hIoU", "mIoU")
    print("  ".join(f"{k} {report[k]:.1f}" if report.get(k) is not None else f"{k} n/a" for k in keys))


def train(args: Namespace) -> int:
    """Train (or finish) a run; with ``--evaluate``, evaluate its newest checkpoint."""
    from ..checkpoint import latest_checkpoint
    from ..config_files import check_training_values
    from ..evaluate import evaluate_checkpoint
    from ..runs import runs_dir
    from ..train import Trainer

    experiment = _experiment(args)
    check_training_values(experiment)  # before the run folder is written
    out = args.out if args.out is not None else runs_dir(experiment.name, create=False)
    trainer = Trainer(experiment, out, resume=args.resume, device=args.device, progress=not args.no_progress)
    if trainer.step >= experiment.train.iterations:
        print(f"{out}: already trained to step {trainer.step} of {experiment.train.iterations}")
    else:
        record = trainer.fit()
        if trainer.dist.is_main:
            print(f"{out}: step {trainer.step}, loss {record.get('loss', float('nan')):.4f}")
    if args.evaluate:
        report = evaluate_checkpoint(
            latest_checkpoint(out), model=trainer.model, device=trainer.device, progress=not args.no_progress
        )
        if trainer.dist.is_main:
            _print_metrics(report)
    return 0


def _own_data(args: Namespace) -> bool:
    """Whether ``evaluate`` runs on a folder data set; a part of one, or one with ``--data``, is an error."""
    given = {flag: getattr(args, name) is not None for flag, name in _OWN_DATA.items()}
    if not any(given.values()):
        return False
    missing = [flag for flag, present in given.items() if not present]
    if missing:
        raise ValueError(
            f"evaluating your own data needs {', '.join(given)} together; missing {', '.join(missing)}"
        )
    if args.data is not None:
        raise ValueError(
            "--data (a benchmark's root) and --images/--masks (your own data) exclude each other"
        )
    return True


def evaluate(args: Namespace) -> int:
    """Evaluate a checkpoint on its benchmark or on a folder data set; print the metrics and the report."""
    options: dict[str, Any] = {
        "mode": args.mode,
        "device": args.device,
        "progress": not args.no_progress,
        "limit": args.limit,
        "out_dir": args.out,
        "save_predictions": args.save_predictions,
    }
    if _own_data(args):
        from ..custom_eval import evaluate_folder

        own = (args.images, args.masks, args.classes, args.unseen)
        report = evaluate_folder(args.checkpoint, *own, ignore_index=args.ignore_index, **options)
    else:
        from ..evaluate import evaluate_checkpoint

        report = evaluate_checkpoint(args.checkpoint, data_root=args.data, **options)
    _print_metrics(report)
    partial = " (partial: --limit)" if report["partial"] else ""
    print(
        f"{report['num_images']} of {report['num_images_total']} images{partial}; "
        f"report: {', '.join(report['report_paths'])}"
    )
    if args.save_predictions is not None:
        print(f"predictions: {args.save_predictions}")
    return 0


def predict(args: Namespace) -> int:
    """Segment an image or a folder of images into the named classes."""
    from ..data.custom import parse_class_names
    from ..predict import predict_files

    predict_files(args.checkpoint, args.image, parse_class_names(args.classes), args.out, device=args.device)
    return 0


def prepare_data(args: Namespace) -> int:
    """Build VOC's augmented labels or COCO-Stuff's train ids; print what was done."""
    from ..data.prepare import prepare_coco_stuff, prepare_voc

    options = {"strict": not args.no_strict, "overwrite": args.overwrite, "workers": args.workers}
    if args.dataset == "coco_stuff":
        print(prepare_coco_stuff(args.root, **options))
        return 0
    if not args.sbd_root:
        raise ValueError("prepare-data voc needs --sbd-root (the SBD release folder, benchmark_RELEASE)")
    print(prepare_voc(args.root, args.sbd_root, **options))
    return 0


def download_data(args: Namespace) -> int:
    """Download, check, extract and prepare a data set; print what was done."""
    from ..data.download import download_dataset

    report = download_dataset(
        args.dataset,
        args.root,
        base_url=args.base_url,
        progress=not args.no_progress,
        prepare=not args.no_prepare,
        keep_archives=not args.delete_archives,
        strict=not args.no_strict,
        workers=args.workers,
    )
    print(report)
    return 0


def presets(args: Namespace) -> int:
    """List the experiment presets: name, setting, schedule, description."""
    from ..config import EXPERIMENT_PRESETS

    for name, experiment in sorted(EXPERIMENT_PRESETS.items()):
        t = experiment.train
        print(f"{name:30s} {t.setting:12s} {t.iterations:>6d} it  {experiment.description}")
    return 0


def demo(args: Namespace) -> int:
    """The one-minute CPU demo."""
    from ..demo import run_demo

    run_demo(args.iterations, args.images, args.first_scene, args.out, args.threads)
    return 0


COMMANDS: dict[str, Callable[[Namespace], int]] = {
    "train": train,
    "evaluate": evaluate,
    "predict": predict,
    "prepare-data": prepare_data,
    "download-data": download_data,
    "presets": presets,
    "demo": demo,
}
"""Command name -> its function."""


__all__ = ["COMMANDS"]
