"""`eval_mode`: a model switched to evaluation for a block of inference, and put back as it was
after.

Dropout and batch norm behave differently in training and evaluation, so inference must run in eval
mode; but a helper that calls ``model.eval()`` and returns leaves the caller's model in eval mode,
and the next training epoch silently trains without dropout. ``with eval_mode(model):`` restores
every submodule's own mode on the way out (even if the block raises), so a frozen submodule kept in
eval inside a training model stays so.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from torch import nn

__all__ = ["eval_mode"]

M = TypeVar("M", bound=nn.Module)


@contextmanager
def eval_mode(model: M) -> Iterator[M]:
    """Put ``model`` (every submodule) in eval mode inside the block; restore each one's previous
    mode after."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"eval_mode needs an nn.Module, got {type(model).__name__}")
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training
