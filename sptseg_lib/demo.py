"""The one-minute CPU demo behind ``python -m sptseg_lib demo``.

In the miniature world (64-px synthetic scenes, the shipped tiny CLIP) three segmenters label the same fresh
scenes of the shapes test split, beyond the 200 the shipped report used: the shipped trained SPT-SEG
(``data/miniature/shapes-sptseg``), a short run of the same recipe trained on the spot, and the
training-free MaskCLIP baseline. :func:`run_demo` prints their metrics, the shipped model's per-class IoU
and what the numbers mean.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Subset

from .baselines import evaluate_baseline
from .clip_loading import get_tokenizer
from .config import ExperimentConfig, experiment_preset
from .data.shapes import SHAPES_SPLIT, ShapesDataset
from .data.splits import SHAPES_STUFF, ZeroShotSplit
from .evaluate import evaluate
from .inference import Predictor
from .metrics import metrics_table
from .model import SPTSeg
from .runs import SHIPPED_RUNS
from .train import Trainer

PRESET = "shapes-sptseg"
"""The recipe of the shipped run and of the short one."""

_SCORES = ("pAcc", "mIoU_seen", "mIoU_unseen", "hIoU")


def run_demo(
    iterations: int = 100,
    images: int = 100,
    first_scene: int = 1000,
    out: Path | None = None,
    threads: int = 1,
) -> None:
    """Run the demo and print what it finds (see the module docstring).

    Args:
        iterations: iterations of the short run (batch 16).
        images: how many fresh scenes to segment.
        first_scene: the first of them in the shapes test split (the shipped report used 0-199).
        out: keep the short run in this folder; ``None`` trains it in a temporary folder, removed at the end.
        threads: torch CPU threads while the demo runs (the previous number is restored afterwards).

    Raises:
        ValueError: an argument out of range.
        FileNotFoundError: the shipped run has no checkpoint.
    """
    if iterations < 1 or images < 1 or first_scene < 0 or threads < 1:
        raise ValueError(
            "demo: --iterations, --images and --threads must be at least 1, --first-scene at least 0"
        )
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        _demo(iterations, images, first_scene, out)
    finally:
        torch.set_num_threads(previous)


def _whole(model: SPTSeg, experiment: ExperimentConfig, split: ZeroShotSplit) -> Predictor:
    """The benchmark protocol of ``experiment`` on the CPU, on whole scenes (they are the model's size)."""
    return Predictor.for_protocol(model, experiment, split, mode="whole", device="cpu")


def _demo(iterations: int, images: int, first_scene: int, out: Path | None) -> None:
    """The demo proper, on the threads :func:`run_demo` set."""
    start = time.perf_counter()
    shipped_dir = SHIPPED_RUNS / PRESET
    checkpoints = sorted(shipped_dir.glob("iter_*.pt"))
    if not checkpoints:
        raise FileNotFoundError(f"the shipped trained run is missing: no iter_*.pt in {shipped_dir}")
    split = SHAPES_SPLIT
    last = first_scene + images
    scenes = Subset(ShapesDataset("test", length=last), range(first_scene, last))
    _introduce(split, images, first_scene, last)

    began = time.perf_counter()
    print(f"[1/3] the shipped trained model: {checkpoints[-1]} ...", end=" ", flush=True)
    model = SPTSeg.from_checkpoint(checkpoints[-1], "cpu")
    shipped_steps = model.step
    shipped = evaluate(_whole(model, model.experiment, split), scenes, split, progress=False)
    print(f"{time.perf_counter() - began:.1f} s")

    began = time.perf_counter()
    print("[2/3] the training-free MaskCLIP baseline (the same frozen CLIP) ...", end=" ", flush=True)
    tokenizer = get_tokenizer(model.config.clip_model)
    baseline = evaluate_baseline(model.clip, tokenizer, "maskclip", scenes, split)
    print(f"{time.perf_counter() - began:.1f} s")
    del model

    print(f"[3/3] a short run trained now: {iterations} iterations of the same recipe ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="sptseg-demo-") as temporary:
        began = time.perf_counter()
        trainer = Trainer(
            experiment_preset(PRESET).shortened(iterations),
            out if out is not None else Path(temporary),
            device="cpu",
            progress=sys.stderr.isatty(),
        )
        trainer.fit()
        train_seconds = time.perf_counter() - began
        short = evaluate(_whole(trainer.model, trainer.experiment, split), scenes, split, progress=False)
        del trainer

    run_record = shipped_dir / "run.json"
    record = json.loads(run_record.read_bytes()) if run_record.is_file() else {}
    minutes = record.get("train_wall_minutes")
    took = f"{minutes:.1f} min to train" if minutes else "trained once"
    rows = [
        ("training-free MaskCLIP", "-", baseline),
        (f"SPT-SEG, short run ({train_seconds:.0f} s)", f"{iterations:,}", short),
        (f"SPT-SEG, shipped ({took})", f"{shipped_steps:,}", shipped),
    ]
    print(f"\nResults on the {images} fresh scenes (percent, higher is better):\n")
    print("| model | iterations | pAcc | mIoU(S) | mIoU(U) | hIoU |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, steps, result in rows:
        print(f"| {label} | {steps} | {_scores(result)} |")
    print("\nPer-class IoU of the shipped model:\n")
    print(metrics_table(shipped, list(split.class_names), split.seen, split.unseen))
    _explain_metrics(split)
    _read_results(shipped, baseline, short, record, iterations)
    where = f"kept in {out}" if out is not None else f"in {temporary}, now removed"
    print(f"\nDone in {time.perf_counter() - start:.0f} s; the short run was {where}.")


def _introduce(split: ZeroShotSplit, images: int, first_scene: int, last: int) -> None:
    """What the demo segments: the classes, the unseen ones, the scenes."""
    names, surfaces = split.class_names, len(SHAPES_STUFF)
    print(
        "SPT-SEG demo: zero-shot semantic segmentation in the project's miniature world, on the CPU.\n"
        f"  {len(names)} classes: {len(names) - surfaces} objects (colour x shape) and {surfaces} surfaces.\n"
        f"  Unseen: {', '.join(names[i] for i in split.unseen)}. These {len(split.unseen)} never had a "
        "labelled pixel\n"
        "  in training: the model knows them only by their names, through CLIP's text encoder.\n"
        f"  {images} fresh scenes: the shapes test split's scenes {first_scene}-{last - 1}, "
        "used neither in training\n  nor in the shipped report.\n"
    )


def _scores(result: dict[str, Any]) -> str:
    """A results row's metric cells, ``n/a`` where a metric is undefined."""
    return " | ".join("n/a" if result.get(k) is None else f"{result[k]:.1f}" for k in _SCORES)


def _explain_metrics(split: ZeroShotSplit) -> None:
    """What IoU, pAcc, mIoU(S), mIoU(U) and hIoU measure."""
    seen, unseen, surfaces = len(split.seen), len(split.unseen), len(SHAPES_STUFF)
    print(
        "\nWhat the numbers mean (each pixel gets the class with the highest score among all "
        f"{len(split.class_names)} names):\n"
        "  IoU      per class: |predicted & true| / |predicted | true| over that class's pixels "
        "(n/a: absent\n           and never predicted)\n"
        "  pAcc     the share of all pixels given their true class\n"
        f"  mIoU(S)  the mean IoU over the {seen} seen classes ({seen - surfaces} objects and the "
        f"{surfaces} surfaces, trained on)\n"
        f"  mIoU(U)  the mean IoU over the {unseen} unseen classes: the zero-shot result\n"
        "  hIoU     the harmonic mean 2 S U / (S + U) of the two, high only when both are: the "
        "paper's headline"
    )


def _read_results(
    shipped: dict[str, Any],
    baseline: dict[str, Any],
    short: dict[str, Any],
    record: dict[str, Any],
    iterations: int,
) -> None:
    """How to read this demo's numbers: the gain over the baseline, the shipped report, the short run."""
    gain = shipped["mIoU_unseen"] - baseline["mIoU_unseen"]
    print(
        "\nReading them:\n"
        f"  - The shipped model segments the unseen classes at mIoU(U) {shipped['mIoU_unseen']:.1f}, "
        f"{gain:+.1f} points over the\n"
        "    training-free baseline: what it learnt from seen masks transfers to classes it knows only "
        "by name."
    )
    if "test" in record:
        print(
            f"  - Its report on the 200 fixed test scenes says hIoU {record['test']['hIoU']:.1f}; "
            f"these fresh scenes give {shipped['hIoU']:.1f}."
        )
    schedule = experiment_preset(PRESET).train.iterations
    if iterations < schedule:
        print(
            f"  - The short run ({iterations:,} of the preset's {schedule:,} iterations) is at hIoU "
            f"{short['hIoU']:.1f}: far too short.\n"
            "    The head learns the surfaces and the seen classes first and the unseen ones last, so a "
            "hIoU near 0\n"
            "    after a few dozen iterations is expected, not a bug; the test suite checks that 400 "
            "iterations beat\n"
            "    both baselines on unseen classes. The whole schedule: "
            f"`python -m sptseg_lib train --preset {PRESET}`."
        )


__all__ = ["PRESET", "run_demo"]
