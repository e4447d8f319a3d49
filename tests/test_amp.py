"""Mixed precision: ``train.amp="auto"`` picks bf16 on GPUs with native bf16, fp16 with a gradient scaler on
older ones (a T4, compute capability 7.5), fp32 on the CPU; a scaled step trains on the CPU, is logged, and
its scaler state survives a checkpoint and a resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from test_train import experiment, make_trainer, trainable

from sptseg_lib.amp import amp_plan
from sptseg_lib.checkpoint import export_weights, load_checkpoint


@pytest.mark.parametrize(
    ("capability", "label", "scaler"),
    [((7, 5), "fp16", True), ((7, 0), "fp16", True), ((8, 0), "bf16", False), ((9, 0), "bf16", False)],
)
def test_auto_follows_the_gpus_bf16_support(monkeypatch, capability, label: str, scaler: bool) -> None:
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    plan = amp_plan("auto", torch.device("cuda", 0))
    assert (plan.label, plan.scaler) == (label, scaler)
    assert f"compute capability {capability[0]}.{capability[1]}" in plan.reason
    assert plan.record()["amp"] == label and plan.record()["grad_scaler"] is scaler


def test_auto_is_fp32_on_cpu_and_mps_and_explicit_modes_win() -> None:
    for device in ("cpu", "mps"):
        plan = amp_plan("auto", torch.device(device))
        assert (plan.dtype, plan.scaler, plan.label) == (None, False, "fp32")
    cpu = torch.device("cpu")
    assert (amp_plan("fp16", cpu).dtype, amp_plan("fp16", cpu).scaler) == (torch.float16, True)
    assert (amp_plan("bf16", cpu).dtype, amp_plan("bf16", cpu).scaler) == (torch.bfloat16, False)
    assert amp_plan("off", cpu).label == "fp32"
    with pytest.raises(ValueError, match="'fp16'"):
        amp_plan("fp8", cpu)


def test_a_scaled_fp16_step_trains_logs_and_resumes_with_its_scaler(tmp_path: Path) -> None:
    exp = experiment(amp="fp16", iterations=4)
    trainer = make_trainer(tmp_path / "run", exp)
    before = trainable(trainer)
    trainer.fit(2)
    after = trainable(trainer)
    assert any(not torch.equal(before[k], after[k]) for k in before), "the scaled steps changed nothing"
    start = json.loads((tmp_path / "run" / "log.jsonl").read_text().splitlines()[0])
    assert start["amp"] == "fp16" and start["grad_scaler"] is True and "fp16" in start["amp_reason"]
    scale = trainer.scaler.get_scale()
    assert scale > 1.0  # the loss really was scaled
    ckpt_path = sorted((tmp_path / "run").glob("iter_*.pt"))[-1]
    assert load_checkpoint(ckpt_path)["scaler"]["scale"] == scale
    resumed = make_trainer(tmp_path / "run", exp, resume=True)
    assert resumed.step == 2 and resumed.scaler.get_scale() == scale
    slim = load_checkpoint(export_weights(ckpt_path, tmp_path / "weights.pt"))
    assert "scaler" not in slim
