"""The miniature reproduction: ``shapes-*`` presets, the training-free baselines, the inductive split in
training batches, and a training run on the shapes world that beats the baselines on unseen classes.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from sptseg_lib.baselines import TrainingFreeSegmenter, dense_features, evaluate_baseline
from sptseg_lib.checkpoint import check_compatible, checkpoint_experiment, is_resumable, load_checkpoint
from sptseg_lib.clip_loading import (
    MODEL_CONFIG_DIR,
    PROJECT_DATA_DIR,
    PretrainedWeightsError,
    get_tokenizer,
    load_clip,
    resolve_checkpoint,
)
from sptseg_lib.config import (
    EXPERIMENT_PRESETS,
    MODEL_PRESETS,
    TINY_CLIP_WEIGHTS,
    experiment_preset,
    tiny_blocks,
)
from sptseg_lib.data.shapes import SHAPES_SPLIT, ShapesDataset, get_world
from sptseg_lib.data.splits import IGNORE_INDEX
from sptseg_lib.encoder import PromptedCLIPEncoder
from sptseg_lib.evaluate import evaluate
from sptseg_lib.inference import Predictor
from sptseg_lib.model import build_model
from sptseg_lib.runs import SHIPPED_RUNS
from sptseg_lib.train import Trainer

ROWS = {  # preset suffix -> (spt, sgd, decoder layers)
    "zegclip": (False, False, 3),
    "spt": (True, False, 3),
    "sgd": (False, True, 3),
    "sptseg": (True, True, 3),
    "sptseg-dec1": (True, True, 1),
    "sptseg-dec3": (True, True, 3),
    "sptseg-dec5": (True, True, 5),
}
DEPTHS = ((1, 6), (6, 12), (1, 12), (11, 12), (1, 2))
TINY_DEPTH = json.loads((MODEL_CONFIG_DIR / "sptseg-tiny-clip.json").read_text())["vision_cfg"]["layers"]


@pytest.fixture(scope="module")
def tiny_clip():
    return load_clip("sptseg-tiny-clip", TINY_CLIP_WEIGHTS), get_tokenizer("sptseg-tiny-clip")


# --- presets ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("row", sorted(ROWS))
def test_every_paper_row_has_a_miniature(row: str) -> None:
    exp = experiment_preset(f"shapes-{row}")
    spt, sgd, layers = ROWS[row]
    assert (exp.model.spt, exp.model.sgd, exp.model.decoder_layers) == (spt, sgd, layers)
    assert exp.model.clip_model == "sptseg-tiny-clip" and exp.data.dataset == "shapes"
    assert exp.train.setting == "inductive"
    # ZegCLIP's row keeps ZegCLIP's loss (focal + dice); SPT-SEG's rows use eq. 10 (focal + SSIM).
    expected = (100, 1, 0) if row == "zegclip" else (100, 0, 1)
    assert (exp.train.focal_weight, exp.train.dice_weight, exp.train.ssim_weight) == expected


def test_every_row_shares_one_recipe() -> None:
    """Only the model (and ZegCLIP's loss) may differ between rows: the data and schedule are shared."""
    shapes = {
        n: e
        for n, e in EXPERIMENT_PRESETS.items()
        if n.startswith("shapes-") and e.train.setting == "inductive"
    }
    assert len(shapes) == len(ROWS) + len(DEPTHS)
    loss_fields = ("focal_weight", "dice_weight", "ssim_weight")
    recipes = {
        (e.data, dataclasses.replace(e.train, **dict.fromkeys(loss_fields, 0.0))) for e in shapes.values()
    }
    assert len(recipes) == 1


def _blocks_by_overlap(first: int, last: int, depth: int) -> tuple[int, ...]:
    """Independent formulation: tiny block j spans paper blocks [j*12/depth, (j+1)*12/depth); keep the
    blocks whose span overlaps the paper range [first-1, last)."""
    span = 12 / depth
    return tuple(j for j in range(depth) if j * span < last and (j + 1) * span > first - 1)


@pytest.mark.parametrize("first, last", DEPTHS)
def test_spt_depth_maps_proportionally_onto_the_tiny_vit(first: int, last: int) -> None:
    assert tiny_blocks(first, last, TINY_DEPTH) == _blocks_by_overlap(first, last, TINY_DEPTH)
    assert tiny_blocks(first, last, depth=12) == tuple(range(first - 1, last))  # ViT-B/16: identity
    model = MODEL_PRESETS[f"shapes-sptseg-depth{first}-{last}"]
    assert model.spt_layers == tiny_blocks(first, last) and max(model.spt_layers) < TINY_DEPTH
    assert MODEL_PRESETS["shapes-sptseg"].spt_layers == tiny_blocks(1, 2)
    with pytest.raises(ValueError, match="paper layers"):
        tiny_blocks(0, 13)


def test_pretrained_weights_resolve_from_any_working_directory(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    name = experiment_preset("shapes-sptseg").model.pretrained
    assert name == "project:tiny_clip/sptseg-tiny-clip.pt"  # the same string in every checkout
    path = Path(resolve_checkpoint("sptseg-tiny-clip", name))
    assert path.is_absolute() and path.is_file() and path == PROJECT_DATA_DIR / "tiny_clip" / path.name
    with pytest.raises(PretrainedWeightsError, match="comes with a source checkout"):
        resolve_checkpoint("sptseg-tiny-clip", "project:tiny_clip/missing.pt")


# --- training-free baselines ------------------------------------------------------------------------


def test_final_baseline_is_clips_own_projected_patch_tokens(tiny_clip) -> None:
    clip, _ = tiny_clip
    images = ShapesDataset("val", length=2)[0]["image"][None].repeat(2, 1, 1, 1)
    images[1] = images[1].flip(-1)
    visual = clip.visual
    visual.output_tokens = True
    try:
        with torch.no_grad():
            _, tokens = visual(images)  # (B, P*P, width) after ln_post, before proj
    finally:
        visual.output_tokens = False
    expected = (tokens @ visual.proj).transpose(1, 2).reshape(2, -1, 8, 8)
    torch.testing.assert_close(dense_features(clip, images, "final"), expected, atol=1e-5, rtol=1e-4)


def test_final_baseline_on_another_grid_is_the_encoders_dense_map(tiny_clip) -> None:
    """128-px scenes (16 x 16 tokens): the positions are interpolated as the trained rows' encoder does, so
    the ``final`` baseline is that encoder's dense map without prompts; a non-square grid keeps its shape."""
    clip, _ = tiny_clip
    images = ShapesDataset("val", length=1, size=128)[0]["image"][None]
    config = experiment_preset("shapes-zegclip").model.replace(
        image_size=128, prompt_tokens=0, cls_token_quirk=False
    )
    encoder = PromptedCLIPEncoder(clip.visual, config).eval()
    with torch.no_grad():
        _, dense = encoder.forward_features(images)
    torch.testing.assert_close(dense_features(clip, images, "final"), dense, atol=1e-5, rtol=1e-4)
    assert dense_features(clip, images[..., :64], "maskclip").shape[-2:] == (16, 8)


def test_maskclip_baseline_is_attention_restricted_to_each_token_itself(tiny_clip) -> None:
    """Attention where every token may attend only to itself returns out_proj(v): MaskCLIP's value path."""
    clip, _ = tiny_clip
    images = ShapesDataset("val", length=1)[0]["image"][None]
    visual = clip.visual
    with torch.no_grad():
        x = visual.conv1(images).flatten(2).transpose(1, 2)
        x = torch.cat([visual.class_embedding.expand(1, 1, -1), x], 1) + visual.positional_embedding
        x = visual.ln_pre(x)
        for block in visual.transformer.resblocks[:-1]:
            x = block(x)
        last = visual.transformer.resblocks[-1]
        n = x.shape[1]
        only_self = torch.full((n, n), -math.inf).fill_diagonal_(0.0)
        y = last.ln_1(x)
        y, _ = last.attn(y, y, y, attn_mask=only_self, need_weights=False)
        expected = (visual.ln_post(y[:, 1:]) @ visual.proj).transpose(1, 2).reshape(1, -1, 8, 8)
    torch.testing.assert_close(dense_features(clip, images, "maskclip"), expected, atol=1e-5, rtol=1e-4)


def test_baseline_scores_are_resized_cosine_similarities(tiny_clip) -> None:
    clip, tokenizer = tiny_clip
    seg = TrainingFreeSegmenter(clip, tokenizer, "maskclip")
    images = ShapesDataset("val", length=1)[0]["image"][None]
    text = seg.class_embeddings(list(SHAPES_SPLIT.class_names))
    scores = seg.predict(images, text)
    feats = dense_features(clip, images, "maskclip")[0]  # (D, 8, 8)
    cos = torch.stack(
        [F.cosine_similarity(feats, t[:, None, None].expand_as(feats), dim=0) for t in text]
    )  # (C, 8, 8), one class at a time
    expected = F.interpolate(cos[None], size=(64, 64), mode="bilinear", align_corners=False)
    torch.testing.assert_close(scores, expected, atol=1e-5, rtol=1e-4)
    protocol = Predictor(seg, SHAPES_SPLIT.class_names, seen=SHAPES_SPLIT.seen, mode="whole")
    assert protocol.penalty == 0.0  # a training-free model has no seen-class bias to correct
    torch.testing.assert_close(protocol.scores(images), expected, atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="unknown baseline"):
        TrainingFreeSegmenter(clip, tokenizer, "cls")  # type: ignore[arg-type]


# --- the inductive split in training batches --------------------------------------------------------


def test_no_unseen_label_reaches_the_loss(tmp_path) -> None:
    exp = experiment_preset("shapes-sptseg").with_overrides(
        {"train.iterations": 3, "train.batch_size": 16, "train.checkpoint_every": 3}
    )
    seen_targets: list[torch.Tensor] = []
    channels: list[int] = []

    def recording_criterion(
        masks: torch.Tensor, target: torch.Tensor, **normaliser
    ) -> dict[str, torch.Tensor]:
        seen_targets.append(target.detach().clone())
        channels.append(masks.shape[1])
        loss = masks.float().mean() * 0.0
        return {"loss": loss, "focal": loss}

    trainer = Trainer(exp, tmp_path, criterion=recording_criterion, device="cpu", progress=False)
    seen_names = [SHAPES_SPLIT.class_names[c] for c in SHAPES_SPLIT.seen]
    torch.testing.assert_close(trainer.text, trainer.model.class_embeddings(seen_names))
    trainer.fit()
    targets = torch.cat(seen_targets)
    assert set(channels) == {len(SHAPES_SPLIT.seen)}
    values = set(targets.unique().tolist())
    assert values <= set(range(len(SHAPES_SPLIT.seen))) | {IGNORE_INDEX}
    # The batches did hold unseen objects (3 x 16 scenes of 1-3 objects out of 16 classes): they are
    # ignored, i.e. their pixels carry no class, not relabelled as a seen class.
    assert IGNORE_INDEX in values


# --- training runs beat the training-free baselines ---------------------------------------------------

SHORT_ITERATIONS = 400
"""A compressed ``shapes-sptseg`` schedule (warm-up scaled with it) that fits the suite's 2-minute budget."""
SHIPPED_RUN = SHIPPED_RUNS / "shapes-sptseg"


def _baselines_unseen(tiny_clip, dataset: ShapesDataset) -> dict[str, float]:
    clip, tokenizer = tiny_clip
    return {
        kind: evaluate_baseline(clip, tokenizer, kind, dataset, SHAPES_SPLIT)["mIoU_unseen"]
        for kind in ("final", "maskclip")
    }


@pytest.mark.slow
@pytest.mark.timeout(1500)  # 84 s on an idle 2-core CI machine; over 600 s when other suites share it
def test_a_short_run_beats_the_training_free_baselines_on_unseen_classes(tmp_path, tiny_clip) -> None:
    """400 iterations of the SPT-SEG recipe on the 200 validation scenes, with torch's default threads
    (both cores of the CI machine, which runs one test at a time: 84 s of training there, 1.8x faster than
    one thread; on a busy machine one thread per process is faster).

    Measured while choosing the length, with the reference's random gate direction (before the presets took
    ``gate_init="first_batch"``): 300 iterations give mIoU(U) 5.2, below MaskCLIP's 13.8; 400 give 17.5; 450
    give 19.1; the whole 1,500-iteration preset 50.5.
    """
    exp = experiment_preset("shapes-sptseg").shortened(SHORT_ITERATIONS)
    trainer = Trainer(exp, tmp_path, device="cpu", progress=False)
    trainer.fit()
    val = ShapesDataset("val")
    protocol = Predictor.for_protocol(trainer.model, exp, SHAPES_SPLIT)
    trained = evaluate(protocol, val, SHAPES_SPLIT, progress=False)
    baselines = _baselines_unseen(tiny_clip, val)
    assert trained["mIoU_unseen"] > max(baselines.values()), (trained, baselines)
    assert trained["mIoU_seen"] > trained["mIoU_unseen"]  # and it learnt the seen classes it was shown


def test_the_shipped_miniature_run_is_the_preset_and_meets_the_issue_targets(tiny_clip) -> None:
    """``data/miniature/shapes-sptseg/``: the whole preset's run, shipped for the notebooks' smoke profile.

    It must still be the preset up to its seed, the median one of the miniature tables' runs of
    ``shapes-sptseg`` (a changed recipe needs a new run), reproduce its recorded test metrics,
    and meet the project's targets on the 200 test scenes: mIoU(U) at least 10 above the better training-free
    baseline, hIoU at least 50.
    """
    (path,) = SHIPPED_RUN.glob("iter_*.pt")
    state = load_checkpoint(path)
    seed = checkpoint_experiment(state, path).train.seed  # one seed of the tables: the median one
    check_compatible(
        state, experiment_preset("shapes-sptseg").with_overrides([f"train.seed={seed}"]), path=path
    )
    assert json.loads((SHIPPED_RUN / "run.json").read_text())["seed"] == seed
    runs = json.loads((SHIPPED_RUNS / "tables.json").read_text())["runs"]["shapes-sptseg"]
    by_hiou = sorted(runs, key=lambda k: runs[k]["hIoU"])
    assert int(by_hiou[len(by_hiou) // 2]) == seed  # the median seed of the tables, not the best
    assert not is_resumable(state) and state["step"] == experiment_preset("shapes-sptseg").train.iterations
    model = build_model("shapes-sptseg").eval()
    model.load_trainable_state_dict(state["model"])
    test = ShapesDataset("test")
    protocol = Predictor.for_protocol(model, experiment_preset("shapes-sptseg"), SHAPES_SPLIT)
    result = evaluate(protocol, test, SHAPES_SPLIT, progress=False)
    recorded = json.loads((SHIPPED_RUN / "eval_test.json").read_text())
    for metric in ("pAcc", "mIoU_seen", "mIoU_unseen", "hIoU"):
        assert result[metric] == pytest.approx(recorded[metric], abs=0.05), metric
    baselines = _baselines_unseen(tiny_clip, test)
    assert result["mIoU_unseen"] >= max(baselines.values()) + 10.0, (result, baselines)
    assert result["hIoU"] >= 50.0


def test_the_shipped_fabrics_run_is_the_median_seed_of_the_study_and_reproduces_its_scores() -> None:
    """``data/miniature/fabrics-sptseg/`` (notebook 10 looks inside it): the preset up to its seed, the
    median of the SPT study's ``fabric_world`` runs by test hIoU, with the test metrics recorded there."""
    shipped = SHIPPED_RUNS / "fabrics-sptseg"
    (path,) = shipped.glob("iter_*.pt")
    state = load_checkpoint(path)
    seed = checkpoint_experiment(state, path).train.seed
    check_compatible(
        state, experiment_preset("fabrics-sptseg").with_overrides([f"train.seed={seed}"]), path=path
    )
    records = SHIPPED_RUNS / "spt_study" / "runs" / "sptseg-fabrics" / "fabrics-sptseg"
    hiou = {
        int(f.stem.removeprefix("seed")): json.loads(f.read_text())["hIoU"]
        for f in records.glob("seed*.json")
    }
    assert sorted(hiou) == [0, 1, 2, 3, 4] and sorted(hiou, key=hiou.get)[2] == seed
    model = build_model("fabrics-sptseg").eval()
    model.load_trainable_state_dict(state["model"])
    world = get_world("fabrics")
    protocol = Predictor.for_protocol(model, experiment_preset("fabrics-sptseg"), world.split)
    result = evaluate(protocol, ShapesDataset("test", world=world), world.split, progress=False)
    recorded = json.loads((shipped / "eval_test.json").read_text())
    for metric in ("pAcc", "mIoU_seen", "mIoU_unseen", "hIoU"):
        assert result[metric] == pytest.approx(recorded[metric], abs=0.05), metric
    assert result["hIoU"] == pytest.approx(hiou[seed], abs=0.05)


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.skipif(
    os.environ.get("SPTSEG_LONG_TESTS") != "1",
    reason="trains the whole 1,500-iteration shapes-sptseg schedule (about 7 CPU minutes): set "
    "SPTSEG_LONG_TESTS=1 (the shipped run in data/miniature/ is checked on every run of the suite)",
)
def test_the_miniature_sptseg_preset_meets_the_issue_targets(tmp_path, tiny_clip) -> None:
    """The whole ``shapes-sptseg`` schedule, trained afresh and scored on the 200 validation scenes."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        exp = experiment_preset("shapes-sptseg")
        trainer = Trainer(exp, tmp_path, device="cpu", progress=False)
        trainer.fit()
        val = ShapesDataset("val")
        protocol = Predictor.for_protocol(trainer.model, exp, SHAPES_SPLIT)
        trained = evaluate(protocol, val, SHAPES_SPLIT, progress=False)
        baselines = _baselines_unseen(tiny_clip, val)
    finally:
        torch.set_num_threads(threads)
    assert trained["mIoU_unseen"] >= max(baselines.values()) + 10.0, (trained, baselines)
    assert trained["hIoU"] >= 50.0, trained
