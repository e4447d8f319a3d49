"""Comparing a reader's output with the library's, and the generic diagnoses of a mismatch.

Outputs are tensors, numbers, tuples of numbers or dicts of them. Everything is compared in float64
(complex128 for complex outputs) on the CPU, shapes first, then elementwise
``|out - expected| <= atol · max(1, max |expected|) + rtol |expected|`` with NaN equal to NaN (a metric that
is undefined must be undefined in both).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


@dataclass(frozen=True)
class Comparison:
    """The outcome of comparing one output with the expected one.

    ``ok``: equal within tolerance; ``max_error``: the largest absolute difference where shapes agree
    (``None`` otherwise); ``problem``: what differs, in words (``None`` when ``ok``).
    """

    ok: bool
    max_error: float | None
    problem: str | None = None


def as_tensor(value: Any) -> torch.Tensor | None:
    """``value`` as a detached CPU float64 (or complex128) tensor; ``None`` if it is not numeric."""
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu()
    elif isinstance(value, np.ndarray | np.generic | int | float | complex) and not isinstance(value, bool):
        t = torch.as_tensor(np.asarray(value))
    elif isinstance(value, bool):
        t = torch.tensor(float(value))
    elif isinstance(value, list | tuple):
        try:
            t = torch.as_tensor(value)
        except (TypeError, ValueError, RuntimeError):
            return None
    else:
        return None
    if t.is_complex():
        return t.to(torch.complex128)
    if t.dtype == torch.bool:
        t = t.to(torch.float64)
    return t.to(torch.float64)


def flatten(value: Any) -> torch.Tensor | None:
    """All the numbers of an output (tensor, number, sequence or dict, in key order) as one 1-D tensor."""
    if isinstance(value, Mapping):
        parts = [flatten(value[k]) for k in sorted(value, key=str)]
        if any(p is None for p in parts):
            return None
        return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.float64)
    if isinstance(value, list | tuple):
        parts = [flatten(v) for v in value]
        if any(p is None for p in parts):
            return None
        return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.float64)
    t = as_tensor(value)
    return None if t is None else t.reshape(-1)


def _shape(t: torch.Tensor) -> str:
    return str(tuple(t.shape))


def _compare_tensors(out: torch.Tensor, exp: torch.Tensor, rtol: float, atol: float, what: str) -> Comparison:
    if out.shape != exp.shape:
        if out.numel() == 1 and exp.numel() == 1:
            out = out.reshape(exp.shape)
        else:
            return Comparison(False, None, f"{what}expected shape {_shape(exp)}, got {_shape(out)}")
    if out.is_complex() and not exp.is_complex():
        return Comparison(False, None, f"{what}the output is complex where a real tensor is expected")
    if exp.numel() == 0:
        return Comparison(True, 0.0)
    if exp.is_complex() and not out.is_complex():
        out = out.to(torch.complex128)
    # equal where both are NaN or both the same infinity (a mistake's output compared with itself)
    same = (out == exp) | (torch.isnan(out) & torch.isnan(exp))
    diff = torch.where(same, torch.zeros((), dtype=torch.float64), (out - exp).abs())
    bad_nan = torch.isnan(diff)
    finite_diff = diff[~bad_nan]
    max_error = float(finite_diff.max()) if finite_diff.numel() else math.inf
    if bad_nan.any():
        return Comparison(False, max_error, f"{what}NaN where the library has a number (or the reverse)")
    magnitude = exp.abs().nan_to_num(nan=0.0, posinf=0.0, neginf=0.0)
    # the absolute tolerance scales with the output's size: float32 rounding in another order of operations
    # leaves errors relative to the largest values, also on the elements near 0
    ok = bool((diff <= atol * max(1.0, float(magnitude.max())) + rtol * magnitude).all())
    return Comparison(ok, max_error, None if ok else f"{what}differs by up to {max_error:.3g}")


def compare(out: Any, expected: Any, rtol: float, atol: float, what: str = "") -> Comparison:
    """Compare ``out`` with ``expected``: dicts key by key, sequences item by item, then tensors/numbers."""
    if isinstance(expected, Mapping):
        if not isinstance(out, Mapping):
            return Comparison(
                False, None, f"{what}expected a dict with keys {sorted(expected)}, got {type(out).__name__}"
            )
        missing = [k for k in expected if k not in out]
        if missing:
            return Comparison(False, None, f"{what}the dict lacks the key(s) {missing}")
        results = [compare(out[k], expected[k], rtol, atol, f"{what}[{k!r}]: ") for k in expected]
        return _merge(results)
    if isinstance(expected, list | tuple):
        if not isinstance(out, Sequence) or isinstance(out, str | torch.Tensor) or len(out) != len(expected):
            got = (
                f"{type(out).__name__} of length {len(out)}"
                if isinstance(out, Sequence)
                else type(out).__name__
            )
            return Comparison(False, None, f"{what}expected a sequence of {len(expected)} values, got {got}")
        return _merge(
            [compare(o, e, rtol, atol, f"{what}item {i}: ") for i, (o, e) in enumerate(zip(out, expected))]
        )
    exp_t, out_t = as_tensor(expected), as_tensor(out)
    if exp_t is None:
        raise TypeError(f"cannot compare outputs of type {type(expected).__name__}")
    if out_t is None:
        return Comparison(False, None, f"{what}expected a number or tensor, got {type(out).__name__}")
    return _compare_tensors(out_t, exp_t, rtol, atol, what)


def _merge(results: list[Comparison]) -> Comparison:
    errors = [r.max_error for r in results]
    max_error = None if any(e is None for e in errors) else max(errors, default=0.0)
    problems = [r.problem for r in results if not r.ok]
    return Comparison(not problems, max_error, "; ".join(p for p in problems if p) or None)


def same_output(a: Any, b: Any, rtol: float, atol: float) -> bool:
    """Whether two outputs agree (shape and values), for matching a reader's output with a mistake's."""
    try:
        return compare(a, b, rtol, atol).ok
    except TypeError:
        return False


# --- generic diagnoses -------------------------------------------------------------------------------


def scale_factor(out: Any, expected: Any, rtol: float, atol: float) -> float | None:
    """``k`` when ``out ≈ k · expected`` with ``k`` not 1 (least squares over all numbers), else ``None``."""
    o, e = flatten(out), flatten(expected)
    if o is None or e is None or o.shape != e.shape or o.is_complex() or e.is_complex():
        return None
    keep = ~(torch.isnan(o) | torch.isnan(e))
    o, e = o[keep], e[keep]
    if e.numel() == 0 or float((e * e).sum()) == 0.0:
        return None
    k = float((o * e).sum() / (e * e).sum())
    if not math.isfinite(k) or abs(k - 1.0) < 1e-3 or abs(k) < 1e-12:
        return None
    return k if compare(o, k * e, rtol, atol).ok else None


def transposed(out: Any, expected: Any, rtol: float, atol: float) -> bool:
    """Whether ``out`` is ``expected`` with its first two axes (or all axes) swapped."""
    if isinstance(out, Mapping | list | tuple) or isinstance(expected, Mapping | list | tuple):
        return False
    o, e = as_tensor(out), as_tensor(expected)
    if o is None or e is None or e.dim() < 2:
        return False
    candidates = [e.transpose(0, 1), e.permute(*reversed(range(e.dim())))]
    return any(
        c.shape == o.shape and not torch.equal(c, e) and compare(o, c, rtol, atol).ok for c in candidates
    )


def non_finite(out: Any, expected: Any) -> bool:
    """Whether ``out`` has NaN or inf where ``expected`` is finite."""
    o, e = flatten(out), flatten(expected)
    if o is None or e is None or o.shape != e.shape:
        return False
    return bool((~torch.isfinite(o) & torch.isfinite(e)).any())


def is_complex_output(out: Any) -> bool:
    return isinstance(out, torch.Tensor) and out.is_complex()
