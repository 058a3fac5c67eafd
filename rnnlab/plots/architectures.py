"""Figures for chapter 1: the three RNN shapes, forecasts against the truth, error by horizon,
captioned images."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch

SHAPES = {
    "seq2seq (synced)": ("every step", "every step"),
    "seq2vec": ("every step", "last step"),
    "vec2seq": ("first step", "every step"),
}


def plot_shapes(steps: int = 4) -> Any:
    """Three small diagrams: where inputs enter (below) and outputs leave (above) a row of RNN
    cells."""
    fig, axes = plt.subplots(1, 3, figsize=(10, 2.4))
    for ax, (name, (inputs, outputs)) in zip(axes, SHAPES.items(), strict=True):
        for t in range(steps):
            ax.add_patch(plt.Rectangle((t - 0.3, -0.3), 0.6, 0.6, color="#4c72b0"))
            if t < steps - 1:
                ax.annotate("", (t + 0.7, 0), (t + 0.3, 0), arrowprops={"arrowstyle": "->"})
            if inputs == "every step" or t == 0:
                ax.annotate(
                    "", (t, -0.3), (t, -1.0), arrowprops={"arrowstyle": "->", "color": "#55a868"}
                )
                ax.text(
                    t, -1.25, "x" if inputs == "every step" else "v", ha="center", color="#55a868"
                )
            if outputs == "every step" or t == steps - 1:
                ax.annotate(
                    "", (t, 1.0), (t, 0.3), arrowprops={"arrowstyle": "->", "color": "#c44e52"}
                )
                ax.text(t, 1.1, "y", ha="center", color="#c44e52")
        ax.set_title(name)
        ax.set_xlim(-0.8, steps - 0.2)
        ax.set_ylim(-1.5, 1.5)
        ax.axis("off")
    fig.tight_layout()
    return fig


def plot_forecast(
    stamps: np.ndarray,
    truth: np.ndarray,
    forecasts: Mapping[str, np.ndarray],
    *,
    horizon: int,
    history: tuple[np.ndarray, np.ndarray] | None = None,
    ax: Any = None,
) -> Any:
    """Forecasts made ``horizon`` steps ahead against the truth, on the time axis of the forecast
    targets."""
    stamps, truth = np.asarray(stamps), np.asarray(truth)
    if stamps.shape != truth.shape:
        raise ValueError(
            f"stamps and truth must have the same shape, got {stamps.shape} and {truth.shape}"
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3.2))
    if history is not None:
        ax.plot(*history, color="0.7", lw=1, label="earlier months")
    ax.plot(stamps, truth, color="black", lw=1.5, label="truth")
    for name, values in forecasts.items():
        values = np.asarray(values)
        if values.shape != truth.shape:
            raise ValueError(
                f"forecasts[{name!r}] has shape {values.shape}, truth has {truth.shape}"
            )
        ax.plot(stamps, values, lw=1.1, label=name)
    ax.set_title(f"forecasts made {horizon} month{'s' if horizon > 1 else ''} ahead")
    ax.set_xlabel("year")
    ax.set_ylabel("sunspot number")
    ax.legend(fontsize=8, ncol=4)
    return ax


def plot_error_by_horizon(errors: Mapping[str, Sequence[float]], ax: Any = None) -> Any:
    """Mean absolute error against the forecast horizon, one line per model."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.2))
    for name, values in errors.items():
        ax.plot(np.arange(1, len(values) + 1), values, marker="o", ms=3, label=name)
    ax.set_xlabel("months ahead")
    ax.set_ylabel("MAE")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    return ax


def plot_captions(
    images: torch.Tensor,
    predicted: Sequence[str],
    truth: Sequence[str] | None = None,
    *,
    columns: int = 4,
) -> Any:
    """Images ``(N, 1, H, W)`` with their predicted captions (red when they differ from
    ``truth``)."""
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        raise ValueError(
            "images must be a (N, 1, H, W) tensor, got "
            f"{getattr(images, 'shape', type(images).__name__)}"
        )
    n = images.shape[0]
    if len(predicted) != n or (truth is not None and len(truth) != n):
        raise ValueError(f"predicted (and truth) must hold one caption per image ({n})")
    rows = -(-n // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 1.25 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(images[i, 0].cpu().numpy(), cmap="gray_r", vmin=0, vmax=1)
        wrong = truth is not None and predicted[i] != truth[i]
        ax.set_title(
            predicted[i] + (f"\n(truth: {truth[i]})" if wrong else ""),
            fontsize=8,
            color="#c44e52" if wrong else "black",
        )
    fig.tight_layout()
    return fig
