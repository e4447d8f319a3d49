"""Contrastive pretraining of the tiny CLIP on the shapes world, and its zero-shot classification accuracy.

The tiny CLIP (``sptseg_lib/model_configs/sptseg-tiny-clip.json``: 64-px images, a 4-layer width-128
patch-8 ViT with an 8 x 8 token grid, a 3-layer width-64 text tower, the ViT-B-16 tokenizer) stands in
for the frozen CLIP ViT-B/16 of the paper wherever real weights cannot be downloaded. It is pretrained
here with CLIP's symmetric InfoNCE loss and a learnable temperature on image-caption pairs that cover
*all* classes, unseen ones included: as real CLIP saw sheep in captions before any segmenter saw a
sheep mask, only the segmentation training hides the unseen classes.

Captions teach binding (which colour belongs to which shape), which a compositional world needs:

* single objects: ``"a photo of a red circle"`` / ``"a red circle on sand"`` / ``"a red circle"``;
* stuff only: ``"a photo of a grass"`` / ``"grass"``;
* multi-object scenes: ``"a blue star and a red circle on grass"``;
* every image also brings a hard-negative caption that swaps colours between two of its objects
  (``"a red star and a blue circle on grass"``) or changes one attribute; negatives join the image-to-text
  softmax only (as in NegCLIP).

Object lists are written in class order, so two captions are the same string exactly when they describe
the same thing; identical captions in a batch count as positives of each other (no false negatives).

Run ``python -m sptseg_lib.tools.pretrain_tiny_clip --out data/tiny_clip`` to regenerate the shipped weights;
``--world stripes --out data/tiny_clip_stripes`` pretrains the same way on the stripes world (its object
classes texture x shape, colour uninformative; ``sptseg_lib.data.shapes.STRIPES_WORLD``), where captions
bind textures to shapes as they bind colours here, and ``--world fabrics --out data/tiny_clip_fabrics`` on
the fabrics world (colour x texture, shape uninformative; ``FABRICS_WORLD``), where they bind colours to
textures.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import open_clip
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from ..clip_loading import TINY_CLIP_NAME, TINY_CLIP_WEIGHTS, build_tiny_clip
from ..data.shapes import (
    IMAGE_SIZE,
    NUM_OBJECT_CLASSES,
    SHAPES_WORLD,
    STUFF,
    WORLDS,
    World,
    render_scene,
    render_single_object,
)
from ..data.transforms import IMAGENET_MEAN, IMAGENET_STD, normalise

TOKENIZER_NAME = "ViT-B-16"
TEMPLATE = "a photo of a {}"
WEIGHTS_FILE = Path(TINY_CLIP_WEIGHTS).name
RECORD_FILE = "pretraining.json"
EVAL_SEED = 1000


# ----------------------------------------------------------------------------------------------- captions
def _name(colour: str, shape: str) -> str:
    return f"{colour} {shape}"


def _describe(objects: Sequence[tuple[str, str]], stuff: Sequence[int], world: World = SHAPES_WORLD) -> str:
    """Canonical caption of a scene: distinct objects in class order, then the surfaces."""
    order = sorted(set(objects), key=world.object_classes.index)
    names = [f"a {_name(c, s)}" for c, s in order]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"{listed} on {' and '.join(world.class_names[s] for s in stuff)}"


def _change_one_attribute(
    rng: np.random.Generator, obj: tuple[str, str], world: World = SHAPES_WORLD
) -> tuple[str, str]:
    """``obj`` (its two words) with one of them changed to another word of the world."""
    first, second = obj
    if rng.random() < 0.5:
        return str(rng.choice([a for a in world.attributes if a != first])), second
    return first, str(rng.choice([s for s in world.second_words if s != second]))


def scene_captions(
    rng: np.random.Generator, objects: Sequence[int], stuff: Sequence[int], world: World = SHAPES_WORLD
) -> tuple[str, str]:
    """(caption, hard negative) of a multi-object scene. The negative swaps the attributes (colours, or
    textures) of two objects that differ in attribute and shape (a binding error with the same bag of words)
    where possible, else changes one attribute of one object; it never describes the same set of objects."""
    objs = [world.object_classes[i] for i in objects]
    positive = _describe(objs, stuff, world)
    pairs = [
        (a, b)
        for a in range(len(objs))
        for b in range(a + 1, len(objs))
        if objs[a][0] != objs[b][0] and objs[a][1] != objs[b][1]
    ]
    for _ in range(10):
        neg = list(objs)
        if pairs:
            a, b = pairs[int(rng.integers(len(pairs)))]
            neg[a], neg[b] = (objs[b][0], objs[a][1]), (objs[a][0], objs[b][1])
        else:
            k = int(rng.integers(len(neg)))
            neg[k] = _change_one_attribute(rng, neg[k], world)
        if set(neg) != set(objs):
            return positive, _describe(neg, stuff, world)
        pairs = []  # the swap reproduced the same set: fall back to an attribute change
    # Only when ten random changes all hit a duplicated object whose new class is already in the scene.
    raise RuntimeError(f"could not build a hard negative for {positive!r}")


def sample_pair(
    rng: np.random.Generator,
    size: int = IMAGE_SIZE,
    single: float = 0.5,
    stuff_only: float = 0.1,
    world: World = SHAPES_WORLD,
) -> tuple[np.ndarray, str, str]:
    """One pretraining example: (image (H, W, 3) uint8, caption, hard-negative caption).

    With probability ``single`` one large object (caption with one of three templates), with ``stuff_only``
    a bare surface, otherwise a scene of 2-4 objects on 1-2 surfaces.
    """
    u = rng.random()
    if u < single:
        index = int(rng.integers(NUM_OBJECT_CLASSES))
        scene, _ = render_single_object(rng, index, size, world)
        obj = world.object_classes[index]
        neg = _change_one_attribute(rng, obj, world)
        surface = world.class_names[scene.stuff[0]]
        template = ("a photo of a {}", "a {} on " + surface, "a {}")[int(rng.integers(3))]
        return scene.image, template.format(_name(*obj)), template.format(_name(*neg))
    if u < single + stuff_only:
        stuff, other = NUM_OBJECT_CLASSES + rng.choice(len(STUFF), 2, replace=False)
        scene = render_scene(rng, size, objects=[], stuff=(int(stuff),))
        template = ("a photo of a {}", "{}")[int(rng.integers(2))]
        return (
            scene.image,
            template.format(world.class_names[stuff]),
            template.format(world.class_names[other]),
        )
    # The scenes the shipped weights were pretrained on: 2-4 objects of radius 7-13 px (the world's first
    # object sizes; the segmentation scenes now draw larger ones, see SCENE_RADIUS).
    scene = render_scene(rng, size, num_objects=(2, 4), radius=(7.0, 13.0), world=world)
    if not scene.objects:  # every object occluded below the visibility threshold: describe the surface
        return (
            scene.image,
            f"a photo of a {world.class_names[scene.stuff[0]]}",
            _describe([world.object_classes[0]], scene.stuff, world),
        )
    return (scene.image, *scene_captions(rng, scene.objects, scene.stuff, world))


class CaptionStream(IterableDataset):
    """Endless stream of pretraining batches; batch ``k`` is drawn from seed ``(seed, k)`` whatever the
    number of DataLoader workers (worker ``w`` of ``n`` makes batches ``w, w + n, ...``, which the loader
    interleaves back in order). Yields (images (B, H, W, 3) uint8 tensor, captions, negatives)."""

    def __init__(
        self, seed: int, batch_size: int, size: int = IMAGE_SIZE, start: int = 0, world: World = SHAPES_WORLD
    ) -> None:
        self.seed, self.batch_size, self.size, self.start, self.world = seed, batch_size, size, start, world

    def __iter__(self) -> Iterator[tuple[torch.Tensor, list[str], list[str]]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        k = self.start + worker
        while True:
            rng = np.random.default_rng((self.seed, k))
            images, captions, negatives = zip(
                *(sample_pair(rng, self.size, world=self.world) for _ in range(self.batch_size))
            )
            yield torch.from_numpy(np.stack(images)), list(captions), list(negatives)
            k += workers


# ------------------------------------------------------------------------------------------------- loss
def contrastive_loss(
    image_features: torch.Tensor,
    text_features: torch.Tensor,
    logit_scale: torch.Tensor,
    image_text: torch.Tensor,
) -> torch.Tensor:
    """CLIP's symmetric InfoNCE with duplicate-aware targets and extra (negative-only) texts.

    ``image_features`` (B, D) and ``text_features`` (T, D) are L2-normalised; ``image_text`` (B, T) bool
    marks the texts that describe each image (at least one per row). Image-to-text: cross-entropy of the
    softmax over all T texts against the uniform distribution on the image's positive texts. Text-to-image:
    for every text that is some image's positive, cross-entropy of the softmax over the B images against
    the uniform distribution on the images it describes; negative-only texts have no text-to-image term.
    """
    logits = logit_scale * image_features @ text_features.t()  # (B, T)
    target = image_text.float()
    i2t = -(target / target.sum(1, keepdim=True) * F.log_softmax(logits, 1)).sum(1).mean()
    described = image_text.any(0)  # (T,)
    t_logits, t_target = logits.t()[described], target.t()[described]  # (T', B)
    t2i = -(t_target / t_target.sum(1, keepdim=True) * F.log_softmax(t_logits, 1)).sum(1).mean()
    return (i2t + t2i) / 2


def batch_texts(captions: Sequence[str], negatives: Sequence[str]) -> tuple[list[str], torch.Tensor]:
    """Distinct texts of a batch (positives first) and the (B, T) bool matrix of which text describes which
    image, by string equality of canonical captions."""
    texts = list(dict.fromkeys([*captions, *negatives]))
    column = {t: j for j, t in enumerate(texts)}
    image_text = torch.zeros(len(captions), len(texts), dtype=torch.bool)
    image_text[torch.arange(len(captions)), torch.tensor([column[c] for c in captions])] = True
    return texts, image_text


# ------------------------------------------------------------------------------------------ evaluation
def zero_shot_eval_set(
    per_class: int = 50, size: int = IMAGE_SIZE, seed: int = EVAL_SEED, world: World = SHAPES_WORLD
) -> tuple[np.ndarray, np.ndarray]:
    """Fixed single-class images: ``per_class`` single objects of every object class (render_single_object)
    and ``per_class`` bare surfaces of every stuff class. Returns (images (N, H, W, 3) uint8, labels (N,))."""
    images, labels = [], []
    for index in range(len(world.class_names)):
        rng = np.random.default_rng((seed, index))
        for _ in range(per_class):
            if index < NUM_OBJECT_CLASSES:
                scene, _ = render_single_object(rng, index, size, world)
            else:
                scene = render_scene(rng, size, objects=[], stuff=(index,), world=world)
            images.append(scene.image)
            labels.append(index)
    return np.stack(images), np.asarray(labels)


@torch.no_grad()
def zero_shot_accuracy(
    model,
    tokenizer,
    per_class: int = 50,
    seed: int = EVAL_SEED,
    batch_size: int = 500,
    world: World = SHAPES_WORLD,
) -> dict:
    """Zero-shot image classification over all class names with the prompt ``"a photo of a {}"``.

    Returns per-class accuracies and their means over the split's unseen classes, its seen classes
    (12 object classes and 4 stuff classes) and the seen object classes alone.
    """
    was_training = model.training
    model.eval()
    size = (
        model.visual.image_size[0] if isinstance(model.visual.image_size, tuple) else model.visual.image_size
    )
    images, labels = zero_shot_eval_set(per_class, size, seed, world)
    names, split = world.class_names, world.split
    text = F.normalize(model.encode_text(tokenizer([TEMPLATE.format(n) for n in names])), dim=-1)
    preds = []
    for start in range(0, len(images), batch_size):
        feats = F.normalize(model.encode_image(normalise(images[start : start + batch_size])), dim=-1)
        preds.append((feats @ text.t()).argmax(1))
    correct = (torch.cat(preds).numpy() == labels).astype(np.float64)
    per_cls = {names[i]: float(correct[labels == i].mean()) for i in range(len(names))}
    model.train(was_training)

    def mean(idx: Sequence[int]) -> float:
        return float(np.mean([per_cls[names[i]] for i in idx]))

    return dict(
        seen=mean(split.seen),
        unseen=mean(split.unseen),
        seen_objects=mean([i for i in split.seen if i < NUM_OBJECT_CLASSES]),
        per_class=per_cls,
    )


# -------------------------------------------------------------------------------------------- training
def encode_text_prefix(model: torch.nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """``model.encode_text`` computed on the shortest prefix of the 77 positions that holds every EOT token.

    The text tower is causal and pools the EOT position, so positions after the last EOT cannot change the
    result: the output equals ``model.encode_text(tokens)`` (B, embed_dim) at a fraction of the cost for
    short captions (about 20 of 77 positions here). ``tokens``: (B, 77) from the ViT-B-16 tokenizer.
    """
    length = int(tokens.argmax(1).max()) + 1
    x = model.token_embedding(tokens[:, :length]) + model.positional_embedding[:length]
    x = model.ln_final(model.transformer(x, attn_mask=model.attn_mask[:length, :length]))
    x = x[torch.arange(len(x)), tokens.argmax(1)]
    return x @ model.text_projection


def save_fp16(model: torch.nn.Module, path: Path) -> None:
    """Save the state dict in open_clip's format with floating tensors in fp16."""
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    torch.save(state, path)


def _lr(step: int, steps: int, warmup: int, peak: float) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    return 0.5 * peak * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))


def pretrain(args: argparse.Namespace) -> dict:
    """The training loop (see the module docstring).

    Writes the best checkpoint (by the lower of seen/unseen zero-shot accuracy) and its record to
    ``args.out``.
    """
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = open(args.log or out / "pretraining.log", "a", encoding="utf-8")

    def say(msg: str) -> None:
        print(msg, file=log, flush=True)
        if args.verbose:
            print(msg, flush=True)

    model = build_tiny_clip()
    tokenizer = open_clip.get_tokenizer(TOKENIZER_NAME)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)]
    optim = torch.optim.AdamW(
        [dict(params=decay, weight_decay=args.weight_decay), dict(params=rest, weight_decay=0.0)],
        lr=args.lr,
        betas=(0.9, 0.98),
        eps=1e-6,
    )
    loader = DataLoader(
        CaptionStream(args.seed, args.batch_size, world=WORLDS[args.world]),
        batch_size=None,
        num_workers=args.workers,
        prefetch_factor=2 if args.workers else None,
    )
    token_cache: dict[str, torch.Tensor] = {}
    best, history, t0 = None, [], time.time()
    say(
        f"pretraining {TINY_CLIP_NAME}: {sum(p.numel() for p in model.parameters())} parameters, {vars(args)}"
    )
    for step, (images, captions, negatives) in enumerate(loader):
        if step >= args.steps or time.time() - t0 > 60 * args.max_minutes:
            break
        for group in optim.param_groups:
            group["lr"] = _lr(step, args.steps, args.warmup, args.lr)
        texts, image_text = batch_texts(captions, negatives)
        missing = [t for t in texts if t not in token_cache]
        if missing:
            token_cache.update(zip(missing, tokenizer(missing)))
        tokens = torch.stack([token_cache[t] for t in texts])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            image_features = model.encode_image(normalise(images.numpy()))
            text_features = encode_text_prefix(model, tokens)
        image_features = F.normalize(image_features.float(), dim=-1)
        text_features = F.normalize(text_features.float(), dim=-1)
        loss = contrastive_loss(image_features, text_features, model.logit_scale.exp(), image_text)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        done = step + 1
        if done % args.log_every == 0:
            say(
                f"step {done} loss {loss.item():.4f} scale {model.logit_scale.exp().item():.1f} "
                f"lr {optim.param_groups[0]['lr']:.2e} t {time.time() - t0:.0f}s"
            )
        if done % args.eval_every == 0 or done == args.steps:
            acc = zero_shot_accuracy(model, tokenizer, args.eval_per_class, world=WORLDS[args.world])
            entry = dict(
                step=done,
                seconds=round(time.time() - t0, 1),
                loss=round(loss.item(), 4),
                seen=acc["seen"],
                unseen=acc["unseen"],
                seen_objects=acc["seen_objects"],
            )
            history.append(entry)
            score = (min(acc["seen"], acc["unseen"]), acc["seen"] + acc["unseen"])
            if best is None or score > best[0]:
                best = (score, entry)
                save_fp16(model, out / WEIGHTS_FILE)
            say(f"eval {json.dumps(entry)} best step {best[1]['step']}")
    if best is None:
        raise RuntimeError("no evaluation ran; use --steps >= --eval-every or a larger --max-minutes")
    # The official figures: the shipped fp16 file, loaded through open_clip as users load it.
    shipped = open_clip.create_model(TINY_CLIP_NAME, pretrained=str(out / WEIGHTS_FILE))
    acc = zero_shot_accuracy(shipped, tokenizer, args.eval_per_class, world=WORLDS[args.world])
    record = dict(
        model=TINY_CLIP_NAME,
        world=args.world,
        weights=WEIGHTS_FILE,
        command="python -m sptseg_lib.tools.pretrain_tiny_clip " + " ".join(args.argv),
        seed=args.seed,
        steps_run=history[-1]["step"],
        best_step=best[1]["step"],
        seconds_to_best=best[1]["seconds"],
        seconds_total=round(time.time() - t0, 1),
        threads=args.threads,
        batch_size=args.batch_size,
        precision=args.precision,
        normalisation=dict(mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD), scale="0-255"),
        zero_shot=dict(template=TEMPLATE, images_per_class=args.eval_per_class, seed=EVAL_SEED, **acc),
        history=history,
    )
    (out / RECORD_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    say(f"done: best step {record['best_step']}, seen {acc['seen']:.4f}, unseen {acc['unseen']:.4f}")
    log.close()
    return record


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m sptseg_lib.tools.pretrain_tiny_clip", description=__doc__.split("\n")[0]
    )
    p.add_argument("--out", required=True, help="folder for the fp16 weights, pretraining.json and the log")
    p.add_argument(
        "--world", choices=tuple(WORLDS), default="shapes", help="the synthetic world of the captions"
    )
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument(
        "--precision",
        choices=("fp32", "bf16"),
        default="fp32",
        help="bf16: CPU autocast of the forward pass (about 1.4x faster where the CPU has AVX512-BF16)",
    )
    p.add_argument("--workers", type=int, default=1, help="DataLoader processes rendering scenes")
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--eval-per-class", type=int, default=50)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--max-minutes", type=float, default=60.0, help="stop early after this wall time")
    p.add_argument("--log", default=None, help="log file (default <out>/pretraining.log)")
    p.add_argument("--verbose", action="store_true", help="also print the log to stdout")
    args = p.parse_args(argv)
    args.argv = list(argv)
    return args


if __name__ == "__main__":
    pretrain(parse_args(sys.argv[1:]))
