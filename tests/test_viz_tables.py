"""Tests of sptseg_lib.viz.tables: our numbers beside the paper's, as Markdown."""

from __future__ import annotations

from sptseg_lib.ablations import PAPER_TABLES
from sptseg_lib.viz.tables import comparison_table


def test_comparison_table_puts_ours_beside_the_papers() -> None:
    ours = {"mIoU_seen": 50.0, "mIoU_unseen": 12.345, "hIoU": float("nan")}
    text = comparison_table(
        [
            ("SPT-SEG", ours, PAPER_TABLES["table2"]["+ SPT + SGD (SPT-SEG)"]),
            ("other", None, {"hIoU": 1.0}),
        ],
        ours_label="(miniature)",
        paper_label="(paper, VOC)",
    )
    lines = text.splitlines()
    assert lines[0] == (
        "| row | mIoU(S) (miniature) | mIoU(U) (miniature) | hIoU (miniature) | mIoU(S) (paper, VOC) | "
        "mIoU(U) (paper, VOC) | hIoU (paper, VOC) |"
    )
    assert lines[2] == "| SPT-SEG | 50.0 | 12.3 | - | 92.9 | 87.4 | 90.1 |"
    assert lines[3] == "| other | - | - | - | - | - | 1.0 |"
    summary = {
        "mIoU_seen": {"mean": 41.26, "std": 2.04, "n": 3},
        "mIoU_unseen": {"mean": float("nan"), "std": 0.0, "n": 0},
        "hIoU": {"mean": 7.0, "std": 0.0, "n": 1},
    }
    row = comparison_table([("seeds", summary, None)]).splitlines()[2]
    assert row == "| seeds | 41.3 +- 2.0 | - | 7.0 | - | - | - |"
