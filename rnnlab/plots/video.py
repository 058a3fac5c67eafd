"""Figures for chapter 3: a clip as a strip of frames, a confusion matrix, learning curves side by
side."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix

from ..history import History


def plot_frames(
    clips: torch.Tensor,
    lengths: Any = None,
    *,
    titles: Sequence[Sequence[str]] | None = None,
    row_labels: Sequence[str] | None = None,
    scale: float = 1.0,
) -> Any:
    """One row per clip of ``clips (N, T, H, W)``, one panel per real frame; ``titles[i][t]`` above
    frame t of clip i."""
    if not isinstance(clips, torch.Tensor) or clips.dim() != 4:
        raise ValueError(
            "clips must be a (N, T, H, W) tensor, got "
            f"{getattr(clips, 'shape', type(clips).__name__)}"
        )
    n, frames = clips.shape[:2]
    lengths = [frames] * n if lengths is None else [int(v) for v in lengths]
    if (
        len(lengths) != n
        or (titles is not None and len(titles) != n)
        or (row_labels is not None and len(row_labels) != n)
    ):
        raise ValueError(f"lengths, titles and row_labels must each have one entry per clip ({n})")
    fig, axes = plt.subplots(
        n, frames, figsize=(scale * 1.1 * frames, scale * 1.25 * n), squeeze=False
    )
    for i in range(n):
        for t, ax in enumerate(axes[i]):
            ax.set_xticks([])
            ax.set_yticks([])
            if t < lengths[i]:
                ax.imshow(clips[i, t].cpu().numpy(), cmap="gray_r", vmin=0, vmax=1)
                if titles is not None:
                    ax.set_title(titles[i][t], fontsize=7)
            else:
                ax.axis("off")
        if row_labels is not None:
            axes[i, 0].set_ylabel(row_labels[i], rotation=0, ha="right", va="center", fontsize=9)
    fig.tight_layout()
    return fig


def plot_confusion(
    truth: Any, predicted: Any, class_names: Sequence[str], *, title: str = "", ax: Any = None
) -> Any:
    """Row-normalised confusion matrix (rows: true class, columns: predicted) via scikit-learn."""
    truth, predicted = np.asarray(truth), np.asarray(predicted)
    if truth.shape != predicted.shape or truth.ndim != 1:
        raise ValueError(
            f"truth and predicted must be 1-D and of equal length, got {truth.shape} and "
            f"{predicted.shape}"
        )
    matrix = confusion_matrix(truth, predicted, labels=range(len(class_names)), normalize="true")
    if ax is None:
        _, ax = plt.subplots(figsize=(0.55 * len(class_names) + 2, 0.5 * len(class_names) + 1.5))
    ConfusionMatrixDisplay(matrix, display_labels=list(class_names)).plot(
        ax=ax, cmap="Blues", colorbar=False, values_format=".2f", xticks_rotation=60
    )
    for text in ax.texts:
        text.set_fontsize(7)
    ax.set_title(title)
    return ax


def plot_learning_curves(
    histories: Mapping[str, History],
    metric: str = "val_acc",
    *,
    ax: Any = None,
    target: float | None = None,
) -> Any:
    """``metric`` against epochs for several runs (one line each), with an optional dashed target
    line."""
    if not histories:
        raise ValueError("histories is empty: pass {'name': History, ...}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.2))
    for name, history in histories.items():
        if not isinstance(history, History):
            raise TypeError(f"histories[{name!r}] must be a History, got {type(history).__name__}")
        ax.plot(range(1, len(history[metric]) + 1), history[metric], marker="o", ms=3, label=name)
    if target is not None:
        ax.axhline(target, color="grey", ls="--", lw=1, label=f"target {target:g}")
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.legend(fontsize=8)
    return ax
