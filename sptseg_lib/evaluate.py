"""Evaluation: the zero-shot protocol of Table 1 (pAcc, mIoU(S), mIoU(U), hIoU = eq. 11) and its report.

At test time every class name is given to the model (channel ``c`` = class ``c``). In the inductive setting
the seen classes' sigmoid scores are lowered by ``seen_penalty`` (0.1) before the argmax; the transductive
and fully supervised settings use no penalty (docs/reference.md §6.3). Images are tiled with 512 windows at
stride 426 (``slide``) or passed whole; predictions are compared with the label at its original size.
Processes each take every ``world_size``-th image and their confusion matrices are summed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from PIL import Image
from torch import nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from .checkpoint import check_compatible, checkpoint_experiment, load_checkpoint
from .config import ExperimentConfig
from .data.factory import build_dataset
from .data.paths import DATASETS, DataError
from .data.splits import ZeroShotSplit, get_split
from .inference import Predictor
from .metrics import ConfusionMatrix, metrics_table
from .model import SPTSeg
from .outputs import check_output_folder, describe_os_error


def _check_limit(limit: int | None) -> None:
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1 image, got {limit}")


@torch.no_grad()
def evaluate(
    predictor: Predictor,
    dataset: Dataset,
    split: ZeroShotSplit,
    *,
    progress: bool = True,
    limit: int | None = None,
    save_predictions: str | Path | None = None,
) -> dict[str, Any]:
    """Metrics of ``predictor`` on ``dataset`` (items ``dict(image=(3,H',W'), label=(H,W), name)``).

    ``predictor`` owns the protocol (:meth:`Predictor.for_protocol
    <sptseg_lib.inference.Predictor.for_protocol>` reads an experiment's); its class names must be
    ``split``'s.

    A data set that can check its files (``check_items``, every file-based one) has each image and mask of
    the run read first, so a bad file stops the run before any inference. ``limit`` takes the first
    ``limit`` items. ``save_predictions`` writes ``<name>.png`` per item there: single-channel, value = class
    index, at the label's size.

    Returns the dict of :meth:`sptseg_lib.metrics.ConfusionMatrix.compute` (``pAcc``, ``IoU`` per class,
    ``mIoU``, ``mIoU_seen``, ``mIoU_unseen``, ``hIoU``, ``num_pixels``) plus ``num_images`` and
    ``num_images_total`` (the data set's size; larger when ``limit`` cut the run short).
    """
    if not isinstance(predictor, Predictor):
        raise TypeError(
            f"evaluate() takes a Predictor, got {type(predictor).__name__}: build one with "
            "Predictor.for_protocol(model, experiment, split) (the benchmark protocol), or Predictor(model, "
            "class_names, seen=..., mode=...) for your own"
        )
    _check_limit(limit)
    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
    size = len(dataset)  # type: ignore[arg-type]
    total = size if limit is None else min(limit, size)
    indices = range(rank, total, world)
    check_items = getattr(dataset, "check_items", None)
    if check_items is not None:
        check_items(indices, progress=progress and rank == 0)
    out = Path(save_predictions) if save_predictions is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    model = predictor.model
    was_training = model.training
    model.eval()
    cm = ConfusionMatrix(split.num_classes)
    for i in tqdm(indices, desc="evaluate", disable=not progress or rank != 0, dynamic_ncols=True):
        item = dataset[i]
        label = item["label"].to(predictor.device)
        prediction = predictor.labels(item["image"][None], size=label.shape[-2:])[0]
        cm.update(prediction, label)
        if out is not None:
            Image.fromarray(prediction.to(torch.uint8).cpu().numpy(), mode="L").save(
                out / f"{item['name']}.png"
            )
    if world > 1:
        cm.all_reduce()
    model.train(was_training)
    result = cm.compute(split.seen, split.unseen)
    result["num_images"] = total
    result["num_images_total"] = size
    return result


class ReportNotWritten(OSError):
    """The evaluation ran but its report could not be written; the message holds the metrics."""


def metrics_line(result: dict[str, Any]) -> str:
    """The headline metrics on one line (``pAcc 91.2  mIoU_seen ...``), ``n/a`` where undefined."""
    keys = ("pAcc", "mIoU_seen", "mIoU_unseen", "hIoU", "mIoU")
    values = {k: _plain(result.get(k)) for k in keys}
    return "  ".join(f"{k} {v:.1f}" if isinstance(v, (int, float)) else f"{k} n/a" for k, v in values.items())


def _plain(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value != value:  # NaN -> null (JSON has no NaN)
        return None
    return value


def write_report(
    result: dict[str, Any], split: ZeroShotSplit, json_path: str | Path, md_path: str | Path, **context: Any
) -> dict[str, Any]:
    """Write the metrics as JSON (per-class IoU by name) and as a Markdown table; returns the JSON dict."""
    iou = _plain(result["IoU"])
    report = {
        **{k: _plain(v) for k, v in result.items() if k != "IoU"},
        "IoU": {name: iou[i] for i, name in enumerate(split.class_names)},
        "seen": list(split.seen),
        "unseen": list(split.unseen),
        "split": split.name,
        **{k: _plain(v) for k, v in context.items()},
    }
    Path(json_path).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    header = "\n".join(f"- {k}: {v}" for k, v in context.items())
    if "num_images" in result:
        total = result.get("num_images_total", result["num_images"])
        pixels = result.get("num_pixels", "n/a")
        header += f"\n- images: {result['num_images']} of {total}, {pixels} labelled pixels"
    table = metrics_table(result, list(split.class_names), split.seen, split.unseen)
    Path(md_path).write_text(f"# Evaluation\n\n{header}\n\n{table}\n", encoding="utf-8")
    return report


def evaluate_checkpoint(
    checkpoint: str | Path,
    *,
    experiment: ExperimentConfig | None = None,
    dataset: Dataset | None = None,
    split: ZeroShotSplit | None = None,
    model: nn.Module | None = None,
    data_root: str | None = None,
    mode: str | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    limit: int | None = None,
    out_dir: str | Path | None = None,
    save_predictions: str | Path | None = None,
) -> dict[str, Any]:
    """Load a checkpoint, evaluate it with its experiment's protocol (:meth:`Predictor.for_protocol
    <sptseg_lib.inference.Predictor.for_protocol>`; ``mode`` overrides the inference mode) and write its
    report where :func:`sptseg_lib.runs.report_paths` says (beside the checkpoint, or in ``out_dir``; a
    ``limit`` that cuts the run short writes ``*-first<N>``); returns the report.

    ``experiment`` defaults to the one stored in the checkpoint (a given one must have the same model
    config); ``dataset``/``split``/``model`` default to those the experiment names (``model``: the
    checkpoint's, :meth:`SPTSeg.from_checkpoint <sptseg_lib.model.SPTSeg.from_checkpoint>`). A custom data
    set comes as ``dataset`` with its ``split`` (:mod:`sptseg_lib.data.custom`). ``data_root`` for a
    checkpoint of the shapes world, which needs none, is an error rather than silently ignored. The report
    records ``num_images`` of ``num_images_total`` and ``partial`` (a ``limit`` that cut the run short).
    """
    _check_limit(limit)
    ckpt = load_checkpoint(checkpoint, map_location="cpu")
    if experiment is None:
        experiment = checkpoint_experiment(ckpt, checkpoint)
    else:
        check_compatible(ckpt, experiment, path=checkpoint, model_only=True)
    if data_root is not None and dataset is None:
        if experiment.data.dataset not in DATASETS:
            raise DataError(
                f"{checkpoint} was trained on the {experiment.data.dataset!r} world, which is generated and "
                f"reads no data root, so --data {data_root} would be ignored; to evaluate it on images of "
                "your own, use --images DIR --masks DIR --classes ... --unseen ..."
            )
        experiment = experiment.with_overrides({"data.root": data_root})
    if split is None:
        split = get_split(experiment.data.dataset)
    if dataset is None:
        dataset = build_dataset(experiment.data, "test")
    if model is None:
        model = SPTSeg.from_checkpoint(checkpoint, device)
    else:
        if device is not None:
            model.to(device)
        model.load_trainable_state_dict(ckpt["model"])
    from .runs import report_paths  # (runs imports this module: the one home of report paths is there)

    json_path, md_path = report_paths(checkpoint, out_dir=out_dir)
    if not dist.is_initialized() or dist.get_rank() == 0:  # before the work: where it will go
        check_output_folder(json_path.parent, "report folder")
        if save_predictions is not None:
            check_output_folder(save_predictions, "predictions folder")
    predictor = Predictor.for_protocol(model, experiment, split, mode=mode)
    result = evaluate(
        predictor, dataset, split, progress=progress, limit=limit, save_predictions=save_predictions
    )
    partial = result["num_images"] < result["num_images_total"]
    if partial:  # a report of its own, never replacing that of the whole set
        json_path, md_path = report_paths(checkpoint, f"-first{result['num_images']}", out_dir=out_dir)
    context = {
        "experiment": experiment.name,
        "checkpoint": str(checkpoint),
        "step": int(ckpt["step"]),
        "data": getattr(dataset, "dataset", experiment.data.dataset),
        "partial": partial,
        "setting": experiment.train.setting,
        "seen_penalty": experiment.model.seen_penalty if experiment.train.setting == "inductive" else 0.0,
        "inference": f"slide (crop {predictor.crop}, stride {predictor.stride})"
        if predictor.mode == "slide"
        else "whole",
    }
    if not dist.is_initialized() or dist.get_rank() == 0:
        try:
            json_path.parent.mkdir(parents=True, exist_ok=True)
            report = write_report(result, split, json_path, md_path, **context)
        except (OSError, RuntimeError) as err:
            reason = describe_os_error(err, json_path.parent)
            raise ReportNotWritten(
                f"the report could not be written to {json_path} ({reason}); "
                f"its metrics: {metrics_line(result)}; rerun with --out pointing at a writable folder"
            ) from None
        return {**report, "report_paths": [str(json_path), str(md_path)]}
    return {**result, **context}


__all__ = [
    "ReportNotWritten",
    "evaluate",
    "evaluate_checkpoint",
    "metrics_line",
    "write_report",
]
