"""Time and memory of one training step: SPT-SEG vs the ZegCLIP baseline vs plain open_clip.

CPU (default): the real ``ViT-B-16`` configuration at 512x512 with random weights, batch 1. Times are
medians over ``--repeats`` rounds in one process, the variants interleaved within each round (so that a
shared machine's load hits them alike); in every round each variant makes an untimed step before its timed
one, so that the timed step follows a step of the same variant, as in training, not one of a variant with
other memory needs. A variant's time ratio is the median over rounds of its step time divided by the
baseline's in the same round (paired, so that drifts in the machine's speed cancel). On the shared 2-core
machine one step's time varies by up to +-10% from round to round; use ``--repeats 9`` or more for
ratios good to a few percent. The variants share the process's heap, so a variant with large temporaries
(``openclip``, ``sptseg-textbook``) can slow the others' allocations: ``--variants`` times a subset.
Memory is measured with each variant in its own subprocess (one warm-up and one step): the peak resident
memory, and its growth over the built model (the step's own activations and optimiser state). The same
subprocess counts the step's floating-point operations (matrix products and convolutions, forward and
backward), a ratio no machine load disturbs. Ratios are to the ZegCLIP baseline::

    python benchmarks/train_step.py                      # CPU, all variants, ~6 min on 2 cores
    python benchmarks/train_step.py --repeats 11 --variants sptseg sptseg-dice   # the headline ratio
    python benchmarks/train_step.py --gpu                # GPU: the VOC preset at batch 16, it/s, memory

Variants (all one optimiser step on the same random batch):

* ``sptseg``: the ``voc-sptseg`` preset through :meth:`sptseg_lib.train.Trainer.train_step`;
* ``zegclip``: the ``voc-zegclip`` preset, same path;
* ``sptseg-dice``: the SPT-SEG network with ZegCLIP's loss (focal + dice instead of focal + SSIM), which
  separates the cost of the network from that of the SSIM loss;
* ``sptseg-textbook``: SPT-SEG with SSIM evaluated the textbook way (five 11x11 convolutions at 512x512,
  ``SegmentationCriterion(ssim_factorised=False)``) instead of through the token grid
  (:mod:`sptseg_lib.ssim`): the same loss, the cost the factorisation saves;
* ``openclip``: open_clip's ``ViT-B-16`` image tower at 512 px, every weight trainable, sum of the
  output as the loss, AdamW step (full fine-tuning, the cost SPT-SEG avoids).

The GPU mode reports iterations per second at the preset's global batch 16 (``--micro-batch`` splits it
by accumulation), the peak GPU memory and the projected wall time of the 20,000-iteration schedule.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


VARIANTS = ("sptseg", "zegclip", "sptseg-dice", "sptseg-textbook", "openclip")


class RandomBatchSet(torch.utils.data.Dataset):
    """``n`` random VOC-like items (image, label over 20 classes with ignore pixels) for the trainer."""

    def __init__(self, n: int, size: int) -> None:
        g = torch.Generator().manual_seed(0)
        self.images = torch.randn(n, 3, size, size, generator=g)
        blocks = torch.randint(0, 20, (n, size // 64, size // 64), generator=g)
        self.labels = blocks.repeat_interleave(64, 1).repeat_interleave(64, 2)
        self.labels[:, : size // 8] = 255

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict:
        return dict(image=self.images[i], label=self.labels[i], name=str(i))


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _step_fn(variant: str, batch: int, micro_batch: int | None, device: str, amp: str, compile_: bool):
    """Build the variant; returns a callable doing one optimiser step on a fixed batch."""
    if variant == "openclip":
        import open_clip

        model = open_clip.create_model("ViT-B-16", pretrained=None, force_image_size=512).visual.to(device)
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=2e-4, weight_decay=0.01)
        images = torch.randn(batch, 3, 512, 512, device=device)

        def step() -> None:
            with torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=amp == "bf16"):
                out = model(images)
            out.float().sum().backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        return step
    from sptseg_lib.config import experiment_preset
    from sptseg_lib.data.splits import get_split
    from sptseg_lib.losses import SegmentationCriterion
    from sptseg_lib.train import Trainer

    loss = {"train.ssim_weight": 0.0, "train.dice_weight": 1.0} if variant == "sptseg-dice" else {}
    exp = experiment_preset(f"voc-{variant.split('-')[0]}").with_overrides(
        {
            **loss,
            "model.pretrained": None,
            "train.batch_size": batch,
            "train.micro_batch": micro_batch,
            "train.amp": amp,
            "train.compile": compile_,
        }
    )
    data = RandomBatchSet(batch, 512)
    out = tempfile.mkdtemp(prefix="sptseg-bench-")
    criterion = None
    if variant == "sptseg-textbook":
        t = exp.train
        criterion = SegmentationCriterion(
            focal_weight=t.focal_weight, ssim_weight=t.ssim_weight, ssim_factorised=False
        )
    trainer = Trainer(
        exp,
        out,
        train_dataset=data,
        split=get_split("voc"),
        criterion=criterion,
        device=device,
        progress=False,
    )
    k, m = trainer.accumulation, trainer.micro_batch
    batches = [
        dict(image=data.images[i * m : (i + 1) * m], label=data.labels[i * m : (i + 1) * m]) for i in range(k)
    ]
    return lambda: trainer.train_step(batches)


def memory_of(args: argparse.Namespace) -> dict:
    """One variant in this process: one warm-up and one step (peak resident and GPU memory), then one step
    under ``FlopCounterMode`` (the floating-point operations of matrix products and convolutions, forward
    and backward: a ratio that no machine load disturbs; not with ``--compile``)."""
    torch.manual_seed(0)
    cuda = args.device.startswith("cuda")
    step = _step_fn(args.variant, args.batch, args.micro_batch, args.device, args.amp, args.compile)
    built = _rss_mib()
    step()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    step()
    result = {"variant": args.variant, "peak_rss_mib": _rss_mib(), "step_rss_mib": _rss_mib() - built}
    if cuda:
        torch.cuda.synchronize()
        result["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
    result["gflop"] = float("nan")  # not counted through torch.compile's graphs
    if not args.compile:
        with FlopCounterMode(display=False) as flops:
            step()
        result["gflop"] = flops.get_total_flops() / 1e9
    return result


def time_interleaved(args: argparse.Namespace, variants: tuple[str, ...]) -> dict[str, list[float]]:
    """Seconds per step of each variant: one warm-up each, then ``repeats`` rounds over all variants."""
    cuda = args.device.startswith("cuda")
    steps = {}
    for v in variants:
        torch.manual_seed(0)
        steps[v] = _step_fn(v, args.batch, args.micro_batch, args.device, args.amp, args.compile)
        steps[v]()
    times: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(args.repeats):
        for v in variants:
            steps[v]()  # untimed: a variant's step right after another's pays for re-growing the heap
            if cuda:
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            steps[v]()
            if cuda:
                torch.cuda.synchronize()
            times[v].append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variant", help="internal: measure the memory of one variant in this process")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=VARIANTS,
        default=None,
        help="variants to compare with zegclip (default: all; on the GPU all but openclip)",
    )
    parser.add_argument("--batch", type=int, default=None, help="images per step (CPU 1, GPU 16)")
    parser.add_argument("--micro-batch", type=int, default=None, help="accumulate micro-batches (GPU)")
    parser.add_argument("--gpu", action="store_true", help="GPU mode: VOC preset, batch 16, bf16")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model (GPU mode)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--amp", default=None, choices=("off", "bf16"))
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    args.device = args.device or ("cuda" if args.gpu else "cpu")
    args.batch = args.batch or (16 if args.gpu else 1)
    args.amp = args.amp or ("bf16" if args.gpu else "off")
    if args.variant:
        print(json.dumps(memory_of(args)))
        return
    args.variants = args.variants or [v for v in VARIANTS if not (args.gpu and v == "openclip")]
    variants = tuple(v for v in VARIANTS if v in args.variants or v == "zegclip")
    if args.gpu and "openclip" in variants:
        parser.error("the GPU mode compares the presets only; leave openclip out of --variants")
    memory = {}
    for variant in variants:
        cmd = [sys.executable, __file__, "--variant", variant, "--batch", str(args.batch)]
        cmd += ["--device", args.device, "--amp", args.amp]
        if args.micro_batch:
            cmd += ["--micro-batch", str(args.micro_batch)]
        if args.compile:
            cmd += ["--compile"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            sys.exit(f"{variant} failed:\n{proc.stderr[-3000:]}")
        memory[variant] = json.loads(proc.stdout.strip().splitlines()[-1])
    times = time_interleaved(args, variants)
    median = {v: statistics.median(t) for v, t in times.items()}
    mem_key = "peak_gpu_mib" if args.gpu else "peak_rss_mib"
    ratio = {v: statistics.median(a / b for a, b in zip(t, times["zegclip"])) for v, t in times.items()}
    base_m = memory["zegclip"]
    print(
        f"device {args.device}, batch {args.batch}, amp {args.amp}, "
        f"medians of {args.repeats} interleaved rounds (time ratios: median of per-round ratios)"
    )
    print(
        f"{'variant':16s} {'step s':>8s} {'x zegclip':>10s} {'GFLOP':>7s} {'x':>6s} {'peak MiB':>9s} "
        f"{'x zegclip':>10s} {'step MiB':>9s} {'x':>6s}"
    )
    for v in variants:
        m = memory[v]
        print(
            f"{v:16s} {median[v]:8.3f} {ratio[v]:10.3f} {m['gflop']:7.1f} "
            f"{m['gflop'] / base_m['gflop']:6.3f} {m[mem_key]:9.0f} {m[mem_key] / base_m[mem_key]:10.3f} "
            f"{m['step_rss_mib']:9.0f} {m['step_rss_mib'] / base_m['step_rss_mib']:6.2f}"
        )
    if args.gpu:
        for v in ("sptseg", "zegclip"):
            its = 1 / median[v]
            print(
                f"{v}: {its:.2f} it/s at batch {args.batch} on {torch.cuda.get_device_name()}, peak "
                f"{memory[v]['peak_gpu_mib'] / 1024:.1f} GiB; 20,000 iterations ~ {20_000 / its / 60:.1f} min"
            )
    if args.json:
        args.json.write_text(
            json.dumps({"times": times, "ratios": ratio, "memory": memory}, indent=2), encoding="utf-8"
        )


if __name__ == "__main__":
    main()
