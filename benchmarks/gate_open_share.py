"""Share of tokens the eq. 7 gate lets through at the start of training, for every miniature row with the
Spectral Guided Decoder, under both ``model.gate_init`` choices.

For each ``shapes-*`` preset with SGD layers (the trained rows of ``benchmarks/miniature_tables.py``) and
each seed, the trainer is built as a run would build it (same initial weights, same first batch), and the
gate's open share (``clamp(cos(z, xi), 0, 1) > 0``) is measured on that first batch of 16 scenes:
with ``xi ~ N(0, 1)`` (``randn``, the reference) and after ``first_batch`` has pointed it at the tokens.
A share of 0 means no gradient reaches anything before the gate: the run cannot train. Nothing is trained;
the last decoder layer (the one whose masks are supervised) is reported::

    python benchmarks/gate_open_share.py --seeds 5        # about a minute on one core
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sptseg_lib.config import experiment_preset  # noqa: E402
from sptseg_lib.study import miniature_tables  # noqa: E402
from sptseg_lib.train import Trainer  # noqa: E402


def gated_presets() -> list[str]:
    """The tables' trained rows with SGD layers, each configuration once."""
    tables, fully_rows = miniature_tables()
    presets = [p for _, rows in tables.values() for _, p in rows if not p.startswith("baseline:")]
    presets += [p for _, p in fully_rows]
    seen, out = set(), []
    for p in dict.fromkeys(presets):
        exp = experiment_preset(p)
        key = (exp.model, exp.train.setting)
        if exp.model.sgd and key not in seen:
            seen.add(key)
            out.append(p)
    return out


def open_shares(preset: str, seed: int) -> tuple[float, float]:
    """``(randn, first_batch)`` open share of the last decoder layer's gate on the run's first batch."""
    exp = experiment_preset(preset).with_overrides({"train.seed": seed})
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(exp, Path(out), device="cpu", progress=False)
        images = next(trainer.loader())["image"]
    model = trainer.model.eval()
    with torch.no_grad():
        _, dense = model.encoder(images)
        tokens = dense.flatten(2).transpose(1, 2)
        last = model.decoder.layers[-1]
        before = float((last.gate.similarity(last.hilo(tokens, dense.shape[-2:])) > 0).float().mean())
    after = model.initialise_gates(images)[-1]
    return before, after


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=5)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    seeds = list(range(args.seeds))
    print("| preset | gate_init | " + " | ".join(f"seed {s}" for s in seeds) + " |")
    print("|---|---|" + "---:|" * len(seeds))
    for preset in gated_presets():
        shares = [open_shares(preset, s) for s in seeds]
        for i, name in enumerate(("randn", "first_batch")):
            cells = " | ".join(f"{100 * s[i]:.1f}%" for s in shares)
            print(f"| `{preset}` | {name} | {cells} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
