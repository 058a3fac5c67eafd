"""The shipped 8×8 handwritten digits (UCI, via scikit-learn's bundled copy): the raw material for
the captioning images of chapter 1 and the digit videos of chapter 3."""

from __future__ import annotations

import gzip
from functools import cache

import numpy as np

from .shipped import shipped_path
from .splits import split_indices


@cache
def _load() -> tuple[np.ndarray, np.ndarray]:
    with gzip.open(shipped_path("digits/digits.csv.gz"), "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.float32)
    images = (table[:, :64] / 16.0).reshape(-1, 8, 8)  # (N, 64) -> (N, 8, 8)
    labels = table[:, 64].astype(np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 digits: images ``(N, 8, 8)`` float32 in [0, 1] and labels ``(N,)`` int64 in 0–9
    (read-only)."""
    return _load()


def digit_split(
    seed: int = 0, fractions: tuple[float, ...] = (0.7, 0.15, 0.15)
) -> list[np.ndarray]:
    """Indices of the digit images for train / validation / test, so held-out examples use unseen
    handwriting."""
    return split_indices(len(_load()[1]), fractions, seed)
