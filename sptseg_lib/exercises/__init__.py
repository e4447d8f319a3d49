"""Exercises of the course: the reader writes the heart of a notebook, the library checks it and names
the likely mistake.

In a notebook::

    from sptseg_lib import exercises
    print(exercises.stub_source("eq1"))          # the stub cell: def my_spectral_prompt(H, g, w_f): ...
    exercises.check("eq1", my_spectral_prompt, H=H, g=g, w_f=w_f)   # random inputs + this notebook's tensors
    exercises.show_solution("eq1")               # one solution, for a stuck reader

An unattempted exercise prints one line and never raises; ``check(..., solutions=True)`` checks the
reference solution instead and raises if it fails (how the suite runs the notebooks). :data:`EXERCISES`
lists them: ``eq1`` (01), ``head_split`` and ``lofi_query`` (02), ``gate`` (03), ``focal`` and
``ssim_window`` (04), ``inductive_target`` (05), ``poly_lr`` (06), ``hiou`` (07).
"""

from __future__ import annotations

from .core import Exercise, Mistake, Result
from .library import lofi_query_inputs, ssim_window_inputs
from .registry import EXERCISES, check, show_solution, stub_source

__all__ = [
    "EXERCISES",
    "Exercise",
    "Mistake",
    "Result",
    "check",
    "lofi_query_inputs",
    "show_solution",
    "ssim_window_inputs",
    "stub_source",
]
