"""Tests of sptseg_lib.ablations: one list of rows whose presets exist and whose labels find the paper's
numbers, the paper's numbers themselves (consistent with eq. 11 and with each other), and the paired
contrasts of the ablations (t-intervals checked against hand-computed ones)."""

from __future__ import annotations

import json
import math

import pytest

from sptseg_lib import ablations
from sptseg_lib.config import EXPERIMENT_PRESETS, experiment_preset, tiny_blocks
from sptseg_lib.metrics import harmonic_iou


@pytest.mark.parametrize("family", ["shapes", "voc"])
@pytest.mark.parametrize("key", list(ablations.TABLES))
def test_every_row_has_a_preset(key: str, family: str) -> None:
    rows = ablations.table_rows(key, family, fully=bool(ablations.TABLES[key].fully))
    assert rows and all(preset in EXPERIMENT_PRESETS for _, preset in rows)
    assert all(preset.startswith(f"{family}-") for _, preset in rows)
    assert len({label for label, _ in rows}) == len(rows)  # labels tell rows apart


@pytest.mark.parametrize("key", list(ablations.TABLES))
def test_every_row_label_has_the_papers_numbers(key: str) -> None:
    paper = ablations.paper_table(key)
    rows = ablations.table_rows(key, "voc", fully=bool(ablations.TABLES[key].fully))
    assert {label for label, _ in rows} == set(paper)  # every row, and every row of the paper
    for label, _ in rows:
        assert set(paper[label]) >= {"mIoU(S)", "mIoU(U)", "hIoU"}, label
    if key != "table1":
        assert ablations.TABLES[key].paper == key and paper is ablations.PAPER_TABLES[key]


def test_rows_name_the_configurations_they_claim() -> None:
    def model(table: str, label: str):
        presets = dict(ablations.table_rows(table, "voc"))
        return experiment_preset(presets[label]).model

    assert ablations.table_rows("2", "shapes")[1] == ("+ SPT", "shapes-spt")
    assert ablations.table_rows(2, "voc")[1] == ("+ SPT", "voc-spt")
    baseline, spt, sgd, both = (model("table2", label) for label, _ in ablations.table_rows("table2", "voc"))
    assert not baseline.spt and not baseline.sgd
    assert (spt.spt, spt.sgd, sgd.spt, sgd.sgd) == (True, False, False, True)
    assert both == model("table3", "layers 1-2") == model("table4", "3 decoder layers")
    assert model("table3", "layers 6-12").spt_layers == tuple(range(5, 12))
    assert model("table4", "5 decoder layers").decoder_layers == 5
    fully = ablations.table_rows("1", "voc", fully=True)[2:]
    assert [experiment_preset(p).train.setting for _, p in fully] == ["fully", "fully"]


def test_table_lookup_titles_and_errors() -> None:
    assert ablations.table("3") is ablations.table(3) is ablations.table("table3")
    assert ablations.table_title("4") == "Table 4: number of spectral guided decoder layers"
    with pytest.raises(KeyError, match="no ablation table"):
        ablations.table("5")
    with pytest.raises(ValueError, match="no fully supervised rows"):
        ablations.table_rows("2", "voc", fully=True)
    with pytest.raises(KeyError, match="does not define"):
        ablations.table_rows("2", "nowhere")
    with pytest.raises(ValueError, match="VOC only"):
        ablations.paper_table("2", dataset="coco_stuff")
    assert ablations.paper_table("1", dataset="coco_stuff")["SPT-SEG"]["hIoU"] == 42.1


def test_row_label_adds_the_tiny_blocks_in_the_miniature_only() -> None:
    for label, preset in ablations.table_rows("3", "shapes"):
        first, last = map(int, label.removeprefix("layers ").split("-"))
        shown = ablations.row_label("3", label, preset)
        assert shown == f"{label} (tiny {ablations.spt_blocks_text(tiny_blocks(first, last))})"
    assert ablations.row_label("3", "layers 1-6", "voc-sptseg-depth1-6") == "layers 1-6"
    assert ablations.row_label("2", "+ SPT", "shapes-spt") == "+ SPT"
    assert ablations.spt_blocks_text((0,)) == "block 0"
    assert ablations.spt_blocks_text((1, 2, 3)) == "blocks 1-3"
    assert ablations.spt_blocks_text((0, 2)) == "blocks 0, 2"


def test_paper_tables_are_consistent_with_eq_11_and_each_other() -> None:
    for table in ablations.PAPER_TABLES.values():
        for row, numbers in table.items():
            h = harmonic_iou(numbers["mIoU(S)"], numbers["mIoU(U)"])
            assert h == pytest.approx(numbers["hIoU"], abs=0.15), row  # printed to one decimal
    spt_seg = {k: v for k, v in ablations.PAPER_TABLES["table1_voc"]["SPT-SEG"].items() if k != "pAcc"}
    assert ablations.PAPER_TABLES["table2"]["+ SPT + SGD (SPT-SEG)"] == spt_seg
    assert ablations.PAPER_TABLES["table3"]["layers 1-2"] == spt_seg
    assert ablations.PAPER_TABLES["table4"]["3 decoder layers"] == spt_seg


# --- paired contrasts -----------------------------------------------------------------------------


def test_paired_difference_is_the_hand_computed_t_interval() -> None:
    # differences 2, 3, 2: mean 7/3, sample std sqrt(1/3), t(0.975, 2 dof) = 4.3027 (printed t tables)
    d = ablations.paired_difference([3.0, 5.0, 4.0], [1.0, 2.0, 2.0])
    half = 4.302653 * (1 / 3) ** 0.5 / 3**0.5
    assert d["differences"] == [2.0, 3.0, 2.0] and d["n"] == 3
    assert d["mean"] == pytest.approx(7 / 3) and d["std"] == pytest.approx((1 / 3) ** 0.5)
    assert d["ci95"] == pytest.approx([7 / 3 - half, 7 / 3 + half], abs=1e-5)
    assert d["verdict"] == "helps"
    # the same interval as scipy's paired t-test, another route to it
    import scipy.stats

    ci = scipy.stats.ttest_rel([3.0, 5.0, 4.0], [1.0, 2.0, 2.0]).confidence_interval(0.95)
    assert d["ci95"] == pytest.approx([ci.low, ci.high])


def test_paired_difference_verdicts_and_degenerate_samples() -> None:
    # differences -1, -2, -1.5, -2.5: mean -1.75, std sqrt(0.41667), t(0.975, 3 dof) = 3.1824
    d = ablations.paired_difference([1.0, 0.0, 0.5, -0.5], [2.0, 2.0, 2.0, 2.0])
    half = 3.182446 * (5 / 12) ** 0.5 / 2
    assert d["ci95"] == pytest.approx([-1.75 - half, -1.75 + half], abs=1e-5)
    assert d["ci95"][1] < 0 and d["verdict"] == "hurts"
    assert ablations.paired_difference([1.0, 3.0], [2.0, 1.0])["verdict"] == "no detectable difference"
    one = ablations.paired_difference([5.0], [4.0])  # one seed: a mean, no spread, no verdict
    assert one["mean"] == 1.0 and math.isnan(one["std"]) and all(map(math.isnan, one["ci95"]))
    assert one["verdict"] == "no detectable difference"
    with pytest.raises(ValueError):
        ablations.paired_difference([1.0, 2.0], [1.0])


def _run(h: float, u: float) -> dict[str, float]:
    return {"hIoU": h, "mIoU_unseen": u}


def test_contrasts_pair_runs_seed_by_seed() -> None:
    results = {
        "shapes-zegclip": {0: _run(10, 5), 1: _run(12, 6), 2: _run(11, 4)},
        "shapes-spt": {2: _run(14, 6), 0: _run(11, 7), 1: _run(15, 6)},  # order of seeds does not matter
        "shapes-sgd": {0: _run(20, 9), 1: _run(22, 11)},  # seed 2 missing: left out of its contrasts
    }
    paired = ablations.contrasts(results, [0, 1, 2])
    assert list(paired) == ["table2"]  # no depth or decoder rows were run
    spt, sgd = paired["table2"]  # only the contrasts whose two rows exist, in CONTRASTS order
    assert (spt["treatment"], spt["control"], spt["seeds"]) == ("shapes-spt", "shapes-zegclip", [0, 1, 2])
    assert spt["hIoU"]["differences"] == [1, 3, 3] and spt["mIoU_unseen"]["differences"] == [2, 0, 2]
    assert spt["hIoU"] == ablations.paired_difference([11, 15, 14], [10, 12, 11])
    assert (sgd["treatment"], sgd["seeds"]) == ("shapes-sgd", [0, 1])
    assert sgd["hIoU"]["differences"] == [10, 10]
    assert set(spt) == {"treatment", "control", "seeds", *ablations.CONTRAST_METRICS}
    voc = ablations.contrasts({f"voc-{k[7:]}": v for k, v in results.items()}, [0, 1, 2], family="voc")
    assert voc["table2"][0]["treatment"] == "voc-spt"
    assert voc["table2"][0]["hIoU"] == spt["hIoU"]


def test_every_contrast_names_two_rows_of_its_table() -> None:
    for key, pairs in ablations.CONTRASTS.items():
        suffixes = {row.preset_suffix for row in ablations.table(key).rows}
        assert ablations.CONTROL_ROWS[key] in suffixes
        control = ablations.table_rows(key, "shapes")[ablations.control_index(key)][1]
        assert control == f"shapes-{ablations.CONTROL_ROWS[key]}"
        for treatment, control in pairs:
            assert {treatment, control} <= suffixes, (key, treatment, control)
    assert [ablations.control_index(k) for k in (1, 2, 3, 4)] == [0, 0, 0, 1]  # Table 4: 3 layers
    assert ablations.contrast_label(2, "shapes-spt", "shapes-zegclip") == "+ SPT vs baseline (ZegCLIP)"
    assert ablations.contrast_label("table4", "sptseg-dec1", "sptseg-dec3") == (
        "1 decoder layer vs 3 decoder layers"
    )
    assert ablations.paper_difference(2, "shapes-spt", "shapes-zegclip") == pytest.approx(89.6 - 84.3)
    assert ablations.paper_difference(2, "spt", "zegclip", "mIoU_unseen") == pytest.approx(86.7 - 77.8)
    assert ablations.paper_difference(3, "sptseg-depth11-12", "sptseg-depth1-2", "mIoU(U)") == pytest.approx(
        78.3 - 87.4
    )
    with pytest.raises(KeyError, match="no row"):
        ablations.contrast_label(2, "shapes-sptseg-dec1", "shapes-zegclip")


def test_miniature_contrasts_read_a_tables_file_with_or_without_them() -> None:
    runs = {
        "shapes-sptseg-dec1": {"0": _run(20, 10), "1": _run(21, 12)},
        "shapes-sptseg-dec3": {"0": _run(25, 14), "1": _run(24, 13)},
    }
    data = {"meta": {"seeds": [0, 1]}, "runs": runs}
    paired = ablations.miniature_contrasts(data)  # computed from the runs (JSON: seeds as strings)
    expected = ablations.contrasts({p: {int(s): r for s, r in v.items()} for p, v in runs.items()}, [0, 1])
    assert paired == expected and paired["table4"][0]["hIoU"]["differences"] == [-5, -3]
    stored = json.loads(json.dumps({**data, "contrasts": expected}))  # as the script writes them
    assert ablations.miniature_contrasts(stored) == stored["contrasts"]
    (pair,) = ablations.contrasts_by_pair(paired).items()
    assert pair[0] == ("sptseg-dec1", "sptseg-dec3") and pair[1]["table"] == "table4"
    assert pair[1]["hIoU"] == paired["table4"][0]["hIoU"]
    assert pair[1]["paper"] == pytest.approx({"hIoU": 87.1 - 90.1, "mIoU_unseen": 82.8 - 87.4})
