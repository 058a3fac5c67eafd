"""rnnlab.plots.sequences: chapter 5's figures draw and refuse bad input."""

import pytest

from rnnlab.bench.padding import lognormal_lengths
from rnnlab.plots.sequences import plot_batches, plot_exposure_bias, plot_padding_bench
from rnnlab.samplers import BucketBatchSampler


def test_figures_draw():
    lengths = lognormal_lengths(300)
    naive = [list(range(i, min(i + 32, 300))) for i in range(0, 300, 32)]
    assert plot_batches(
        lengths, {"naive": naive, "bucketed": list(BucketBatchSampler(lengths, 32))}, examples=3
    ).axes
    result = {
        "waste": {"naive": 0.7, "bucketed": 0.05},
        "tokens_per_s": {"naive": 1.0, "packed": 0.8, "bucketed": 3.5},
        "speedup_vs_naive": {"naive": 1.0, "packed": 0.8, "bucketed": 3.5},
    }
    assert plot_padding_bench(result).axes
    report = {"by_position": [(0.9, 0.8), (0.8, 0.5)]}
    assert plot_exposure_bias({"teacher forcing": report, "scheduled sampling": report}).axes
    with pytest.raises(ValueError, match="batches"):
        plot_batches(lengths, {})
    with pytest.raises(ValueError, match="examples"):
        plot_batches(lengths, {"naive": naive}, examples=0)
