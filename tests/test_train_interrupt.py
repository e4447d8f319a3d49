"""Interrupts lose nothing: Ctrl-C / SIGTERM during training, ``--resume`` fallbacks, the log, the workers.

In-process tests send the signal from the criterion (``signal.raise_signal``) at a chosen forward pass of
the tiny test model; the command-line tests run ``python -m sptseg_lib train`` on the shapes world and
signal it like a terminal would (the whole process group for SIGINT, the process for SIGTERM).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from test_train import RandomSegmentation, _free_port, assert_same, experiment, make_trainer, trainable

from sptseg_lib import checkpoint as ck
from sptseg_lib.__main__ import main
from sptseg_lib.config import DataConfig, ExperimentConfig, experiment_preset
from sptseg_lib.losses import SegmentationCriterion
from sptseg_lib.train import TrainingError, TrainingInterrupted, default_num_workers

ROOT = Path(__file__).resolve().parents[1]


class Unhandled(Exception):
    """A stop signal reached the test's own handler: ``fit`` did not catch it."""


@pytest.fixture(autouse=True)
def guard() -> Iterator[Callable]:
    """Handlers of the test's own for SIGINT / SIGTERM (so that a signal ``fit`` misses fails the test
    instead of stopping pytest or killing it); ``fit`` must put them back when it returns."""

    def handler(signum: int, frame: object) -> None:
        raise Unhandled(f"{signal.Signals(signum).name} was not handled by Trainer.fit")

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield handler
    for sig, old in previous.items():
        signal.signal(sig, old)


class SignalAt:
    """The experiment's criterion, raising ``signals[n]`` in this process right after its ``n``-th call
    (1-based; one call per micro-batch), i.e. in the middle of that step, before its backward pass."""

    def __init__(self, exp: ExperimentConfig, signals: dict[int, signal.Signals]) -> None:
        t = exp.train
        self.criterion = SegmentationCriterion(
            focal_weight=t.focal_weight, ssim_weight=t.ssim_weight, dice_weight=t.dice_weight
        )
        self.signals, self.calls = signals, 0

    def __call__(self, masks: torch.Tensor, target: torch.Tensor, **normaliser) -> dict[str, torch.Tensor]:
        self.calls += 1
        terms = self.criterion(masks, target, **normaliser)
        if self.calls in self.signals:
            signal.raise_signal(self.signals[self.calls])
        return terms


def dropout_experiment(**train) -> ExperimentConfig:
    """The test experiment with dropout on, so that the random states matter for a bit-exact resume."""
    defaults = dict(iterations=5, checkpoint_every=100, log_every=1)
    defaults.update(train)
    exp = experiment(**defaults)
    return exp.with_overrides({"model.prompt_dropout": 0.5, "model.decoder_dropout": 0.3})


def log_records(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]


def logged_steps(folder: Path) -> list[int]:
    return [r["step"] for r in log_records(folder) if "event" not in r]


# --- in process: the signal, the checkpoint, the message, the resume ----------------------------------


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_finishes_the_step_checkpoints_it_and_the_resume_is_bit_exact(
    tmp_path: Path, guard: Callable, sig: signal.Signals
) -> None:
    exp = dropout_experiment()
    full = make_trainer(tmp_path / "full", exp)
    full.fit()
    out = tmp_path / "part"
    part = make_trainer(out, exp, criterion=SignalAt(exp, {3: sig}))  # during step 3 of 5
    with pytest.raises(TrainingInterrupted) as stop:
        part.fit()
    message = str(stop.value)
    assert part.step == 3 and stop.value.step == 3 and stop.value.checkpoint == out / "iter_000003.pt"
    assert "\n" not in message and f"by {sig.name} at step 3 of 5" in message
    assert f"--out {out}" in message and message.endswith("--resume") and "iter_000003.pt" in message
    assert [p.name for p in ck.list_checkpoints(out)] == ["iter_000003.pt"]
    saved = ck.load_checkpoint(out / "iter_000003.pt")
    assert saved["step"] == 3
    assert_same(saved["model"], trainable(part), atol=0)
    assert signal.getsignal(signal.SIGINT) is guard and signal.getsignal(signal.SIGTERM) is guard
    interrupted = log_records(out)[-1]
    assert interrupted["event"] == "interrupted" and interrupted["step"] == 3
    assert interrupted["signal"] == sig.name and interrupted["abandoned_step"] is None

    torch.manual_seed(999)  # a fresh process has other generator states
    resumed = make_trainer(out, exp, resume=True)
    assert resumed.step == 3
    resumed.fit()
    assert_same(trainable(full), trainable(resumed), atol=0)
    assert logged_steps(out) == [1, 2, 3, 4, 5]
    events = [r["event"] for r in log_records(out) if "event" in r]
    assert events == ["start", "interrupted", "resume"]


def test_a_second_signal_abandons_the_step_and_the_resume_is_still_bit_exact(tmp_path: Path) -> None:
    exp = dropout_experiment(micro_batch=2)  # two criterion calls per step
    full = make_trainer(tmp_path / "full", exp)
    full.fit()
    out = tmp_path / "part"
    # step 3 = calls 5 and 6: Ctrl-C during its first micro-batch, again during its second.
    part = make_trainer(out, exp, criterion=SignalAt(exp, {5: signal.SIGINT, 6: signal.SIGINT}))
    with pytest.raises(TrainingInterrupted, match=r"at step 2 of 5 \(step 3 abandoned\)"):
        part.fit()
    assert part.step == 2 and [p.name for p in ck.list_checkpoints(out)] == ["iter_000002.pt"]
    assert all(p.grad is None for _, p in part.trainable), "the abandoned step's gradients are dropped"
    assert_same(ck.load_checkpoint(out / "iter_000002.pt")["model"], trainable(part), atol=0)
    assert log_records(out)[-1]["abandoned_step"] == 3

    torch.manual_seed(999)
    resumed = make_trainer(out, exp, resume=True)
    resumed.fit()
    assert_same(trainable(full), trainable(resumed), atol=0)
    assert logged_steps(out) == [1, 2, 3, 4, 5]


def test_a_signal_right_after_a_periodic_checkpoint_does_not_write_it_again(tmp_path: Path) -> None:
    exp = dropout_experiment(checkpoint_every=2)
    out = tmp_path / "run"
    trainer = make_trainer(out, exp, criterion=SignalAt(exp, {2: signal.SIGTERM}))
    with pytest.raises(TrainingInterrupted, match="at step 2 of 5"):
        trainer.fit()
    assert [p.name for p in ck.list_checkpoints(out)] == ["iter_000002.pt"]
    assert [r.get("event") for r in log_records(out)] == ["start", None, None, "interrupted"]


def test_a_signal_before_the_first_step_writes_nothing_and_says_so(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "run"
    trainer = make_trainer(out, dropout_experiment())
    loader = trainer.loader

    def loader_then_ctrl_c() -> Iterator:
        batches = loader()
        signal.raise_signal(signal.SIGINT)
        return batches

    monkeypatch.setattr(trainer, "loader", loader_then_ctrl_c)
    with pytest.raises(TrainingInterrupted, match="before the first step") as stop:
        trainer.fit()
    assert stop.value.checkpoint is None and "--resume" not in str(stop.value)
    assert trainer.step == 0 and ck.list_checkpoints(out) == []


def test_fit_outside_the_main_thread_installs_no_handler(tmp_path: Path, guard: Callable) -> None:
    trainer = make_trainer(tmp_path, experiment(iterations=1))
    errors: list[BaseException] = []

    def run() -> None:
        try:
            trainer.fit()
        except BaseException as err:  # reported by the assertion below
            errors.append(err)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert not errors and trainer.step == 1
    assert signal.getsignal(signal.SIGINT) is guard


def _ddp_interrupted_worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    try:
        exp = dropout_experiment()
        # Only rank 1 is signalled (during step 1); rank 0 must stop after the same step, not wait forever.
        trainer = make_trainer(Path(out), exp, criterion=SignalAt(exp, {1: signal.SIGTERM} if rank else {}))
        try:
            trainer.fit()
        except TrainingInterrupted as stop:
            result = {"step": stop.step, "message": str(stop)}
        else:
            result = {"step": -1, "message": "not interrupted"}
        (Path(out) / f"rank{rank}.json").write_text(json.dumps(result))
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_with_two_processes_a_signal_to_one_stops_both_after_the_same_step(tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    mp.spawn(_ddp_interrupted_worker, args=(2, _free_port(), str(out)), nprocs=2, join=True)
    results = [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]
    assert [r["step"] for r in results] == [1, 1], results
    assert "another process of the job" in results[0]["message"] and "SIGTERM" in results[1]["message"]
    assert "torchrun --nproc-per-node 2" in results[0]["message"]
    saved = ck.load_checkpoint(out / "iter_000001.pt")
    assert saved["step"] == 1 and len(saved["rng"]) == 2
    assert log_records(out)[-1]["event"] == "interrupted"


# --- resume: fallbacks and errors ----------------------------------------------------------------------


def test_a_truncated_newest_checkpoint_falls_back_to_the_previous_one_with_a_warning(tmp_path: Path) -> None:
    exp = dropout_experiment(iterations=4, checkpoint_every=2)
    first = make_trainer(tmp_path, exp)
    first.fit()
    expected = trainable(first)
    newest = tmp_path / "iter_000004.pt"
    newest.write_bytes(newest.read_bytes()[:-300])  # a crash or a full disk while copying the run
    assert logged_steps(tmp_path) == [1, 2, 3, 4]
    torch.manual_seed(999)
    with pytest.warns(UserWarning, match=r"skipped iter_000004\.pt, which cannot be read \(") as caught:
        resumed = make_trainer(tmp_path, exp, resume=True)
    assert len(caught) == 1 and "continuing from iter_000002.pt" in str(caught[0].message)
    assert "\n" not in str(caught[0].message)
    assert resumed.step == 2 and resumed.resume_from == tmp_path / "iter_000002.pt"
    resumed.fit()
    assert_same(expected, trainable(resumed), atol=0)
    assert ck.load_checkpoint(newest)["step"] == 4, "the truncated file is replaced by a good one"
    assert logged_steps(tmp_path) == [1, 2, 3, 4], "each step is logged once"
    resume_record = next(r for r in log_records(tmp_path) if r.get("event") == "resume")
    assert resume_record["log_records_dropped"] == 2


def test_when_no_checkpoint_loads_the_error_names_each(tmp_path: Path) -> None:
    exp = experiment(iterations=4, checkpoint_every=2)
    make_trainer(tmp_path, exp).fit()
    for name in ("iter_000002.pt", "iter_000004.pt"):
        (tmp_path / name).write_bytes(b"PK\x03\x04 not a checkpoint")
    with pytest.raises(ck.CheckpointError, match="corrupt or truncated") as err:
        make_trainer(tmp_path, exp, resume=True)
    assert "iter_000002.pt" in str(err.value) and "iter_000004.pt" in str(err.value)


def test_resume_with_nothing_to_resume_is_a_clear_error(tmp_path: Path, capsys) -> None:
    with pytest.raises(TrainingError, match=r"nothing to resume in .*drop --resume"):
        make_trainer(tmp_path / "empty", experiment(), resume=True)
    assert not (tmp_path / "empty").exists()
    out = tmp_path / "cli"
    assert main(["train", "--preset", "shapes-sptseg", "--out", str(out), "--resume", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: nothing to resume in") and "--resume" in err and str(out) in err
    assert not out.exists()


def test_newest_readable_checkpoint(tmp_path: Path) -> None:
    assert ck.newest_readable_checkpoint(tmp_path / "missing") is None
    assert ck.newest_readable_checkpoint(tmp_path) is None
    for step in (1, 2, 3):
        ck.save_checkpoint(tmp_path / ck.checkpoint_name(step), {"step": step})
    (tmp_path / "iter_000003.pt").write_bytes((tmp_path / "iter_000003.pt").read_bytes()[:50])
    path, state, skipped = ck.newest_readable_checkpoint(tmp_path)
    assert (path.name, state["step"]) == ("iter_000002.pt", 2)
    assert [(p.name, type(e)) for p, e in skipped] == [("iter_000003.pt", ck.CheckpointError)]
    assert ck.unreadable_reason(skipped[0][1]).startswith("RuntimeError")


# --- DataLoader workers follow the machine ----------------------------------------------------------


def test_default_workers_follow_the_cpus_this_process_may_use(tmp_path: Path, monkeypatch) -> None:
    for cpus, workers in ((1, 0), (2, 1), (3, 2), (5, 4), (64, 4)):
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid, n=cpus: set(range(n)), raising=False)
        assert default_num_workers() == workers
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    assert default_num_workers() == 2
    monkeypatch.undo()

    assert DataConfig().num_workers is None and experiment_preset("voc-sptseg").data.num_workers is None
    assert experiment_preset("shapes-sptseg").data.num_workers == 0
    exp = experiment().with_overrides({"data.num_workers": None})
    assert ExperimentConfig.from_dict(json.loads(exp.to_json())) == exp
    with pytest.raises(ValueError, match="num_workers"):
        DataConfig(num_workers=-1)
    trainer = make_trainer(tmp_path, exp, train_dataset=RandomSegmentation(n=4))
    assert trainer.num_workers == default_num_workers()
    assert make_trainer(tmp_path / "explicit", experiment()).num_workers == 0  # explicit values are kept
    # A run written with 4 workers resumes on a machine that picks another number.
    four = experiment().with_overrides({"data.num_workers": 4})
    ck.check_compatible({"experiment": four.to_dict()}, exp)


# --- the command line ----------------------------------------------------------------------------------


def _cli_train(out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "sptseg_lib",
        "train",
        "--preset",
        "shapes-sptseg",
        "--out",
        str(out),
        "--iterations",
        "150",
        "--set",
        "train.batch_size=2",
        "--set",
        "train.log_every=1",
        "--set",
        "train.checkpoint_every=1000",
        "--device",
        "cpu",
        "--no-progress",
        *extra,
    ]


def _wait_for_step(proc: subprocess.Popen, out: Path, step: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if (out / "log.jsonl").is_file() and any(s >= step for s in logged_steps_lenient(out)):
            return
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"training did not reach step {step} in {timeout} s")


def logged_steps_lenient(folder: Path) -> list[int]:
    steps = []
    for line in (folder / "log.jsonl").read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a line being written
            continue
        if "event" not in record:
            steps.append(record["step"])
    return steps


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_cli_train_stops_on_a_signal_with_one_line_and_130(tmp_path: Path, sig: signal.Signals) -> None:
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # One DataLoader worker: Ctrl-C reaches the workers too (the whole process group), which must not fail.
    command = _cli_train(out, "--set", "data.num_workers=1")
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    _wait_for_step(proc, out, 3)
    sent = time.perf_counter()
    if sig == signal.SIGINT:
        os.killpg(proc.pid, sig)  # what a terminal's Ctrl-C does
    else:
        os.kill(proc.pid, sig)
    _, stderr = proc.communicate(timeout=120)
    stopped_s = time.perf_counter() - sent
    print(f"{sig.name}: signal to exit {stopped_s:.2f} s")
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if "interrupted" in line]
    assert len(lines) == 1 and lines[0] == stderr.strip().splitlines()[-1], stderr
    message = lines[0]
    assert message.startswith(f"interrupted by {sig.name} at step ") and message.endswith(" --resume")
    step = int(message.split(" at step ")[1].split()[0])
    assert step >= 3 and (out / ck.checkpoint_name(step)).is_file()
    assert ck.load_checkpoint(out / ck.checkpoint_name(step))["step"] == step
    assert logged_steps(out) == list(range(1, step + 1))
    assert stopped_s < 30

    if sig != signal.SIGINT:
        return
    # The command the message names continues the run to its end; every step is logged once.
    resume = shlex.split(message.split("continue with: ", 1)[1])
    assert resume[:3] == ["python", "-m", "sptseg_lib"] and resume[-1] == "--resume"
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *resume[1:], "--device", "cpu", "--no-progress"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    print(f"resume from step {step} to 150: {time.perf_counter() - start:.2f} s")
    assert done.returncode == 0, done.stderr
    assert logged_steps(out) == list(range(1, 151))
    events = [r["event"] for r in log_records(out) if "event" in r]
    assert events == ["start", "gate_init", "interrupted", "resume"]  # pointed once, not on resume
    assert [p.name for p in ck.list_checkpoints(out)] == [ck.checkpoint_name(step), "iter_000150.pt"]
