"""Figures for chapter 5: what padding looks like and costs, and how free-running accuracy
decays."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import torch
from matplotlib.colors import ListedColormap

from ..checks import check_positive
from ..samplers import padding_waste
from ..sequences import check_lengths, lengths_to_mask

__all__ = ["plot_batches", "plot_exposure_bias", "plot_padding_bench"]

_CELLS = ListedColormap(["#f6b26b", "#3d78c9"])  # padding, real token


def plot_batches(
    lengths: Any,
    batches: Mapping[str, Sequence[Sequence[int]]],
    *,
    examples: int = 4,
    seed: int = 0,
) -> Any:
    """A row per batching strategy, showing ``examples`` of its batches picked at random.

    Each batch is drawn as its padded ``(B, T)`` grid at a common scale: blue cells are real tokens,
    orange cells padding, so the orange area is the compute thrown away.
    """
    lengths = check_lengths(lengths).cpu()
    if not batches:
        raise ValueError("batches is empty: pass {strategy name: list of index batches}")
    check_positive(examples=examples)
    longest = int(lengths.max())
    widest = max(len(b) for v in batches.values() for b in v)
    fig, axes = plt.subplots(
        len(batches), examples, figsize=(2.2 * examples, 1.9 * len(batches)), squeeze=False
    )
    g = torch.Generator().manual_seed(seed)
    for row, (name, strategy) in enumerate(batches.items()):
        picks = torch.randperm(len(strategy), generator=g)[:examples].tolist()
        for col in range(examples):
            ax = axes[row][col]
            ax.set_xticks([])
            ax.set_yticks([])
            if col >= len(picks):
                ax.axis("off")
                continue
            batch = list(strategy[picks[col]])
            mask = lengths_to_mask(lengths[batch]).float().numpy()
            ax.imshow(
                mask,
                cmap=_CELLS,
                vmin=0,
                vmax=1,
                aspect="auto",
                interpolation="nearest",
                extent=(0, mask.shape[1], len(batch), 0),
            )
            ax.set_xlim(0, longest)
            ax.set_ylim(widest, 0)
            ax.set_title(f"B={len(batch)}, T={mask.shape[1]}", fontsize=8)
        axes[row][0].set_ylabel(
            f"{name}\n{padding_waste(lengths, strategy):.0%} padding", fontsize=9
        )
    fig.suptitle("example batches at one scale (blue: real tokens, orange: padding)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_padding_bench(result: Mapping[str, Any]) -> Any:
    """Bars of padding waste and of real tokens/second per strategy, from
    `rnnlab.bench.padding.measure`."""
    names = list(result["tokens_per_s"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3))
    waste = [result["waste"].get(n, 0.0) for n in names]
    left.bar(names, waste, color="#bbb")
    for i, name in enumerate(names):
        left.text(
            i,
            waste[i],
            f"{waste[i]:.0%}" if name in result["waste"] else "skipped\nby RNN",
            ha="center",
            va="bottom",
            fontsize=8,
        )
    left.set_ylabel("padded share of positions")
    left.set_ylim(0, 1)
    speed = [result["tokens_per_s"][n] for n in names]
    right.bar(names, speed, color="#4a7bd0")
    for i, name in enumerate(names):
        right.text(
            i,
            speed[i],
            f"{result['speedup_vs_naive'][name]:.1f}×",
            ha="center",
            va="bottom",
            fontsize=8,
        )
    right.set_ylabel("real tokens / second (training)")
    for ax in (left, right):
        ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    return fig


def plot_exposure_bias(reports: Mapping[str, Mapping[str, Any]]) -> Any:
    """Accuracy by output position, with true prefixes (dashed) and running free (solid), per model.

    ``reports`` maps a model's name to its `rnnlab.models.scheduled_sampling.exposure_bias` result.
    """
    if not reports:
        raise ValueError("reports is empty: pass {model name: exposure_bias(...) result}")
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    for i, (name, report) in enumerate(reports.items()):
        forced, free = zip(*report["by_position"], strict=True)
        positions = range(1, len(forced) + 1)
        color = f"C{i}"
        ax.plot(positions, forced, ls="--", color=color, label=f"{name}: true prefixes")
        ax.plot(
            positions, free, ls="-", marker="o", ms=3, color=color, label=f"{name}: running free"
        )
    ax.set_xlabel("output position (word)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
