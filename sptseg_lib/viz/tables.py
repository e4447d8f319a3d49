"""Our numbers beside the paper's, as Markdown (rows and paper numbers: :mod:`sptseg_lib.ablations`).

:func:`comparison_table` writes one Markdown table of ``(row, ours, paper)`` triples; the metrics are the
printed column names of the paper (``mIoU(S)``, ``mIoU(U)``, ``hIoU``, eq. 11 for hIoU), and our results
may use either those names or the keys of :meth:`sptseg_lib.metrics.ConfusionMatrix.compute`
(:data:`~sptseg_lib.ablations.METRIC_KEYS`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..ablations import METRIC_KEYS


def comparison_table(
    rows: Sequence[tuple[str, Mapping[str, float] | None, Mapping[str, float] | None]],
    metrics: Sequence[str] = ("mIoU(S)", "mIoU(U)", "hIoU"),
    ours_label: str = "ours",
    paper_label: str = "paper",
) -> str:
    """A Markdown table of ``(row name, our result, the paper's row)`` triples: ours beside the paper's.

    Our result may use the printed names (``mIoU(S)``) or the keys of
    :meth:`~sptseg_lib.metrics.ConfusionMatrix.compute` (``mIoU_seen``), values in percent, each a number or
    a ``{"mean", "std", "n"}`` summary over seeds (``mean +- std``; the mean alone for ``n < 2``); ``None``,
    NaN or a missing value prints ``-``. Column headers carry ``ours_label`` / ``paper_label`` so that
    nobody mistakes one for the other.
    """

    def number(v) -> str:
        return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{float(v):.1f}"

    def value(row: Mapping[str, float] | None, metric: str) -> str:
        if row is None:
            return "-"
        v = row.get(metric, row.get(METRIC_KEYS.get(metric, metric)))
        if isinstance(v, Mapping):
            mean = number(v.get("mean"))
            single = v.get("std") is None or v.get("n", 2) < 2  # no spread from one seed
            return mean if mean == "-" or single else f"{mean} +- {number(v['std'])}"
        return number(v)

    head = ["row"] + [f"{m} {ours_label}" for m in metrics] + [f"{m} {paper_label}" for m in metrics]
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for name, ours, paper in rows:
        cells = [value(ours, m) for m in metrics] + [value(paper, m) for m in metrics]
        lines.append("| " + " | ".join([name, *cells]) + " |")
    return "\n".join(lines)


__all__ = ["comparison_table"]
