"""The timing tool the notebooks use (:mod:`sptseg_lib.tools.timing`), on a fake clock: deterministic,
no test depends on this machine's speed."""

from __future__ import annotations

import pytest
import torch

from sptseg_lib.tools import timing
from sptseg_lib.tools.timing import attention_cost, per_call_seconds


class FakeClock:
    """``perf_counter`` that only moves when a timed function runs: ``cost`` seconds per call, plus
    ``spikes[k]`` on the k-th call (another process taking the CPU)."""

    def __init__(self, spikes: dict[int, float] | None = None) -> None:
        self.now, self.calls, self.spikes = 0.0, 0, spikes or {}

    def __call__(self) -> float:
        return self.now

    def function(self, cost: float):
        def run() -> None:
            self.now += cost + self.spikes.get(self.calls, 0.0)
            self.calls += 1

        return run


def test_per_call_seconds_is_the_fastest_sample_of_enough_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    # 1 ms and 8 ms calls, 20 ms samples: 20 and 3 calls per sample. Calls 0-3 are the untimed warm-up
    # and the calibration call of each; the first samples are calls 4-23 ("small") and 24-26 ("large").
    clock = FakeClock(spikes={4: 0.5, 24: 0.5})  # a spike in each variant's first sample
    monkeypatch.setattr(timing.time, "perf_counter", clock)
    calls = {"small": clock.function(0.001), "large": clock.function(0.008)}
    seconds = per_call_seconds(calls, repeats=3, min_sample_s=0.02)
    assert seconds == pytest.approx({"small": 0.001, "large": 0.008})
    assert clock.calls == 4 + 3 * (20 + 3)  # two untimed calls each, then 3 samples of 20 and 3 calls


def test_per_call_seconds_one_spike_in_every_sample_is_seen(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock(spikes={2: 0.03, 3: 0.01, 4: 0.02})  # one variant, one call per sample
    monkeypatch.setattr(timing.time, "perf_counter", clock)
    seconds = per_call_seconds({"slow": clock.function(1.0)}, repeats=3, min_sample_s=0.5)
    # no undisturbed sample: the least disturbed one (1.01), not the median (1.02)
    assert seconds["slow"] == pytest.approx(1.01)


@pytest.mark.parametrize("repeats, min_sample_s", [(0, 0.02), (3, -1.0)])
def test_per_call_seconds_rejects_bad_arguments(repeats: int, min_sample_s: float) -> None:
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        per_call_seconds({"f": lambda: None}, repeats=repeats, min_sample_s=min_sample_s)


def test_attention_cost_rows_and_thread_count_restored() -> None:
    threads = torch.get_num_threads()
    rows = attention_cost(grids=(4, 6), dim=16, heads=2, repeats=1, threads=1)
    assert [r["tokens"] for r in rows] == [16, 36]
    assert rows[0]["ratio"] == pytest.approx(rows[0]["full_ms"] / rows[0]["hilo_ms"])
    assert torch.get_num_threads() == threads
