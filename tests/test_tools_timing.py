"""The timing tool the notebooks use (:mod:`sptseg_lib.tools.timing`)."""

from __future__ import annotations

import pytest
import torch

from sptseg_lib.tools.timing import attention_cost


def test_attention_cost_rows_and_thread_count_restored() -> None:
    threads = torch.get_num_threads()
    rows = attention_cost(grids=(4, 6), dim=16, heads=2, repeats=1, threads=1)
    assert [r["tokens"] for r in rows] == [16, 36]
    assert rows[0]["ratio"] == pytest.approx(rows[0]["full_ms"] / rows[0]["hilo_ms"])
    assert torch.get_num_threads() == threads
