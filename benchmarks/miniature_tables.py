"""The paper's Tables 1-4 in miniature: every row trained on the shapes world with the shipped tiny CLIP.

Each row is a ``shapes-*`` preset (``sptseg_lib/config/``) trained by the project's own trainer with its
own losses, for ``--iterations`` steps (the warm-up scaled with it), and scored on the fixed 200-image
``test`` split of the shapes world (whole-image inference, the inductive seen-class penalty 0.1): each run
is :func:`sptseg_lib.study.run_one`, the rows those of :func:`sptseg_lib.study.miniature_tables`. Every
row gets ``--seeds`` seeds (``train.seed``: decoder and prompt initialisation, dropout, the order of the
training stream); the tables give mean +- standard deviation (sample std, ``n - 1``). The same recipe
applies to every row; only the model (and, as in the paper, ZegCLIP's own focal + dice loss on its row)
differs.

* Table 1: the two training-free baselines (:mod:`sptseg_lib.baselines`, deterministic: one value),
  ZegCLIP and SPT-SEG (inductive), and with ``--fully`` their fully supervised rows (all 20 classes).
* Table 2: the ablation: ZegCLIP, +SPT, +SGD, SPT-SEG.
* Table 3: the SPT depth, paper layer ranges mapped onto the 4-block tiny ViT (``config.tiny_blocks``).
* Table 4: decoder layers 1, 3, 5.

The rows, their labels (the paper's, so that the paper's numbers can be looked up by label) and the
tables' subjects come from :mod:`sptseg_lib.ablations`; Table 3's labels add the tiny blocks.

Identical configurations (SPT-SEG = depth 1-2 = 3 decoder layers) are trained once and shared. Each run
writes ``<out>/<preset>/seed<k>/result.json``; a rerun skips runs that already have one, so an interrupted
script continues where it stopped. ``--jobs`` runs train at the same time (one per core, each with
``--threads`` torch threads), seed by seed over all rows; no run starts after ``--budget-minutes``, and the
tables keep only the seeds every row finished, so that rows are never compared on unequal samples.
Output: ``<out>/tables.md`` and ``<out>/tables.json``, ``<out>`` defaulting to
``$SPTSEG_RUNS/miniature_tables`` (``runs/``)::

    python benchmarks/miniature_tables.py --fully --jobs 2 --budget-minutes 240 \
        --record data/miniature/tables_runs/test  # 5 seeds x 1,500 its, 60 runs: about 3.5 h, 2 cores
    python benchmarks/miniature_tables.py --iterations 20 --seeds 1 --rows sptseg   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sptseg_lib import ablations  # noqa: E402
from sptseg_lib.ablations import CONTRAST_METRICS, contrasts  # noqa: E402
from sptseg_lib.baselines import BASELINES, evaluate_baseline  # noqa: E402
from sptseg_lib.clip_loading import get_tokenizer, load_clip  # noqa: E402
from sptseg_lib.config import experiment_preset  # noqa: E402
from sptseg_lib.data.shapes import SHAPES_SPLIT, ShapesDataset  # noqa: E402
from sptseg_lib.runs import runs_dir  # noqa: E402
from sptseg_lib.study import METRICS, Recipe, config_key, miniature_tables, run_one  # noqa: E402

HEADERS = ("pAcc", "mIoU(S)", "mIoU(U)", "hIoU")
TABLES, FULLY_ROWS = miniature_tables()


def summarise(values: list[float]) -> dict[str, Any]:
    clean = [v for v in values if not math.isnan(v)]
    mean = statistics.fmean(clean) if clean else math.nan
    std = statistics.stdev(clean) if len(clean) > 1 else (0.0 if clean else math.nan)
    return {"mean": mean, "std": std, "n": len(clean), "values": values}


def markdown(tables: dict[str, Any], meta: dict[str, Any]) -> str:
    lines = [
        "# SPT-SEG in miniature: Tables 1-4 on the shapes world",
        "",
        f"- recipe: {meta['recipe']}",
        f"- seeds: {meta['seeds']} (mean +- sample std over seeds; training-free rows are deterministic)",
        f"- scored on: {meta['test_images']} fixed images of the shapes `{meta.get('split', 'test')}` split, "
        "whole-image inference",
        f"- machine: {meta['machine']}; wall time {meta['wall_minutes']:.1f} min",
        "",
    ]
    for table in tables.values():
        lines += [f"## {table['title']}", "", "| row | preset | " + " | ".join(HEADERS) + " | seeds |"]
        lines.append("|---|---|" + "---:|" * (len(HEADERS) + 1))
        for row in table["rows"]:
            cells = []
            for m in METRICS:
                s = row["metrics"][m]
                cells.append("n/a" if s["n"] == 0 else f"{s['mean']:.1f} +- {s['std']:.1f}")
            lines.append(
                f"| {row['label']} | `{row['preset']}` | " + " | ".join(cells) + f" | {row['seeds']} |"
            )
        lines.append("")
    return "\n".join(lines)


def contrasts_markdown(paired: dict[str, list[dict]]) -> str:
    """The paired differences as one Markdown table per ablation table."""
    lines = [
        "## Paired contrasts (treatment - control, same seeds; mean and 95% t-interval over seeds)",
        "",
    ]
    for table, entries in paired.items():
        lines += [
            f"### {ablations.TABLES[table].title}",
            "",
            "| treatment - control | hIoU | mIoU(U) | verdict (hIoU) |",
        ]
        lines.append("|---|---:|---:|---|")
        for e in entries:
            cells = [
                f"{e[m]['mean']:+.1f} [{e[m]['ci95'][0]:+.1f}, {e[m]['ci95'][1]:+.1f}]"
                for m in CONTRAST_METRICS
            ]
            lines.append(
                f"| `{e['treatment']}` - `{e['control']}` | "
                + " | ".join(cells)
                + f" | {e['hIoU']['verdict']} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--iterations", type=int, default=1500, help="training iterations per run (batch 16; the presets')"
    )
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument(
        "--split",
        choices=("test", "val"),
        default="test",
        help="scenes scored: the tables' test split, or val for choosing a recipe (never both from one)",
    )
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a recipe change applied to every row, as the CLI's --set (e.g. model.gate_init=first_batch)",
    )
    p.add_argument("--fully", action="store_true", help="add Table 1's fully supervised rows")
    p.add_argument("--rows", nargs="*", help="only these presets (without the shapes- prefix)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads per run (1 is fastest)")
    p.add_argument("--jobs", type=int, default=2, help="runs trained at the same time (one per CPU core)")
    p.add_argument("--budget-minutes", type=float, default=60.0, help="start no new run after this")
    p.add_argument("--out", type=Path, default=None, help="default: $SPTSEG_RUNS/miniature_tables")
    p.add_argument(
        "--record",
        type=Path,
        default=None,
        help="where each finished run's result JSON goes (<preset>/seed<k>.json), e.g. inside the "
        "repository so that a long computation survives its machine; default: beside its checkpoints",
    )
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = args.out or runs_dir("miniature_tables")
    out.mkdir(parents=True, exist_ok=True)

    recipe = Recipe(args.iterations, tuple(args.set), args.split, args.record, args.threads)
    tables = {k: (title, list(rows)) for k, (title, rows) in TABLES.items()}
    if args.fully:
        tables["table1"][1].extend(FULLY_ROWS)
    if args.rows is not None:
        keep = {f"shapes-{r}" for r in args.rows}
        tables = {
            k: (t, [r for r in rows if r[1] in keep or r[1].startswith("baseline:")])
            for k, (t, rows) in tables.items()
        }
    presets = list(
        dict.fromkeys(p for _, rows in tables.values() for _, p in rows if not p.startswith("baseline:"))
    )
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    test = ShapesDataset(args.split)
    t0 = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{(time.perf_counter() - t0) / 60:5.1f} min] {msg}", flush=True)

    # training-free baselines: computed once (deterministic)
    baselines: dict[str, dict[str, Any]] = {}
    base_file = out / "baselines.json"
    if base_file.is_file():
        baselines = json.loads(base_file.read_text(encoding="utf-8"))
    else:
        clip = load_clip("sptseg-tiny-clip", experiment_preset("shapes-sptseg").model.pretrained)
        tokenizer = get_tokenizer("sptseg-tiny-clip")
        for kind in BASELINES:
            r = evaluate_baseline(clip, tokenizer, kind, test, SHAPES_SPLIT)
            baselines[kind] = {m: r[m] for m in METRICS}
            log(f"baseline {kind}: " + ", ".join(f"{m} {r[m]:.1f}" for m in METRICS))
        base_file.write_text(json.dumps(baselines, indent=2) + "\n", encoding="utf-8")

    # trained rows: seed by seed, identical configurations shared, up to --jobs runs at a time
    results: dict[str, dict[int, dict[str, Any]]] = {p: {} for p in presets}
    plan: list[tuple[str, int, str]] = []  # (preset, seed, key) in seed-major order
    first_of: dict[str, tuple[str, int]] = {}  # config key -> the (preset, seed) that trains it
    for seed in seeds:
        for preset in presets:
            key = config_key(recipe.experiment(preset, seed))
            plan.append((preset, seed, key))
            first_of.setdefault(key, (preset, seed))
    todo = [(p, s) for p, s, k in plan if first_of[k] == (p, s)]
    deadline = time.time() + 60 * args.budget_minutes
    done: dict[tuple[str, int], dict[str, Any]] = {}
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        futures = {
            pool.submit(run_one, preset, seed, recipe, out, deadline): (preset, seed) for preset, seed in todo
        }
        for future in as_completed(futures):
            preset, seed = futures[future]
            res, trained = future.result()
            if res is None:
                continue
            done[(preset, seed)] = res
            if trained:
                log(
                    f"{preset} seed {seed}: "
                    + ", ".join(f"{m} {res[m]:.1f}" for m in METRICS)
                    + f" (train {res['train_seconds']:.0f} s)"
                )
    for preset, seed, key in plan:
        if first_of[key] not in done:
            continue
        res = done[first_of[key]]
        results[preset][seed] = (
            res if first_of[key] == (preset, seed) else {**res, "shared_with": res["experiment"]}
        )
    # every row keeps the seeds that all rows finished, so that the budget never compares unequal samples
    complete = [s for s in seeds if all(s in results[p] for p in presets)]
    stopped = len(complete) < len(seeds)
    for preset in presets:
        results[preset] = {s: r for s, r in results[preset].items() if s in complete}
    if stopped:
        log(
            f"budget of {args.budget_minutes} min reached: the tables hold the {len(complete)} seeds "
            "that every row finished"
        )

    wall = (time.perf_counter() - t0) / 60
    out_tables: dict[str, Any] = {}
    for k, (title, rows) in tables.items():
        out_rows = []
        for label, preset in rows:
            if preset.startswith("baseline:"):
                b = baselines[preset.split(":", 1)[1]]
                metrics = {m: summarise([b[m]]) for m in METRICS}
                out_rows.append({"label": label, "preset": preset, "seeds": "-", "metrics": metrics})
                continue
            runs = [results[preset][s] for s in sorted(results[preset])]
            metrics = {m: summarise([r[m] for r in runs]) for m in METRICS}
            out_rows.append({"label": label, "preset": preset, "seeds": len(runs), "metrics": metrics})
        out_tables[k] = {"title": title, "rows": out_rows}
    train_times = [r["train_seconds"] for p in results.values() for r in p.values() if "shared_with" not in r]
    ref = recipe.experiment("shapes-sptseg", seeds[0]).train
    meta = {
        "recipe": f"{args.iterations} iterations of batch {ref.batch_size} per run (AdamW lr {ref.lr:g}, "
        f"poly decay, warm-up {ref.warmup_iters} iterations), {args.jobs} run(s) at a time with "
        f"{args.threads} torch thread(s) each" + "".join(f"; --set {c}" for c in args.set),
        "seeds": seeds,
        "test_images": len(test),
        "split": args.split,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs"
        + (f", load average at the end {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""),
        "wall_minutes": wall,
        "mean_train_seconds_per_run": statistics.fmean(train_times) if train_times else None,
        "stopped_by_budget": stopped,
        "command": "python benchmarks/miniature_tables.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    paired = contrasts(results, complete)
    report = {"meta": meta, "tables": out_tables, "contrasts": paired, "runs": results}
    (out / "tables.json").write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    (out / "tables.md").write_text(
        markdown(out_tables, meta) + "\n" + contrasts_markdown(paired) + "\n", encoding="utf-8"
    )
    log(f"wrote {out / 'tables.md'} and {out / 'tables.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
