"""Bad input, round two: a locked run folder, a full disk, unwritable outputs, reports that keep metrics.

Each case names the message or behaviour it guards; the README's "What bad input gets" table lists them.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from test_cli_inputs import _custom_args, _folder_data, run_error
from test_cli_inputs import checkpoint as checkpoint  # the fixture

from sptseg_lib import checkpoint as ck
from sptseg_lib.run_lock import LOCK_NAME, RunFolderBusy, check_not_training, hold_run_folder

ROOT = Path(__file__).resolve().parents[1]


# --- 1. one writer per run folder ---------------------------------------------------------------------


def _train_command(out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "sptseg_lib", "train", "--preset", "shapes-sptseg", "--out", str(out),
        "--set", "train.batch_size=2", "--set", "train.log_every=1", "--set", "data.num_workers=0",
        "--device", "cpu", "--no-progress", *extra,
    ]  # fmt: skip


def _logged(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def test_a_second_train_on_the_same_folder_is_refused_at_once_and_the_first_keeps_its_run(
    tmp_path: Path,
) -> None:
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    first = subprocess.Popen(
        _train_command(out, "--iterations", "20", "--set", "train.checkpoint_every=20"),
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not (out / "log.jsonl").is_file():
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "the first run never started"
        time.sleep(0.05)
    start = time.perf_counter()
    second = subprocess.run(
        _train_command(out, "--iterations", "20", "--set", "train.seed=7"),
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    refused_s = time.perf_counter() - start
    assert second.returncode == 2, second.stderr
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in second.stderr
    assert lines[0].startswith(f"error: run folder {out} is in use by process {first.pid} (train, started ")
    assert "choose another folder" in lines[0]
    # Refused before the command line's slow imports (torch, open_clip), while the first run trains.
    print(f"second train refused after {refused_s:.2f} s")
    assert refused_s < 5
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    records = _logged(out)
    assert [r for r in records if r.get("event") == "start"].__len__() == 1
    assert [r["step"] for r in records if "event" not in r] == list(range(1, 21))
    config = json.loads((out / "config.json").read_text())
    assert config["train"]["seed"] != 7
    assert ck.load_checkpoint(out / "iter_000020.pt")["experiment"]["train"]["seed"] != 7


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    code = (
        "import sys, time; from sptseg_lib.run_lock import hold_run_folder; "
        "lock = hold_run_folder(sys.argv[1]); print('held', flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    start = time.perf_counter()
    with pytest.raises(RunFolderBusy, match=f"process {proc.pid}"):
        hold_run_folder(tmp_path)
    assert time.perf_counter() - start < 0.5  # never waits for the holder
    with pytest.raises(RunFolderBusy, match="pass --out with another folder"):
        check_not_training(
            tmp_path, "writing the report folder there could disturb it: pass --out with another folder"
        )
    proc.kill()
    proc.wait()
    lock = hold_run_folder(tmp_path)  # SIGKILL released it
    assert lock.held and (tmp_path / LOCK_NAME).is_file()
    check_not_training(tmp_path, "report")  # this process holds it: no refusal of itself
    lock.release()


def test_evaluate_refuses_to_write_its_report_into_a_folder_that_is_training(
    tmp_path: Path,
    checkpoint: Path,
    capsys,
) -> None:
    code = (
        "import sys, time; from sptseg_lib.run_lock import hold_run_folder; "
        "lock = hold_run_folder(sys.argv[1]); print('held', flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(checkpoint.parent)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        err = run_error(
            ["evaluate", "--checkpoint", str(checkpoint), "--device", "cpu", "--no-progress"], capsys
        )
        assert f"run folder {checkpoint.parent} is in use by process {proc.pid}" in err
        assert "pass --out with another folder" in err
    finally:
        proc.kill()
        proc.wait()
    assert not list(checkpoint.parent.glob("*.eval*"))


# --- 6. a full disk --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0"),
    ],
    ids=["enospc", "torch-unexpected-pos"],
)
def test_a_full_disk_names_the_checkpoint_not_written_and_the_intact_one(
    tmp_path: Path, monkeypatch, failure: BaseException
) -> None:
    ck.save_checkpoint(tmp_path / "iter_000010.pt", {"step": 10})

    def full(obj: object, f: object, *args: object, **kwargs: object) -> None:
        Path(f).write_bytes(b"partial")  # type: ignore[arg-type]
        raise failure

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(ck.CheckpointWriteError) as caught:
        ck.save_checkpoint(tmp_path / "iter_000020.pt", {"step": 20})
    assert str(caught.value) == (
        f"no space left on {tmp_path}: checkpoint iter_000020 was not written; the previous one, "
        "iter_000010, is intact; free some space, then continue with --resume"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["iter_000010.pt"]  # no temporary file left
    monkeypatch.undo()
    assert ck.load_checkpoint(tmp_path / "iter_000010.pt")["step"] == 10


def test_train_on_a_full_disk_exits_2_with_one_line_and_resumes_once_space_is_back(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    from sptseg_lib.__main__ import main

    out = tmp_path / "run"
    base = ["train", "--preset", "shapes-sptseg", "--out", str(out), "--iterations", "4",
            "--set", "train.batch_size=2", "--set", "train.checkpoint_every=2", "--set", "data.num_workers=0",
            "--device", "cpu", "--no-progress"]  # fmt: skip
    real_save = torch.save
    calls = {"n": 0}

    def fills_up(obj: object, f: object, *args: object, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] >= 2:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 128 vs 0")
        real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", fills_up)
    err = run_error(base, capsys)
    assert err.strip() == (
        f"error: no space left on {out}: checkpoint iter_000004 was not written; the previous one, "
        "iter_000002, is intact; free some space, then continue with --resume"
    )
    assert sorted(p.name for p in out.glob("*.pt*")) == ["iter_000002.pt"]
    monkeypatch.setattr(torch, "save", real_save)
    assert main([*base, "--resume"]) == 0
    assert ck.load_checkpoint(out / "iter_000004.pt")["step"] == 4


# --- 5. check before work, lose nothing after it -------------------------------------------------------


def test_evaluate_to_an_out_that_is_a_file_fails_before_any_work(
    tmp_path: Path,
    checkpoint: Path,
    capsys,
    monkeypatch,
) -> None:
    images, masks = _folder_data(tmp_path)
    target = tmp_path / "report"
    target.write_text("not a folder")
    import sptseg_lib.evaluate as ev

    monkeypatch.setattr(ev, "evaluate", lambda *a, **k: pytest.fail("evaluated before checking --out"))
    err = run_error([*_custom_args(checkpoint, images, masks), "--out", str(target)], capsys)
    assert f"report folder {target} is a file, not a folder; choose a folder for --out" in err


def test_a_report_that_cannot_be_written_at_the_end_prints_its_metrics(
    tmp_path: Path,
    checkpoint: Path,
    capsys,
    monkeypatch,
) -> None:
    images, masks = _folder_data(tmp_path)
    import sptseg_lib.evaluate as ev

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ev, "write_report", disk_full)
    out = tmp_path / "report"
    err = run_error([*_custom_args(checkpoint, images, masks), "--out", str(out)], capsys)
    assert err.startswith(
        f"error: the report could not be written to {out / 'report.json'} (no space left on "
    )
    assert "its metrics: pAcc " in err and "mIoU " in err and len(err.strip().splitlines()) == 1


def test_a_read_only_out_fails_before_any_work(tmp_path: Path, checkpoint: Path, capsys, monkeypatch) -> None:
    images, masks = _folder_data(tmp_path)
    import tempfile

    import sptseg_lib.evaluate as ev

    def read_only(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    monkeypatch.setattr(ev, "evaluate", lambda *a, **k: pytest.fail("evaluated before checking --out"))
    out = tmp_path / "report"
    err = run_error([*_custom_args(checkpoint, images, masks), "--out", str(out)], capsys)
    assert err.strip() == (
        f"error: report folder {out} is not writable (read-only file system); choose another --out"
    )


def test_a_run_folder_that_cannot_be_written_is_one_line(tmp_path: Path, monkeypatch) -> None:
    def read_only(self: Path, *args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(Path, "mkdir", read_only)
    with pytest.raises(PermissionError) as caught:
        hold_run_folder(tmp_path / "run")
    assert str(caught.value) == (
        f"run folder {tmp_path / 'run'} cannot be written (read-only file system); choose another --out"
    )
