"""Peak memory of ``predict`` on a 24-megapixel photo (6000 x 4000) with 20, 60 and 171 classes.

Each measurement runs in a fresh subprocess (the shipped miniature checkpoint,
``data/miniature/shapes-sptseg/iter_001500.pt``) and reports its peak resident memory
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``) and wall time. Two paths:

- ``before``: the scores of every class resized to the full image, then the argmax, and the overlay blended
  in float32 over the whole image (the path up to this benchmark's commit, kept callable here);
- ``after``: :func:`sptseg_lib.inference.resized_argmax` (a few classes at a time, identical labels) and the
  overlay blended in bands of rows, as :func:`sptseg_lib.predict.predict_image` does now.

The ``before`` runs get an address-space limit (``--limit-gb``, default 12) so that one that needs more fails
cleanly instead of swapping a shared machine; such a run is reported as ``over the limit``. Both paths'
labels are compared on every run that fits.

    python benchmarks/predict_memory.py [--classes 20 60 171] [--size 6000 4000] [--limit-gb 12]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = ROOT / "data" / "miniature" / "shapes-sptseg" / "iter_001500.pt"

CHILD = r"""
import json, resource, sys, time
import numpy as np
import torch
from sptseg_lib import predict as P
from sptseg_lib.inference import Predictor

mode, image, out = sys.argv[1], sys.argv[2], sys.argv[4]
classes, limit_gb = int(sys.argv[3]), float(sys.argv[5])
torch.set_num_threads(2)
names = [f"class {i}" for i in range(classes)]
model = P.SPTSeg.from_checkpoint(sys.argv[6], "cpu")
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def old_labels(self, img):
    return self.image_scores(img).argmax(0)


def old_blend(original, label, palette, alpha):
    colours = np.asarray(palette, dtype=np.float32).reshape(256, 3)[label]
    return ((1 - alpha) * original.astype(np.float32) + alpha * colours).round().clip(0, 255).astype(np.uint8)


if mode == "before":
    Predictor.image_labels = old_labels
    P.blend_overlay = old_blend
    limit = int(limit_gb * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
start = time.perf_counter()
try:
    label_path, _, _ = P.predict_image(model, image, names, out, device="cpu")
    status = "ok"
except (RuntimeError, MemoryError) as err:
    label_path, status = None, f"over the limit ({str(err).splitlines()[0][:80]})"
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
print(json.dumps({"status": status, "peak_gb": peak, "base_gb": base, "seconds": seconds,
                  "label": str(label_path) if label_path else None}))
"""


def measure(mode: str, image: Path, classes: int, out: Path, limit_gb: float) -> dict:
    """One subprocess's peak memory (GiB), its memory before predicting, time and label file."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            mode,
            str(image),
            str(classes),
            str(out),
            str(limit_gb),
            str(CHECKPOINT),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["killed"])[-1]
        return {
            "status": f"failed ({tail[:80]})",
            "peak_gb": float("nan"),
            "seconds": float("nan"),
            "label": None,
        }
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, nargs="+", default=[20, 60, 171])
    parser.add_argument("--size", type=int, nargs=2, default=[6000, 4000], metavar=("W", "H"))
    parser.add_argument("--limit-gb", type=float, default=12.0)
    args = parser.parse_args()
    import numpy as np
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        w, h = args.size
        y, x = np.mgrid[0:h, 0:w]
        rgb = np.stack([(x * 255 // w), (y * 255 // h), ((x + y) * 255 // (w + h))], -1).astype(np.uint8)
        image = Path(tmp) / "photo.png"
        Image.fromarray(rgb).save(image)
        del rgb, x, y
        print(f"predict on a {w} x {h} image ({w * h / 1e6:.0f} MP), miniature checkpoint, CPU")
        print(f"{'classes':>7} | {'before: peak':>22} {'time':>7} | {'after: peak':>12} {'time':>7} | labels")
        for classes in args.classes:
            rows = {}
            for mode in ("before", "after"):
                rows[mode] = measure(mode, image, classes, Path(tmp) / mode / str(classes), args.limit_gb)
            b, a = rows["before"], rows["after"]
            if b["label"] and a["label"]:
                same = np.array_equal(np.asarray(Image.open(b["label"])), np.asarray(Image.open(a["label"])))
                labels = "identical" if same else "DIFFERENT"
            else:
                labels = "(before did not fit)"
            before = f"{b['peak_gb']:.2f} GiB" if b["status"] == "ok" else b["status"][:22]
            after = f"{a['peak_gb']:>8.2f} GiB {a['seconds']:>6.1f}s"
            print(f"{classes:>7} | {before:>22} {b['seconds']:>6.1f}s | {after} | {labels}")
            if b["status"] != "ok":
                print(f"          before: {b['status']}")


if __name__ == "__main__":
    main()
