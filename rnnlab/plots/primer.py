"""Figures for chapter 0: gradients by time step, learning curves against a baseline, an LSTM's
gates over one sequence, and a training run with and without gradient clipping."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np


def _curves(curves: Mapping[str, Any], what: str) -> dict[str, np.ndarray]:
    if not isinstance(curves, Mapping) or not curves:
        raise ValueError(f"{what} must be a non-empty dict of name → values")
    out = {}
    for name, values in curves.items():
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 1 or len(values) == 0:
            raise ValueError(
                f"{what}[{name!r}] must be a non-empty 1-D sequence, got {values.shape}"
            )
        out[name] = values
    return out


def plot_gradient_by_step(
    panels: Mapping[str, Mapping[str, Any]], *, ylabel: str = "‖∂L/∂x_t‖"
) -> Any:
    """One panel per entry of ``panels`` (title → {model name → gradient norm at each step t}),
    on a log scale: how much of the loss at the last step reaches each earlier input."""
    if not isinstance(panels, Mapping) or not panels:
        raise ValueError("panels must be a non-empty dict of title → {name: norms}")
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.2), squeeze=False)
    for ax, (title, curves) in zip(axes[0], panels.items(), strict=True):
        for name, norms in _curves(curves, f"panels[{title!r}]").items():
            steps = np.arange(1, len(norms) + 1)
            ax.semilogy(steps, np.maximum(norms, np.finfo(np.float64).tiny), label=name)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("input step t (the loss is read at the last step)")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_learning_curves(
    curves: Mapping[str, Any], *, baseline: float, baseline_label: str, ylabel: str = "MSE"
) -> Any:
    """Held-out loss after each epoch for each model, beside a horizontal ``baseline``."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for name, values in _curves(curves, "curves").items():
        ax.plot(np.arange(1, len(values) + 1), values, marker="o", ms=3, label=name)
    ax.axhline(baseline, color="grey", ls="--", label=baseline_label)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_gates(values: Any, marks: Sequence[int], gates: Mapping[str, Any], *, top: int = 4) -> Any:
    """An input sequence (values, with its marked steps as red lines) above one row per gate.

    ``gates`` maps a gate's name to its activations ``(T, H)`` over the sequence; each row shows the
    mean over all units (black) and the ``top`` units whose gate moves most at the marks.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"values must be 1-D (one per step), got shape {values.shape}")
    if not isinstance(gates, Mapping) or not gates:
        raise ValueError("gates must be a non-empty dict of name → (T, H) activations")
    marks = [int(m) for m in marks]
    if any(not 0 <= m < len(values) for m in marks):
        raise ValueError(f"marks must be steps in [0, {len(values)}), got {marks}")
    fig, axes = plt.subplots(1 + len(gates), 1, figsize=(7, 1.6 + 1.6 * len(gates)), sharex=True)
    steps = np.arange(len(values))
    axes[0].bar(steps, values, color="#bbbbbb", width=0.8)
    axes[0].set_ylabel("value")
    for ax, (name, acts) in zip(axes[1:], gates.items(), strict=True):
        acts = np.asarray(acts, dtype=np.float64)
        if acts.ndim != 2 or acts.shape[0] != len(values):
            raise ValueError(
                f"gates[{name!r}] must be (T, H) with T = {len(values)}, got {acts.shape}"
            )
        moved = np.abs(acts[marks].mean(axis=0) - acts.mean(axis=0))
        for unit in np.argsort(moved)[::-1][:top]:
            ax.plot(steps, acts[:, unit], lw=0.9, alpha=0.7)
        ax.plot(steps, acts.mean(axis=1), color="black", lw=1.6, label="mean of all units")
        ax.set_ylim(-0.05, 1.05)
        ax.set_ylabel(name)
        ax.legend(fontsize=7, loc="lower right")
    for ax in axes:
        for m in marks:
            ax.axvline(m, color="#c44e52", lw=1, ls=":")
    axes[-1].set_xlabel("step (red dotted lines: the two marked steps)")
    fig.tight_layout()
    return fig


def plot_clipping(losses: Mapping[str, Any], norms: Mapping[str, Any]) -> Any:
    """Training loss and gradient norm (before clipping) at every update, one line per run."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.2))
    for name, values in _curves(losses, "losses").items():
        shown = np.where(np.isfinite(values), values, np.nan)
        left.semilogy(np.arange(1, len(values) + 1), shown, label=name)
        if not np.isfinite(values).all():
            first = int(np.argmin(np.isfinite(values)))
            left.axvline(
                first + 1, color="#c44e52", ls=":", label=f"{name}: not a number from here"
            )
    for name, values in _curves(norms, "norms").items():
        shown = np.where(np.isfinite(values), values, np.nan)
        right.semilogy(np.arange(1, len(values) + 1), shown, label=name)
    left.set_xlabel("update")
    left.set_ylabel("training loss (MSE)")
    right.set_xlabel("update")
    right.set_ylabel("gradient norm before clipping")
    left.legend(fontsize=8)
    right.legend(fontsize=8)
    fig.tight_layout()
    return fig
