"""Shared test set-up: offline, CPU, deterministic."""

from __future__ import annotations

import os

# No hub access on the build machines: real loading paths must fail fast, never hang.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
