"""Peak memory of the eq. 10 criterion (focal + SSIM), forward + backward, unchunked vs chunked.

COCO-Stuff scale by default: 171 classes, 512x512 labels, batch 4, mask logits at the 32x32 token grid.
Each variant runs in a fresh subprocess so that its peak is its own:

* on CUDA: ``torch.cuda.max_memory_allocated`` minus the memory allocated before the call;
* on the CPU: the process's peak resident set size (Linux ``VmHWM``, reset through
  ``/proc/self/clear_refs`` just before the call) minus the resident size before the call.

Usage::

    python benchmarks/loss_memory.py                     # 4 x 171 x 512 x 512, chunks: none, 32
    python benchmarks/loss_memory.py --batch 1 --chunks none 32 8

The unchunked CPU run at full scale needs roughly 20 GB of RAM (peak grows linearly with the batch).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from sptseg_lib.losses import SegmentationCriterion


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not found in /proc/self/status (the CPU measure needs Linux)")


def _worker(args: argparse.Namespace) -> None:
    """Run one variant in this process and print one JSON line."""
    torch.manual_seed(0)
    device = torch.device(args.device)
    chunk = None if args.chunk == "none" else int(args.chunk)
    token = args.size // 16
    logits = torch.randn(args.batch, args.classes, token, token, device=device, requires_grad=True)
    labels = torch.randint(0, args.classes, (args.batch, args.size, args.size), device=device)
    labels[:, : args.size // 8] = 255
    criterion = SegmentationCriterion(focal_weight=100.0, ssim_weight=1.0, chunk_classes=chunk)

    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    else:
        Path("/proc/self/clear_refs").write_text(
            "5", encoding="utf-8"
        )  # reset the peak RSS (VmHWM) to the current RSS
        before = _rss_kib("VmRSS") * 1024
    start = time.perf_counter()
    out = criterion(logits, labels)
    out["loss"].backward()
    if device.type == "cuda":
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - before
    else:
        peak = _rss_kib("VmHWM") * 1024 - before
    seconds = time.perf_counter() - start
    print(
        json.dumps({"chunk": args.chunk, "peak_bytes": peak, "seconds": seconds, "loss": out["loss"].item()})
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--classes", type=int, default=171)
    parser.add_argument("--size", type=int, default=512, help="label height = width in pixels")
    parser.add_argument(
        "--chunks", nargs="+", default=["none", "32"], help="chunk_classes values; 'none' = unchunked"
    )
    parser.add_argument(
        "--repeats", type=int, default=1, help="fresh processes per variant (median reported)"
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--chunk", default="none", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args)
        return

    print(
        f"criterion focal 100 + SSIM 1, forward+backward: batch {args.batch}, {args.classes} classes, "
        f"{args.size}x{args.size}, device {args.device}"
    )
    rows = []
    for chunk in args.chunks:
        runs = []
        for _ in range(args.repeats):
            cmd = [sys.executable, __file__, "--worker", "--chunk", chunk, "--device", args.device]
            cmd += ["--batch", str(args.batch), "--classes", str(args.classes), "--size", str(args.size)]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                sys.exit(f"variant chunk={chunk} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        peak = statistics.median(r["peak_bytes"] for r in runs)
        seconds = statistics.median(r["seconds"] for r in runs)
        rows.append((chunk, peak, seconds, runs[0]["loss"]))

    base_peak, base_seconds = rows[0][1], rows[0][2]
    print(
        f"{'chunk_classes':>13} {'peak MiB':>10} {'peak ratio':>10} {'seconds':>8} "
        f"{'time ratio':>10} {'loss':>12}"
    )
    for chunk, peak, seconds, loss in rows:
        print(
            f"{chunk:>13} {peak / 2**20:>10.0f} {base_peak / max(peak, 1):>10.2f} {seconds:>8.1f} "
            f"{seconds / base_seconds:>10.2f} {loss:>12.6f}"
        )
    print(f"peak ratio = peak of chunk_classes={rows[0][0]} / peak of the row (higher = less memory)")


if __name__ == "__main__":
    main()
