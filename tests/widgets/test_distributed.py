"""rnnlab.widgets.distributed with the DDP bench and plots it feeds: chapter 6's communication
explorer."""

from __future__ import annotations

import pytest
import torch

from rnnlab.distributed.comm import cost_table
from rnnlab.distributed.pipeline import ClockedLSTM


def test_comm_widget_logic_and_bench_and_plot_inputs():
    from rnnlab.bench.ddp import format_rows, main, measure
    from rnnlab.plots.distributed import plot_comm_share, plot_drift, plot_step_split, plot_timeline
    from rnnlab.widgets.distributed import comm_explorer, comm_summary

    slow = comm_summary(160.0, 16, "10 Gb/s network", 50.0)
    fast = comm_summary(160.0, 16, "NVLink (one 8-GPU server)", 50.0)
    assert (
        slow["verdict"] == "communication-bound"
        and fast["verdict"] == "compute-bound"
        and slow["sent_mb"] == 300.0
    )
    with pytest.raises(ValueError, match="link"):
        comm_summary(1.0, 2, "carrier pigeon", 1.0)
    ui = comm_explorer()
    ui.children[1].value = 2  # the GPUs slider
    row = {
        "workers": 2,
        "samples_per_second": 500.0,
        "step_ms": 64.0,
        "compute_ms": 60.0,
        "comm_ms": 3.0,
        "grad_mb": 0.6,
    }
    assert "500" in format_rows([row])
    assert (
        plot_step_split([row]) is not None and plot_comm_share(cost_table(10**6, 0.01)) is not None
    )
    pipe = ClockedLSTM(3, 4, ["cpu", "cpu"], pieces=2, split="batch")
    pipe.train_step(torch.zeros(4, 2, 3), lambda out: out.sum())
    # 2 stages × 2 micro-batches × (forward, backward)
    assert len(plot_timeline(pipe.timeline).patches) == 8
    assert len(plot_drift({"exact": 0.0, "dropout": 0.1}, 1e-5).patches) == 2
    for bad in (
        lambda: plot_step_split([]),
        lambda: plot_timeline([]),
        lambda: plot_drift({}, 1e-5),
        lambda: measure(workers=[0]),
        lambda: measure(timing=0),
    ):
        with pytest.raises(ValueError):
            bad()
    with pytest.raises(SystemExit):
        main(["--help"])
