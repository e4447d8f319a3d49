"""Tests of sptseg_lib.viz.tables: our numbers beside the paper's, as Markdown and as figures."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_rgb

from sptseg_lib.ablations import PAPER_TABLES, paired_difference
from sptseg_lib.viz.common import PAGE_WIDTH
from sptseg_lib.viz.tables import (
    VERDICT_COLOURS,
    ablation_figure,
    comparison_table,
    contrasts_figure,
    contrasts_table,
    study_figure,
)


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


def _summary(values: list[float]) -> dict:
    return {
        "mean": float(np.mean(values)),
        "std": float(np.std(values, ddof=1)),
        "n": len(values),
        "values": values,
    }


def test_ablation_figure_draws_means_seeds_and_the_papers_values_on_an_aligned_axis() -> None:
    paper = PAPER_TABLES["table4"]
    rows = [
        ("1 layer", {"hIoU": _summary([20.0, 22.0, 24.0])}, paper["1 decoder layer"]),
        ("3 layers", {"hIoU": _summary([30.0, 31.0, 35.0])}, paper["3 decoder layers"]),
        ("5 layers", {"hIoU": 18.0}, paper["5 decoder layers"]),  # a plain number: one run, no spread
        ("no paper row", {"hIoU": _summary([10.0, 12.0])}, None),
    ]
    fig = ablation_figure({"Table 4": rows}, reference={"Table 4": 1})
    assert fig.get_size_inches()[0] <= PAGE_WIDTH
    ax, twin = fig.axes[0], fig.axes[1]
    bars = [p for p in ax.patches if p.get_gid() == "ours"]
    np.testing.assert_allclose([b.get_height() for b in bars], [22.0, 32.0, 18.0, 11.0])
    seeds = np.concatenate([c.get_offsets()[:, 1] for c in ax.collections if c.get_gid() == "seeds"])
    np.testing.assert_allclose(seeds, [20, 22, 24, 30, 31, 35, 18, 10, 12])
    # the right axis has the left's scale, shifted so that the reference row (3 layers) meets on both
    (low, high), (low2, high2) = ax.get_ylim(), twin.get_ylim()
    assert high2 - low2 == pytest.approx(high - low)
    assert low2 - low == pytest.approx(paper["3 decoder layers"]["hIoU"] - 32.0)
    (marker,) = [line for line in twin.get_lines() if line.get_gid() == "paper"]
    np.testing.assert_allclose(marker.get_ydata()[:3], [87.1, 90.1, 87.7])
    assert np.isnan(marker.get_ydata()[3])
    for h in marker.get_ydata()[:3]:  # every diamond is inside the panel
        assert low2 <= h <= high2
    (line,) = [line for line in ax.get_lines() if line.get_gid() == "reference"]
    assert line.get_ydata()[0] == pytest.approx(32.0)
    assert ax.get_xticklabels()[1].get_fontweight() == "bold"
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("paper (VOC)" in t for t in legend) and any("one seed" in t for t in legend)


def test_ablation_figure_has_a_column_per_metric_and_fits_the_page() -> None:
    ours = {"hIoU": _summary([1.0, 2.0]), "mIoU_unseen": _summary([3.0, 4.0])}  # result keys work too
    panels = {
        f"Table {k}": [("a", ours, {"hIoU": 80.0, "mIoU(U)": 70.0}), ("b", ours, None)] for k in (2, 3, 4)
    }
    fig = ablation_figure(panels, metrics=("hIoU", "mIoU(U)"))
    assert fig.get_size_inches()[0] <= PAGE_WIDTH
    main = [ax for ax in fig.axes if ax.get_ylabel().endswith("ours (%)")]
    assert len(main) == 6 and "mIoU(U)" in main[1].get_title()
    heights = [p.get_height() for p in main[1].patches if p.get_gid() == "ours"]
    assert heights == [3.5, 3.5]


def _entry(treatment: str, control: str, diffs: list[float]) -> dict:
    d = paired_difference(diffs, [0.0] * len(diffs))
    return {"treatment": treatment, "control": control, "hIoU": d, "mIoU_unseen": d}


def test_contrasts_figure_draws_each_interval_zero_and_the_papers_difference() -> None:
    paired = {
        "table2": [
            _entry("shapes-spt", "shapes-zegclip", [-1.0, 0.5, -0.2]),
            _entry("shapes-sgd", "shapes-zegclip", [20.0, 18.0, 22.0]),
        ],
        "table4": [_entry("shapes-sptseg-dec5", "shapes-sptseg-dec3", [-3.0])],  # one seed: no interval
    }
    fig = contrasts_figure(paired)
    assert fig.get_size_inches()[0] <= PAGE_WIDTH
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [
        "Table 2",
        "+ SPT vs baseline (ZegCLIP)",
        "+ SGD vs baseline (ZegCLIP)",
        "Table 4",
        "5 decoder layers vs 3 decoder layers",
    ]
    assert ax.get_yticklabels()[0].get_fontweight() == "bold"
    intervals = [c for c in ax.collections if c.get_gid() == "ci95"]
    assert len(intervals) == 2  # none for the single seed
    for c, e in zip(intervals, paired["table2"], strict=True):
        np.testing.assert_allclose(sorted(c.get_segments()[0][:, 0]), e["hIoU"]["ci95"])
    assert intervals[1].get_color()[0][:3] == pytest.approx(to_rgb(VERDICT_COLOURS["helps"]))
    assert intervals[0].get_color()[0][:3] == pytest.approx(
        to_rgb(VERDICT_COLOURS["no detectable difference"])
    )
    means = [line.get_xdata()[0] for line in ax.get_lines() if line.get_gid() == "mean"]
    np.testing.assert_allclose(means, [e["hIoU"]["mean"] for es in paired.values() for e in es])
    papers = [line.get_xdata()[0] for line in ax.get_lines() if line.get_gid() == "paper"]
    np.testing.assert_allclose(papers, [89.6 - 84.3, 85.5 - 84.3, 87.7 - 90.1])
    papers_u = [line.get_xdata()[0] for line in fig.axes[1].get_lines() if line.get_gid() == "paper"]
    np.testing.assert_allclose(papers_u, [86.7 - 77.8, 79.9 - 77.8, 83.7 - 87.4])
    assert any(line.get_xdata()[0] == 0.0 and line.get_xdata()[1] == 0.0 for line in ax.get_lines())  # zero
    assert "hIoU" in ax.get_xlabel() and "mIoU(U)" in fig.axes[1].get_xlabel()
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any(t.startswith("ours: helps") for t in legend) and any("paper (VOC)" in t for t in legend)


def test_contrasts_table_prints_ours_beside_the_papers_difference() -> None:
    paired = {
        "table2": [_entry("shapes-spt", "shapes-zegclip", [-1.0, 0.5, -0.2])],
        "table4": [_entry("shapes-sptseg-dec5", "shapes-sptseg-dec3", [-3.0])],
    }
    lines = contrasts_table(paired).splitlines()
    assert lines[0] == (
        "| contrast (treatment vs control) | seeds | hIoU ours | hIoU paper | mIoU(U) ours | mIoU(U) paper | "
        "verdict (hIoU) |"
    )
    d = paired["table2"][0]["hIoU"]
    interval = f"[{d['ci95'][0]:+.1f}, {d['ci95'][1]:+.1f}]"
    assert lines[2] == (
        f"| + SPT vs baseline (ZegCLIP) | 3 | -0.2 {interval} | +5.3 | -0.2 {interval} | +8.9 | "
        "no detectable difference |"
    )
    assert lines[3] == (
        "| 5 decoder layers vs 3 decoder layers | 1 | -3.0 [-] | -2.4 | -3.0 [-] | -3.7 | "
        "no detectable difference |"
    )


def test_study_figure_draws_each_recorded_comparison_and_names_the_arms_not_run() -> None:
    study = {
        "arms": {
            "default_world": {
                "sides": [["sptseg", "sgd"], ["spt", "zegclip"]],
                "comparisons": [
                    _entry("sptseg", "sgd", [-1.0, -2.0, 0.5]),
                    _entry("spt", "zegclip", [4.0, 6.0, 5.0]),
                ],
            },
            "grid_16x16": {"sides": [["sptseg-grid16", "sgd-grid16"]], "comparisons": []},
            "long_schedule": {
                "sides": [["e", "f"]],
                "comparisons": [{**_entry("e", "f", [1.0]), "seeds": [0]}],
                "complete": False,
                "seeds": [0, 1, 2, 3, 4],
            },
            "spectral_world": {"sides": [["a", "b"]], "comparisons": [], "not_run": "0.44 < 0.5"},
            "fabric_world": {"sides": [["c", "d"]], "comparisons": [], "not_run": "", "waiting": "a CLIP"},
            "later_blocks": {
                "sides": [["g", "h"]],
                "comparisons": [_entry("g", "h", [2.0, 3.0])],
                "outside_rule": "0.44 < 0.5; run all the same",
            },
        }
    }
    paper = {("sptseg", "sgd"): {"hIoU": 4.6, "mIoU_unseen": 7.5}}
    fig = study_figure(study, paper)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "default_world",
        "sptseg - sgd",
        "spt - zegclip",
        "grid_16x16",
        "sptseg-grid16 - sgd-grid16: not run yet",
        "long_schedule",
        "e - f (incomplete: 1 of 5 seeds)",
        "spectral_world",
        "a - b: not run (its rule)",
        "fabric_world",
        "c - d: waits for its CLIP",
        "later_blocks",
        "g - h (outside its rule)",
    ]
    means = [line.get_xdata()[0] for line in ax.get_lines() if line.get_gid() == "mean"]
    np.testing.assert_allclose(means, [-2.5 / 3, 5.0, 1.0, 2.5])
    intervals = [c for c in ax.collections if c.get_gid() == "ci95"]
    assert intervals[1].get_color()[0][:3] == pytest.approx(to_rgb(VERDICT_COLOURS["helps"]))
    papers = [line.get_xdata()[0] for line in ax.get_lines() if line.get_gid() == "paper"]
    assert papers[0] == 4.6 and np.isnan(papers[1])  # a diamond only where the paper has the pair
    assert ax.get_yticklabels()[4].get_color() == "0.5"
