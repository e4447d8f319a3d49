"""The miniature's numbers at a glance: one table that notebooks 07, 08 and 10 all show, so that the series
tells one evaluation story.

Every row is scored on the same 200 fixed scenes of the shapes world's *test* split (the validation scenes
served the recipe's choices and are never reported): the run the project ships (one seed), the miniature
tables' SPT-SEG and ZegCLIP rows (mean and standard deviation over their seeds,
``benchmarks/miniature_tables.py``), and CLIP without training (MaskCLIP: CLIP's own dense tokens), with
the paper's VOC numbers (Table 1) for scale only. The metrics are eq. 11's, in percent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .ablations import METRIC_KEYS, paper_table
from .runs import SHIPPED_RUNS, find_tables, shown_path, tables_row

SHIPPED_RECORD = SHIPPED_RUNS / "shapes-sptseg" / "run.json"
"""The shipped run's record: its test metrics and those of the training-free baselines on the same scenes."""


@dataclass(frozen=True)
class GlanceRow:
    """One row: what was scored, its metrics (``{"pAcc": ..., "mIoU_seen": ..., ...}``, percent), the
    standard deviations over seeds (empty for one run), and where the numbers come from."""

    what: str
    metrics: dict[str, float]
    std: dict[str, float]
    source: str


def glance_rows(record: Path = SHIPPED_RECORD, tables: Path | None = None) -> list[GlanceRow]:
    """The rows of :func:`numbers_at_a_glance` (the tables rows only when a tables file is found)."""
    facts = json.loads(Path(record).read_text(encoding="utf-8"))
    keys = list(METRIC_KEYS.values())
    rows = [
        GlanceRow(
            f"SPT-SEG, the shipped run (seed {facts['seed']}, {facts['iterations']:,} iterations)",
            {k: facts["test"][k] for k in keys},
            {},
            "data/miniature/shapes-sptseg/run.json",
        )
    ]
    tables = tables or find_tables()
    if tables is not None:
        data = json.loads(Path(tables).read_text(encoding="utf-8"))
        seeds = len(data["meta"]["seeds"])
        for preset, what in (("shapes-sptseg", "SPT-SEG"), ("shapes-zegclip", "ZegCLIP, the baseline")):
            row = tables_row(data, "2", preset)
            rows.append(
                GlanceRow(
                    f"{what}, miniature tables ({seeds} seeds)",
                    {k: row[k]["mean"] for k in keys},
                    {k: row[k]["std"] for k in keys},
                    f"{shown_path(tables)}, Table 2",
                )
            )
    free = facts["training_free_baselines_test"]["maskclip"]
    rows.append(
        GlanceRow("CLIP without training (MaskCLIP)", {k: free[k] for k in keys}, {}, "the same run.json")
    )
    return rows


def numbers_at_a_glance(record: Path = SHIPPED_RECORD, tables: Path | None = None) -> str:
    """A Markdown table of :func:`glance_rows` on the 200 test scenes, with the paper's VOC rows below for
    scale (different data, a different CLIP, far longer training)."""
    names = list(METRIC_KEYS)
    lines = [
        "| the miniature, 200 test scenes | " + " | ".join(names) + " | from |",
        "|---|" + "---:|" * len(names) + "---|",
    ]
    for row in glance_rows(record, tables):
        cells = [
            f"{row.metrics[key]:.1f}" + (f" ± {row.std[key]:.1f}" if row.std else "")
            for key in METRIC_KEYS.values()
        ]
        lines.append(f"| {row.what} | " + " | ".join(cells) + f" | {row.source} |")
    paper = paper_table(1, "voc")
    for name in ("SPT-SEG", "ZegCLIP"):
        cells = [f"{paper[name][metric]:.1f}" for metric in names]
        lines.append(
            f"| *paper, VOC: {name} (for scale)* | " + " | ".join(cells) + " | the paper's Table 1 |"
        )
    return "\n".join(lines)


__all__ = ["SHIPPED_RECORD", "GlanceRow", "glance_rows", "numbers_at_a_glance"]
