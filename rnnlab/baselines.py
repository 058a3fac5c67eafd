"""Baselines without recurrence, so each chapter-1 model is judged against something simple.

- text: TF-IDF of words and character n-grams + logistic regression (order of words ignored);
- series: persistence (tomorrow = today) and a linear autoregressive model on the same window.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline, make_union

from .checks import check_positive


def tfidf_logreg(texts: Sequence[str], labels: Sequence[int], *, C: float = 4.0):
    """Fit a bag-of-words classifier: TF-IDF of word 1–2-grams and char 2–5-grams → logistic
    regression.

    Returns the fitted scikit-learn pipeline (``predict`` / ``predict_proba`` on lists of strings).
    """
    texts, labels = list(texts), np.asarray(labels)
    if not texts or len(texts) != len(labels):
        raise ValueError(
            f"texts and labels must be non-empty and the same length, got {len(texts)} and "
            f"{len(labels)}"
        )
    features = make_union(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
    )
    return make_pipeline(features, LogisticRegression(C=C, max_iter=2000)).fit(texts, labels)


def _check_windows(windows: np.ndarray, name: str = "windows") -> np.ndarray:
    windows = np.asarray(windows, dtype=np.float64)
    if windows.ndim != 2 or windows.shape[0] == 0 or windows.shape[1] == 0:
        raise ValueError(
            f"{name} must be a non-empty 2-D array (N, window), got shape {windows.shape}"
        )
    return windows


def persistence_forecast(windows: np.ndarray, horizon: int) -> np.ndarray:
    """The naive forecast: every future value equals the last one seen.
    ``(N, window) -> (N, horizon)``."""
    windows = _check_windows(windows)
    check_positive(horizon=horizon)
    return np.repeat(windows[:, -1:], horizon, axis=1)


class LinearAR:
    """Linear autoregression: each of the next k values is a (ridge-regularised) linear function of
    the last p values."""

    def __init__(self, order: int = 24, alpha: float = 1.0):
        check_positive(order=order)
        self.order = order
        self.model = Ridge(alpha=alpha)

    def fit(self, windows: np.ndarray, targets: np.ndarray) -> LinearAR:
        """Fit on windows ``(N, window ≥ order)`` and their next values ``(N, k)``."""
        windows, targets = _check_windows(windows), _check_windows(targets, "targets")
        if windows.shape[1] < self.order:
            raise ValueError(
                f"windows hold {windows.shape[1]} steps, fewer than order={self.order}"
            )
        if len(windows) != len(targets):
            raise ValueError(f"windows has {len(windows)} rows but targets has {len(targets)}")
        self.model.fit(windows[:, -self.order :], targets)
        return self

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """Forecasts ``(N, k)`` for windows ``(N, window ≥ order)``."""
        windows = _check_windows(windows)
        if windows.shape[1] < self.order:
            raise ValueError(
                f"windows hold {windows.shape[1]} steps, fewer than order={self.order}"
            )
        return self.model.predict(windows[:, -self.order :])
