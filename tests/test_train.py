"""The training engine: schedule, accumulation, DDP, resume, a small run end to end, bad inputs.

Everything runs on the CPU with the tiny test CLIP at 32-64 px and random data the tests make here.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import tiny_configs
import torch
import torch.multiprocessing as mp

from sptseg_lib.checkpoint import (
    TRAINING_STATE_KEYS,
    CheckpointError,
    export_weights,
    is_resumable,
    load_checkpoint,
)
from sptseg_lib.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig, load_experiment_json
from sptseg_lib.data.splits import UNSEEN_PSEUDO, ZeroShotSplit
from sptseg_lib.evaluate import evaluate_checkpoint
from sptseg_lib.losses import (
    SegmentationCriterion,
    binary_targets,
    class_presence,
    count_masks,
    focal_loss,
)
from sptseg_lib.train import (
    EndlessShardSampler,
    EveryN,
    PolyWarmupSchedule,
    SeededItems,
    Trainer,
    TrainingError,
    pseudo_label_unseen,
)

SPLIT = ZeroShotSplit("toy", ("ant", "bee", "cat", "dog", "eel"), unseen=(3, 4))
SIZE = 32


class RandomSegmentation(torch.utils.data.Dataset):
    """Items dict(image, label, name): fixed random images whose labels are 8x8 blocks of the toy classes
    plus some ignore pixels; a random horizontal flip (global torch RNG) stands in for augmentation."""

    def __init__(self, n: int = 16, size: int = SIZE, seed: int = 123, augment: bool = True) -> None:
        self.augment = augment
        g = torch.Generator().manual_seed(seed)
        # Each image holds its own random subset of the classes (so the per-image class counts differ).
        blocks = []
        for _ in range(n):
            classes = torch.randperm(SPLIT.num_classes, generator=g)[
                : int(torch.randint(1, 6, (), generator=g))
            ]
            blocks.append(classes[torch.randint(0, len(classes), (size // 8, size // 8), generator=g)])
        self.labels = torch.stack(blocks).repeat_interleave(8, 1).repeat_interleave(8, 2)
        self.labels[:, :2, :2] = 255
        colours = torch.randn(SPLIT.num_classes + 1, 3, generator=g)
        lut = self.labels.clamp(max=SPLIT.num_classes)
        self.images = colours[lut].permute(0, 3, 1, 2) + 0.3 * torch.randn(n, 3, size, size, generator=g)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        image, label = self.images[i], self.labels[i]
        if self.augment and torch.rand(()) < 0.5:
            image, label = image.flip(-1), label.flip(-1)
        return dict(image=image.clone(), label=label.clone(), name=f"item{i}")


def tiny_model_config(**changes) -> ModelConfig:
    """The tests' tiny network at ``SIZE`` px, without dropout, its filter resized to any grid."""
    fixed = dict(image_size=SIZE, prompt_dropout=0.0, decoder_dropout=0.0, spt_grid_mode="interpolate")
    return tiny_configs.tiny_model_config(**{**fixed, **changes})


def experiment(**train) -> ExperimentConfig:
    defaults = dict(
        iterations=6, batch_size=4, warmup_iters=2, lr=1e-3, checkpoint_every=3, log_every=1, amp="off"
    )
    defaults.update(train)
    return ExperimentConfig(
        "toy",
        tiny_model_config(),
        DataConfig(dataset="toy", crop_size=SIZE, test_mode="whole", test_stride=SIZE, num_workers=0),
        TrainConfig(**defaults),
    )


def make_trainer(out: Path, exp: ExperimentConfig | None = None, **kwargs) -> Trainer:
    from sptseg_lib.model import build_model

    exp = exp or experiment()
    torch.manual_seed(exp.train.seed)
    model = build_model(exp.model, device="cpu")
    kwargs.setdefault("train_dataset", RandomSegmentation())
    return Trainer(exp, out, split=SPLIT, model=model, device="cpu", progress=False, **kwargs)


def trainable(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in trainer.model.trainable_state_dict().items()}


def record_gradients(trainer: Trainer) -> list[dict[str, torch.Tensor]]:
    """The gradients the optimiser sees at each step (after accumulation and the DDP average)."""
    steps: list[dict[str, torch.Tensor]] = []

    def hook(optimizer, args, kwargs) -> None:
        steps.append({n: p.grad.detach().clone() for n, p in trainer.trainable if p.grad is not None})

    trainer.optimizer.register_step_pre_hook(hook)
    return steps


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], atol: float = 1e-6) -> None:
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=atol, rtol=1e-5, msg=f"parameter {k} differs")


# --- schedule, sampler, seeded data, pseudo-labels --------------------------------------------------------


def test_schedule_matches_mmcv_poly_with_linear_warmup() -> None:
    s = PolyWarmupSchedule(
        lr=2e-4, iterations=20_000, power=0.9, min_lr=1e-6, warmup_iters=1500, warmup_ratio=1e-6
    )
    # Independent formulation: mmcv computes the regular (poly) lr, then scales it during warm-up.
    for t in (0, 1, 749, 1499, 1500, 1501, 10_000, 19_999, 20_000):
        regular = (2e-4 - 1e-6) * (1 - t / 20_000) ** 0.9 + 1e-6
        expected = regular * (1 - (1 - t / 1500) * (1 - 1e-6)) if t < 1500 else regular
        assert s.lr_at(t) == pytest.approx(expected, rel=1e-12)
    assert s.lr_at(0) == pytest.approx(2e-4 * 1e-6, rel=1e-3)
    assert s.lr_at(20_000) == pytest.approx(1e-6)
    lrs = [s.lr_at(t) for t in range(0, 20_000, 500)]
    peak = lrs.index(max(lrs))
    assert lrs[: peak + 1] == sorted(lrs[: peak + 1]) and lrs[peak:] == sorted(lrs[peak:], reverse=True)


def test_sampler_shards_cover_each_epoch_once_and_resume_mid_stream() -> None:
    n, world = 10, 2
    streams = [EndlessShardSampler(n, r, world, seed=3) for r in range(world)]
    firsts = [[next(it) for _ in range(10)] for it in (iter(s) for s in streams)]
    for epoch in (0, 1):
        seen = sorted(i for items in firsts for e, i in items if e == epoch)
        assert seen == list(range(n)), "each epoch must visit every item exactly once across the shards"
    resumed = list(zip(range(6), iter(EndlessShardSampler(n, 1, world, seed=3, start=4))))
    assert [x for _, x in resumed] == firsts[1][4:10]


def test_seeded_items_do_not_depend_on_or_disturb_the_global_rng() -> None:
    data = SeededItems(RandomSegmentation(n=4), seed=5)
    torch.manual_seed(1)
    a = [data[(0, i)]["image"] for i in range(4)]
    after_a = torch.rand(3)
    torch.manual_seed(1)
    torch.rand(7)  # a different global state must not change the items
    b = [data[(0, i)]["image"] for i in range(4)]
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y)
    torch.manual_seed(1)
    [data[(0, i)] for i in range(4)]
    torch.testing.assert_close(torch.rand(3), after_a)
    flips = {bool((data[(e, 0)]["image"] == data.dataset.images[0]).all()) for e in range(16)}
    assert flips == {True, False}, "augmentation must still vary from epoch to epoch"


def test_pseudo_labels_are_the_argmax_over_unseen_channels_on_unseen_pixels_only() -> None:
    logits = torch.randn(2, 5, 4, 4)
    target = torch.randint(0, 3, (2, 8, 8))
    target[:, :3] = UNSEEN_PSEUDO
    target[0, 7, 7] = 255
    out = pseudo_label_unseen(logits, target, (0, 1, 2, 3, 4), unseen=(3, 4))
    up = torch.nn.functional.interpolate(logits, size=(8, 8), mode="bilinear", align_corners=False)
    for b in range(2):
        for y in range(8):
            for x in range(8):
                if target[b, y, x] == UNSEEN_PSEUDO:
                    p = torch.sigmoid(up[b, :, y, x])
                    assert out[b, y, x] == (3 if p[3] >= p[4] else 4)
                else:
                    assert out[b, y, x] == target[b, y, x]


# --- the update: accumulation, processes, resume --------------------------------------------------------


def test_accumulation_over_k_micro_batches_equals_one_large_batch(tmp_path: Path) -> None:
    whole = make_trainer(tmp_path / "a", experiment(micro_batch=None))
    accum = make_trainer(tmp_path / "b", experiment(micro_batch=2))
    assert (whole.accumulation, accum.accumulation) == (1, 2)
    assert_same(trainable(whole), trainable(accum))
    grads_whole, grads_accum = record_gradients(whole), record_gradients(accum)
    data = RandomSegmentation()
    batch = [data[i] for i in range(4)]
    stacked = {k: torch.stack([b[k] for b in batch]) for k in ("image", "label")}
    for _ in range(2):
        whole.train_step([stacked])
        accum.train_step([{k: v[i : i + 2] for k, v in stacked.items()} for i in (0, 2)])
    # Adam divides by |g|, so compare the gradient it is given; parameters only where |g| is not ~0.
    for gw, ga in zip(grads_whole, grads_accum):
        assert gw.keys() == ga.keys() and len(gw) > 10
        assert_same(gw, ga, atol=1e-7)
    assert max(g.abs().max().item() for g in grads_whole[0].values()) > 1e-3, (
        "the loss must reach the parameters"
    )


class RecordingCriterion:
    """The experiment's criterion, keeping the mask logits and the target (pseudo-labelled) of each call."""

    def __init__(self, exp: ExperimentConfig) -> None:
        t = exp.train
        self.criterion = SegmentationCriterion(
            focal_weight=t.focal_weight, ssim_weight=t.ssim_weight, dice_weight=t.dice_weight
        )
        self.calls: list[tuple[torch.Tensor, torch.Tensor]] = []

    def __call__(self, masks: torch.Tensor, target: torch.Tensor, **normaliser) -> dict[str, torch.Tensor]:
        self.calls.append((masks.detach().clone(), target.clone()))
        return self.criterion(masks, target, **normaliser)


def test_transductive_focal_is_normalised_by_the_pairs_of_the_pseudo_labelled_target(tmp_path: Path) -> None:
    """docs/reference.md §5.1 with the transductive targets: ``num_masks`` counts the (image, class) pairs of
    the target the loss is computed on, i.e. after the pseudo-labels, which may split one unseen class of the
    ground truth into two predicted unseen classes (so that the ground truth's count is another number)."""
    exp = experiment(setting="transductive", batch_size=2)
    criterion = RecordingCriterion(exp)
    trainer = make_trainer(tmp_path, exp, criterion=criterion)
    assert trainer.accumulation == 1
    label = torch.zeros(2, SIZE, SIZE, dtype=torch.long)
    label[:, :, SIZE // 2 :] = 3  # one unseen class on the right half of both images
    label[1, : SIZE // 2, : SIZE // 2] = 1
    label[:, :2, :2] = 255
    image = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))

    def unseen_split(module, args, out):  # class 3 wins on the top half of the grid, class 4 on the bottom
        bias = torch.zeros_like(out["masks"][:1])
        h = bias.shape[-2] // 2
        bias[:, 3, :h], bias[:, 4, h:] = 20.0, 20.0
        return {**out, "masks": out["masks"] + bias}

    trainer.model.register_forward_hook(unseen_split)
    terms = trainer.train_step([{"image": image, "label": label}])
    (masks, target), c = criterion.calls[0], len(trainer.channel_classes)
    pairs = count_masks(class_presence(target, c))
    assert UNSEEN_PSEUDO not in target and set(target[:, :, SIZE // 2 :].unique().tolist()) == {3, 4}
    assert pairs != count_masks(class_presence(label, c)), "the pseudo-labels must split the unseen class"
    logits = torch.nn.functional.interpolate(masks, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    focal = focal_loss(logits, binary_targets(target, c), num_masks=pairs)
    assert terms["focal"] == pytest.approx(exp.train.focal_weight * float(focal), rel=1e-5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, out: str, gate_init: str = "randn") -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    try:
        exp = experiment(iterations=2, checkpoint_every=2).with_overrides({"model.gate_init": gate_init})
        trainer = make_trainer(Path(out), exp)
        grads = record_gradients(trainer)
        trainer.fit()
        torch.save({"params": trainable(trainer), "grads": grads}, Path(out) / f"rank{rank}.pt")
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_ddp_processes_point_their_gates_the_same_way(tmp_path: Path) -> None:
    """``gate_init = "first_batch"`` with two processes, each with its own first batch: the directions are
    averaged, so the replicas stay identical (and differ from the random start)."""
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path), "first_batch"), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True)["params"] for r in range(2)]
    assert_same(ranks[0], ranks[1], atol=0)
    start = make_trainer(tmp_path / "start", experiment(iterations=2))
    xi = [k for k in ranks[0] if k.endswith("gate.xi")]
    assert xi and all(not torch.allclose(ranks[0][k], trainable(start)[k], atol=1e-2) for k in xi)


@pytest.mark.slow
def test_two_ddp_processes_make_the_same_update_as_one_process(tmp_path: Path) -> None:
    single = make_trainer(tmp_path / "one", experiment(iterations=2, checkpoint_every=2))
    grads = record_gradients(single)
    single.fit()
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path / "two")), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / "two" / f"rank{r}.pt", weights_only=True) for r in range(2)]
    assert_same(ranks[0]["params"], ranks[1]["params"], atol=0)  # DDP keeps the replicas identical
    assert len(grads) == len(ranks[0]["grads"]) == 2
    for g_single, g_ddp in zip(grads, ranks[0]["grads"]):  # the averaged gradient = the whole batch's
        assert_same(g_single, g_ddp, atol=1e-7)
    # After Adam (which divides by |g|), parameters agree wherever the gradient is not ~0.
    step = {k: (trainable(single)[k] - ranks[0]["params"][k]).abs() for k in grads[0]}
    assert sum(int((d > 1e-5).sum()) for d in step.values()) <= 1e-3 * sum(d.numel() for d in step.values())
    ckpt = load_checkpoint(tmp_path / "two" / "iter_000002.pt")
    assert len(ckpt["rng"]) == 2 and ckpt["world_size"] == 2
    start = json.loads((tmp_path / "two" / "log.jsonl").read_text().splitlines()[0])
    assert (start["world_size"], start["micro_batch"], start["effective_batch"]) == (2, 2, 4)


def test_interrupted_and_resumed_run_equals_uninterrupted_run(tmp_path: Path) -> None:
    exp = experiment(iterations=4, checkpoint_every=100, micro_batch=2)
    exp = exp.with_overrides({"model.prompt_dropout": 0.5, "model.decoder_dropout": 0.3})  # RNG in play
    full = make_trainer(tmp_path / "full", exp)
    full.fit()
    part = make_trainer(tmp_path / "part", exp)
    part.fit(iterations=2)
    assert sorted(p.name for p in (tmp_path / "part").glob("iter_*.pt")) == ["iter_000002.pt"]
    torch.manual_seed(999)  # a fresh process has other generator states
    resumed = make_trainer(tmp_path / "part", exp, resume=True)
    assert resumed.step == 2
    resumed.fit()
    assert_same(trainable(full), trainable(resumed), atol=0)
    events = [
        json.loads(line).get("event") for line in (tmp_path / "part" / "log.jsonl").read_text().splitlines()
    ]
    assert events.count("start") == 1 and events.count("resume") == 1


def test_resume_auto_trains_or_continues_and_a_hook_runs_every_n_steps(tmp_path: Path) -> None:
    exp = experiment(iterations=5, checkpoint_every=100)
    first = make_trainer(tmp_path, exp, resume="auto")  # nothing to continue: a fresh run
    assert first.resume_from is None and first.step == 0
    seen: list[int] = []
    first.fit(3, hooks=[EveryN(2, lambda trainer: seen.append(trainer.step))])
    assert seen == [2, 3], "every 2nd step, and the last step of the fit"
    second = make_trainer(tmp_path, exp, resume="auto")  # continues from the checkpoint fit(3) wrote
    assert second.step == 3 and second.resume_from == tmp_path / "iter_000003.pt"


# --- a small run end to end -----------------------------------------------------------------------------


def test_small_run_lowers_the_loss_and_checkpoints_only_trainable_parameters(tmp_path: Path) -> None:
    exp = experiment(iterations=12, checkpoint_every=6, log_every=3, lr=1e-2, warmup_iters=1)
    # A random xi can close the gate on every token (then nothing learns): point it at the first batch.
    exp = exp.with_overrides({"model.gate_init": "first_batch"})
    trainer = make_trainer(tmp_path, exp, train_dataset=RandomSegmentation(n=4))
    trainer.fit()
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    start, steps = records[0], [r for r in records if "loss" in r]
    assert start["event"] == "start" and start["seed"] == exp.train.seed and start["effective_batch"] == 4
    assert set(start["trainable_names"]) == set(trainer.model.trainable_state_dict())
    assert steps[-1]["loss"] < 0.8 * steps[0]["loss"], [r["loss"] for r in steps]
    for r in steps:
        assert {"lr", "focal", "ssim", "images_per_s", "effective_batch", "step"} <= set(r)
    assert sorted(p.name for p in tmp_path.glob("iter_*.pt")) == ["iter_000006.pt", "iter_000012.pt"]
    ckpt = load_checkpoint(tmp_path / "iter_000012.pt")
    names = set(ckpt["model"])
    frozen = {n for n, p in trainer.model.named_parameters() if not p.requires_grad}
    assert names == {n for n, p in trainer.model.named_parameters() if p.requires_grad}
    assert not names & frozen and frozen, "the frozen CLIP must not be in the checkpoint"
    assert {"optimizer", "scheduler", "rng", "step", "experiment"} <= set(ckpt)
    assert ExperimentConfig.from_dict(ckpt["experiment"]) == exp
    assert load_experiment_json(tmp_path / "config.json") == exp

    # The evaluation report beside the checkpoint has every metric; pAcc checked pixel by pixel.
    test = RandomSegmentation(n=3, seed=7, augment=False)
    report = evaluate_checkpoint(
        tmp_path / "iter_000012.pt",
        dataset=test,
        split=SPLIT,
        model=trainer.model,
        device="cpu",
        progress=False,
    )
    on_disk = json.loads((tmp_path / "iter_000012.eval.json").read_text())
    markdown = (tmp_path / "iter_000012.eval.md").read_text()
    for key in ("pAcc", "mIoU", "mIoU_seen", "mIoU_unseen", "hIoU", "IoU"):
        assert key in on_disk and key in report
    assert list(on_disk["IoU"]) == list(SPLIT.class_names) and on_disk["step"] == 12
    assert "mIoU(U)" in markdown and "| eel | unseen |" in markdown
    text = trainer.model.class_embeddings(list(SPLIT.class_names))
    penalty = torch.tensor([0.1, 0.1, 0.1, 0.0, 0.0])[None, :, None, None]
    correct = total = 0
    with torch.no_grad():
        for i in range(3):
            logits = trainer.model(test.images[i : i + 1], text)["masks"]
            up = torch.nn.functional.interpolate(
                logits, size=(SIZE, SIZE), mode="bilinear", align_corners=False
            )
            pred = (up.sigmoid() - penalty).argmax(1)[0]
            keep = test.labels[i] != 255
            correct += int((pred[keep] == test.labels[i][keep]).sum())
            total += int(keep.sum())
    assert on_disk["pAcc"] == pytest.approx(100 * correct / total)


def test_transductive_run_starts_from_the_inductive_checkpoint_and_trains_every_class(tmp_path: Path) -> None:
    inductive = make_trainer(tmp_path / "ind", experiment(iterations=2, checkpoint_every=2))
    assert inductive.channel_classes == SPLIT.seen and inductive.text.shape[0] == 3
    inductive.fit()
    start = tmp_path / "ind" / "iter_000002.pt"
    exp = experiment(setting="transductive", iterations=2, init_from=str(start))
    trainer = make_trainer(tmp_path / "st", exp)
    assert trainer.channel_classes == (0, 1, 2, 3, 4) and trainer.text.shape[0] == 5
    assert_same(trainable(trainer), load_checkpoint(start)["model"], atol=0)
    record = trainer.fit()
    assert record["step"] == 2 and torch.isfinite(torch.tensor(record["loss"]))
    other = exp.with_overrides({"model.decoder_layers": 2})
    with pytest.raises(CheckpointError, match=r"model\.decoder_layers: 1 != 2"):
        make_trainer(tmp_path / "st2", other)


# --- bad inputs -------------------------------------------------------------------------------------------


def test_refuses_to_overwrite_a_run_and_a_checkpoint_of_another_experiment(tmp_path: Path) -> None:
    make_trainer(tmp_path, experiment(iterations=2, checkpoint_every=2)).fit()
    saved = (tmp_path / "iter_000002.pt").read_bytes()
    with pytest.raises(TrainingError, match="already holds checkpoints"):
        make_trainer(tmp_path, experiment(iterations=2))
    other = experiment(iterations=2, lr=5e-4).with_overrides({"model.decoder_layers": 2})
    with pytest.raises(CheckpointError) as err:
        make_trainer(tmp_path, other, resume=True)
    assert "model.decoder_layers: 1 != 2" in str(err.value) and "train.lr" in str(err.value)
    assert (tmp_path / "iter_000002.pt").read_bytes() == saved


def test_corrupt_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    make_trainer(tmp_path, experiment(iterations=2, checkpoint_every=2)).fit()
    path = tmp_path / "iter_000002.pt"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        make_trainer(tmp_path, experiment(iterations=2), resume=True)
    assert len(path.read_bytes()) == 100


def test_batch_geometry_errors_say_what_to_change(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="micro_batch 3 does not divide"):
        make_trainer(tmp_path, experiment(micro_batch=3))
    assert not tmp_path.joinpath("log.jsonl").exists()


def test_a_weights_only_export_evaluates_and_starts_runs_but_does_not_resume(tmp_path: Path) -> None:
    make_trainer(tmp_path / "run", experiment(iterations=2, checkpoint_every=2)).fit()
    full = load_checkpoint(tmp_path / "run" / "iter_000002.pt")
    exported = export_weights(tmp_path / "run" / "iter_000002.pt", tmp_path / "shipped" / "iter_000002.pt")
    slim = load_checkpoint(exported)
    assert is_resumable(full) and not is_resumable(slim)
    assert set(full) - set(slim) == set(TRAINING_STATE_KEYS) and slim["step"] == 2
    assert_same(slim["model"], full["model"], atol=0)
    assert exported.stat().st_size < (tmp_path / "run" / "iter_000002.pt").stat().st_size
    with pytest.raises(TrainingError, match="trained weights only"):
        make_trainer(tmp_path / "shipped", experiment(iterations=2, checkpoint_every=2), resume=True)
    assert load_checkpoint(exported)["step"] == 2  # untouched
    started = make_trainer(tmp_path / "next", experiment(iterations=2, init_from=str(exported)))
    assert_same(trainable(started), full["model"], atol=0)


def test_first_batch_gate_init_runs_once_at_the_start_of_a_fresh_run(tmp_path: Path) -> None:
    """``gate_init = "first_batch"`` points the gates at the first micro-batch before the first update (the
    same as calling ``initialise_gates`` on it by hand), logs it, and is not repeated on resume."""
    exp = experiment(iterations=2, checkpoint_every=1).with_overrides({"model.gate_init": "first_batch"})
    trainer = make_trainer(tmp_path / "run", exp)
    first = next(trainer.loader())["image"]
    by_hand = make_trainer(tmp_path / "by_hand", exp)
    by_hand.model.initialise_gates(first)
    expected = {n: p.detach().clone() for n, p in by_hand.model.named_parameters() if n.endswith("gate.xi")}
    assert expected
    seen = {}

    def before_step(module, args):
        if not seen:
            seen.update({n: p.detach().clone() for n, p in module.named_parameters() if n.endswith(".xi")})

    trainer.model.register_forward_pre_hook(before_step)
    trainer.fit(iterations=1)
    assert_same(seen, expected)
    resumed = make_trainer(tmp_path / "run", exp, resume=True)
    resumed.fit()
    events = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    inits = [e for e in events if e.get("event") == "gate_init"]
    assert len(inits) == 1 and inits[0]["step"] == 0 and all(0 < s <= 1 for s in inits[0]["open_share"])
    plain = make_trainer(tmp_path / "plain", experiment(iterations=1))
    plain.fit()
    assert "gate_init" not in (tmp_path / "plain" / "log.jsonl").read_text()
