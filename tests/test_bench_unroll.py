import json

import matplotlib
import pytest
import torch

from rnnlab.bench import unroll as bench
from rnnlab.models.unroll import RUNNERS, make_lstm, run_fused, runners
from rnnlab.plots.unroll import plot_build_vs_length, plot_memory_vs_length, plot_time_vs_fraction, plot_time_vs_length

matplotlib.use("Agg")
TINY = {"batch": 4, "hidden": 6, "input_size": 3, "repeats": 2, "warmup": 0, "device": "cpu"}


@pytest.mark.parametrize("fraction", [0.1, 0.5, 1.0])
def test_make_batch_hits_the_real_fraction_and_uses_the_full_length(fraction):
    x, lengths = bench.make_batch(64, 40, 3, real_fraction=fraction, seed=1)
    assert x.shape == (64, 40, 3) and int(lengths.max()) == 40 and int(lengths.min()) >= 1
    assert abs(float(lengths.sum()) / (64 * 40) - fraction) < 0.05
    assert not torch.equal(lengths, lengths.sort(descending=True).values) or fraction == 1.0


def test_compare_returns_sane_structure():
    result = bench.compare(max_len=5, **TINY)
    assert result["max_abs_diff"] < 1e-5
    for key in ("median_ms", "ratio_to_fused", "activation_mb", "cuda_peak_mb"):
        assert set(result[key]) == set(RUNNERS)
    assert all(v > 0 for v in result["median_ms"].values()) and result["ratio_to_fused"]["fused"] == 1.0
    assert all(len(v) == 2 for v in result["times_ms"].values())
    assert all(v > 0 for v in result["activation_mb"].values()) and result["cuda_peak_mb"]["fused"] is None
    assert result["static_build_s"] > 0 and 0 < result["real_fraction"] <= 1
    json.dumps(result)


def test_padding_costs_memory_only_where_it_is_computed():
    result = bench.compare(max_len=30, real_fraction=0.3, **TINY)
    mb = result["activation_mb"]
    assert mb["dynamic"] < 0.6 * mb["static"] and mb["packed"] < 0.6 * mb["fused"]


def test_time_calls_interleaves_and_counts():
    order = []
    calls = {name: (lambda name=name: (order.append(name), (torch.ones(1, requires_grad=True), torch.ones(1)))[1]) for name in "abc"}
    times = bench.time_calls(calls, [], repeats=3, warmup=1)
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3, "c": 3}
    assert order[:6] == list("abcbca")
    with pytest.raises(ValueError, match="calls is empty"):
        bench.time_calls({}, [])
    with pytest.raises(ValueError, match="warmup"):
        bench.time_calls(calls, [], warmup=-1)


def test_activation_bytes_counts_what_backward_keeps():
    lstm = make_lstm(3, 8)
    x, lengths = bench.make_batch(4, 10, 3)
    short = bench.activation_bytes(lambda: run_fused(lstm, x[:, :5], lengths.clamp(max=5)))
    long = bench.activation_bytes(lambda: run_fused(lstm, x, lengths))
    assert 0 < short < long
    assert bench.activation_bytes(lambda: (torch.ones(3), torch.ones(3))) == 0
    assert bench.cuda_peak_bytes(lambda: run_fused(lstm, x, lengths), list(lstm.parameters()), "cpu") is None


def test_build_times_and_checkpointing_structures():
    build = bench.build_times([2, 8], hidden=4, input_size=3, repeats=1)
    assert build["max_len"] == [2, 8] and all(s > 0 for s in build["build_s"]) and build["graph_nodes"][1] > build["graph_nodes"][0]
    rows = bench.checkpoint_tradeoff([16], batch=4, hidden=6, input_size=3, repeats=1, warmup=0, device="cpu")
    assert rows[0]["segment"] == 4 and rows[0]["memory_ratio"] > 1 and rows[0]["checkpointed_ms"] > 0


def test_sweeps_tables_and_plots():
    by_length = bench.sweep([3, 6], over="max_len", **TINY)
    by_fraction = bench.sweep([0.5, 1.0], over="real_fraction", max_len=6, **TINY)
    assert [r["max_len"] for r in by_length] == [3, 6]
    table = bench.format_table(by_length)
    assert len(table.splitlines()) == 3 and "fused ms" in table
    build = bench.build_times([2, 4], hidden=4, input_size=3, repeats=1)
    ckpt = bench.checkpoint_tradeoff([4, 9], batch=4, hidden=6, input_size=3, repeats=1, warmup=0, device="cpu")
    for fig in (plot_time_vs_length(by_length), plot_time_vs_fraction(by_fraction), plot_memory_vs_length(by_length, ckpt),
                plot_build_vs_length(build)):
        assert fig.axes and fig.axes[0].lines


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="real_fraction"):
        bench.make_batch(4, 5, 3, real_fraction=0)
    with pytest.raises(ValueError, match="batch"):
        bench.make_batch(0, 5, 3)
    with pytest.raises(ValueError, match="over"):
        bench.sweep([1], over="hidden")
    with pytest.raises(ValueError, match="values is empty"):
        bench.sweep([], over="max_len")
    with pytest.raises(ValueError, match="lengths is empty"):
        bench.build_times([])
    with pytest.raises(ValueError, match="rows is empty"):
        plot_time_vs_length([])
    with pytest.raises(ValueError, match="build_times"):
        plot_build_vs_length({"max_len": [1]})


def test_cli_json(capsys):
    assert bench.main(["--json", "--device", "cpu", "--batch", "3", "--max-len", "4", "--hidden", "5", "--input-size", "2",
                       "--repeats", "1", "--warmup", "0"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["max_abs_diff"] <= 1e-5 and set(result["median_ms"]) == set(RUNNERS)


def test_cli_table_with_sweep(capsys):
    assert bench.main(["--device", "cpu", "--batch", "3", "--max-len", "4", "--hidden", "5", "--input-size", "2",
                       "--repeats", "1", "--warmup", "0", "--lengths", "4", "9"]) == 0
    out = capsys.readouterr().out
    assert "max abs diff" in out and "checkpointing T=9" in out


def test_cli_rejects_bad_values(capsys):
    with pytest.raises(SystemExit):
        bench.main(["--fraction", "2", "--device", "cpu"])
    assert "real_fraction" in capsys.readouterr().err


def test_agreement_reports_each_runner_against_fused():
    lstm = make_lstm(3, 5)
    x, lengths = bench.make_batch(4, 6, 3)
    diffs = bench.agreement(runners(lstm), x, lengths)
    assert set(diffs) == set(RUNNERS) and diffs["fused"] == 0 and max(diffs.values()) < 1e-5
    broken = {**runners(lstm), "dynamic": lambda x, n: tuple(t + 1 for t in run_fused(lstm, x, n))}
    assert bench.agreement(broken, x, lengths)["dynamic"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="'fused'"):
        bench.agreement({"static": runners(lstm)["static"]}, x, lengths)
