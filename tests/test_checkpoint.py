"""Checkpoints: atomic writes, safe loading, config checks, random-state round trips."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from sptseg_lib import checkpoint as ck
from sptseg_lib.config import experiment_preset


def payload(name: str = "voc-sptseg", step: int = 7) -> dict:
    return {
        "experiment": experiment_preset(name).to_dict(),
        "step": step,
        "model": {"w": torch.arange(6.0).reshape(2, 3)},
        "rng": [ck.capture_rng_state()],
    }


def test_save_then_load_round_trips_with_weights_only(tmp_path: Path) -> None:
    path = ck.save_checkpoint(tmp_path / "sub" / "iter_000007.pt", payload())
    loaded = ck.load_checkpoint(path)
    assert loaded["step"] == 7 and loaded["format"] == ck.FORMAT
    torch.testing.assert_close(loaded["model"]["w"], torch.arange(6.0).reshape(2, 3))
    assert ck.checkpoint_experiment(loaded) == experiment_preset("voc-sptseg")
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["iter_000007.pt"], "no temporary file left"


def test_a_failed_write_leaves_the_previous_file_intact(tmp_path: Path, monkeypatch) -> None:
    path = ck.save_checkpoint(tmp_path / "iter_000001.pt", payload(step=1))
    before = path.read_bytes()

    def broken_save(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        ck.save_checkpoint(path, payload(step=2))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["iter_000001.pt"]


def test_pickled_code_corrupt_files_and_foreign_files_are_refused(tmp_path: Path) -> None:
    evil = tmp_path / "evil.pt"
    torch.save({"format": ck.FORMAT, "version": ck.VERSION, "obj": Path("/")}, evil)  # a non-tensor class
    with pytest.raises(ck.CheckpointError, match="cannot be read"):
        ck.load_checkpoint(evil)
    good = ck.save_checkpoint(tmp_path / "iter_000003.pt", payload())
    truncated = tmp_path / "iter_000004.pt"
    truncated.write_bytes(good.read_bytes()[:-500])
    with pytest.raises(ck.CheckpointError, match="corrupt or truncated"):
        ck.load_checkpoint(truncated)
    foreign = tmp_path / "weights.pt"
    torch.save({"w": torch.zeros(1)}, foreign)
    with pytest.raises(ck.CheckpointError, match="not an sptseg checkpoint"):
        ck.load_checkpoint(foreign)
    with pytest.raises(ck.CheckpointError, match="does not exist"):
        ck.load_checkpoint(tmp_path / "nothing.pt")


def test_compatibility_check_names_every_difference(tmp_path: Path) -> None:
    saved = ck.load_checkpoint(ck.save_checkpoint(tmp_path / "iter_000001.pt", payload("voc-zegclip")))
    with pytest.raises(ck.CheckpointError) as err:
        ck.check_compatible(saved, experiment_preset("voc-sptseg"))
    message = str(err.value)
    for line in ("model.spt: False != True", "model.sgd: False != True", "train.dice_weight: 1.0 != 0.0"):
        assert line in message
    ck.check_compatible(saved, experiment_preset("voc-zegclip").with_overrides({"train.micro_batch": 2}))
    # model_only: a transductive run may start from the inductive checkpoint of the same network ...
    ck.check_compatible(saved, experiment_preset("voc-zegclip-transductive"), model_only=True)
    # ... but not from another network.
    with pytest.raises(ck.CheckpointError, match=r"model\.spt"):
        ck.check_compatible(saved, experiment_preset("voc-sptseg-transductive"), model_only=True)


def test_latest_checkpoint_orders_by_step_and_ignores_other_files(tmp_path: Path) -> None:
    assert ck.latest_checkpoint(tmp_path / "missing") is None
    for step in (2, 10, 9):
        (tmp_path / ck.checkpoint_name(step)).write_bytes(b"")
    (tmp_path / ".iter_000099.pt.tmp-1").write_bytes(b"")
    (tmp_path / "iter_final.pt").write_bytes(b"")
    assert [p.name for p in ck.list_checkpoints(tmp_path)] == [
        "iter_000002.pt",
        "iter_000009.pt",
        "iter_000010.pt",
    ]
    assert ck.latest_checkpoint(tmp_path).name == "iter_000010.pt"


def test_random_states_survive_a_weights_only_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(3)
    np.random.seed(4)  # noqa: NPY002 (the legacy global generator is what the checkpoint saves)
    random.seed(5)
    np.random.randn()  # noqa: NPY002 (leave a cached Gaussian in numpy's state)
    ck.save_checkpoint(tmp_path / "iter_000001.pt", {"rng": [ck.capture_rng_state()]})
    expected = (torch.rand(4), np.random.rand(4), np.random.randn(), [random.random() for _ in range(4)])  # noqa: NPY002
    torch.manual_seed(0), np.random.seed(0), random.seed(0)  # noqa: NPY002
    ck.restore_rng_state(ck.load_checkpoint(tmp_path / "iter_000001.pt")["rng"][0])
    got = (torch.rand(4), np.random.rand(4), np.random.randn(), [random.random() for _ in range(4)])  # noqa: NPY002
    torch.testing.assert_close(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])
    assert got[2] == expected[2] and got[3] == expected[3]
