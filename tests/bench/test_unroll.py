import json
import math
import sys

import matplotlib
import pytest
import torch

from rnnlab.bench import measure, memory, truncation
from rnnlab.bench import unroll as bench
from rnnlab.models.unroll import RUNNERS, make_lstm, run_checkpointed, run_fused, runners

matplotlib.use("Agg")
TINY = {
    "batch_size": 4,
    "hidden_size": 6,
    "input_size": 3,
    "repeats": 2,
    "warmup": 0,
    "device": "cpu",
}
# the smallest command line the CLI tests share
TINY_CLI = [
    "--device",
    "cpu",
    "--batch-size",
    "3",
    "--max-len",
    "4",
    "--hidden-size",
    "5",
    "--input-size",
    "2",
    "--repeats",
    "1",
    "--warmup",
    "0",
]


@pytest.mark.parametrize("fraction", [0.1, 0.5, 1.0])
def test_make_batch_hits_the_real_fraction_and_uses_the_full_length(fraction):
    x, lengths = measure.make_batch(64, 40, 3, real_fraction=fraction, seed=1)
    assert x.shape == (64, 40, 3) and int(lengths.max()) == 40 and int(lengths.min()) >= 1
    assert abs(float(lengths.sum()) / (64 * 40) - fraction) < 0.05
    assert not torch.equal(lengths, lengths.sort(descending=True).values) or fraction == 1.0


def test_compare_returns_sane_structure():
    result = bench.compare(max_len=5, **TINY)
    assert result["max_abs_diff"] < 1e-5
    for key in ("median_ms", "ratio_to_fused", "peak_mb", "gflop", "work_vs_fused"):
        assert set(result[key]) == set(RUNNERS), key
    assert (
        all(v > 0 for v in result["median_ms"].values())
        and result["ratio_to_fused"]["fused"] == 1.0
    )
    assert all(len(v) == 2 for v in result["times_ms"].values())
    assert (
        all(v > 0 for v in result["peak_mb"].values()) and result["work_vs_fused"]["fused"] == 1.0
    )
    assert result["static_build_s"] > 0 and 0 < result["real_fraction"] <= 1
    assert result["padding_share"] == pytest.approx(1 - result["real_fraction"])
    json.dumps(result)


def test_work_follows_padding_only_where_rows_stop():
    """The counted work: masked (what dynamic_rnn did) as much as fused at any padding;
    shrinking/packed ≤ the real share."""
    rows = bench.sweep([0.9, 0.1], over="real_fraction", max_len=20, **TINY)
    for row in rows:
        work = row["work_vs_fused"]
        assert work["static"] == work["masked"] == 1.0
        assert (
            work["shrinking"] == pytest.approx(work["packed"])
            and work["shrinking"] <= row["real_fraction"] + 1e-9
        )
    assert rows[0]["gflop"]["masked"] == rows[1]["gflop"]["masked"]
    assert rows[1]["gflop"]["shrinking"] < 0.5 * rows[0]["gflop"]["shrinking"]


def test_time_steps_interleaves_and_counts():
    order = []
    steps = {name: (lambda name=name: order.append(name)) for name in "abc"}
    times = measure.time_steps(steps, repeats=3, warmup=1)
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3, "c": 3}
    assert order[:6] == list("abcbca")
    with pytest.raises(ValueError, match="steps is empty"):
        measure.time_steps({}, repeats=1)
    with pytest.raises(ValueError, match="warmup"):
        measure.time_steps(steps, warmup=-1)


def test_paired_ratio_cancels_drift():
    assert measure.paired_ratio([2, 20, 200], [1, 10, 100]) == 2.0


def test_peak_bytes_sees_a_temporary_and_its_size():
    def step():
        a = torch.ones(1000, 1000)  # 4 MB, freed before b exists
        del a
        b = torch.ones(500, 1000)  # 2 MB
        del b

    assert 4_000_000 <= measure.peak_bytes(step) < 4_000_000 + 100_000
    assert measure.peak_bytes(lambda: None) == 0
    with pytest.raises(ValueError, match="device"):
        measure.peak_bytes(lambda: None, "meta")


def test_checkpointed_peak_counts_recomputation():
    """The peak of a checkpointed run includes what backward recomputes: at least one segment's
    activations."""
    lstm = make_lstm(8, 32)
    x, lengths = measure.make_batch(16, 64, 8, real_fraction=1.0)
    params = list(lstm.parameters())
    segment = 8
    one_segment = measure.peak_bytes(
        measure.training_step(
            lambda: run_fused(lstm, x[:, :segment], lengths.clamp(max=segment)), params
        )
    )
    full = measure.peak_bytes(measure.training_step(lambda: run_fused(lstm, x, lengths), params))
    checkpointed = measure.peak_bytes(
        measure.training_step(lambda: run_checkpointed(lstm, x, lengths, segment=segment), params)
    )
    assert one_segment <= checkpointed < 0.5 * full


@pytest.mark.skipif(sys.platform == "win32", reason="no getrusage on Windows")
def test_minor_page_faults_see_fresh_memory():
    # 64 MB, freshly mapped and touched
    fresh = measure.minor_page_faults(lambda: torch.ones(64 * 2**20 // 4))
    assert fresh > 64 * 2**20 // 4096 // 2


def test_matmul_flops_of_a_product():
    a, b = torch.ones(3, 4), torch.ones(4, 5)
    assert measure.matmul_flops(lambda: a @ b) == 2 * 3 * 4 * 5


def test_strategies_rows():
    rows = memory.strategies(
        [16, 36],
        chunk=4,
        batch_size=4,
        hidden_size=6,
        input_size=3,
        repeats=2,
        warmup=0,
        device="cpu",
    )
    assert [(r["name"], r["max_len"]) for r in rows] == [
        (n, t) for t in (16, 36) for n in memory.STRATEGIES
    ]
    for r in rows:
        assert {"name", "max_len", "peak_mb", "baseline_peak_mb", "time_ratio"} <= set(r) and r[
            "time_ratio"
        ] > 0
    ckpt = {r["max_len"]: r for r in rows if r["name"] == "checkpoint"}
    assert (
        ckpt[16]["segment"] == 4
        and ckpt[16]["recomputed_steps"] == 16
        and ckpt[36]["recomputed_steps"] == 36
    )
    assert all(r["recompute_time_ratio"] > 0 for r in ckpt.values())
    assert all(r["page_faults"] is None or r["page_faults"] >= 0 for r in rows)
    tbptt = [r for r in rows if r["name"] == "tbptt"]
    assert tbptt[0]["chunk"] == 4 and tbptt[1]["peak_mb"] < 0.5 * tbptt[1]["baseline_peak_mb"]
    assert tbptt[1]["peak_mb"] <= 1.1 * tbptt[0]["peak_mb"]  # flat in T
    # on a CPU save_on_cpu moves nothing: the same peak as the baseline
    assert all(
        r["peak_mb"] == pytest.approx(r["baseline_peak_mb"], rel=0.02)
        for r in rows
        if r["name"] == "save_on_cpu"
    )
    with pytest.raises(ValueError, match="lengths is empty"):
        memory.strategies([])


def test_tbptt_forecast_small():
    result = truncation.tbptt_forecast(
        [None, 12], epochs=2, streams=4, hidden_size=4, test_months=60
    )
    full, truncated = result["rows"]
    assert (
        full["chunk"] is None
        and full["updates"] == 2
        and truncated["updates"] == 2 * math.ceil((result["stream_length"] - 1) / 12)
    )
    assert truncated["update_peak_mb"] < full["update_peak_mb"]
    assert all(math.isfinite(r["test_mae"]) and r["test_mae"] > 0 for r in result["rows"])
    assert (
        5 < result["persistence_mae"] < 40
        and result["streams"] == 4
        and result["test_months"] == 60
    )
    with pytest.raises(ValueError, match="chunks is empty"):
        truncation.tbptt_forecast([])


def test_tables():
    rows = bench.sweep([3, 6], over="max_len", **TINY)
    table = bench.format_table(rows)
    assert len(table.splitlines()) == 3 and "fused ms" in table and "work" in table
    strategies = memory.strategies(
        [9], chunk=3, batch_size=2, hidden_size=4, input_size=3, repeats=1, warmup=0, device="cpu"
    )
    assert len(memory.format_strategies(strategies).splitlines()) == 4
    with pytest.raises(ValueError, match="rows is empty"):
        bench.format_table([])


def test_build_times():
    build = bench.build_times([2, 8], hidden_size=4, input_size=3, repeats=1)
    assert (
        build["max_len"] == [2, 8]
        and all(s > 0 for s in build["build_s"])
        and build["graph_nodes"][1] > build["graph_nodes"][0]
    )
    with pytest.raises(ValueError, match="lengths is empty"):
        bench.build_times([])


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="real_fraction"):
        measure.make_batch(4, 5, 3, real_fraction=0)
    with pytest.raises(ValueError, match="batch_size"):
        measure.make_batch(0, 5, 3)
    with pytest.raises(ValueError, match="over"):
        bench.sweep([1], over="hidden_size")
    with pytest.raises(ValueError, match="values is empty"):
        bench.sweep([], over="max_len")
    with pytest.raises(ValueError, match="chunk"):
        memory.strategies([4], chunk=0)


def test_cli_json(capsys):
    assert bench.main(["--json", *TINY_CLI, "--chunk", "2"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["max_abs_diff"] <= 1e-5
    assert (
        set(result["median_ms"])
        == set(RUNNERS)
        == {"static", "masked", "shrinking", "packed", "fused"}
    )
    assert [r["name"] for r in result["strategies"]] == ["checkpoint", "save_on_cpu", "tbptt"]
    for r in result["strategies"]:
        assert {"name", "max_len", "peak_mb", "baseline_peak_mb", "time_ratio"} <= set(r) and r[
            "max_len"
        ] == 4
    assert result["strategies"][0]["recomputed_steps"] == 4


def test_cli_table_with_sweep(capsys):
    assert bench.main([*TINY_CLI, "--lengths", "4", "9", "--chunk", "3"]) == 0
    out = capsys.readouterr().out
    assert "max abs diff" in out and "checkpoint" in out and "chunks of 3" in out


def test_cli_rejects_bad_values(capsys):
    with pytest.raises(SystemExit):
        bench.main(["--fraction", "2", "--device", "cpu"])
    assert "real_fraction" in capsys.readouterr().err


def test_agreement_reports_each_runner_against_fused():
    lstm = make_lstm(3, 5)
    x, lengths = measure.make_batch(4, 6, 3)
    diffs = bench.agreement(runners(lstm), x, lengths)
    assert set(diffs) == set(RUNNERS) and diffs["fused"] == 0 and max(diffs.values()) < 1e-5
    broken = {**runners(lstm), "masked": lambda x, n: tuple(t + 1 for t in run_fused(lstm, x, n))}
    assert bench.agreement(broken, x, lengths)["masked"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="'fused'"):
        bench.agreement({"static": runners(lstm)["static"]}, x, lengths)


def test_plots():
    from rnnlab.plots.unroll import plot_build_vs_length, plot_padding, plot_strategies

    by_padding = bench.sweep([0.5, 1.0], over="real_fraction", max_len=6, **TINY)
    strategies = memory.strategies(
        [4, 9],
        chunk=3,
        batch_size=2,
        hidden_size=4,
        input_size=3,
        repeats=1,
        warmup=0,
        device="cpu",
    )
    build = bench.build_times([2, 4], hidden_size=4, input_size=3, repeats=1)
    for fig in (plot_padding(by_padding), plot_strategies(strategies), plot_build_vs_length(build)):
        assert fig.axes and fig.axes[0].lines
    with pytest.raises(ValueError, match="rows is empty"):
        plot_padding([])
    with pytest.raises(ValueError, match="strategies"):
        plot_strategies([{"name": "tbptt"}])
    with pytest.raises(ValueError, match="build_times"):
        plot_build_vs_length({"max_len": [1]})


def test_beyond_longest_masked_stops_at_the_longest_fused_runs_every_padded_step():
    """Padding a batch beyond its longest sequence costs the masked loop nothing and the fused
    kernel (and the static graph) work in proportion to the padded length (the first step aside)."""
    result = bench.beyond_longest(5, max_len=15, **TINY)
    short, wide = result["gflop"]["to longest"], result["gflop"]["to max_len"]
    assert short["masked"] == wide["masked"] and short["shrinking"] == wide["shrinking"]
    # a fused step costs the same at every step but the first (no gradient to pass back to h_0)
    assert 3 * short["fused"] <= wide["fused"] <= 3.2 * short["fused"]
    assert wide["static"] == wide["fused"]
    assert all(v > 0 for p in result["median_ms"].values() for v in p.values())
    json.dumps(result)
    with pytest.raises(ValueError, match="max_len"):
        bench.beyond_longest(5, max_len=4, **TINY)
