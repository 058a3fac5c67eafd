"""`python -m rnnlab bench packing`: both routes compute the same outputs, it reports a ratio per
GRU, its --json is one object."""

import json

import pytest

from rnnlab.bench import packing


def test_measure_times_both_routes_on_the_same_work():
    result = packing.measure(200, 16, timed_batches=2, hidden_size=8, input_size=4)
    for name in ("one-way", "two-way"):
        r = result[name]
        assert set(r["seconds"]) == set(packing.ROUTES) and all(
            s > 0 for s in r["seconds"].values()
        )
        assert r["speedup"] == pytest.approx(r["seconds"]["packed"] / r["seconds"]["run_rnn"])
        assert r["max_difference"] < 1e-5  # the same numbers either way
    assert result["timed_batches"] == 2


def test_cli_json_is_one_object(capsys):
    argv = ["--json", "--sequences", "100", "--batch-size", "16", "--timed-batches", "1"]
    assert packing.main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["one-way"]["speedup"] > 0 and data["two-way"]["speedup"] > 0


def test_cli_table_names_both_gru(capsys):
    assert packing.main(["--sequences", "100", "--batch-size", "16", "--timed-batches", "1"]) == 0
    out = capsys.readouterr().out
    assert "one-way" in out and "two-way" in out and "packed ÷ run_rnn" in out


@pytest.mark.parametrize(
    "kwargs, error, name",
    [
        ({"n_sequences": 0}, ValueError, "n_sequences"),
        ({"batch_size": 1.5}, TypeError, "batch_size"),
        ({"hidden_size": -1}, ValueError, "hidden_size"),
    ],
)
def test_bad_arguments(kwargs, error, name):
    with pytest.raises(error, match=name):
        packing.measure(**{"n_sequences": 100, "timed_batches": 1, **kwargs})
