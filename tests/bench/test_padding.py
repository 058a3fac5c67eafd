"""`python -m rnnlab bench padding`: it runs, reports every strategy, and its --json is one
object."""

import json

import pytest
import torch

from rnnlab.bench import padding


def test_lognormal_lengths_are_skewed_and_clipped():
    lengths = padding.lognormal_lengths(5000, median=30, max_len=300, seed=1)
    assert lengths.dtype == torch.int64 and int(lengths.min()) >= 1 and int(lengths.max()) <= 300
    assert 27 <= float(lengths.median()) <= 33 and float(lengths.float().mean()) > float(
        lengths.median()
    )


def test_measure_reports_waste_and_speed_for_each_strategy():
    result = padding.measure(400, 16, timed_batches=1, hidden_size=8, input_size=4)
    assert set(result["tokens_per_s"]) == set(padding.STRATEGIES)
    assert result["waste"]["bucketed"] < result["waste"]["naive"]
    assert result["speedup_vs_naive"]["naive"] == 1.0
    headline = padding.summary(result)
    assert {
        "waste_naive",
        "waste_bucketed",
        "speedup",
        "waste_token_budget",
        "speedup_token_budget",
    } <= set(headline)


def test_cli_json_is_one_object(capsys):
    assert (
        padding.main(["--json", "--sequences", "200", "--batch-size", "16", "--timed-batches", "1"])
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert 0 <= data["waste_bucketed"] < data["waste_naive"] < 1 and data["speedup"] > 0


@pytest.mark.parametrize(
    "kwargs, error, name",
    [
        ({"n_sequences": 0}, ValueError, "n_sequences"),
        ({"batch_size": 1.5}, TypeError, "batch_size"),
        ({"strategies": ["bucketed"]}, ValueError, "strategies"),
    ],
)
def test_bad_arguments(kwargs, error, name):
    with pytest.raises(error, match=name):
        padding.measure(**{"n_sequences": 100, "timed_batches": 1, **kwargs})
