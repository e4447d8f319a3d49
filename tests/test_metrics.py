"""Eq. 11 metrics against torchmetrics (confusion matrix, Jaccard index, accuracy) and properties:
NaN for absent classes, hIoU formula, streaming, merging and a real two-process all-reduce."""

from __future__ import annotations

import json
import math
import os
import tempfile

import pytest
import torch
import torch.multiprocessing as mp
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix, MulticlassJaccardIndex

from sptseg_lib.losses import count_masks
from sptseg_lib.metrics import (
    ConfusionMatrix,
    harmonic_iou,
    metrics_rows,
    metrics_table,
    segmentation_metrics,
)

IGNORE = 255
C = 8
SEEN = [0, 1, 2, 3, 4, 5]
UNSEEN = [6, 7]


def _random_maps(n: int = 3, h: int = 17, w: int = 13) -> tuple[torch.Tensor, torch.Tensor]:
    """Predictions and labels with ignored pixels; class 5 never occurs anywhere (NaN), class 6 only in
    the predictions (IoU 0), class 7 only in the labels (IoU 0)."""
    label = torch.tensor([0, 1, 2, 3, 4, 7])[torch.randint(0, 6, (n, h, w))]
    pred = torch.tensor([0, 1, 2, 3, 4, 6])[torch.randint(0, 6, (n, h, w))]
    agree = torch.rand(n, h, w) < 0.5
    pred[agree & (label != 7)] = label[agree & (label != 7)]
    label[torch.rand(n, h, w) < 0.15] = IGNORE
    return pred, label


def test_confusion_matrix_matches_torchmetrics() -> None:
    pred, label = _random_maps()
    cm = ConfusionMatrix(C)
    cm.update(pred, label)
    ref = MulticlassConfusionMatrix(num_classes=C, ignore_index=IGNORE)(pred.flatten(), label.flatten())
    torch.testing.assert_close(cm.matrix, ref.long())


def test_metrics_match_torchmetrics_and_nan_semantics() -> None:
    pred, label = _random_maps()
    res = segmentation_metrics(pred, label, C, SEEN, UNSEEN)
    ref_iou = 100 * MulticlassJaccardIndex(num_classes=C, average="none", ignore_index=IGNORE)(pred, label)
    iou = torch.tensor(res["IoU"])
    valid = label != IGNORE
    in_pred, in_label = set(pred[valid].tolist()), set(label[valid].tolist())
    absent = [k for k in range(C) if k not in in_pred and k not in in_label]
    assert absent == [5]
    assert torch.isnan(iou[absent]).all()
    present = [k for k in range(C) if k not in absent]
    torch.testing.assert_close(iou[present].float(), ref_iou[present], rtol=1e-5, atol=1e-4)
    assert iou[6] == 0 and iou[7] == 0
    ref_acc = 100 * MulticlassAccuracy(num_classes=C, average="micro", ignore_index=IGNORE)(pred, label)
    assert res["pAcc"] == pytest.approx(ref_acc.item(), rel=1e-5)
    assert res["num_pixels"] == int(valid.sum())
    # means leave the NaN class out
    assert res["mIoU"] == pytest.approx(ref_iou[present].mean().item(), rel=1e-5)
    seen_present = [k for k in SEEN if k != 5]
    assert res["mIoU_seen"] == pytest.approx(ref_iou[seen_present].mean().item(), rel=1e-5)
    assert res["mIoU_unseen"] == pytest.approx(ref_iou[UNSEEN].mean().item(), abs=1e-6)


def test_hiou_formula() -> None:
    # labels and predictions built so that mIoU(S) and mIoU(U) are known exactly
    label = torch.tensor([0, 0, 1, 1, 2, 2, 2, 2])
    pred = torch.tensor([0, 0, 1, 0, 2, 2, 1, 1])
    res = segmentation_metrics(pred, label, 3, seen=[0, 1], unseen=[2])
    s = ((2 / 3) + (1 / 4)) / 2 * 100  # IoU_0 = 2/3, IoU_1 = 1/4
    u = 0.5 * 100  # IoU_2 = 2/4
    assert res["mIoU_seen"] == pytest.approx(s)
    assert res["mIoU_unseen"] == pytest.approx(u)
    assert res["hIoU"] == pytest.approx(2 * s * u / (s + u))
    assert harmonic_iou(0.0, 0.0) == 0.0
    # ZegCLIP's COCO inductive row as the SPT-SEG paper prints it (docs/reference.md §7.1, §7.2)
    assert harmonic_iou(40.2, 41.4) == pytest.approx(40.79, abs=0.01)
    assert math.isnan(harmonic_iou(50.0, math.nan))


def test_streaming_and_merging_equal_one_big_update() -> None:
    pred, label = _random_maps(n=6)
    whole = ConfusionMatrix(C)
    whole.update(pred, label)
    streamed = ConfusionMatrix(C)
    for i in range(6):
        streamed.update(pred[i], label[i])
    a, b = ConfusionMatrix(C), ConfusionMatrix(C)
    a.update(pred[:2], label[:2])
    b.update(pred[2:], label[2:])
    a += b
    torch.testing.assert_close(streamed.matrix, whole.matrix)
    torch.testing.assert_close(a.matrix, whole.matrix)
    r1, r2 = whole.compute(SEEN, UNSEEN), streamed.compute(SEEN, UNSEEN)
    assert json.dumps(r1) == json.dumps(r2)


def test_unknown_labels_and_predictions_raise() -> None:
    cm = ConfusionMatrix(C)
    pred = torch.zeros(4, dtype=torch.long)
    for bad in (C, -1, 200):
        with pytest.raises(ValueError, match=f"label values \\[{bad}\\]"):
            cm.update(pred, torch.tensor([0, 1, bad, IGNORE]))
    with pytest.raises(ValueError, match="predicted class indices"):
        cm.update(torch.tensor([0, C, 0, 0]), torch.tensor([0, 1, 2, 3]))
    # a prediction at an ignored pixel is never looked at
    cm.update(torch.tensor([0, 0, 0, 99]), torch.tensor([0, 1, 2, IGNORE]))
    with pytest.raises(ValueError, match="shape"):
        cm.update(pred, torch.zeros(5, dtype=torch.long))
    with pytest.raises(TypeError, match="argmax"):
        cm.update(torch.zeros(4), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="unseen"):
        cm.compute(SEEN, [C])


def test_table_and_rows() -> None:
    pred, label = _random_maps()
    res = segmentation_metrics(pred, label, C, SEEN, UNSEEN)
    names = [f"class{k}" for k in range(C)]
    rows = metrics_rows(res, names, SEEN, UNSEEN)
    assert len(rows) == C + 1
    assert [r["split"] for r in rows[:C]] == ["seen"] * 6 + ["unseen"] * 2
    assert rows[5]["IoU"] is None  # NaN -> None for JSON
    assert rows[-1]["hIoU"] == pytest.approx(res["hIoU"])
    json.dumps(rows, allow_nan=False)
    table = metrics_table(res, names, SEEN, UNSEEN)
    lines = table.splitlines()
    assert lines[0].startswith("| # | class")
    assert f"| 6 | class6 | unseen | {res['IoU'][6]:.2f} |" in lines
    assert "| 5 | class5 | seen | n/a |" in lines
    assert lines[-1] == (
        f"| {res['pAcc']:.2f} | {res['mIoU']:.2f} | {res['mIoU_seen']:.2f} | {res['mIoU_unseen']:.2f} "
        f"| {res['hIoU']:.2f} |"
    )


def _dist_worker(rank: int, init_file: str, queue) -> None:
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        torch.manual_seed(0)
        pred, label = _random_maps(n=4)
        cm = ConfusionMatrix(C)
        cm.update(pred[2 * rank : 2 * rank + 2], label[2 * rank : 2 * rank + 2])
        cm.all_reduce()
        present = torch.zeros(2, 4, dtype=torch.bool)
        present.view(-1)[: 3 + 2 * rank] = True  # rank 0: 3 pairs, rank 1: 5 pairs
        # plain pickled data: a torch tensor would be passed as a shared-memory handle, which breaks
        # (connection reset) when this process exits before the parent has read it
        queue.put((rank, cm.matrix.tolist(), float(count_masks(present))))
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_distributed_reductions() -> None:
    """Two real gloo processes, each holding half the data: the all-reduced confusion matrix equals the
    one of all the data, and num_masks is the per-process average of the pair counts (losses 5.1)."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    with tempfile.TemporaryDirectory() as tmp:
        procs = [
            ctx.Process(target=_dist_worker, args=(r, os.path.join(tmp, "init"), queue)) for r in range(2)
        ]
        for p in procs:
            p.start()
        results = {rank: (matrix, n) for rank, matrix, n in (queue.get(timeout=180) for _ in procs)}
        for p in procs:
            p.join(timeout=60)
    torch.manual_seed(0)
    pred, label = _random_maps(n=4)
    whole = ConfusionMatrix(C)
    whole.update(pred, label)
    for rank in (0, 1):
        torch.testing.assert_close(torch.tensor(results[rank][0], dtype=whole.matrix.dtype), whole.matrix)
        assert results[rank][1] == 4.0
