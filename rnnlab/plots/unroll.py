"""Figures for chapter 4: time, memory and build cost of the four LSTM runners (data from `rnnlab.bench.unroll`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from ..models.unroll import RUNNERS

__all__ = ["plot_build_vs_length", "plot_memory_vs_length", "plot_time_vs_fraction", "plot_time_vs_length"]

STYLE = {"static": ("tab:red", "s"), "dynamic": ("tab:orange", "^"), "packed": ("tab:green", "D"), "fused": ("tab:blue", "o"),
         "checkpointed": ("tab:purple", "v")}


def _rows(rows: Sequence[Mapping[str, Any]], *keys: str) -> Sequence[Mapping[str, Any]]:
    if not rows:
        raise ValueError("rows is empty: pass the results of rnnlab.bench.unroll.sweep / checkpoint_tradeoff")
    missing = [k for k in keys if k not in rows[0]]
    if missing:
        raise ValueError(f"rows lack {missing}: pass the results of rnnlab.bench.unroll.sweep / checkpoint_tradeoff")
    return rows


def _per_runner(rows: Sequence[Mapping[str, Any]], x_key: str, y_key: str) -> tuple[Figure, Any]:
    """A figure with one line per runner: ``row[y_key][runner]`` against ``row[x_key]``, rows checked first."""
    rows = _rows(rows, x_key, y_key)
    fig, ax = plt.subplots(figsize=(6, 3.8))
    xs = [r[x_key] for r in rows]
    for name in RUNNERS:
        color, marker = STYLE[name]
        ax.plot(xs, [r[y_key][name] for r in rows], color=color, marker=marker, label=name)
    ax.grid(alpha=0.3)
    ax.legend()
    return fig, ax


def plot_time_vs_length(rows: Sequence[Mapping[str, Any]]) -> Figure:
    """Median forward+backward ms of each runner against the padded length ``T`` (a ``sweep`` over ``max_len``)."""
    fig, ax = _per_runner(rows, "max_len", "median_ms")
    ax.set(xlabel="padded length T (steps)", ylabel="forward+backward, median ms",
           title=f"Time vs length ({rows[0]['device']}, ~{rows[0]['real_fraction']:.0%} real tokens)")
    return fig


def plot_time_vs_fraction(rows: Sequence[Mapping[str, Any]]) -> Figure:
    """Median ms of each runner against the share of real tokens (a ``sweep`` over ``real_fraction``)."""
    fig, ax = _per_runner(rows, "real_fraction", "median_ms")
    ax.set(xlabel="share of real (non-padding) tokens", ylabel="forward+backward, median ms",
           title=f"Time vs padding (T = {rows[0]['max_len']}, {rows[0]['device']})")
    return fig


def plot_memory_vs_length(rows: Sequence[Mapping[str, Any]], checkpointed: Sequence[Mapping[str, Any]] = ()) -> Figure:
    """Activation memory (MB saved for backward) of each runner against ``T``; with checkpointing if given."""
    fig, ax = _per_runner(rows, "max_len", "activation_mb")
    if checkpointed:
        checkpointed = _rows(checkpointed, "max_len", "checkpointed_mb")
        color, marker = STYLE["checkpointed"]
        ax.plot([r["max_len"] for r in checkpointed], [r["checkpointed_mb"] for r in checkpointed], color=color, marker=marker,
                linestyle="--", label="fused + checkpointing")
        ax.legend()
    ax.set(xlabel="padded length T (steps)", ylabel="saved for backward, MB", title="Activation memory vs length")
    return fig


def plot_build_vs_length(build: Mapping[str, Sequence[float]]) -> Figure:
    """Build time of the static graph (and its size) against ``T``; the dynamic runners build nothing (the flat line)."""
    if not isinstance(build, Mapping) or not {"max_len", "build_s", "graph_nodes"} <= set(build) or not build["max_len"]:
        raise ValueError("build must be the result of rnnlab.bench.unroll.build_times (keys max_len, build_s, graph_nodes)")
    fig, ax = plt.subplots(figsize=(6, 3.8))
    steps = list(build["max_len"])
    ax.plot(steps, [1000 * s for s in build["build_s"]], color=STYLE["static"][0], marker="s", label="static: build the graph")
    ax.plot(steps, [0] * len(steps), color=STYLE["dynamic"][0], marker="^", label="dynamic / packed / fused: nothing to build")
    nodes = ax.twinx()
    nodes.plot(steps, build["graph_nodes"], color="gray", linestyle=":", label="graph size (right axis)")
    nodes.set_ylabel("operations in the static graph", color="gray")
    ax.set(xlabel="unrolled length T (steps)", ylabel="build time, ms", title="Static graph: build cost grows with T")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    return fig
