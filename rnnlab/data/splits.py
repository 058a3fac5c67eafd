"""Deterministic train/validation/test splits from a seed."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..checks import check_int


def split_indices(
    n: int, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0
) -> list[np.ndarray]:
    """Shuffle ``range(n)`` with ``seed`` and cut it into parts of the given ``fractions`` (which
    sum to 1).

    The same ``n``, ``fractions`` and ``seed`` always give the same parts; every index lands in
    exactly one.
    """
    n = check_int("n", n, minimum=1)
    fractions = [float(f) for f in fractions]
    if not fractions or any(f < 0 or math.isnan(f) for f in fractions):
        raise ValueError(f"fractions must be non-negative numbers, got {fractions}")
    if not math.isclose(sum(fractions), 1.0, abs_tol=1e-6):
        raise ValueError(f"fractions must sum to 1, got {fractions} (sum {sum(fractions):.6g})")
    order = np.random.default_rng(seed).permutation(n)
    cuts = np.round(np.cumsum(fractions)[:-1] * n).astype(int)
    return np.split(order, cuts)


def split_items(
    items: Sequence, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0
) -> list[list]:
    """`split_indices` applied to a sequence: returns one list of items per fraction."""
    return [[items[i] for i in part] for part in split_indices(len(items), fractions, seed)]
