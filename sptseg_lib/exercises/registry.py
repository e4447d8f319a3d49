"""The course's exercises (:data:`EXERCISES`) and the notebooks' entry points: :func:`check`,
:func:`show_solution`, :func:`stub_source`."""

from __future__ import annotations

import inspect
import secrets
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ..train import PolyWarmupSchedule
from . import catalogue_eval as ce
from . import catalogue_model as cm
from . import catalogue_training as ct
from . import inputs, library, solutions
from .core import Exercise, Result, evaluate


def _default_real(real: dict[str, Any]) -> list[dict[str, Any]]:
    """The notebook's keyword arguments as one case: tensors detached on the CPU, arrays as tensors."""
    out = {}
    for k, v in real.items():
        if isinstance(v, np.ndarray):
            v = torch.from_numpy(v)
        if isinstance(v, torch.Tensor):
            v = v.detach().cpu()
        out[k] = v
    return [out]


def _lr_real(real: dict[str, Any]) -> list[dict[str, Any]]:
    """``config=TrainConfig`` stands for its schedule's fields; without ``step``, a dozen steps spanning the
    warm-up and the decay are checked."""
    real = dict(real)
    config = real.pop("config", None)
    if config is not None:
        real = PolyWarmupSchedule.from_config(config).state_dict() | real
    if "step" in real:
        return [real]
    total, warmup = int(real["iterations"]), int(real["warmup_iters"])
    steps = {0, 1, warmup // 2, warmup - 1, warmup, warmup + 1, (warmup + total) // 2, total - 1, total}
    return [dict(step=s, **real) for s in sorted(s for s in steps if 0 <= s <= total)]


_SHAPES = {
    "eq1": "H is (h, w, C), g (C,), w_f (h, w//2+1, C): transform over dim=(0, 1) and invert with s=(h, w).",
    "head_split": "return a pair of ints (hifi_heads, lofi_heads).",
    "lofi_query": "x is (h, w, D); pad it to multiples of ws, pool each ws x ws block to one D-vector, "
    "project with w_k, w_v (D, d) to keys and values (M, d); q is (d,).",
    "gate": "z is (N, D), xi (D,), P (D, D): one cosine per token (dim=-1), a (N, 1) gate, then @ P.",
    "focal": "logits and targets have the same shape; the loss is pixel by pixel (no mean, no sum).",
    "ssim_window": "x and y are (11, 11); the Gaussian window is the outer product of the 1-D one, (11, 11).",
    "inductive_target": "the target has the label's shape (H, W), as a long tensor.",
    "poly_lr": "return one float.",
    "hiou": "confusion is (K, K), rows the ground truth; index it with the seen and unseen lists.",
}

_INPUTS = {  # what each notebook passes to check() as its own tensors
    "eq1": "H=(h, w, C) patch tokens of one image, g=(C,) its class token, w_f=(h, w//2+1, C) complex filter",
    "head_split": "num_heads=, alpha= of the notebook's HiLo layer",
    "lofi_query": "**exercises.lofi_query_inputs(hilo, x_tokens, grid, query, head)",
    "gate": "z=(N, D) one image's HiLo tokens, xi=layer.gate.xi, P=layer.gate.P",
    "focal": "logits=, targets= of one (image, class) pair, any shape (e.g. flat); alpha=, gamma= optional",
    "ssim_window": "**exercises.ssim_window_inputs(x_map, y_map, (row, col)), or x=, y= (11, 11) patches",
    "inductive_target": "label=(H, W) array or tensor of a scene, seen=split.seen, unseen=split.unseen",
    "poly_lr": "config=experiment.train (a TrainConfig; a dozen steps are checked), or the seven values",
    "hiou": "confusion=ConfusionMatrix.matrix (K, K), seen=split.seen, unseen=split.unseen",
}

EXERCISES: dict[str, Exercise] = {
    e.name: e
    for e in (
        Exercise(
            "eq1", "01", "Eq. 1: the spectral prompt S = irfft2(rfft2(H ⊙ g) ⊙ w_f) of one image",
            solutions.my_spectral_prompt, library.spectral_library, inputs.spectral_inputs, cm.EQ1_MISTAKES,
            shape_hint=_SHAPES["eq1"],
            notebook_inputs=_INPUTS["eq1"],
            scale_hint="a normalisation: both transforms must use the same norm (the library's: 'ortho')",
        ),
        Exercise(
            "head_split", "02", "Eq. 4-5: how many heads are Hi-Fi and how many Lo-Fi",
            solutions.my_head_split, library.head_split_library, inputs.head_split_inputs,
            cm.HEAD_SPLIT_MISTAKES, rtol=0.0, atol=0.0, n_random=12, edge_cases=inputs.head_split_edges,
            shape_hint=_SHAPES["head_split"],
            notebook_inputs=_INPUTS["head_split"],
        ),
        Exercise(
            "lofi_query", "02", "Eq. 5: one query's Lo-Fi attention over the average-pooled keys",
            solutions.my_lofi_query, library.lofi_library, inputs.lofi_inputs, cm.LOFI_MISTAKES,
            shape_hint=_SHAPES["lofi_query"],
            notebook_inputs=_INPUTS["lofi_query"],
        ),
        Exercise(
            "gate", "03", "Eq. 7: the spectral gate z_hat = P · sim(z, ξ) · z",
            solutions.my_gate, library.gate_library, inputs.gate_inputs, cm.GATE_MISTAKES,
            shape_hint=_SHAPES["gate"],
            notebook_inputs=_INPUTS["gate"],
        ),
        Exercise(
            "focal", "04", "Eq. 10: the focal term of every pixel",
            solutions.my_focal, library.focal_library, inputs.focal_inputs, ct.FOCAL_MISTAKES,
            edge_cases=inputs.focal_edges, shape_hint=_SHAPES["focal"],
            notebook_inputs=_INPUTS["focal"],
        ),
        Exercise(
            "ssim_window", "04", "Eq. 10: the SSIM of one 11 x 11 window",
            solutions.my_ssim_window, library.ssim_window_library, inputs.ssim_inputs, ct.SSIM_MISTAKES,
            edge_cases=inputs.ssim_edges, shape_hint=_SHAPES["ssim_window"],
            notebook_inputs=_INPUTS["ssim_window"],
        ),
        Exercise(
            "inductive_target", "05", "The inductive training target of a label map",
            solutions.my_inductive_target, library.inductive_library, inputs.inductive_inputs,
            ct.INDUCTIVE_MISTAKES, rtol=0.0, atol=0.0, shape_hint=_SHAPES["inductive_target"],
            notebook_inputs=_INPUTS["inductive_target"],
        ),
        Exercise(
            "poly_lr", "06", "The learning rate: poly decay with a linear warm-up",
            solutions.my_lr, library.lr_library, inputs.lr_inputs, ce.LR_MISTAKES,
            rtol=1e-6, atol=1e-15, n_random=12, edge_cases=inputs.lr_edges, real_cases=_lr_real,
            shape_hint=_SHAPES["poly_lr"],
            notebook_inputs=_INPUTS["poly_lr"],
        ),
        Exercise(
            "hiou", "07", "Eq. 11: pAcc, mIoU(S), mIoU(U) and hIoU from a confusion matrix",
            solutions.my_metrics, library.metrics_library, inputs.metrics_inputs, ce.METRICS_MISTAKES,
            rtol=1e-6, atol=1e-6, shape_hint=_SHAPES["hiou"],
            notebook_inputs=_INPUTS["hiou"],
            scale_hint="a normalisation: the metrics are percentages, and each IoU divides by its own union",
        ),
    )
}  # fmt: skip


def _exercise(name: str) -> Exercise:
    if name not in EXERCISES:
        raise KeyError(f"unknown exercise {name!r}; the exercises are: {', '.join(EXERCISES)}")
    return EXERCISES[name]


def _real_cases(ex: Exercise, real: dict[str, Any]) -> list[dict[str, Any]]:
    """The notebook's tensors as cases in the solution's parameter order (defaults filled in)."""
    if not real:
        return []
    cases = (ex.real_cases or _default_real)(real)
    signature = inspect.signature(ex.solution)
    ordered = []
    for case in cases:
        unknown = sorted(set(case) - set(signature.parameters))
        if unknown:
            raise TypeError(
                f"check({ex.name!r}): unknown argument(s) {unknown}; {ex.function} takes {ex.signature}"
            )
        bound = signature.bind(**_default_real(case)[0])
        bound.apply_defaults()
        ordered.append(dict(bound.arguments))
    return ordered


def check(name: str, fn: Callable[..., Any] | None, *, solutions: bool = False, **real: Any) -> Result:
    """Check the reader's function for exercise ``name`` and print what was found (one line, or a short
    paragraph naming the likely mistake).

    Args:
        name: a key of :data:`EXERCISES`.
        fn: the reader's function (``None``, a stub raising ``NotImplementedError`` or one returning ``None``:
            not attempted yet, reported in one line).
        solutions: check the reference solution instead of ``fn``, and raise ``AssertionError`` if it does
            not pass (how the test suite runs the notebooks).
        **real: the notebook's own inputs, named like the function's parameters; checked too.

    Returns:
        The :class:`Result`. Never raises for the reader's function, whatever it does.
    """
    ex = _exercise(name)
    cases = _real_cases(ex, real)
    subject = ex.solution if solutions else fn
    result = evaluate(ex, subject, cases, secrets.randbits(31), reference=solutions)
    print(result)
    result._printed = True
    if solutions and not result.passed:
        raise AssertionError(f"the reference solution of exercise {name!r} fails its check:\n{result}")
    return result


def show_solution(name: str) -> None:
    """Print the reference solution of exercise ``name`` (its source)."""
    print(inspect.getsource(_exercise(name).solution))


def stub_source(name: str) -> str:
    """The text of exercise ``name``'s stub cell: the function's signature and docstring, then
    ``raise NotImplementedError  # your code here``."""
    ex = _exercise(name)
    doc = "\n".join(("    " + line).rstrip() for line in ex.docstring.splitlines())
    header = f"def {ex.function}{ex.signature}:"
    return f'{header}\n    """{doc.lstrip()}\n    """\n    raise NotImplementedError  # your code here\n'
