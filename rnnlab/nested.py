"""Nested containers of tensors: one walk shared by batches (moved to a device) and decoder states
(reordered).

A training batch or a decoder's state is often a tensor or a tuple/list/dict (or named tuple) of
them, nested. `map_tensors` rebuilds such a structure with a function applied to every tensor in it,
so code that moves batches or reorders beams need not know the layout.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

__all__ = ["map_tensors"]


def _keep(leaf: Any) -> Any:
    return leaf


def map_tensors(
    obj: Any, fn: Callable[[torch.Tensor], torch.Tensor], *, other: Callable[[Any], Any] = _keep
) -> Any:
    """``obj`` with ``fn`` applied to every tensor and ``other`` to every other leaf (kept as is by
    default).

    Tuples, lists, dicts and named tuples are rebuilt with the same type and keys; pass an ``other``
    that raises to insist that a structure holds only tensors.
    """
    if isinstance(obj, torch.Tensor):
        return fn(obj)
    if isinstance(obj, Mapping):
        return {key: map_tensors(value, fn, other=other) for key, value in obj.items()}
    if isinstance(obj, (tuple, list)):
        items = [map_tensors(value, fn, other=other) for value in obj]
        return type(obj)(*items) if hasattr(obj, "_fields") else type(obj)(items)
    return other(obj)
