"""The paper's ablation tables: one list of rows and the paper's numbers.

Every table that this project reproduces (the miniature benchmark ``benchmarks/miniature_tables.py``,
notebook 08) takes its rows from here, so that a row has one label everywhere and that label is also the
key of the paper's numbers in :data:`PAPER_TABLES`:

* Table 1: ZegCLIP and SPT-SEG, inductive (plus the fully supervised ``*`` rows); the miniature adds the
  two training-free baselines of :mod:`sptseg_lib.baselines` (:data:`TRAINING_FREE_ROWS`);
* Table 2: the ablation of the spectral prompt (SPT, eq. 1-3) and the spectral guided decoder (SGD,
  eq. 4-9) on the ZegCLIP baseline;
* Table 3: the blocks that receive spectral prompts (paper layers of the 12-block ViT-B/16);
* Table 4: the number of decoder layers.

The ablations' comparisons (:data:`CONTRASTS`: every step of Table 2, every depth against the default,
1 and 5 decoder layers against 3) are differences of paired runs, ``treatment - control`` seed by seed
(:func:`paired_difference`, :func:`contrasts`), beside the paper's difference of the same two rows
(:func:`paper_difference`).

A row names its preset without the data set (:attr:`AblationRow.preset_suffix`, ``"spt"``); the family
(``shapes``, ``voc`` or ``coco``) completes it (``"shapes-spt"``), see :func:`table_rows`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .config import EXPERIMENT_PRESETS, TABLE_FAMILIES

FAMILIES = tuple(TABLE_FAMILIES)
"""Preset families with every ablation row: the miniature, PASCAL VOC and COCO-Stuff."""


@dataclass(frozen=True)
class AblationRow:
    """One row of a table: the paper's label and the preset that trains it, without its family."""

    label: str
    """The row as the paper prints it; a key of ``PAPER_TABLES[<the table's paper key>]``."""
    preset_suffix: str
    """The preset name after ``<family>-``: ``"spt"`` is ``shapes-spt`` / ``voc-spt`` / ``coco-spt``."""

    def preset(self, family: str) -> str:
        """The preset of this row in ``family`` (``"shapes"``, ``"voc"``, ``"coco"``)."""
        return f"{family}-{self.preset_suffix}"


@dataclass(frozen=True)
class AblationTable:
    """A table of the paper: its number, subject, rows and where its printed numbers are."""

    number: int
    subject: str
    rows: tuple[AblationRow, ...]
    paper: str
    """Key of :data:`PAPER_TABLES` with the paper's numbers for these rows (VOC)."""
    fully: tuple[AblationRow, ...] = ()
    """Fully supervised rows (Table 1's ``*`` rows), added by ``table_rows(..., fully=True)``."""

    @property
    def title(self) -> str:
        """``"Table <number>: <subject>"``."""
        return f"Table {self.number}: {self.subject}"


def _depth_row(first: int, last: int) -> AblationRow:
    return AblationRow(f"layers {first}-{last}", f"sptseg-depth{first}-{last}")


def _decoder_row(layers: int) -> AblationRow:
    return AblationRow(f"{layers} decoder layer{'s' if layers > 1 else ''}", f"sptseg-dec{layers}")


TABLES: dict[str, AblationTable] = {
    "table1": AblationTable(
        1,
        "zero-shot segmentation, inductive",
        (AblationRow("ZegCLIP", "zegclip"), AblationRow("SPT-SEG", "sptseg")),
        paper="table1_voc",
        fully=(AblationRow("ZegCLIP*", "zegclip-fully"), AblationRow("SPT-SEG*", "sptseg-fully")),
    ),
    "table2": AblationTable(
        2,
        "ablation of the spectral prompt (SPT) and the spectral guided decoder (SGD)",
        (
            AblationRow("baseline (ZegCLIP)", "zegclip"),
            AblationRow("+ SPT", "spt"),
            AblationRow("+ SGD", "sgd"),
            AblationRow("+ SPT + SGD (SPT-SEG)", "sptseg"),
        ),
        paper="table2",
    ),
    "table3": AblationTable(
        3,
        "depth of the spectral prompts (paper layers, of 12)",
        # the default (SPT-SEG's layers 1-2) first, then ever deeper ranges
        tuple(_depth_row(first, last) for first, last in ((1, 2), (1, 6), (6, 12), (11, 12), (1, 12))),
        paper="table3",
    ),
    "table4": AblationTable(
        4,
        "number of spectral guided decoder layers",
        tuple(_decoder_row(layers) for layers in (1, 3, 5)),
        paper="table4",
    ),
}
"""The tables by key (``"table1"`` .. ``"table4"``); rows in the order every reproduction prints them."""

TRAINING_FREE_ROWS: tuple[tuple[str, str], ...] = (
    ("Training-free: final tokens (ln_post + proj)", "final"),
    ("Training-free: MaskCLIP value path", "maskclip"),
)
"""The miniature Table 1's rows without training: ``(label, kind)`` of
:func:`sptseg_lib.baselines.evaluate_baseline` (not in the paper)."""


def _scores(seen: float, unseen: float, harmonic: float, pacc: float | None = None) -> dict[str, float]:
    """One printed row: mIoU(S), mIoU(U), hIoU (and pAcc where the paper gives it), in percent."""
    row = {"mIoU(S)": seen, "mIoU(U)": unseen, "hIoU": harmonic}
    return row if pacc is None else {"pAcc": pacc, **row}


PAPER_TABLES: dict[str, dict[str, dict[str, float]]] = {
    "table1_voc": {
        "ZegCLIP": _scores(91.9, 77.8, 84.3, pacc=94.6),
        "SPT-SEG": _scores(92.9, 87.4, 90.1, pacc=96.7),
        "ZegCLIP*": _scores(92.4, 90.9, 91.6, pacc=96.3),
        "SPT-SEG*": _scores(93.6, 92.9, 93.2, pacc=97.6),
    },
    "table1_coco_stuff": {
        "ZegCLIP": _scores(40.2, 41.4, 40.8, pacc=62.0),
        "SPT-SEG": _scores(40.6, 43.8, 42.1, pacc=62.9),
        "ZegCLIP*": _scores(40.7, 63.2, 49.6, pacc=69.9),
        "SPT-SEG*": _scores(41.6, 66.0, 51.0, pacc=72.5),
    },
    "table2": {
        "baseline (ZegCLIP)": _scores(91.9, 77.8, 84.3),
        "+ SPT": _scores(92.6, 86.7, 89.6),
        "+ SGD": _scores(92.0, 79.9, 85.5),
        "+ SPT + SGD (SPT-SEG)": _scores(92.9, 87.4, 90.1),
    },
    "table3": {
        "layers 1-6": _scores(92.5, 86.4, 89.3),
        "layers 6-12": _scores(92.1, 80.9, 86.1),
        "layers 1-12": _scores(92.6, 86.5, 89.4),
        "layers 11-12": _scores(92.0, 78.3, 84.6),
        "layers 1-2": _scores(92.9, 87.4, 90.1),
    },
    "table4": {
        "1 decoder layer": _scores(91.9, 82.8, 87.1),
        "3 decoder layers": _scores(92.9, 87.4, 90.1),
        "5 decoder layers": _scores(92.2, 83.7, 87.7),
    },
}
"""The paper's numbers (percent; docs/reference.md §7.2): Table 1's ZegCLIP and SPT-SEG
rows (``*`` = every class supervised), Tables 2-4 (VOC ablations: SPT/SGD, SPT depth, decoder layers),
each in the paper's row order. Table 1's COCO-Stuff ZegCLIP mIoU(U) is printed as 41.4 in the SPT-SEG
paper (ZegCLIP's README prints 41.1: docs/reference.md §7.1)."""

METRIC_KEYS: dict[str, str] = {
    "pAcc": "pAcc",
    "mIoU(S)": "mIoU_seen",
    "mIoU(U)": "mIoU_unseen",
    "hIoU": "hIoU",
}
"""Printed column name -> key of :meth:`sptseg_lib.metrics.ConfusionMatrix.compute`'s result."""


def table(key: str | int) -> AblationTable:
    """The table ``key``: ``"table2"``, ``"2"`` and ``2`` all name Table 2."""
    name = str(key) if str(key).startswith("table") else f"table{key}"
    if name not in TABLES:
        raise KeyError(f"no ablation table {key!r}; choose among {', '.join(TABLES)} (or 1-4)")
    return TABLES[name]


def table_title(key: str | int) -> str:
    """``"Table 2: ablation of the spectral prompt (SPT) and ..."``, see :attr:`AblationTable.title`."""
    return table(key).title


def table_rows(key: str | int, family: str, fully: bool = False) -> list[tuple[str, str]]:
    """The ``(label, preset name)`` rows of a table for one preset family, in print order.

    ``table_rows("2", "shapes")[1] == ("+ SPT", "shapes-spt")``; ``fully`` adds Table 1's fully supervised
    rows after the others. Every label is a key of :func:`paper_table`'s result.

    Raises:
        KeyError: an unknown table, or a preset that :data:`sptseg_lib.config.EXPERIMENT_PRESETS` lacks.
        ValueError: ``fully`` for a table without fully supervised rows (Tables 2-4).
    """
    t = table(key)
    if fully and not t.fully:
        raise ValueError(f"Table {t.number} has no fully supervised rows")
    rows = t.rows + (t.fully if fully else ())
    out = [(row.label, row.preset(family)) for row in rows]
    missing = [preset for _, preset in out if preset not in EXPERIMENT_PRESETS]
    if missing:
        raise KeyError(
            f"Table {t.number} needs the presets {missing}, which sptseg_lib.config does not define"
        )
    return out


def paper_table(key: str | int, dataset: str = "voc") -> dict[str, dict[str, float]]:
    """The paper's numbers of a table, label -> ``{"mIoU(S)": ..}`` (percent).

    ``dataset`` matters for Table 1 only (``"voc"`` or ``"coco_stuff"``); Tables 2-4 are VOC ablations.
    """
    t = table(key)
    if t.number == 1:
        return PAPER_TABLES[f"table1_{dataset}"]
    if dataset != "voc":
        raise ValueError(f"the paper reports Table {t.number} on VOC only, not {dataset!r}")
    return PAPER_TABLES[t.paper]


def spt_blocks_text(blocks: tuple[int, ...]) -> str:
    """0-based blocks as text: ``(0,)`` -> ``"block 0"``, ``(1, 2, 3)`` -> ``"blocks 1-3"``."""
    if len(blocks) == 1:
        return f"block {blocks[0]}"
    if list(blocks) == list(range(blocks[0], blocks[-1] + 1)):
        return f"blocks {blocks[0]}-{blocks[-1]}"
    return "blocks " + ", ".join(map(str, blocks))


def row_label(key: str | int, label: str, preset: str) -> str:
    """The label to print for a row: for Table 3 in the miniature (``shapes-*`` presets), the tiny ViT
    blocks the paper's layers map onto are appended, ``"layers 1-6 (tiny blocks 0-1)"``
    (:func:`sptseg_lib.config.tiny_blocks`, read from the preset's ``model.spt_layers``)."""
    if table(key).number != 3 or not preset.startswith("shapes-"):
        return label
    return f"{label} (tiny {spt_blocks_text(EXPERIMENT_PRESETS[preset].model.spt_layers)})"


# ------------------------------------------------------------------------------ paired contrasts

CONTRASTS: dict[str, tuple[tuple[str, str], ...]] = {
    "table2": (("spt", "zegclip"), ("sgd", "zegclip"), ("sptseg", "sgd"), ("sptseg", "spt")),
    "table3": tuple(
        (f"sptseg-depth{a}-{b}", "sptseg-depth1-2") for a, b in ((1, 6), (6, 12), (11, 12), (1, 12))
    ),
    "table4": (("sptseg-dec1", "sptseg-dec3"), ("sptseg-dec5", "sptseg-dec3")),
}
"""The ablations' comparisons ``(treatment, control)`` by preset suffix: Table 2's four steps, every depth
against the default layers 1-2, 1 and 5 decoder layers against 3."""
CONTRAST_METRICS = ("hIoU", "mIoU_unseen")
"""The metrics every contrast is computed for (keys of :meth:`sptseg_lib.metrics.ConfusionMatrix.compute`:
hIoU, eq. 11, and mIoU(U), the paper's claim of a gain on unseen classes, docs/reference.md §7.2)."""

CONTROL_ROWS: dict[str, str] = {"table2": "zegclip", "table3": "sptseg-depth1-2", "table4": "sptseg-dec3"}
"""Each ablation table's reference row (preset suffix): the baseline of Table 2, SPT-SEG's own depth
(paper layers 1-2) in Table 3 and decoder (3 layers) in Table 4; the row most :data:`CONTRASTS` compare
with, and where :func:`sptseg_lib.viz.tables.ablation_figure` aligns the paper's axis with ours."""


def control_index(key: str | int) -> int:
    """The position of the table's :data:`CONTROL_ROWS` row among its rows (:func:`table_rows` order);
    0, the first row, for a table without one (Table 1)."""
    t = table(key)
    suffix = CONTROL_ROWS.get(f"table{t.number}")
    return next((i for i, row in enumerate(t.rows) if row.preset_suffix == suffix), 0)


def paired_difference(treatment: list[float], control: list[float]) -> dict[str, Any]:
    """Mean, sample std and 95% t-interval of the per-seed differences ``treatment - control``; the
    verdict says whether the interval lies above 0 (``helps``), below it (``hurts``), or holds it.

    Args:
        treatment, control: one value per seed (percent), in the same seed order; equal lengths.

    Returns:
        ``{"mean", "std", "n", "ci95": [low, high], "verdict", "differences"}``: the interval is
        ``mean +- t_{0.975, n-1} std / sqrt(n)``; ``std`` and the interval are NaN for fewer than 2 seeds
        (the verdict is then ``"no detectable difference"``).

    Raises:
        ValueError: the two lists differ in length.
    """
    import scipy.stats  # here, not at import: the rest of the module (and sptseg_lib.viz) needs no scipy

    diffs = [a - b for a, b in zip(treatment, control, strict=True)]
    n = len(diffs)
    mean = statistics.fmean(diffs) if diffs else math.nan
    std = statistics.stdev(diffs) if n > 1 else math.nan
    half = float(scipy.stats.t.ppf(0.975, n - 1)) * std / math.sqrt(n) if n > 1 else math.nan
    low, high = mean - half, mean + half
    verdict = "helps" if low > 0 else "hurts" if high < 0 else "no detectable difference"
    return {"mean": mean, "std": std, "n": n, "ci95": [low, high], "verdict": verdict, "differences": diffs}


def contrasts(
    results: dict[str, dict[int, dict[str, Any]]], seeds: list[int], family: str = "shapes"
) -> dict[str, list[dict]]:
    """Every :data:`CONTRASTS` entry whose two rows were run, paired by seed, for :data:`CONTRAST_METRICS`.

    A seed fixes the data order, the dropout stream and the initial weights of every part both rows have:
    the spectral filter is drawn from a generator of its own (:func:`~sptseg_lib.encoder.component_seed`)
    and the decoder's layers are copies of one, so switching SPT on, moving it or changing the decoder's
    depth leaves the prompts and the decoder as they were (``tests/test_model.py``).

    Args:
        results: preset name (``"shapes-spt"``) -> seed -> that run's metrics (``{"hIoU": ..}``, percent).
        seeds: the seeds to pair; a seed missing from either row is left out of that contrast.
        family: the presets' prefix (``"shapes"``, ``"voc"``, ``"coco"``).

    Returns:
        table key -> ``[{"treatment", "control", "seeds", "hIoU": <paired_difference>, "mIoU_unseen":
        ..}]``, in :data:`CONTRASTS` order; tables without any such pair are absent.
    """
    out: dict[str, list[dict]] = {}
    for table, pairs in CONTRASTS.items():
        for treatment, control in pairs:
            a, b = results.get(f"{family}-{treatment}"), results.get(f"{family}-{control}")
            if not a or not b:
                continue
            common = [s for s in seeds if s in a and s in b]
            entry = {"treatment": f"{family}-{treatment}", "control": f"{family}-{control}", "seeds": common}
            for m in CONTRAST_METRICS:
                entry[m] = paired_difference([a[s][m] for s in common], [b[s][m] for s in common])
            out.setdefault(table, []).append(entry)
    return out


def miniature_contrasts(tables: Mapping[str, Any]) -> dict[str, list[dict]]:
    """The paired contrasts of a ``benchmarks/miniature_tables.py`` file (the JSON of
    :func:`sptseg_lib.runs.find_tables`): its ``contrasts`` when it has them, else :func:`contrasts` of its
    per-seed ``runs`` (``{preset: {"<seed>": {metric: ..}}}``, seeds as JSON strings) over its
    ``meta["seeds"]``. Same structure either way (:func:`contrasts`' result)."""
    if "contrasts" in tables:
        return tables["contrasts"]
    runs = {p: {int(seed): r for seed, r in by_seed.items()} for p, by_seed in tables["runs"].items()}
    return contrasts(runs, [int(s) for s in tables["meta"]["seeds"]])


def contrasts_by_pair(paired: Mapping[str, list[dict]]) -> dict[tuple[str, str], dict[str, Any]]:
    """The entries of :func:`contrasts` by ``(treatment, control)`` preset suffix (``("spt", "zegclip")``,
    the pairs of :data:`CONTRASTS`), each with ``"table"`` (its key) and ``"paper"``
    (``{metric: paper_difference}`` for :data:`CONTRAST_METRICS`, VOC points) added."""
    out = {}
    for key, entries in paired.items():
        for e in entries:
            treatment, control = _suffix(e["treatment"]), _suffix(e["control"])
            paper = {m: paper_difference(key, treatment, control, m) for m in CONTRAST_METRICS}
            out[treatment, control] = {**e, "table": key, "paper": paper}
    return out


def _suffix(preset: str) -> str:
    """``"shapes-sptseg-dec1"`` -> ``"sptseg-dec1"``; a suffix is returned as it is."""
    family, _, rest = preset.partition("-")
    return rest if family in FAMILIES else preset


def _row(key: str | int, preset: str) -> AblationRow:
    suffix = _suffix(preset)
    for row in table(key).rows:
        if row.preset_suffix == suffix:
            return row
    raise KeyError(f"Table {table(key).number} has no row {preset!r}")


def contrast_label(key: str | int, treatment: str, control: str) -> str:
    """``"+ SPT vs baseline (ZegCLIP)"``: the paper's labels of the two rows (presets with or without their
    family, ``"shapes-spt"`` or ``"spt"``), treatment first."""
    return f"{_row(key, treatment).label} vs {_row(key, control).label}"


def paper_difference(key: str | int, treatment: str, control: str, metric: str = "hIoU") -> float:
    """The paper's ``treatment - control`` in ``metric`` (``"hIoU"``, ``"mIoU_unseen"`` or ``"mIoU(U)"``;
    points, VOC, docs/reference.md §7.2): ``paper_difference(2, "spt", "zegclip") == 89.6 - 84.3``."""
    printed = {v: k for k, v in METRIC_KEYS.items()}.get(metric, metric)
    paper = paper_table(key)
    return paper[_row(key, treatment).label][printed] - paper[_row(key, control).label][printed]


__all__ = [
    "CONTRASTS",
    "CONTRAST_METRICS",
    "CONTROL_ROWS",
    "FAMILIES",
    "METRIC_KEYS",
    "PAPER_TABLES",
    "TABLES",
    "TRAINING_FREE_ROWS",
    "AblationRow",
    "AblationTable",
    "contrast_label",
    "contrasts",
    "contrasts_by_pair",
    "control_index",
    "miniature_contrasts",
    "paired_difference",
    "paper_difference",
    "paper_table",
    "row_label",
    "spt_blocks_text",
    "table",
    "table_rows",
    "table_title",
]
