"""The exercise checker: an exercise, its catalogue of known mistakes, and the :class:`Result` of a check.

A check runs the reader's function on fresh random inputs and on the notebook's own tensors, compares each
output with the library's (the ground truth, not the reference solution), and on a mismatch names the
likely mistake: first the exercise's catalogue (a mistake matches when one of its implementations gives
the reader's outputs, or raises the reader's error, on every input), then generic diagnoses (a constant
factor, transposed axes, NaN, a complex output), else the difference and the catalogue's usual suspects.
"""

from __future__ import annotations

import copy
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from .compare import Comparison, compare, is_complex_output, non_finite, same_output, scale_factor, transposed
from .helpers import describe, one_thread, shorten

SOLUTION_TIP = "Run `exercises.show_solution('{name}')` to see one solution."


@dataclass(frozen=True)
class Mistake:
    """A known mistake: ``id`` (e.g. ``"fft_axes"``), the ``hint`` that names it, a ``summary`` of a few
    words for the list of usual suspects, and ``variants``: implementations of the mistake with the
    solution's signature."""

    id: str
    hint: str
    summary: str
    variants: tuple[Callable[..., Any], ...]


@dataclass(frozen=True)
class Exercise:
    """One exercise of the course.

    Attributes:
        name: the key of :data:`EXERCISES` (``"eq1"``).
        notebook: the notebook it belongs to (``"01"``).
        title: one line.
        solution: the reference solution (:mod:`.solutions`), named like the stub (``my_spectral_prompt``);
            its signature and docstring are the stub's.
        library: the ground truth, computed by the library, with the solution's parameters.
        random_inputs: fresh inputs (a dict in the solution's parameter order) from a ``torch.Generator``.
        mistakes: the catalogue, in the order they are tried.
        rtol, atol: the tolerance of a match.
        n_random: how many random inputs a check uses.
        edge_cases: fixed inputs always checked too (cases a random draw could miss).
        real_cases: turns the notebook's keyword arguments into the list of input dicts to check (e.g. one
            per training step); default: the arguments themselves, tensors detached and moved to the CPU.
        shape_hint: what to say about an error or a wrong shape that no mistake of the catalogue explains.
        scale_hint: where a constant factor usually comes from in this exercise.
        notebook_inputs: what the notebook passes to :func:`check` as its own tensors (for its authors).
    """

    name: str
    notebook: str
    title: str
    solution: Callable[..., Any]
    library: Callable[..., Any]
    random_inputs: Callable[[torch.Generator], dict[str, Any]]
    mistakes: tuple[Mistake, ...]
    rtol: float = 1e-4
    atol: float = 1e-5
    n_random: int = 5
    edge_cases: Callable[[], list[dict[str, Any]]] | None = None
    real_cases: Callable[[dict[str, Any]], list[dict[str, Any]]] | None = None
    shape_hint: str = ""
    scale_hint: str = "a normalisation (a division, a mean instead of a sum, a constant) is missing or extra"
    notebook_inputs: str = ""

    @property
    def function(self) -> str:
        """The name of the reader's function (``my_spectral_prompt``)."""
        return self.solution.__name__

    @property
    def parameters(self) -> tuple[str, ...]:
        return tuple(inspect.signature(self.solution).parameters)

    @property
    def signature(self) -> str:
        """``(H: torch.Tensor, ...) -> torch.Tensor``."""
        return str(inspect.signature(self.solution, eval_str=True))

    @property
    def docstring(self) -> str:
        return inspect.getdoc(self.solution) or ""


@dataclass
class Result:
    """What a check found. ``str(result)`` is what :func:`check` prints: one line, or a short paragraph
    for a failure (where it failed, the hint naming the likely mistake, how to see a solution)."""

    name: str
    attempted: bool
    passed: bool
    mistake: str | None = None
    hint: str = ""
    max_error: float | None = None
    seed: int | None = None
    message: str = field(default="", repr=False)
    _printed: bool = field(default=False, repr=False, compare=False)

    def __str__(self) -> str:
        return self.message

    def _ipython_display_(self) -> None:
        """Shown once: :func:`check` has printed it already, so the cell's automatic display is skipped."""
        if self._printed:
            self._printed = False
            return
        print(self.message)


@dataclass
class _Case:
    label: str
    inputs: dict[str, Any]
    expected: Any
    out: Any = None
    error: Exception | None = None
    comparison: Comparison | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.comparison is not None and self.comparison.ok


def _fresh(inputs: dict[str, Any]) -> list[Any]:
    """Copies of the inputs (positional, in the solution's order), so no call sees another's changes."""
    return [v.detach().clone() if isinstance(v, torch.Tensor) else copy.deepcopy(v) for v in inputs.values()]


def _run(fn: Callable[..., Any], inputs: dict[str, Any]) -> tuple[Any, Exception | None]:
    try:
        with torch.no_grad():
            return fn(*_fresh(inputs)), None
    except Exception as error:
        return None, error


def _agrees(ex: Exercise, variant: Callable[..., Any], cases: list[_Case]) -> bool:
    """Whether ``variant`` reproduces the reader on every case: the same output, or the same error."""
    for case in cases:
        out, error = _run(variant, case.inputs)
        if case.error is not None:
            if error is None or type(error) is not type(case.error) or str(error) != str(case.error):
                return False
        elif error is not None or not same_output(case.out, out, ex.rtol, ex.atol):
            return False
    return True


def _is_shape_error(error: Exception) -> bool:
    text = str(error).lower()
    return isinstance(error, IndexError | ValueError | RuntimeError) and any(
        w in text for w in ("size", "shape", "dimension", "broadcast", "mat1", "index")
    )


def diagnose(ex: Exercise, cases: list[_Case]) -> tuple[str, str]:
    """``(mistake id, hint)`` for a failed check (see the module docstring)."""
    for mistake in ex.mistakes:
        if any(_agrees(ex, variant, cases) for variant in mistake.variants):
            return mistake.id, mistake.hint
    first = next(c for c in cases if not c.ok)
    if first.error is not None:
        text = f"your function raised {type(first.error).__name__}: {first.error}"
        if _is_shape_error(first.error):
            return (
                "shape_error",
                f"{text}. A shape error: {ex.shape_hint or 'check the shapes of each step.'}",
            )
        return "exception", f"{text}."
    problem = first.comparison.problem if first.comparison else ""
    if problem and "expected shape" in problem:
        return "shape", f"{problem}. {ex.shape_hint}".strip()
    if is_complex_output(first.out) and not is_complex_output(first.expected):
        return "complex", (
            "the output is complex where the library's is real: use the real inverse transform with the "
            "output's size (or take .real only where the imaginary part is rounding noise)."
        )
    if non_finite(first.out, first.expected):
        return "non_finite", (
            "the output holds NaN or inf where the library's is finite: a division by zero, the log of 0 or "
            "of a negative number, or an overflow."
        )
    usable = [c for c in cases if c.error is None]
    k = scale_factor([c.out for c in usable], [c.expected for c in usable], ex.rtol, ex.atol)
    if k is not None:
        return "scale", f"off by a constant factor of {k:.4g}: {ex.scale_hint}."
    if transposed(first.out, first.expected, ex.rtol, ex.atol):
        return (
            "transposed",
            "the output is the library's transposed: two axes are swapped (check the order of your axes).",
        )
    suspects = "; ".join(m.summary for m in ex.mistakes)
    error = first.comparison.max_error if first.comparison else None
    size = f"up to {error:.3g}" if error is not None and math.isfinite(error) else "somewhere"
    return "unknown", f"differs from the library by {size}; common mistakes: {suspects}."


def _tally(cases: list[_Case], n_random: int, failed_random: int) -> str:
    """`` (3 of 5 random inputs fail, this notebook's tensors too.)``: where else the function fails."""
    real = [c for c in cases if c.label == "this notebook's tensors"]
    parts = [f"{failed_random} of {n_random} random inputs fail"] if failed_random else []
    if real and not all(c.ok for c in real):
        parts.append("this notebook's tensors too" if parts else "this notebook's tensors fail")
    elif real:
        parts.append("this notebook's tensors pass")
    return f" ({', '.join(parts)}.)" if parts else ""


def evaluate(
    ex: Exercise,
    fn: Callable[..., Any] | None,
    real_cases: list[dict[str, Any]],
    seed: int,
    reference: bool = False,
) -> Result:
    """Check ``fn`` on ``ex.n_random`` random inputs (``seed``), the edge cases and ``real_cases``."""
    with one_thread():
        return _evaluate(ex, fn, real_cases, seed, reference)


def _evaluate(
    ex: Exercise, fn: Callable[..., Any] | None, real_cases: list[dict[str, Any]], seed: int, reference: bool
) -> Result:
    who = f"Exercise {ex.name}" + (" (reference solution)" if reference else "")
    not_yet = f"Exercise {ex.name} not attempted yet: write `{ex.function}` above, then run this cell again."
    if fn is None:
        return Result(ex.name, False, False, seed=seed, message=not_yet)
    if not callable(fn):
        hint = f"pass the function itself, `{ex.function}`, not what it returns (got a {type(fn).__name__})."
        message = f"{who} failed: {hint}"
        return Result(ex.name, True, False, "not_callable", hint, None, seed, message)
    gen = torch.Generator().manual_seed(seed)
    inputs = [(f"random input {i + 1} of {ex.n_random}", ex.random_inputs(gen)) for i in range(ex.n_random)]
    edges = ex.edge_cases() if ex.edge_cases else []
    inputs += [(f"edge case {i + 1} of {len(edges)}", case) for i, case in enumerate(edges)]
    inputs += [("this notebook's tensors", case) for case in real_cases]
    cases: list[_Case] = []
    for label, case_inputs in inputs:
        with torch.no_grad():
            expected = ex.library(*_fresh(case_inputs))
        out, error = _run(fn, case_inputs)
        if not cases and (
            isinstance(error, NotImplementedError) or (error is None and (out is None or out is Ellipsis))
        ):
            return Result(ex.name, False, False, seed=seed, message=not_yet)
        case = _Case(label, case_inputs, expected, out, error)
        if error is None:
            case.comparison = (
                Comparison(False, None, f"the function returned {out!r}")
                if out is None or out is Ellipsis
                else compare(out, expected, ex.rtol, ex.atol)
            )
        cases.append(case)
    n_real = len(real_cases)
    if all(c.ok for c in cases):
        max_error = max((c.comparison.max_error or 0.0 for c in cases if c.comparison), default=0.0)
        where = f"{ex.n_random} random inputs" + (
            f", {len(edges)} edge case{'s' * (len(edges) > 1)}" if edges else ""
        )
        where += " and on this notebook's tensors" if n_real else ""
        message = f"{who} passed: matches the library on {where} (largest difference {max_error:.1g})."
        return Result(ex.name, True, True, None, "", max_error, seed, message)
    mistake, hint = diagnose(ex, cases)
    first = next(c for c in cases if not c.ok)
    failed_random = sum(not c.ok for c in cases[: ex.n_random])
    what = (
        f"raised {type(first.error).__name__}: {shorten(str(first.error))}"
        if first.error is not None
        else (first.comparison.problem if first.comparison else "differs")
    )
    errors = [c.comparison.max_error for c in cases if c.comparison and c.comparison.max_error is not None]
    lines = [
        f"{who} failed on {first.label} ({describe(first.inputs)}): {what}."
        + _tally(cases, ex.n_random, failed_random),
        f"  Likely mistake [{mistake}]: {hint}",
        "  " + SOLUTION_TIP.format(name=ex.name),
    ]
    return Result(
        ex.name, True, False, mistake, hint, max(errors) if errors else None, seed, "\n".join(lines)
    )
