"""Figures for chapter 2: accuracy against input length and format, and attention heat maps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ..checks import check_positive
from ..translate import accuracy_by

__all__ = ["plot_accuracy_by_length", "plot_attention"]


def _check_results(keys: Sequence[Any], correct: Mapping[str, Sequence[bool]]) -> None:
    if not correct:
        raise ValueError("correct is empty: pass {model name: [True/False per example]}")
    for name, values in correct.items():
        if len(values) != len(keys):
            raise ValueError(
                f"correct[{name!r}] has {len(values)} entries but there are {len(keys)} examples"
            )


def plot_accuracy_by_length(
    lengths: Sequence[int], correct: Mapping[str, Sequence[bool]], *, bin_width: int = 4
) -> Figure:
    """Exact-match accuracy of each model against input length (binned by ``bin_width``), with
    example counts."""
    _check_results(lengths, correct)
    check_positive(bin_width=bin_width)
    bins = [int(n) // bin_width * bin_width for n in lengths]
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for name, values in correct.items():
        table = accuracy_by(bins, values)
        ax.plot(
            [b + (bin_width - 1) / 2 for b in table],
            [acc for acc, _ in table.values()],
            marker="o",
            label=name,
        )
    counts = accuracy_by(bins, next(iter(correct.values())))
    for b, (_, n) in counts.items():
        ax.annotate(
            f"n={n}", (b + (bin_width - 1) / 2, 0.02), ha="center", fontsize=7, color="gray"
        )
    ax.set(
        xlabel="input length (tokens)",
        ylabel="exact match",
        ylim=(0, 1.05),
        title="Accuracy against input length",
    )
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def plot_attention(
    source: Sequence[str],
    output: Sequence[str],
    weights: Any,
    *,
    ax: Any = None,
    title: str | None = None,
) -> Figure:
    """Heat map of attention ``weights`` ``(len(output), len(source))``: row t shows where output
    token t looked."""
    weights = np.asarray(weights)
    if weights.shape != (len(output), len(source)):
        raise ValueError(
            f"weights has shape {weights.shape}, expected (len(output), len(source)) = "
            f"{(len(output), len(source))}"
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(0.32 * len(source) + 1.8, 0.3 * len(output) + 1.4))
    image = ax.imshow(weights, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(
        range(len(source)),
        [repr(s)[1:-1] if s == " " else s for s in source],
        rotation=90,
        fontsize=8,
    )
    ax.set_yticks(range(len(output)), list(output), fontsize=8)
    ax.set(xlabel="source", ylabel="output", title=title or "Attention")
    ax.figure.colorbar(image, ax=ax, fraction=0.04)
    return ax.figure
