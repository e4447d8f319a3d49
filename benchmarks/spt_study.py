"""When do spectral prompts help? The pre-registered miniature study of SPT, its arms as data.

Each arm asks one question by comparing a treatment with a control on the same seeds (paired: same data
order and same initial weights of the shared parts, ``sptseg_lib.ablations.contrasts``), trained by
:func:`sptseg_lib.study.run_one` with the presets' recipe (that of the miniature tables, ``gate_init`` =
``first_batch`` included) and scored on the 200 fixed ``test`` scenes. The arms, the seeds and the rule for
more seeds were fixed before any run:

* 5 seeds (0-4) per side; an arm whose 95% interval of the paired hIoU difference is wider than +-5 after
  them gets 5 more (5-9), whichever its sign (:func:`needs_more_seeds`); ``later_blocks``, registered after
  the tables had suggested it on seeds 0-4, takes fresh seeds 5-9 (and 10-14 by the same rule);
* per comparison: both sides' pAcc, mIoU(S), mIoU(U), hIoU per seed and as mean and std, the paired
  differences in hIoU and mIoU(U) with their t-intervals (:func:`sptseg_lib.ablations.paired_difference`),
  and the verdict of the hIoU interval: ``helps`` (above 0), ``hurts`` (below 0) or
  ``no detectable difference``.

The sides of the default world are the tables' runs (``data/miniature/tables_runs/test``): a run recorded
there is reused, not retrained. Every other side records its runs under
``data/miniature/spt_study/runs/<side>/`` as they finish, and a rerun skips recorded runs, so the study can
be completed over several sittings (commit the records as they come). Output:
``data/miniature/spt_study.json`` and ``.md``::

    python benchmarks/spt_study.py --dry-run            # the runs still to do, per arm
    nice python benchmarks/spt_study.py --jobs 2 --budget-minutes 150
    python benchmarks/spt_study.py --arms zero_init_filter --jobs 2
    python benchmarks/spt_study.py --arms zero_init_filter --quick 100 --seeds 2 --out runs/quick

``--quick N`` reruns arms at ``N / 1500`` of their schedules (``--seeds K``: the first K seeds, no more-seeds
rule), every side trained afresh and recorded under ``--out``, never beside the study's own records: a look
at the machinery in minutes (notebook 10 reruns an arm so), not a result.

``spectral_world`` trains the ``stripes-*`` presets: the stripes world, whose object classes differ by
stripe texture and shape with colour uninformative, and its own tiny CLIP (``data/tiny_clip_stripes/``);
``fabric_world`` the ``fabrics-*`` presets: colour x stripe texture, shape uninformative, with
``data/tiny_clip_fabrics/``. Each runs only if its CLIP passes :data:`MIN_UNSEEN_ZERO_SHOT`, and waits until
that CLIP exists, unless ``Arm.run_despite_rule`` says why it runs all the same (``spectral_world``: its
results are marked ``outside_rule``); ``data/miniature/spt_study/README.md`` says why they are built so.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sptseg_lib.ablations import paired_difference  # noqa: E402
from sptseg_lib.runs import runs_dir  # noqa: E402
from sptseg_lib.study import METRICS, Recipe, run_one  # noqa: E402

TABLES_RECORD = ROOT / "data" / "miniature" / "tables_runs" / "test"
STUDY_RECORD = ROOT / "data" / "miniature" / "spt_study" / "runs"
STUDY_JSON = ROOT / "data" / "miniature" / "spt_study.json"
SCHEDULE = 1500
"""The presets' iterations."""
FIRST_SEEDS = tuple(range(5))
MORE_SEEDS = tuple(range(5, 10))
MAX_HALF_WIDTH = 5.0
"""hIoU points: an arm whose interval after :data:`FIRST_SEEDS` is wider than +-this gets
:data:`MORE_SEEDS`."""
MIN_UNSEEN_ZERO_SHOT = 0.5
"""The rule of an arm in a world of its own: it runs only if that world's tiny CLIP, pretrained by the
project's script, names the unseen classes zero-shot at least this often (chance 0.05)."""


@dataclass(frozen=True)
class Side:
    """One trained configuration: a ``shapes-*`` or ``stripes-*`` preset with ``changes`` (``--set``
    assignments), for ``iterations``; its runs are recorded under
    ``record/<preset>/seed<k>.json``."""

    key: str
    preset: str
    changes: tuple[str, ...] = ()
    iterations: int = SCHEDULE
    from_tables: bool = False
    root: Path | None = None
    """Where a quick rerun records this side (``<root>/<key>/``); ``None``: the study's own records."""

    @property
    def record(self) -> Path:
        if self.root is not None:
            return self.root / self.key
        return TABLES_RECORD if self.from_tables else STUDY_RECORD / self.key

    def recipe(self, threads: int) -> Recipe:
        """The recipe :func:`sptseg_lib.study.run_one` trains this side's runs with."""
        return Recipe(self.iterations, self.changes, "test", self.record, threads)


@dataclass(frozen=True)
class Arm:
    """A question and the ``(treatment, control)`` comparisons that answer it."""

    name: str
    question: str
    comparisons: tuple[tuple[Side, Side], ...]
    clip: str = ""
    """The folder under ``data/`` of the tiny CLIP that the arm's world needs (empty: the shipped shapes
    CLIP); its ``pretraining.json`` decides :attr:`not_run` by :data:`MIN_UNSEEN_ZERO_SHOT`."""
    first_seeds: tuple[int, ...] = FIRST_SEEDS
    more_seeds: tuple[int, ...] = MORE_SEEDS
    """The seeds added when :func:`needs_more_seeds` asks for them after :attr:`first_seeds`."""
    run_despite_rule: str = ""
    """Why the arm runs although its CLIP failed the rule, and when that was decided (before any of its
    runs); empty: the rule decides. Its results are then reported with :attr:`outside_rule`."""

    def _unseen_zero_shot(self) -> float | None:
        record = ROOT / "data" / self.clip / "pretraining.json"
        return (
            json.loads(record.read_text(encoding="utf-8"))["zero_shot"]["unseen"]
            if record.is_file()
            else None
        )

    @property
    def rule_failed(self) -> str:
        """How the arm's world fails its rule (its CLIP below :data:`MIN_UNSEEN_ZERO_SHOT`); empty when
        it passes or waits (:attr:`waiting`)."""
        unseen = self._unseen_zero_shot() if self.clip else None
        if unseen is None or unseen >= MIN_UNSEEN_ZERO_SHOT:
            return ""
        return (
            f"its world's tiny CLIP (data/{self.clip}/) reached an unseen zero-shot accuracy of "
            f"{unseen:.2f}, below the {MIN_UNSEEN_ZERO_SHOT} fixed before its pretraining ended"
        )

    @property
    def not_run(self) -> str:
        """Why the arm is not run, by its rule (:attr:`rule_failed`, unless :attr:`run_despite_rule`);
        empty when it runs or waits."""
        return "" if self.run_despite_rule else self.rule_failed

    @property
    def outside_rule(self) -> str:
        """For an arm run although its rule failed: how it failed and why it runs; else empty."""
        if self.run_despite_rule and self.rule_failed:
            return f"{self.rule_failed}; run all the same: {self.run_despite_rule}"
        return ""

    @property
    def waiting(self) -> str:
        """What the arm waits for before its runs can start (empty: nothing)."""
        if self.clip and self._unseen_zero_shot() is None:
            return f"its world's tiny CLIP, not pretrained yet (data/{self.clip}/pretraining.json)"
        return ""


SPTSEG = Side("sptseg", "shapes-sptseg", from_tables=True)
SGD = Side("sgd", "shapes-sgd", from_tables=True)
SPT = Side("spt", "shapes-spt", from_tables=True)
ZEGCLIP = Side("zegclip", "shapes-zegclip", from_tables=True)
GRID_16 = ("data.crop_size=128", "data.test_stride=128", "model.image_size=128")
"""128-px scenes (objects scaled with the image, stripes keeping their period in pixels, so that a patch sees
what the tiny CLIP saw in pretraining) on a 16 x 16 token grid; the tiny CLIP's positions interpolated."""

ARMS: tuple[Arm, ...] = (
    Arm(
        "default_world",
        "Today's world and recipe: does SPT help, with the SGD decoder and without it?",
        ((SPTSEG, SGD), (SPT, ZEGCLIP)),
    ),
    Arm(
        "zero_init_filter",
        "SPT-SEG with w_f = 0 at the start (training starts exactly at +SGD) vs +SGD: does learning the "
        "filter move the model somewhere better?",
        ((Side("sptseg-zero-filter", "shapes-sptseg", ("model.spt_filter_init_std=0.0",)), SGD),),
    ),
    Arm(
        "per_layer_filter",
        "SPT on the first two blocks with one filter per block (the paper's w_f^l) vs +SGD.",
        (
            (
                Side(
                    "sptseg-per-layer",
                    "shapes-sptseg",
                    ("model.spt_layers=[0,1]", "model.spt_shared_filter=false"),
                ),
                SGD,
            ),
        ),
    ),
    Arm(
        "grid_16x16",
        "SPT-SEG vs +SGD on a 16 x 16 token grid (eight frequencies per axis may be too few for a filter).",
        ((Side("sptseg-grid16", "shapes-sptseg", GRID_16), Side("sgd-grid16", "shapes-sgd", GRID_16)),),
    ),
    Arm(
        "long_schedule",
        "SPT-SEG vs +SGD at three times the schedule (4,500 iterations, same recipe otherwise).",
        (
            (
                Side("sptseg-long", "shapes-sptseg", iterations=3 * SCHEDULE),
                Side("sgd-long", "shapes-sgd", iterations=3 * SCHEDULE),
            ),
        ),
    ),
    Arm(
        "later_blocks",
        "SPT-SEG with its prompts in the later blocks (depth 6-12: tiny blocks 1-3) vs +SGD, on fresh seeds: "
        "does the tables' exploratory gain hold? (registered after the tables, before any of its runs)",
        (
            (
                Side("depth6-12-fresh", "shapes-sptseg-depth6-12"),
                Side("sgd-fresh", "shapes-sgd"),
            ),
        ),
        first_seeds=tuple(range(5, 10)),
        more_seeds=tuple(range(10, 15)),
    ),
    Arm(
        "spectral_world",
        "SPT-SEG vs +SGD in the stripes world, where an object's class is its stripe texture (period and "
        "orientation) and shape, its colour uninformative: structure that lives in the spectrum.",
        ((Side("sptseg-stripes", "stripes-sptseg"), Side("sgd-stripes", "stripes-sgd")),),
        clip="tiny_clip_stripes",
        run_despite_rule="the study's acceptance asks for every arm with 5 paired seeds (decided on "
        "2026-12-02, after every other arm and before any run of this one)",
    ),
    Arm(
        "fabric_world",
        "SPT-SEG vs +SGD in the fabrics world, where an object's class is its colour and its stripe texture "
        "(period and orientation), its shape uninformative: which of a colour's classes it is lives in the "
        "spectrum (registered after spectral_world's CLIP failed its rule, before any of its own runs).",
        ((Side("sptseg-fabrics", "fabrics-sptseg"), Side("sgd-fabrics", "fabrics-sgd")),),
        clip="tiny_clip_fabrics",
    ),
)


def arm(name: str) -> Arm:
    """The arm called ``name``, or a clear error listing them."""
    for a in ARMS:
        if a.name == name:
            return a
    raise SystemExit(f"unknown arm {name!r}; the arms are {', '.join(a.name for a in ARMS)}")


def recorded(side: Side, seed: int) -> dict[str, Any] | None:
    """The recorded result of ``side``'s run with ``seed``, or ``None``."""
    path = side.record / side.preset / f"seed{seed}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def needs_more_seeds(comparisons: list[dict[str, Any]]) -> bool:
    """The pre-registered rule: after :data:`FIRST_SEEDS`, more seeds when any comparison's 95% interval of
    the paired hIoU difference is wider than +-:data:`MAX_HALF_WIDTH` (a NaN interval counts as wide)."""
    for c in comparisons:
        low, high = c["hIoU"]["ci95"]
        if not (high - low) / 2 <= MAX_HALF_WIDTH:
            return True
    return False


def compare(treatment: Side, control: Side, seeds: list[int]) -> dict[str, Any] | None:
    """Both sides' metrics on the ``seeds`` both have recorded, their summaries and paired differences;
    ``None`` when no seed is recorded on both sides. A verdict waits for all of ``seeds``: until then it
    reads "none yet (k of n seeds)", whatever the interval of the first k says."""
    a = {s: r for s in seeds if (r := recorded(treatment, s)) is not None}
    b = {s: r for s in seeds if (r := recorded(control, s)) is not None}
    common = [s for s in seeds if s in a and s in b]
    if not common:
        return None
    out: dict[str, Any] = {"treatment": treatment.key, "control": control.key, "seeds": common}
    for name, runs in (("treatment", a), ("control", b)):
        per_seed = {str(s): {m: runs[s][m] for m in METRICS} for s in common}
        values = {m: [runs[s][m] for s in common] for m in METRICS}
        out[f"{name}_metrics"] = per_seed
        out[f"{name}_summary"] = {
            m: {"mean": statistics.fmean(v), "std": statistics.stdev(v) if len(v) > 1 else math.nan}
            for m, v in values.items()
        }
    for m in ("hIoU", "mIoU_unseen"):
        out[m] = paired_difference([a[s][m] for s in common], [b[s][m] for s in common])
        if common != seeds:
            out[m]["verdict"] = f"none yet ({len(common)} of {len(seeds)} seeds)"
    out["verdict"] = out["hIoU"]["verdict"]
    return out


def arm_seeds(a: Arm) -> list[int]:
    """The seeds arm ``a`` needs now: its ``first_seeds``, and its ``more_seeds`` once the first are all
    recorded and the rule asks for them."""
    first, more = a.first_seeds, a.more_seeds
    results = [compare(t, c, list(first)) for t, c in a.comparisons]
    if any(r is None or r["seeds"] != list(first) for r in results):
        return list(first)
    return list(first) + list(more) if needs_more_seeds(results) else list(first)


def quick_arms(arms: list[Arm], iterations: int, root: Path, seeds: int) -> list[Arm]:
    """``arms`` at ``iterations / SCHEDULE`` of every side's schedule on the first ``seeds`` of their first
    seeds (no more-seeds rule), every side recorded under ``root``."""

    def side(s: Side) -> Side:
        return replace(
            s, iterations=max(1, s.iterations * iterations // SCHEDULE), from_tables=False, root=root
        )

    return [
        replace(
            a,
            comparisons=tuple((side(t), side(c)) for t, c in a.comparisons),
            first_seeds=a.first_seeds[:seeds],
            more_seeds=(),
        )
        for a in arms
    ]


def pending(arms: list[Arm]) -> list[tuple[Side, int]]:
    """The runs still to train, seed-major over the arms' sides, each side once."""
    todo: dict[tuple[str, int], tuple[Side, int]] = {}
    per_arm = [(a, arm_seeds(a)) for a in arms if not a.not_run and not a.waiting]
    for seed in sorted({s for _, seeds in per_arm for s in seeds}):
        for a, seeds in per_arm:
            if seed not in seeds:
                continue
            for side in (s for pair in a.comparisons for s in pair):
                if recorded(side, seed) is None:
                    todo.setdefault((side.key, seed), (side, seed))
    return list(todo.values())


def summary(arms: list[Arm]) -> dict[str, Any]:
    """``{"arms": {name: {"question", "sides", "design", "seeds", "comparisons": [compare(...)],
    "verdict"}}}`` of what is recorded (an arm's verdict is its first comparison's); ``sides`` lists each
    comparison's ``[treatment, control]`` keys and ``design`` what each side trains, recorded or not."""
    out: dict[str, Any] = {}
    for a in arms:
        seeds = arm_seeds(a)
        comparisons = [c for t, ctrl in a.comparisons if (c := compare(t, ctrl, seeds)) is not None]
        out[a.name] = {
            "question": a.question,
            "sides": [[t.key, c.key] for t, c in a.comparisons],
            "design": {
                s.key: {"preset": s.preset, "changes": list(s.changes), "iterations": s.iterations}
                for pair in a.comparisons
                for s in pair
            },
            "seeds": seeds,
            "not_run": a.not_run,
            "outside_rule": a.outside_rule,
            "waiting": a.waiting,
            "complete": all(c["seeds"] == seeds for c in comparisons)
            and len(comparisons) == len(a.comparisons),
            "comparisons": comparisons,
            "verdict": comparisons[0]["verdict"] if comparisons else None,
        }
    iterations = sorted({s.iterations for a in arms for pair in a.comparisons for s in pair})
    return {
        "recipe": "the miniature presets (shapes-*, stripes-*, fabrics-*)",
        "iterations": iterations,
        "split": "test",
        "arms": out,
    }


def _interval(d: dict[str, Any]) -> str:
    low, high = d["ci95"]
    return f"{d['mean']:+.1f} [{low:+.1f}, {high:+.1f}]"


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# When do spectral prompts help? The miniature SPT study",
        "",
        f"Recipe: {result['recipe']} (iterations {result['iterations']}); scored on the 200 `test` scenes; "
        "paired differences treatment - control over seeds with 95% t-intervals.",
        "",
        "| arm | treatment | control | seeds | treatment hIoU | control hIoU | diff. hIoU [95%] | "
        "diff. mIoU(U) [95%] | verdict |",
        "|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, a in result["arms"].items():
        for c in a["comparisons"]:
            t, k = c["treatment_summary"]["hIoU"], c["control_summary"]["hIoU"]
            sides = f"{c['treatment']} | {c['control']} | {len(c['seeds'])}"
            values = f"{t['mean']:.1f} +- {t['std']:.1f} | {k['mean']:.1f} +- {k['std']:.1f}"
            lines.append(
                f"| {name}{'' if a['complete'] else ' (incomplete)'}"
                f"{' (outside its rule)' if a.get('outside_rule') else ''} | {sides} | {values} | "
                f"{_interval(c['hIoU'])} | {_interval(c['mIoU_unseen'])} | {c['verdict']} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arms", nargs="*", help="only these arms (default: all)")
    p.add_argument("--jobs", type=int, default=2, help="runs trained at the same time (one per CPU core)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads per run")
    p.add_argument("--budget-minutes", type=float, default=60.0, help="start no new run after this")
    p.add_argument("--dry-run", action="store_true", help="list the runs still to do and stop")
    p.add_argument("--quick", type=int, metavar="N", help="a quick rerun: N iterations for a 1,500 schedule")
    p.add_argument("--seeds", type=int, help="with --quick: each arm's first K seeds (default 5)")
    p.add_argument("--out", type=Path, help="with --quick: where its records and JSON go (required)")
    args = p.parse_args(argv)
    if (args.quick is None) != (args.out is None) or (args.quick is None and args.seeds is not None):
        p.error(
            "--quick N and --out DIR go together (--seeds only with them): the study's own records "
            "take only the pre-registered runs"
        )
    arms = [arm(n) for n in args.arms] if args.arms else list(ARMS)
    reported, study_json, out = list(ARMS), STUDY_JSON, runs_dir("spt_study")
    if args.quick is not None:
        arms = reported = quick_arms(arms, args.quick, args.out / "runs", args.seeds or len(FIRST_SEEDS))
        study_json, out = args.out / "spt_study.json", args.out / "checkpoints"
    t0 = time.perf_counter()
    deadline = time.time() + 60 * args.budget_minutes
    while todo := pending(arms):
        print(f"{len(todo)} run(s) to do: " + ", ".join(f"{s.key} seed {k}" for s, k in todo), flush=True)
        if args.dry_run or time.time() > deadline:
            break
        with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
            futures = {
                pool.submit(run_one, s.preset, k, s.recipe(args.threads), out / s.key, deadline): (s, k)
                for s, k in todo
            }
            for future in as_completed(futures):
                side, seed = futures[future]
                res, trained = future.result()
                if trained:
                    minutes = (time.perf_counter() - t0) / 60
                    print(f"[{minutes:5.1f} min] {side.key} seed {seed}: hIoU {res['hIoU']:.1f}", flush=True)
        if time.time() > deadline:
            break
    result = summary(reported)  # every arm of the study, whichever were trained now
    if not args.dry_run:
        study_json.parent.mkdir(parents=True, exist_ok=True)
        study_json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        study_json.with_suffix(".md").write_text(markdown(result), encoding="utf-8")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
