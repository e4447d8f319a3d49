"""Time of one ``shapes-sptseg`` training step against plain full fine-tuning of the tiny CLIP's image tower.

The miniature (the ``shapes-sptseg`` preset: the shipped tiny CLIP, 4 ViT blocks of width 128, 64-px images,
8 x 8 tokens) trains on one CPU core; this benchmark says what its step costs, and where the time goes:

* ``sptseg``: :meth:`sptseg_lib.train.Trainer.train_step` exactly as :meth:`~sptseg_lib.train.Trainer.fit`
  runs it (the preset's batch 16, its loss, the fast path the trainer takes by default: on the CPU the
  fused loss of ``SegmentationCriterion(fused="auto")``), on real batches of the shapes world drawn by the
  trainer's own loader (``SeededItems`` and the endless sampler), into a temporary run folder;
* ``sptseg-eager`` (``--eager``): the same step with the reference formulation of the loss
  (``SegmentationCriterion(fused=False)``: plain autograd through the formulas);
* ``finetune``: the plain full fine-tuning step of the same tiny CLIP's image tower on the same images:
  every weight trainable, forward, the sum of the output as the loss, backward, AdamW (lr 2e-4, weight
  decay 0.01), the cost that prompt tuning is compared with.

One torch thread (``torch.set_num_threads(1)``), after ``--warmup`` steps of each; then ``--repeats``
rounds, the variants interleaved in each round (so that a shared machine's load hits them alike), each
making an untimed step before its timed one. A ratio is the median over rounds of ``step / finetune`` in
the same round (paired, so that drifts in the machine's speed cancel); on a shared 2-core machine use 20
rounds or more, and expect +-0.1 between runs when other work shares the cores. The fetch of a batch
(rendering 16 scenes, ``data.num_workers = 0`` in the preset) is timed apart and is not part of the step::

    python benchmarks/miniature_step.py                 # ~1 min; the last line is "ratio R"
    python benchmarks/miniature_step.py --profile       # also: where the step's time goes
    python benchmarks/miniature_step.py --eager         # also the step with the reference loss

``--profile`` runs 10 more ``sptseg`` steps under ``torch.profiler`` (after the timed rounds) and prints the
step's time split into its parts (encoder forward, decoder forward, loss forward, backward, optimiser,
bookkeeping) and the operators that take most of it.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sptseg_lib.clip_loading import load_clip  # noqa: E402
from sptseg_lib.config import experiment_preset  # noqa: E402
from sptseg_lib.losses import SegmentationCriterion  # noqa: E402
from sptseg_lib.train import Trainer  # noqa: E402

PRESET = "shapes-sptseg"


def build_sptseg(
    out_dir: str, compile_mode: str | None, batches: int, eager_loss: bool = False
) -> tuple[Trainer, list[list[dict]]]:
    """The preset's trainer and ``batches`` real steps' worth of micro-batches from its loader.

    ``eager_loss``: the trainer's criterion is the reference formulation of the loss
    (``SegmentationCriterion(fused=False)``) instead of its default (fused on the CPU).
    """
    overrides: dict = {}
    if compile_mode is not None:
        overrides["train.compile"] = compile_mode == "on"
    exp = experiment_preset(PRESET).with_overrides(overrides)
    criterion = None
    if eager_loss:
        t = exp.train
        criterion = SegmentationCriterion(
            focal_weight=t.focal_weight, ssim_weight=t.ssim_weight, dice_weight=t.dice_weight, fused=False
        )
    torch.manual_seed(0)
    trainer = Trainer(exp, out_dir, criterion=criterion, device="cpu", progress=False)
    loader = trainer.loader()
    steps = [[next(loader) for _ in range(trainer.accumulation)] for _ in range(batches)]
    return trainer, steps


def build_finetune(trainer: Trainer, images: torch.Tensor):
    """Full fine-tuning of the tiny CLIP's image tower: returns a callable doing one AdamW step."""
    m = trainer.experiment.model
    visual = load_clip(m.clip_model, m.pretrained).visual
    visual.requires_grad_(True)
    visual.train()
    opt = torch.optim.AdamW(visual.parameters(), lr=2e-4, weight_decay=0.01)

    def step() -> None:
        out = visual(images)
        out.float().sum().backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def time_fetch(trainer: Trainer, n: int) -> float:
    """Median seconds to fetch one step's batch through the trainer's loader (rendering the scenes)."""
    loader = trainer.loader()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        for _ in range(trainer.accumulation):
            next(loader)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


# --- profile ---------------------------------------------------------------------------------------

PHASES = ("encoder", "decoder", "loss", "backward", "optimizer")


class _Phases:
    """Wall time of the step's phases, found by wrapping the encoder, decoder, criterion, backward and the
    optimiser step in ``record_function`` ranges (eager mode) and timing them with ``perf_counter``."""

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self.times: dict[str, float] = dict.fromkeys(PHASES, 0.0)
        self._undo: list = []

    def _wrap(self, owner, attr: str, name: str) -> None:
        original = getattr(owner, attr)
        had = attr in vars(owner)

        def timed(*args, **kwargs):
            with torch.profiler.record_function(f"## {name}"):
                t0 = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    self.times[name] += time.perf_counter() - t0

        setattr(owner, attr, timed)
        self._undo.append((owner, attr, original if had else None))

    def __enter__(self) -> _Phases:
        t = self.trainer
        model = getattr(t.model, "_orig_mod", t.model)
        self._wrap(model.encoder, "forward", "encoder")
        self._wrap(model.decoder, "forward", "decoder")
        self._wrap(t, "criterion", "loss")
        self._wrap(t.optimizer, "step", "optimizer")
        original_backward = torch.Tensor.backward
        phases = self

        def backward(tensor, *args, **kwargs):
            with torch.profiler.record_function("## backward"):
                t0 = time.perf_counter()
                try:
                    return original_backward(tensor, *args, **kwargs)
                finally:
                    phases.times["backward"] += time.perf_counter() - t0

        torch.Tensor.backward = backward  # type: ignore[method-assign]
        self._undo.append((torch.Tensor, "backward", original_backward))
        return self

    def __exit__(self, *exc) -> None:
        for owner, attr, original in reversed(self._undo):
            if original is None:
                delattr(owner, attr)  # the wrapper shadowed a method of the class
            else:
                setattr(owner, attr, original)


def profile(trainer: Trainer, steps: list[list[dict]], n: int, fetch_s: float, top: int) -> None:
    """Print where ``n`` steps' time goes: the phases, then the most expensive operators."""
    if trainer.engine is not trainer.model:
        print("(the model is compiled: the split between encoder, decoder and bookkeeping is not meaningful)")
    total = 0.0
    with (
        _Phases(trainer) as phases,
        torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof,
    ):
        for i in range(n):
            t0 = time.perf_counter()
            trainer.train_step(steps[i % len(steps)])
            total += time.perf_counter() - t0
    step_ms = 1000 * total / n
    parts = {k: 1000 * v / n for k, v in phases.times.items()}
    parts["bookkeeping"] = step_ms - sum(parts.values())
    print(
        f"\nwhere one sptseg step's {step_ms:.1f} ms go (mean of {n} profiled steps; the profiler adds "
        "overhead to every operator):"
    )
    for k, v in parts.items():
        print(f"  {k:12s} {v:7.1f} ms  {100 * v / step_ms:5.1f} %")
    criterion = trainer.criterion
    if isinstance(criterion, SegmentationCriterion) and criterion.uses_fused(trainer.device):
        print("  (fused loss: 'loss' includes its closed-form gradient; 'backward' is the model's)")
    print(f"  {'(data fetch':12s} {1000 * fetch_s:7.1f} ms  per step, outside the step: 16 scenes rendered)")
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top)
    print(f"\nthe {top} operators with the most self time over the {n} profiled steps:\n{table}")


# --- main ------------------------------------------------------------------------------------------


def _stepper(trainer: Trainer, steps: list[list[dict]]):
    """A callable making the trainer's next step, cycling through the prepared batches."""
    counter = iter(range(10**9))

    def step() -> None:
        trainer.train_step(steps[next(counter) % len(steps)])

    return step


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=25, help="interleaved timed rounds (>= 20 advised)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps of each variant first")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the miniature's one core)")
    parser.add_argument(
        "--compile",
        choices=("on", "off"),
        default=None,
        help="train.compile (torch.compile of the model) for the sptseg step; default: the preset's (off)",
    )
    parser.add_argument(
        "--eager",
        action="store_true",
        help="also time the step with the reference (unfused) loss, interleaved with the others",
    )
    parser.add_argument("--profile", action="store_true", help="also print where the step's time goes")
    parser.add_argument("--profile-steps", type=int, default=10)
    parser.add_argument("--top", type=int, default=25, help="operators listed by --profile")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory(prefix="sptseg-miniature-step-") as out:
        trainer, steps = build_sptseg(str(Path(out) / "fast"), args.compile, batches=8)
        images = steps[0][0]["image"]
        variants = {"sptseg": _stepper(trainer, steps)}
        if args.eager:
            eager, eager_steps = build_sptseg(str(Path(out) / "eager"), args.compile, 8, eager_loss=True)
            variants["sptseg-eager"] = _stepper(eager, eager_steps)
        variants["finetune"] = build_finetune(trainer, images)
        fetch_s = time_fetch(trainer, 5)
        for step in variants.values():
            for _ in range(args.warmup):
                step()
        times: dict[str, list[float]] = {v: [] for v in variants}
        for _ in range(args.repeats):
            for name, step in variants.items():
                step()  # untimed: the timed step follows a step of the same variant, as in training
                t0 = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - t0)
        median = {v: statistics.median(t) for v, t in times.items()}
        ratios = {v: statistics.median(a / b for a, b in zip(t, times["finetune"])) for v, t in times.items()}
        compiled = trainer.engine is not trainer.model
        print(
            f"{PRESET}, batch {trainer.experiment.train.batch_size}, {images.shape[-1]} px, "
            f"{torch.get_num_threads()} thread(s), compiled: {compiled}; medians of {args.repeats} "
            f"interleaved rounds after {args.warmup} warm-up steps (ratio: median of per-round ratios)"
        )
        labels = {
            "sptseg": "sptseg step (Trainer.train_step)",
            "sptseg-eager": "the same, reference (unfused) loss",
            "finetune": "full fine-tuning of the image tower",
        }
        for v in variants:
            print(f"  {labels[v]:38s} {1000 * median[v]:7.1f} ms   x finetune {ratios[v]:5.2f}")
        print(f"  {'data fetch per step (not in the step)':38s} {1000 * fetch_s:7.1f} ms")
        iters = trainer.experiment.train.iterations
        print(
            f"  the preset's {iters} iterations ~ {iters * (median['sptseg'] + fetch_s) / 60:.1f} min "
            "(steps + data fetch, one core)"
        )
        if args.profile:
            with contextlib.suppress(KeyboardInterrupt):
                profile(trainer, steps, args.profile_steps, fetch_s, args.top)
        print(f"ratio {ratios['sptseg']:.2f}")


if __name__ == "__main__":
    main()
