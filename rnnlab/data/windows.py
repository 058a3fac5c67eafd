"""Cutting a series into model inputs and the values that follow them (the data side of
forecasting)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..checks import check_positive

__all__ = ["sliding_windows"]


def sliding_windows(
    series: Any, window: int, horizon: int, *, every_step: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Cut a 1-D series into inputs ``(N, window)`` and the ``horizon`` values that follow each.

    Targets are ``(N, horizon)``: ``series[i + window + j]`` for j < horizon. With
    ``every_step=True`` they are ``(N, window, horizon)``: for every step t of window i, the
    ``horizon`` values after t (what a seq2seq forecaster learns from). N = len(series) - window -
    horizon + 1.
    """
    series = np.asarray(series, dtype=np.float32)
    check_positive(window=window, horizon=horizon)
    if series.ndim != 1:
        raise ValueError(f"series must be 1-D, got shape {series.shape}")
    count = len(series) - window - horizon + 1
    if count < 1:
        raise ValueError(
            f"series has {len(series)} values, too few for window={window} plus horizon={horizon}"
        )
    span = np.lib.stride_tricks.sliding_window_view(series, window + horizon)[:count]
    inputs = span[:, :window].copy()
    if not every_step:
        return inputs, span[:, window:].copy()
    # (N, window, horizon)
    ahead = np.lib.stride_tricks.sliding_window_view(span[:, 1:], horizon, axis=1)
    return inputs, ahead.copy()
