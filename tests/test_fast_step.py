"""The fast training step computes what the eager (reference) one does: the same loss and gradients.

The fast path is the fused loss (``SegmentationCriterion(fused=True)``, what ``fused="auto"``, the
trainer's default, picks on the CPU); the reference is plain autograd through the formulas
(``fused=False``); the model is the same in both. Values agree to float rounding (float64: to 1e-10;
float32: to ``torch.testing``'s float tolerance).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from tiny_configs import tiny_model_config

from sptseg_lib.config import DataConfig, ExperimentConfig, TrainConfig, experiment_preset
from sptseg_lib.data.splits import ZeroShotSplit
from sptseg_lib.losses import SegmentationCriterion, binary_targets
from sptseg_lib.losses.fused import FusedTermSums
from sptseg_lib.losses.terms import dice_sum, focal_sum, ssim_sum
from sptseg_lib.model import build_model
from sptseg_lib.ssim import neighbour_products
from sptseg_lib.train import Trainer

IGNORE = 255


def _scene_labels(b: int, c: int, size: tuple[int, int], generator: torch.Generator) -> torch.Tensor:
    """Label maps like a scene's: a few classes per image in blocks, some ignored pixels, many absent."""
    h, w = size
    labels = torch.empty(b, h, w, dtype=torch.long)
    for i in range(b):
        classes = torch.randperm(c, generator=generator)[: int(torch.randint(1, 4, (), generator=generator))]
        blocks = classes[torch.randint(0, len(classes), (h // 4 + 1, w // 4 + 1), generator=generator)]
        labels[i] = blocks.repeat_interleave(4, 0).repeat_interleave(4, 1)[:h, :w]
    labels[torch.rand(b, h, w, generator=generator) < 0.1] = IGNORE
    return labels


def _terms_and_gradient(criterion: SegmentationCriterion, logits: torch.Tensor, labels: torch.Tensor):
    z = logits.clone().requires_grad_(True)
    out = criterion(z, labels)
    # weigh the terms differently, so that every term's own gradient is checked, not only their sum
    weights = {"focal": 1.0, "ssim": 3.0, "dice": -2.0, "loss": 0.5}
    (grad,) = torch.autograd.grad(sum(weights[k] * v for k, v in out.items()), z)
    return {k: v.detach() for k, v in out.items()}, grad


CASES = {
    "sptseg": dict(),
    "zegclip": dict(ssim_weight=0.0, dice_weight=1.0),
    "all three": dict(dice_weight=1.0),
    "ignored excluded": dict(dice_weight=1.0, ignore_as_negative=False),
    "chunked": dict(dice_weight=1.0, chunk_classes=2),
    "focal only, alpha off, gamma 1.5": dict(ssim_weight=0.0, focal_alpha=-1.0, focal_gamma=1.5),
}
GEOMETRIES = {"x8": ((8, 8), (64, 64)), "odd": ((3, 5), (13, 23)), "x10": ((4, 4), (40, 40))}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_fused_term_sums_equal_the_formulas_in_float64(case: str, geometry: str) -> None:
    """The fused pass against the terms' own formulas through autograd (textbook SSIM), in float64."""
    _check_fused_term_sums(case, geometry)


@pytest.mark.parametrize("block", ["one map", "two maps", "one image", "two images"])
@pytest.mark.parametrize("case", ["all three", "ignored excluded", "chunked"])
def test_fused_term_sums_do_not_depend_on_the_blocks(
    monkeypatch: pytest.MonkeyPatch, block: str, case: str
) -> None:
    """Blocks of several images, of one image's class runs, and of a single map give the same sums."""
    from sptseg_lib.losses import fused

    pixels = 13 * 23
    elements = {"one map": 1, "two maps": 2, "one image": 5, "two images": 10}[block] * pixels
    monkeypatch.setattr(fused, "FUSED_BLOCK_ELEMENTS", elements)
    _check_fused_term_sums(case, "odd")


def _check_fused_term_sums(case: str, geometry: str) -> None:
    low, size = GEOMETRIES[geometry]
    g = torch.Generator().manual_seed(1)
    b, c, first = 3, 5, 2 if case == "chunked" else 0
    criterion = SegmentationCriterion(fused=True, **CASES[case])
    z = (torch.randn(b, c, *low, generator=g, dtype=torch.float64) * 4).requires_grad_(True)
    labels = _scene_labels(b, c + first, size, g)
    labels[(labels < first) & (labels != IGNORE)] = IGNORE  # a chunk's labels: its classes and others
    valid = None if criterion.ignore_as_negative else labels != IGNORE
    targets = binary_targets(labels, c, IGNORE, first).double()
    present = targets.flatten(2).amax(-1) > 0
    products = neighbour_products(z) if "ssim" in criterion.terms else None
    sums = FusedTermSums.apply(
        z,
        products,
        labels,
        present,
        valid,
        first,
        criterion.terms,
        criterion.focal_alpha,
        criterion.focal_gamma,
        True,
    )
    x = F.interpolate(z, size=size, mode="bilinear", align_corners=False)
    formulas = {
        "focal": lambda: focal_sum(x, targets, criterion.focal_alpha, criterion.focal_gamma, valid),
        "ssim": lambda: ssim_sum(x, targets, valid, 11, 1.5, 0.01**2, 0.03**2, "logits"),
        "dice": lambda: dice_sum(x, targets, present, valid),
    }
    expected = torch.stack([formulas[name]() for name in criterion.terms])
    torch.testing.assert_close(sums, expected, rtol=1e-10, atol=1e-12)
    weights = torch.tensor([1.0, 3.0, -2.0][: len(criterion.terms)], dtype=torch.float64)
    (grad,) = torch.autograd.grad(sums @ weights, z)
    (expected_grad,) = torch.autograd.grad(expected @ weights, z)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("case", CASES)
def test_fused_criterion_equals_the_reference_in_float32(case: str) -> None:
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(3, 5, 8, 8, generator=g) * 4
    labels = _scene_labels(3, 5, (64, 64), g)
    fused = SegmentationCriterion(fused=True, **CASES[case])
    reference = SegmentationCriterion(fused=False, **CASES[case])
    assert fused.uses_fused(logits.device) and not reference.uses_fused(logits.device)
    terms, grad = _terms_and_gradient(fused, logits, labels)
    ref_terms, ref_grad = _terms_and_gradient(reference, logits, labels)
    assert terms.keys() == ref_terms.keys()
    for k in terms:
        torch.testing.assert_close(terms[k], ref_terms[k], msg=k)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-4, atol=1e-6 * ref_grad.abs().max().item())


def test_fused_criterion_equals_the_reference_in_float32_on_a_shapes_batch() -> None:
    """The miniature's own geometry: 16 images, its 16 seen classes, 8 x 8 logits, 64 x 64 labels."""
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(16, 16, 8, 8, generator=g) * 3
    labels = _scene_labels(16, 16, (64, 64), g)
    terms, grad = _terms_and_gradient(SegmentationCriterion(), logits, labels)  # "auto": fused on the CPU
    ref_terms, ref_grad = _terms_and_gradient(SegmentationCriterion(fused=False), logits, labels)
    for k in terms:
        torch.testing.assert_close(terms[k], ref_terms[k], msg=k)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-4, atol=1e-6 * ref_grad.abs().max().item())


def test_fused_criterion_without_gradients_and_with_an_empty_class() -> None:
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(2, 4, 4, 4, generator=g, dtype=torch.float64)
    labels = torch.full((2, 16, 16), 1, dtype=torch.long)  # one class present, three absent everywhere
    labels[1] = IGNORE  # an image with nothing labelled
    fused, reference = SegmentationCriterion(fused=True), SegmentationCriterion(fused=False)
    with torch.no_grad():
        a, b = fused(logits, labels), reference(logits, labels)
    for k in a:
        torch.testing.assert_close(a[k], b[k])  # the criterion works in float32
    assert SegmentationCriterion(fused="auto").uses_fused(torch.device("cpu"))
    assert not SegmentationCriterion(fused="auto").uses_fused(torch.device("cuda"))
    assert not SegmentationCriterion(fused=True, ssim_on="probabilities").uses_fused(torch.device("cpu"))
    with pytest.raises(ValueError, match="fused"):
        SegmentationCriterion(fused="yes")  # type: ignore[arg-type]


# --- the whole step -----------------------------------------------------------------------------------

SPLIT = ZeroShotSplit("toy", ("ant", "bee", "cat", "dog", "eel"), unseen=(3, 4))


def _tiny_experiment() -> ExperimentConfig:
    model = tiny_model_config(image_size=32, decoder_layers=2, spt_grid_mode="interpolate")
    train = TrainConfig(iterations=4, batch_size=4, warmup_iters=1, lr=1e-3, checkpoint_every=4, amp="off")
    data = DataConfig(dataset="toy", crop_size=32, test_mode="whole", test_stride=32, num_workers=0)
    return ExperimentConfig("toy", model, data, train)


def _trainer(out: Path, exp: ExperimentConfig, criterion: SegmentationCriterion | None, split) -> Trainer:
    torch.manual_seed(exp.train.seed)
    model = build_model(exp.model, device="cpu")
    items = [dict(image=torch.zeros(3, 32, 32), label=torch.zeros(32, 32, dtype=torch.long), name="x")] * 4
    return Trainer(
        exp,
        out,
        train_dataset=items,
        split=split,
        model=model,
        criterion=criterion,
        device="cpu",
        progress=False,
    )


def _steps(trainer: Trainer, batches: list[dict], n: int) -> tuple[list[dict], list[dict]]:
    grads: list[dict[str, torch.Tensor]] = []

    def hook(optimizer, args, kwargs) -> None:
        grads.append({name: p.grad.detach().clone() for name, p in trainer.trainable if p.grad is not None})

    trainer.optimizer.register_step_pre_hook(hook)
    return [trainer.train_step([batches[i % len(batches)]]) for i in range(n)], grads


def _assert_same_steps(fast: Trainer, eager: Trainer, batches: list[dict], n: int = 2) -> None:
    # The same seed: the same dropout masks, so the steps differ only by float rounding.
    torch.manual_seed(5)
    fast_terms, fast_grads = _steps(fast, batches, n)
    torch.manual_seed(5)
    eager_terms, eager_grads = _steps(eager, batches, n)
    for a, b in zip(fast_terms, eager_terms):
        assert a.keys() == b.keys()
        for k in a:
            assert a[k] == pytest.approx(b[k], rel=1e-5, abs=1e-7), k
    for a, b in zip(fast_grads, eager_grads):
        assert a.keys() == b.keys() and len(a) > 10
        scale = max(g.abs().max().item() for g in b.values())
        assert scale > 1e-4, "the loss must reach the parameters"
        for k in a:
            torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5 * scale, msg=k)


def test_fast_train_step_gives_the_eager_steps_loss_and_gradients(tmp_path: Path) -> None:
    exp = _tiny_experiment()
    g = torch.Generator().manual_seed(4)
    batches = [
        dict(image=torch.randn(4, 3, 32, 32, generator=g), label=_scene_labels(4, 5, (32, 32), g))
        for _ in range(2)
    ]
    fast = _trainer(tmp_path / "fast", exp, None, SPLIT)  # the trainer's default: the fast path on the CPU
    assert isinstance(fast.criterion, SegmentationCriterion) and fast.criterion.uses_fused(fast.device)
    eager = _trainer(tmp_path / "eager", exp, SegmentationCriterion(fused=False), SPLIT)
    _assert_same_steps(fast, eager, batches)


def test_fast_shapes_sptseg_step_gives_the_eager_steps_loss_and_gradients(tmp_path: Path) -> None:
    """The ``shapes-sptseg`` preset itself (shipped tiny CLIP, its loss), on a real batch of 4 scenes."""
    from sptseg_lib.data.shapes import SHAPES_SPLIT, ShapesDataset

    exp = experiment_preset("shapes-sptseg").with_overrides({"train.batch_size": 4})
    data = ShapesDataset("train")
    items = [data[i] for i in range(4)]
    batch = {k: torch.stack([item[k] for item in items]) for k in ("image", "label")}
    t = exp.train
    eager_criterion = SegmentationCriterion(
        focal_weight=t.focal_weight, ssim_weight=t.ssim_weight, dice_weight=t.dice_weight, fused=False
    )
    fast = _trainer(tmp_path / "fast", exp, None, SHAPES_SPLIT)
    eager = _trainer(tmp_path / "eager", exp, eager_criterion, SHAPES_SPLIT)
    _assert_same_steps(fast, eager, [batch], n=1)


def test_interpolation_matrices_are_the_upsampling() -> None:
    """The fused loss returns full-resolution gradients to the token grid through ``U_hᵀ g U_w``."""
    from sptseg_lib.ssim import interpolation_matrix

    z = torch.randn(2, 3, 5, 7, dtype=torch.float64, requires_grad=True)
    x = F.interpolate(z, size=(13, 29), mode="bilinear", align_corners=False)
    u_h, u_w = interpolation_matrix(5, 13), interpolation_matrix(7, 29)
    torch.testing.assert_close(x, u_h @ z @ u_w.T)
    g = torch.randn_like(x)
    (expected,) = torch.autograd.grad(x, z, g)
    torch.testing.assert_close(u_h.T @ g @ u_w, expected)


def test_ssim_smooths_only_the_maps_of_present_classes_bit_for_bit() -> None:
    """``_SsimSum`` convolves only the maps whose target is not empty: the full convolution's result."""
    from sptseg_lib import ssim

    g = torch.Generator().manual_seed(6)
    labels = _scene_labels(4, 7, (24, 20), g)
    y = binary_targets(labels, 7)
    x = torch.randn(4, 7, 24, 20, generator=g)
    index = ssim.target_maps(y)
    assert index is not None and 0 < len(index) < 28  # some maps are empty
    window = ssim.gaussian_window_1d().float()
    for maps in (y, x * y):
        assert torch.equal(ssim.smooth_maps(maps, index, window), ssim.smooth(maps, window))
    assert ssim.target_maps(torch.ones(2, 3, 4, 4)) is None  # nothing (worth) skipping
