"""Figures for chapter 4: the five LSTM runners across padding, the static graph's build cost, and
the memory strategies.

Data from `rnnlab.bench.unroll` (``sweep``, ``build_times``), `rnnlab.bench.memory` (``strategies``)
and `rnnlab.bench.truncation` (``tbptt_forecast``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from ..models.unroll import RUNNERS

__all__ = ["plot_build_vs_length", "plot_padding", "plot_strategies"]

STYLE = {
    "static": ("tab:red", "s"),
    "masked": ("tab:orange", "^"),
    "shrinking": ("tab:olive", "v"),
    "packed": ("tab:green", "D"),
    "fused": ("tab:blue", "o"),
    "baseline": ("black", "o"),
    "checkpoint": ("tab:purple", "v"),
    "save_on_cpu": ("tab:brown", "x"),
    "tbptt": ("tab:cyan", "s"),
}


def _rows(
    rows: Sequence[Mapping[str, Any]], source: str, *keys: str
) -> Sequence[Mapping[str, Any]]:
    if not rows:
        raise ValueError(f"rows is empty: pass the result of rnnlab.bench.{source}")
    missing = [k for k in keys if k not in rows[0]]
    if missing:
        raise ValueError(f"rows lack {missing}: pass the result of rnnlab.bench.{source}")
    return rows


def plot_padding(rows: Sequence[Mapping[str, Any]]) -> Figure:
    """Each runner's median time (left) and counted work (right) against the share of padding (a
    ``sweep`` over ``real_fraction``)."""
    rows = sorted(
        _rows(rows, "unroll.sweep", "padding_share", "median_ms", "work_vs_fused"),
        key=lambda r: r["padding_share"],
    )
    fig, (time_ax, work_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    xs = [100 * r["padding_share"] for r in rows]
    for name in RUNNERS:
        color, marker = STYLE[name]
        time_ax.plot(
            xs, [r["median_ms"][name] for r in rows], color=color, marker=marker, label=name
        )
        work_ax.plot(
            xs,
            [r["work_vs_fused"][name] for r in rows],
            color=color,
            marker=marker,
            label=name,
            alpha=0.8,
        )
    time_ax.set(
        xlabel="padding, % of the B × T grid",
        ylabel="forward+backward, median ms",
        title=f"Time ({rows[0]['device']}, T = {rows[0]['max_len']})",
    )
    work_ax.set(
        xlabel="padding, % of the B × T grid",
        ylabel="matrix-multiply work, × fused",
        title="Work (counted FLOPs)",
    )
    for ax in (time_ax, work_ax):
        ax.grid(alpha=0.3)
    work_ax.legend()
    fig.tight_layout()
    return fig


def plot_strategies(rows: Sequence[Mapping[str, Any]]) -> Figure:
    """Peak memory (left) and time relative to full BPTT (right) of each strategy against ``T``
    (from ``strategies``)."""
    rows = _rows(
        rows, "memory.strategies", "name", "max_len", "peak_mb", "baseline_peak_mb", "time_ratio"
    )
    fig, (memory_ax, time_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    names = list(dict.fromkeys(r["name"] for r in rows))
    first = [r for r in rows if r["name"] == names[0]]
    color, marker = STYLE["baseline"]
    memory_ax.plot(
        [r["max_len"] for r in first],
        [r["baseline_peak_mb"] for r in first],
        color=color,
        marker=marker,
        label="full BPTT (fused)",
    )
    time_ax.axhline(1.0, color=color, linewidth=1, label="full BPTT (fused)")
    for name in names:
        mine = [r for r in rows if r["name"] == name]
        color, marker = STYLE.get(name, ("gray", "."))
        for ax, key in ((memory_ax, "peak_mb"), (time_ax, "time_ratio")):
            ax.plot(
                [r["max_len"] for r in mine],
                [r[key] for r in mine],
                color=color,
                marker=marker,
                linestyle="--",
                label=name,
            )
    memory_ax.set(
        xlabel="sequence length T (steps)",
        ylabel="peak MB, forward + backward",
        title="Peak memory vs length",
    )
    time_ax.set(
        xlabel="sequence length T (steps)",
        ylabel="time, × full BPTT (side by side)",
        title="Time vs length",
    )
    for ax in (memory_ax, time_ax):
        ax.grid(alpha=0.3)
    memory_ax.legend()
    fig.tight_layout()
    return fig


def plot_build_vs_length(build: Mapping[str, Sequence[float]]) -> Figure:
    """Build time of the static graph (and its size) against ``T``; the other runners build nothing
    (the flat line)."""
    if (
        not isinstance(build, Mapping)
        or not {"max_len", "build_s", "graph_nodes"} <= set(build)
        or not build["max_len"]
    ):
        raise ValueError(
            "build must be the result of rnnlab.bench.unroll.build_times (keys max_len, build_s, "
            "graph_nodes)"
        )
    fig, ax = plt.subplots(figsize=(6, 3.8))
    steps = list(build["max_len"])
    ax.plot(
        steps,
        [1000 * s for s in build["build_s"]],
        color=STYLE["static"][0],
        marker="s",
        label="static: build the graph",
    )
    ax.plot(
        steps,
        [0] * len(steps),
        color=STYLE["masked"][0],
        marker="^",
        label="masked / shrinking / packed / fused: nothing to build",
    )
    nodes = ax.twinx()
    nodes.plot(
        steps, build["graph_nodes"], color="gray", linestyle=":", label="graph size (right axis)"
    )
    nodes.set_ylabel("operations in the static graph", color="gray")
    ax.set(
        xlabel="unrolled length T (steps)",
        ylabel="build time, ms",
        title="Static graph: build cost grows with T",
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    return fig
