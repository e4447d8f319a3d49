"""Tests of sptseg_lib.ablations: one list of rows whose presets exist and whose labels find the paper's
numbers, and the paper's numbers themselves (consistent with eq. 11 and with each other)."""

from __future__ import annotations

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
