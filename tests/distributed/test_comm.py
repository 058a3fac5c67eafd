"""rnnlab.distributed.comm: the teaching ring all-reduce and the cost arithmetic."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnlab.distributed.comm import (
    LINKS,
    all_reduce_seconds,
    cost_table,
    ring_all_reduce,
    ring_bytes_per_worker,
)


@settings(max_examples=40, deadline=None)
@given(workers=st.integers(1, 6), size=st.integers(1, 23), seed=st.integers(0, 10_000))
def test_ring_all_reduce_sums_and_sends_2_n_minus_1_over_n_of_the_bytes(workers, size, seed):
    generator = torch.Generator().manual_seed(seed)
    tensors = [torch.randn(size, generator=generator, dtype=torch.float64) for _ in range(workers)]
    results, sent = ring_all_reduce(tensors)
    total = torch.stack(tensors).sum(0)
    for result in results:
        torch.testing.assert_close(result, total)
    if size % workers == 0:
        assert sent == ring_bytes_per_worker(size * 8, workers)


def test_all_reduce_cost_arithmetic():
    assert ring_bytes_per_worker(1000, 1) == 0 and ring_bytes_per_worker(1000, 2) == 1000
    assert all_reduce_seconds(10**9, 8, bandwidth=1e9, latency=0.0) == pytest.approx(1.75)
    rows = cost_table(4 * 10**6, 0.01, world_sizes=(2, 8))
    assert len(rows) == 2 * len(LINKS) and all(0 < r.comm_share < 1 for r in rows)
    slow = [r for r in rows if r.link.startswith("10 Gb/s")]
    assert slow[1].comm_ms > slow[0].comm_ms
    with pytest.raises(ValueError, match="tensors"):
        ring_all_reduce([])
    with pytest.raises(ValueError, match=r"tensors\[1\]"):
        ring_all_reduce([torch.zeros(3), torch.zeros(4)])
