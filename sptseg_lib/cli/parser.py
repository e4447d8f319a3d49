"""The command line's grammar: the table of commands (:data:`SUBCOMMANDS`: name, help texts, options),
from which :func:`build_parser` makes one sub-parser each.

Only the standard library is imported here, so that ``--help`` and a mistyped option answer at once. The
two environment variables the help texts name are spelt out rather than imported from
:mod:`sptseg_lib.runs` and :mod:`sptseg_lib.data.download` (which load torch); ``tests/test_cli.py``
checks that they match.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

RUNS_ENV_VAR = "SPTSEG_RUNS"
""":data:`sptseg_lib.runs.RUNS_ENV_VAR`: the default parent of run folders."""

BASE_URL_ENV_VAR = "SPTSEG_DOWNLOAD_BASE_URL"
""":data:`sptseg_lib.data.download.BASE_URL_ENV_VAR`: a mirror of the data sets' archives."""

EPILOG = """examples:
  python -m sptseg_lib presets
  python -m sptseg_lib download-data voc --root data/
  python -m sptseg_lib prepare-data voc --root data/ --sbd-root data/benchmark_RELEASE
  python -m sptseg_lib train --preset voc-sptseg --data data/ --out runs/voc-sptseg
  torchrun --nproc-per-node 4 -m sptseg_lib train --preset voc-sptseg --data data/ --out runs/voc-sptseg
  python -m sptseg_lib train --preset voc-sptseg --data data/ --out runs/voc-sptseg --resume
  python -m sptseg_lib train --preset voc-sptseg-transductive --init-from runs/voc-sptseg/iter_010000.pt \\
      --data data/ --out runs/voc-sptseg-st
  python -m sptseg_lib evaluate --checkpoint runs/voc-sptseg/iter_020000.pt --data data/
  python -m sptseg_lib evaluate --checkpoint runs/voc-sptseg/iter_020000.pt --images my/images \\
      --masks my/masks --classes classes.txt --unseen sofa,train --out my/report --save-predictions my/pred
  python -m sptseg_lib predict --checkpoint runs/voc-sptseg/iter_020000.pt --image cat.jpg \\
      --classes cat,dog,sofa --out predictions/
  python -m sptseg_lib demo
"""
"""The examples ``python -m sptseg_lib --help`` ends with."""

_ANY_DEVICE = "cpu, cuda, mps, ... (default: a CUDA GPU if there is one, else the CPU)"
_STRICT = "accept a partial data set (no count checks)"
_DATASETS = ("voc", "coco_stuff")


def _train(parser: argparse.ArgumentParser) -> None:
    """The options of ``train``."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--preset", help="experiment preset name (see `python -m sptseg_lib presets`)")
    source.add_argument("--config", type=Path, help="an experiment JSON (e.g. a run's config.json)")
    add = parser.add_argument
    add("--data", help="data root (default: $SPTSEG_DATA)")
    add(
        "--out",
        type=Path,
        help=f"run folder (default: ${RUNS_ENV_VAR}/<preset>; without it, runs/<preset> in the checkout)",
    )
    add("--resume", action="store_true", help="continue the run in --out from its newest checkpoint")
    add("--init-from", help="start from another run's checkpoint (same model), e.g. transductive")
    add("--iterations", type=int, help="override train.iterations")
    add("--micro-batch", type=int, help="images per process per forward (accumulates to 16)")
    add("--seed", type=int, help="override train.seed")
    add("--compile", action="store_true", help="torch.compile the model")
    add("--device", help="cpu, cuda, cuda:1, mps (default: this process's CUDA GPU, else the CPU)")
    add(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="override any config field, e.g. --set train.dice_weight=1 --set model.spt_layers=[0,1,2]",
    )
    add("--evaluate", action="store_true", help="evaluate the final checkpoint when done")
    add("--no-progress", action="store_true", help="no progress bar")


def _evaluate(parser: argparse.ArgumentParser) -> None:
    """The options of ``evaluate``."""
    parser.add_argument("--checkpoint", required=True, help="an iter_*.pt file")
    parser.add_argument(
        "--data", help="data root of the benchmark (default: the checkpoint's, else $SPTSEG_DATA)"
    )
    own = parser.add_argument_group("your own data set (all four together)")
    own.add_argument("--images", type=Path, help="folder of images (jpg, png, ...)")
    own.add_argument("--masks", type=Path, help="folder of <image stem>.png masks, value i = the i-th class")
    own.add_argument("--classes", help="a text file (one class name per line) or a comma-separated list")
    own.add_argument("--unseen", help="the unseen class names, comma-separated (the rest are seen)")
    own.add_argument("--ignore-index", type=int, default=255, help="mask value of unlabelled pixels (255)")
    add = parser.add_argument
    add("--mode", choices=("slide", "whole"), help="inference mode (default: the experiment's)")
    add("--limit", type=int, help="only the first N test images (a quick check)")
    add("--out", type=Path, help="write report.json and report.md into this folder")
    add(
        "--save-predictions",
        type=Path,
        metavar="DIR",
        help="write <stem>.png per image (value = class index)",
    )
    add("--device", help=_ANY_DEVICE)
    add("--no-progress", action="store_true", help="no progress bar")


def _predict(parser: argparse.ArgumentParser) -> None:
    """The options of ``predict``."""
    add = parser.add_argument
    add("--checkpoint", required=True, help="an iter_*.pt file (its config builds the model)")
    add("--image", required=True, type=Path, help="an image file, or a folder of images")
    add("--classes", required=True, help="comma-separated class names ('cat,dog,sofa') or a file")
    add("--out", type=Path, default=Path("."), help="output folder (default: .)")
    add("--device", help=_ANY_DEVICE)


def _prepare_data(parser: argparse.ArgumentParser) -> None:
    """The options of ``prepare-data``."""
    add = parser.add_argument
    add("dataset", choices=_DATASETS)
    add("--root", help="VOC2012 / coco_stuff164k folder or a parent (default: $SPTSEG_DATA)")
    add("--sbd-root", help="voc only: the SBD release folder (benchmark_RELEASE)")
    add("--overwrite", action="store_true", help="rewrite existing outputs")
    add("--workers", type=int, default=0, help="conversion threads")
    add("--no-strict", action="store_true", help=_STRICT)


def _download_data(parser: argparse.ArgumentParser) -> None:
    """The options of ``download-data``."""
    add = parser.add_argument
    add("dataset", choices=_DATASETS)
    add("--root", help="where the archives and the data set go (default: $SPTSEG_DATA)")
    add("--base-url", help=f"a mirror holding the archives by file name (${BASE_URL_ENV_VAR})")
    add("--no-prepare", action="store_true", help="download and extract only")
    add("--delete-archives", action="store_true", help="remove each archive once extracted")
    add("--workers", type=int, default=0, help="threads of the preparation step")
    add("--no-strict", action="store_true", help=_STRICT)
    add("--no-progress", action="store_true", help="no progress bars")


def _demo(parser: argparse.ArgumentParser) -> None:
    """The options of ``demo``."""
    add = parser.add_argument
    add("--iterations", type=int, default=100, help="iterations of the short run (batch 16; default 100)")
    add("--images", type=int, default=100, help="fresh scenes to segment (default 100)")
    add(
        "--first-scene",
        type=int,
        default=1000,
        help="first scene of the shapes test split (default 1000; the shipped report used 0-199)",
    )
    add("--out", type=Path, help="keep the short run in this folder (default: a temporary one)")
    add(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: on a busy machine more threads make it many times slower)",
    )


class Subcommand(NamedTuple):
    """One command: its name, the one line ``--help`` lists, the text of its own ``--help`` and the function
    adding its options (``None``: none)."""

    name: str
    summary: str
    description: str | None
    options: Callable[[argparse.ArgumentParser], None] | None


SUBCOMMANDS: tuple[Subcommand, ...] = (
    Subcommand(
        "train",
        "train one experiment (a preset) into an output folder",
        "Train a preset (one row of the paper's tables) with the reference recipe: AdamW "
        "lr 2e-4, poly decay after 1,500 warm-up iterations, global batch 16 (accumulated when fewer "
        "processes or a smaller --micro-batch hold less). Writes config.json, log.jsonl (loss terms, lr, "
        "throughput) and iter_*.pt checkpoints (trainable parameters, optimiser, RNG states) to --out. "
        "The same command runs under torchrun for several processes.",
        _train,
    ),
    Subcommand(
        "evaluate",
        "evaluate a checkpoint (pAcc, mIoU(S), mIoU(U), hIoU, per-class IoU)",
        "Evaluate a checkpoint on the test split its experiment names (VOC val, COCO-Stuff "
        "val2017, the shapes world's val scenes): every class name, seen-class penalty 0.1 in the inductive "
        "setting, sliding 512 windows at stride 426. Or on your own data: --images, --masks, --classes and "
        "--unseen. Every image and mask is read before inference starts. Writes <checkpoint>.eval.json and "
        ".md beside the checkpoint, or report.json and report.md in --out; a --limit run writes "
        "*-first<N> reports instead, so it never replaces a full one.",
        _evaluate,
    ),
    Subcommand(
        "predict",
        "segment images with any list of class names -> label PNG, overlay with legend, legend JSON",
        "Segment an image, or every image in a folder, into the classes you name (any words: the "
        "text encoder makes their embeddings). Writes <image>.label.png (palette PNG, value i = the i-th "
        "class name), <image>.overlay.png (with a legend of the classes present) and <image>.legend.json "
        "(names, values, colours, pixel shares) to --out, and prints each class's pixel share. No seen-class "
        "penalty.",
        _predict,
    ),
    Subcommand(
        "prepare-data",
        "build VOC's SegmentationClassAug or COCO-Stuff's labelTrainIds",
        "voc: convert SBD's .mat files to SegmentationClassAug PNGs and write aug.txt / "
        "trainaug.txt (9,118 / 10,582 ids). coco_stuff: write <name>_labelTrainIds.png (171 classes) next "
        "to every raw annotation. Existing outputs are kept unless --overwrite.",
        _prepare_data,
    ),
    Subcommand(
        "download-data",
        "download, check, extract and prepare VOC 2012 (+ SBD) or COCO-Stuff 164K",
        "Fetch the official archives into --root (VOC: VOCtrainval_11-May-2012.tar 1.9 GB and "
        "SBD's benchmark.tgz 1.4 GB; COCO-Stuff: train2017.zip 18 GB, val2017.zip 1 GB and "
        "stuffthingmaps_trainval2017.zip 659 MB) with progress bars, resume a partial download (run it "
        "again), check each archive's published MD5 (COCO publishes none: sizes, zip directories and "
        "CRCs are checked), extract, and run prepare-data, so that `--data ROOT` then works. A mirror: "
        f"--base-url or ${BASE_URL_ENV_VAR}.",
        _download_data,
    ),
    Subcommand("presets", "list the experiment presets and their schedules", None, None),
    Subcommand(
        "demo",
        "a one-minute CPU demo: the shipped trained SPT-SEG, a short fresh run and a training-free "
        "baseline, segmenting fresh synthetic scenes; prints the metrics and what they mean",
        "Zero-shot segmentation in the project's miniature world (64-px synthetic scenes, 16 "
        "seen and 4 unseen classes, the shipped tiny CLIP), on the CPU, in under a minute: the shipped "
        "trained model (data/miniature/shapes-sptseg, 1,500 iterations), a short run of the same recipe "
        "trained now, and the training-free MaskCLIP baseline segment the same fresh scenes (the shapes "
        "test split beyond the 200 images of the shipped report). Prints the metrics, per-class IoU of "
        "the shipped model and what the numbers mean. The short run goes to a temporary folder that is "
        "removed at the end (unless --out keeps it).",
        _demo,
    ),
)
"""The commands, in the order ``--help`` lists them."""


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m sptseg_lib``: its commands in the order ``--help`` lists them."""
    parser = argparse.ArgumentParser(
        prog="python -m sptseg_lib",
        description="SPT-SEG (AAAI 2024) reproduction: train, evaluate and use zero-shot segmenters.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in SUBCOMMANDS:
        sub = commands.add_parser(command.name, help=command.summary, description=command.description)
        if command.options is not None:
            command.options(sub)
    return parser


__all__ = ["BASE_URL_ENV_VAR", "EPILOG", "RUNS_ENV_VAR", "SUBCOMMANDS", "Subcommand", "build_parser"]
