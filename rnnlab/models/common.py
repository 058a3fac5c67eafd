"""Checks and helpers shared by the sequence models: token tensors, positive sizes, eval mode."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["check_tokens", "eval_mode", "positive_int"]


def check_tokens(name: str, tokens: Any, vocab_size: int, dims: int = 2) -> torch.Tensor:
    """``tokens`` if it is a non-empty int64 tensor of ``dims`` dims with ids in ``[0, vocab_size)``; else a clear error."""
    if not isinstance(tokens, torch.Tensor) or tokens.dtype != torch.int64:
        raise TypeError(f"{name} must be an int64 tensor of token ids, got {getattr(tokens, 'dtype', type(tokens).__name__)}")
    if tokens.dim() != dims or tokens.numel() == 0:
        raise ValueError(f"{name} must be a non-empty {dims}-D tensor, got shape {tuple(tokens.shape)}")
    if int(tokens.min()) < 0 or int(tokens.max()) >= vocab_size:
        raise ValueError(f"{name} holds ids outside the vocabulary [0, {vocab_size})")
    return tokens


def positive_int(name: str, value: Any) -> int:
    """``value`` if it is an int ≥ 1: ``TypeError`` for another type, ``ValueError`` for a smaller int."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be ≥ 1, got {value}")
    return value


class eval_mode:
    """Context manager: the module in eval mode inside, its previous mode restored after."""

    def __init__(self, module: nn.Module):
        self.module, self.was_training = module, module.training

    def __enter__(self) -> None:
        self.module.eval()

    def __exit__(self, *exc: Any) -> None:
        self.module.train(self.was_training)
