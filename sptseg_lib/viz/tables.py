"""Our numbers beside the paper's, as Markdown and as figures (rows and paper numbers:
:mod:`sptseg_lib.ablations`; the paper's numbers: docs/reference.md §7.2).

* :func:`comparison_table` writes one Markdown table of ``(row, ours, paper)`` triples;
* :func:`ablation_figure` draws the same triples of Tables 2-4 as bars (mean over seeds, each seed a dot,
  the std an error bar) with the paper's value of each row beside, on an axis of the same scale aligned
  at the table's reference row, so that differences, not levels, are compared;
* :func:`contrasts_table` and :func:`contrasts_figure` write and draw the paired differences
  ``treatment - control`` of :func:`sptseg_lib.ablations.contrasts` with their 95% t-intervals, the
  paper's difference beside; :func:`study_figure` draws the arms of the miniature SPT study so.

The metrics are the printed column names of the paper (``mIoU(S)``, ``mIoU(U)``, ``hIoU``, eq. 11 for
hIoU), and our results may use either those names or the keys of
:meth:`sptseg_lib.metrics.ConfusionMatrix.compute` (:data:`~sptseg_lib.ablations.METRIC_KEYS`).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..ablations import CONTRAST_METRICS, METRIC_KEYS, contrast_label, paper_difference, table
from .common import PAGE_WIDTH

OURS_COLOUR = "tab:blue"
"""Our numbers (bars, dots) in :func:`ablation_figure`."""
PAPER_COLOUR = "tab:red"
"""The paper's numbers (hollow diamonds) in both figures."""
PAPER_MARKER: dict = dict(
    marker="D",
    markersize=6,
    markerfacecolor="none",
    markeredgecolor=PAPER_COLOUR,
    markeredgewidth=1.4,
    linestyle="none",
    gid="paper",
)
"""How the paper's values are drawn in both ablation figures: hollow diamonds."""
VERDICT_COLOURS = {"helps": "tab:green", "hurts": "tab:orange", "no detectable difference": "0.45"}
"""A contrast's colour in :func:`contrasts_figure`, by the verdict of
:func:`sptseg_lib.ablations.paired_difference`."""

Row = tuple[str, Mapping[str, Any] | None, Mapping[str, float] | None]
"""``(row name, our result, the paper's row)``, the rows of :func:`comparison_table` and
:func:`ablation_figure`."""


def comparison_table(
    rows: Sequence[Row],
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


def contrasts_table(
    paired: Mapping[str, Sequence[Mapping[str, Any]]], metrics: Sequence[str] = CONTRAST_METRICS
) -> str:
    """The paired differences of :func:`sptseg_lib.ablations.contrasts` as one Markdown table: per contrast
    its seeds, per metric ours (``mean [95% interval]``, points) beside the paper's difference of the
    same two rows (:func:`sptseg_lib.ablations.paper_difference`, VOC), and the verdict on the first
    metric; ``seeds`` is the number of paired seeds (``n``). An interval that cannot be computed (one seed)
    prints as ``[-]``."""

    def signed(v: float) -> str:
        return "-" if v is None or math.isnan(v) else f"{v:+.1f}"

    head = ["contrast (treatment vs control)", "seeds"]
    for m in metrics:
        head += [f"{_printed(m)} ours", f"{_printed(m)} paper"]
    head.append(f"verdict ({_printed(metrics[0])})")
    lines = ["| " + " | ".join(head) + " |", "|---|---:" + "|---:" * (2 * len(metrics)) + "|---|"]
    for key, entries in paired.items():
        for e in entries:
            cells = [contrast_label(key, e["treatment"], e["control"]), str(e[metrics[0]]["n"])]
            for m in metrics:
                low, high = e[m]["ci95"]
                interval = "[-]" if math.isnan(low) else f"[{signed(low)}, {signed(high)}]"
                cells += [
                    f"{signed(e[m]['mean'])} {interval}",
                    signed(paper_difference(key, e["treatment"], e["control"], m)),
                ]
            cells.append(e[metrics[0]]["verdict"])
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _printed(metric: str) -> str:
    """``"mIoU_unseen"`` -> ``"mIoU(U)"``; a printed name is returned as it is."""
    return {v: k for k, v in METRIC_KEYS.items()}.get(metric, metric)


def _seed_values(ours: Mapping[str, Any] | None, metric: str) -> np.ndarray:
    """Our values of ``metric`` as a float array ``(n,)``: a summary's ``values`` (one per seed), its
    ``mean`` alone when it has none, or a plain number; NaN dropped, empty when missing."""
    if ours is None:
        return np.zeros(0)
    v = ours.get(metric, ours.get(METRIC_KEYS.get(metric, metric)))
    if isinstance(v, Mapping):
        v = v.get("values", [v.get("mean", math.nan)])
    values = np.atleast_1d(np.asarray(v if v is not None else [], dtype=np.float64))
    return values[~np.isnan(values)]


def ablation_figure(
    panels: Mapping[str, Sequence[Row]],
    metrics: Sequence[str] = ("hIoU",),
    reference: Mapping[str, int] | None = None,
    ours_label: str = "ours",
    paper_label: str = "paper (VOC)",
) -> Figure:
    """Tables 2-4 as bars: ours (mean over seeds, each seed a dot, +- the sample std) beside the paper's.

    One row of panels per table, one column per metric. The paper's value of each row is a hollow diamond
    on the right-hand axis, which has the left axis's scale (a point is as tall on both) shifted so that
    the table's reference row (``reference[title]``, default 0; dotted line) sits at the same height on
    both: a bar and a diamond above the line say that the row beats the reference in ours and in the
    paper, and by how many points. The levels differ by design (the miniature's hIoU is far below the
    paper's on VOC) and are read on each axis separately.

    Args:
        panels: table title -> ``(row name, our result, the paper's row)`` triples (as
            :func:`comparison_table`'s rows): our result maps a metric (printed name or
            :data:`~sptseg_lib.ablations.METRIC_KEYS` key) to a ``{"mean", "std", "n", "values"}`` summary
            over seeds or to a number; the paper's row maps printed names to numbers; ``None`` for
            none (no bar / no diamond).
        metrics: printed names (``"hIoU"``, ``"mIoU(U)"``) or result keys, one column each.
        reference: title -> index of the row both axes align at.
        ours_label, paper_label: legend entries.

    Returns:
        A figure ``min(10, 5 x columns)`` inches wide (:data:`~sptseg_lib.viz.common.PAGE_WIDTH`).
    """
    reference = reference or {}
    cols = len(metrics)
    fig = Figure(figsize=(min(PAGE_WIDTH, 5.0 * cols), 2.9 * len(panels) + 0.9), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(panels), cols, squeeze=False))
    for (title, rows), row_axes in zip(panels.items(), axes, strict=True):
        ref = reference.get(title, 0)
        for metric, ax in zip(metrics, row_axes, strict=True):
            name = _printed(metric)
            values = [_seed_values(ours, metric) for _, ours, _ in rows]
            means = np.array([v.mean() if v.size else math.nan for v in values])
            stds = np.array([v.std(ddof=1) if v.size > 1 else math.nan for v in values])
            paper = np.array(
                [math.nan if p is None else float(p.get(name, math.nan)) for _, _, p in rows], dtype=float
            )
            x = np.arange(len(rows))
            ax.bar(x, np.nan_to_num(means), width=0.55, color=OURS_COLOUR, alpha=0.45, gid="ours")
            ax.errorbar(x, means, yerr=stds, fmt="none", ecolor="k", capsize=3, linewidth=1, gid="std")
            for i, v in enumerate(values):
                offsets = np.linspace(-0.14, 0.14, v.size) if v.size > 1 else np.zeros(v.size)
                ax.scatter(x[i] + offsets, v, s=10, color="k", zorder=3, gid="seeds")
            # the right axis: the left's scale, shifted so that the reference row coincides on both
            offset = paper[ref] - means[ref] if np.isfinite(paper[ref] - means[ref]) else 0.0
            shown = np.concatenate([np.concatenate(values) if values else [], paper - offset, [0.0]])
            shown = shown[np.isfinite(shown)]
            low, high = min(0.0, shown.min()), shown.max()
            top = high + 0.15 * (high - low) + 1.0
            ax.set_ylim(low, top)
            if np.isfinite(means[ref]):
                ax.axhline(means[ref], color="0.3", linestyle=":", linewidth=1, gid="reference")
            twin = ax.twinx()
            twin.set_ylim(low + offset, top + offset)
            twin.plot(
                x + 0.36,
                paper,
                **PAPER_MARKER,
            )
            twin.tick_params(axis="y", colors=PAPER_COLOUR, labelsize=7)
            twin.set_ylabel(
                f"{name}, {paper_label} (%)\nshifted axis, same scale", color=PAPER_COLOUR, fontsize=7
            )
            ax.set_ylabel(f"{name}, {ours_label} (%)", fontsize=8)
            labels = [textwrap.fill(label, 12) for label, _, _ in rows]
            ax.set_xticks(x, labels, fontsize=7)
            ax.get_xticklabels()[ref].set_fontweight("bold")
            ax.set_xlim(-0.5, len(rows) - 0.35)
            ax.tick_params(axis="y", labelsize=7)
            ax.set_title(textwrap.fill(f"{title} ({name})", 62), fontsize=8)
    handles = [
        Patch(color=OURS_COLOUR, alpha=0.45, label=f"{ours_label}: mean over seeds"),
        Line2D([], [], color="k", marker="o", markersize=3, linestyle="none", label="one seed"),
        Line2D([], [], color="k", marker="|", markersize=8, linestyle="none", label="+- sample std"),
        Line2D(
            [],
            [],
            marker="D",
            markerfacecolor="none",
            markeredgecolor=PAPER_COLOUR,
            linestyle="none",
            label=f"{paper_label}, right axis",
        ),
        Line2D([], [], color="0.3", linestyle=":", label="reference row (bold): both axes meet here"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=7)
    return fig


def contrasts_figure(
    paired: Mapping[str, Sequence[Mapping[str, Any]]],
    metrics: Sequence[str] = CONTRAST_METRICS,
    title: str = "",
) -> Figure:
    """Each paired difference ``treatment - control`` with its 95% t-interval, beside the paper's.

    One panel per metric, one line per contrast, grouped by table (bold headers): the mean difference
    over seeds (a dot coloured by its verdict, :data:`VERDICT_COLOURS`) with its 95% interval as a
    horizontal bar, each seed's difference as a small dot below it, the zero line, and the paper's
    difference of the same two rows (:func:`sptseg_lib.ablations.paper_difference`, VOC) as a hollow
    diamond. An interval that holds 0 cannot tell the two rows apart; the paper's diamond outside the
    interval is a difference of the paper's size that these seeds exclude.

    Args:
        paired: table key (``"table2"``) -> entries of :func:`sptseg_lib.ablations.contrasts` (or the
            ``contrasts`` of a miniature tables file): ``{"treatment", "control", <metric>:
            {"mean", "ci95", "differences", "verdict"}}``, presets with their family prefix.
        metrics: keys of the entries' metrics (``"hIoU"``, ``"mIoU_unseen"``), one panel each.
        title: the figure's title (default: what it shows).

    Returns:
        A figure at most 10 inches wide (:data:`~sptseg_lib.viz.common.PAGE_WIDTH`).
    """
    lines: list[tuple[str, Mapping[str, Any] | None, float | None]] = []  # (label, entry, paper's) per metric
    for key, entries in paired.items():
        lines.append((f"Table {table(key).number}", None, None))
        lines += [(contrast_label(key, e["treatment"], e["control"]), e, key) for e in entries]

    def paper(entry: Mapping[str, Any], key: Any, metric: str) -> float:
        return paper_difference(key, entry["treatment"], entry["control"], metric)

    return _paired_figure(
        lines,
        paper,
        metrics,
        title or "paired differences over seeds (treatment - control, same seeds) beside the paper's",
        "paper (VOC): the same two rows",
    )


def study_figure(
    study: Mapping[str, Any],
    paper: Mapping[tuple[str, str], Mapping[str, float]],
    metrics: Sequence[str] = CONTRAST_METRICS,
    title: str = "",
) -> Figure:
    """The arms of ``benchmarks/spt_study.py`` as paired differences, drawn as :func:`contrasts_figure`.

    Args:
        study: its JSON (``data/miniature/spt_study.json``): ``{"arms": {name: {"comparisons": [...],
            "sides": [[treatment key, control key], ...], "not_run": why or "", "waiting": for what or
            "", "outside_rule": how and why or "", "complete": bool, "seeds": [...]}}}``; an arm with no
            recorded comparison gets the line "not run yet", "not run (its rule)" when ``not_run`` says
            why, or "waits for its CLIP" when ``waiting`` says for what; an incomplete arm's lines say
            how many of its seeds they have, and those of an arm run although its rule failed
            (``outside_rule`` non-empty) say so.
        paper: ``(treatment key, control key) -> {metric: the paper's difference}`` (VOC, Tables 2-3)
            for the comparisons that have a counterpart in the paper; the others get no diamond.
        metrics: keys of the comparisons' paired differences, one panel each.
        title: the figure's title.
    """
    lines: list[tuple[str, Mapping[str, Any] | None, Any]] = []
    for name, arm in study["arms"].items():
        lines.append((name, None, None))
        done = {(c["treatment"], c["control"]): c for c in arm["comparisons"]}
        for treatment, control in arm["sides"]:
            entry = done.get((treatment, control))
            label = f"{treatment} - {control}"
            if entry and not arm.get("complete", True):
                label += f" (incomplete: {len(entry['seeds'])} of {len(arm['seeds'])} seeds)"
            if entry and arm.get("outside_rule"):
                label += " (outside its rule)"
            missing = (
                "not run (its rule)"
                if arm.get("not_run")
                else "waits for its CLIP"
                if arm.get("waiting")
                else "not run yet"
            )
            lines.append((label if entry else f"{label}: {missing}", entry, (treatment, control)))

    def paper_of(entry: Mapping[str, Any], pair: Any, metric: str) -> float:
        return paper.get(pair, {}).get(metric, math.nan)

    return _paired_figure(
        lines,
        paper_of,
        metrics,
        title or "each arm: paired differences over seeds (treatment - control) beside the paper's",
        "paper (VOC, Tables 2-3): SPT's gain on the same kind of pair",
        skip_missing=True,
    )


def _paired_figure(
    lines: Sequence[tuple[str, Mapping[str, Any] | None, Any]],
    paper: Any,
    metrics: Sequence[str],
    title: str,
    paper_label: str,
    skip_missing: bool = False,
) -> Figure:
    """The drawing of :func:`contrasts_figure` and :func:`study_figure`: ``lines`` are ``(label, entry,
    key)``, a header where ``key`` is ``None`` (or, with ``skip_missing``, an entry-less line drawn as text
    only); ``paper(entry, key, metric)`` gives the paper's difference (NaN: none)."""
    y = -np.arange(len(lines), dtype=float)
    fig = Figure(figsize=(PAGE_WIDTH, 0.32 * len(lines) + 1.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(metrics), sharey=True, squeeze=False)[0])
    for metric, ax in zip(metrics, axes, strict=True):
        ax.axvline(0.0, color="k", linewidth=0.8)
        for yi, (_, entry, key) in zip(y, lines, strict=True):
            if key is None:
                ax.axhline(yi + 0.5, color="0.85", linewidth=0.8)
                continue
            if entry is None:
                continue
            d = entry[metric]
            colour = VERDICT_COLOURS.get(d["verdict"], "0.45")
            low, high = d["ci95"]
            if np.isfinite(low) and np.isfinite(high):
                ax.hlines(yi, low, high, color=colour, linewidth=2.2, gid="ci95")
                ax.vlines([low, high], yi - 0.15, yi + 0.15, color=colour, linewidth=1.2)
            ax.plot(d["mean"], yi, marker="o", color=colour, markersize=6, gid="mean")
            seeds = np.asarray(d.get("differences", []), dtype=float)
            ax.plot(
                seeds,
                np.full(seeds.shape, yi - 0.28),
                linestyle="none",
                marker=".",
                markersize=4,
                color=colour,
                alpha=0.7,
                gid="seeds",
            )
            ax.plot(paper(entry, key, metric), yi, **PAPER_MARKER)
        ax.set_xlabel(f"{_printed(metric)}: treatment - control (points)", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
        ax.set_title(_printed(metric), fontsize=9)
        ax.grid(axis="x", color="0.92")
    axes[0].set_yticks(y, [label for label, _, _ in lines], fontsize=7)
    for tick, (_, entry, key) in zip(axes[0].get_yticklabels(), lines, strict=True):
        if key is None:
            tick.set_fontweight("bold")
        elif entry is None and skip_missing:
            tick.set_color("0.5")
    axes[0].set_ylim((y[-1] if len(y) else 0.0) - 0.7, 0.7)
    handles = [
        Line2D([], [], color=c, marker="o", linewidth=2.2, label=f"ours: {v} (mean, 95% t-interval)")
        for v, c in VERDICT_COLOURS.items()
    ]
    handles += [
        Line2D([], [], color="0.45", marker=".", linestyle="none", label="ours: one seed's difference"),
        Line2D(
            [],
            [],
            marker="D",
            markerfacecolor="none",
            markeredgecolor=PAPER_COLOUR,
            linestyle="none",
            label=paper_label,
        ),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=7)
    fig.suptitle(title, fontsize=9)
    return fig


__all__ = [
    "OURS_COLOUR",
    "PAPER_COLOUR",
    "VERDICT_COLOURS",
    "ablation_figure",
    "comparison_table",
    "contrasts_figure",
    "contrasts_table",
    "study_figure",
]
