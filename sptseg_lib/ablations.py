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

A row names its preset without the data set (:attr:`AblationRow.preset_suffix`, ``"spt"``); the family
(``shapes``, ``voc`` or ``coco``) completes it (``"shapes-spt"``), see :func:`table_rows`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import EXPERIMENT_PRESETS

FAMILIES = ("shapes", "voc", "coco")
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


__all__ = [
    "FAMILIES",
    "METRIC_KEYS",
    "PAPER_TABLES",
    "TABLES",
    "TRAINING_FREE_ROWS",
    "AblationRow",
    "AblationTable",
    "paper_table",
    "row_label",
    "spt_blocks_text",
    "table",
    "table_rows",
    "table_title",
]
