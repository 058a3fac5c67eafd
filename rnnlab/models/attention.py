"""Attention: let a decoder look back at every encoder output instead of one fixed-size summary.

For each decoder query ``q`` and the encoder outputs ``m_1 … m_S`` (the *memory*), a score function
rates how relevant each source position is; a softmax over the real positions turns the scores into
weights that sum to 1, and the *context* is the weighted average of the memory. Two score functions:

- additive (Bahdanau et al., 2015): ``score(q, m) = vᵀ tanh(W_q q + W_m m)``, a small MLP;
- multiplicative (Luong et al., 2015, "general"): ``score(q, m) = qᵀ W m``, one matrix product.

Padding positions get a score of −∞, hence a weight of exactly 0: what lies beyond a sentence's end
can never leak into the context. ``prepare(memory)`` does the query-independent half of the work
once per source sentence, so each decoding step only pays for the query.
"""

from __future__ import annotations

import torch
from torch import nn

from ..checks import check_choice
from .settings import RecordsSettings

__all__ = [
    "AdditiveAttention",
    "Attention",
    "MultiplicativeAttention",
    "make_attention",
    "masked_softmax",
]


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax of ``scores`` ``(B, T, S)`` over ``S`` where ``mask`` ``(B, S)`` is True; exactly 0
    elsewhere.

    Every row of ``mask`` needs a True (a source of length ≥ 1; a row without one gives NaN
    weights): masks come from lengths, and `check_lengths` refuses a length of 0 where lengths
    enter, so nothing here reads the mask back.
    """
    if mask.dtype != torch.bool or mask.shape != (scores.shape[0], scores.shape[-1]):
        raise ValueError(
            f"mask must be a bool tensor of shape (B, S) = {(scores.shape[0], scores.shape[-1])}, "
            f"got {mask.dtype} {tuple(mask.shape)}"
        )
    # mask (B, S) -> (B, 1, S), the same for every query
    return scores.masked_fill(~mask.unsqueeze(1), float("-inf")).softmax(dim=-1)


class Attention(RecordsSettings, nn.Module):
    """Shared part of both score functions: checks, masked softmax and the weighted average of the
    memory.

    Chapter 2's two attentions are its subclasses; exercise 2 writes another. A subclass gives
    ``prepare`` (keys from the memory) and ``score``:

    >>> import torch
    >>> from rnnlab.models.attention import Attention
    >>> class DotProduct(Attention):
    ...     def prepare(self, memory):
    ...         return memory
    ...     def score(self, query, keys):
    ...         return query @ keys.transpose(1, 2)
    >>> mask = torch.ones(2, 3, dtype=torch.bool)
    >>> context, weights = DotProduct()(torch.randn(2, 6), torch.randn(2, 3, 6), mask)
    >>> context.shape, weights.shape
    (torch.Size([2, 6]), torch.Size([2, 3]))
    """

    def prepare(self, memory: torch.Tensor) -> torch.Tensor:
        """Keys computed from the memory ``(B, S, M)`` once per source (query-independent)."""
        raise NotImplementedError

    def score(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """Scores ``(B, T, S)`` of queries ``(B, T, Q)`` against prepared keys."""
        raise NotImplementedError

    def forward(
        self,
        query: torch.Tensor,
        memory: torch.Tensor,
        mask: torch.Tensor,
        keys: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Context and weights for ``query`` ``(B, Q)`` or ``(B, T, Q)`` over ``memory``
        ``(B, S, M)``.

        Returns ``(context, weights)``: ``(B, M)`` and ``(B, S)`` for a 2-D query, ``(B, T, M)`` and
        ``(B, T, S)`` for a 3-D one. ``keys`` (from `prepare`) may be passed to skip recomputing
        them.
        """
        if not isinstance(query, torch.Tensor) or query.dim() not in (2, 3):
            raise ValueError(
                "query must be (B, Q) or (B, T, Q), got "
                f"{getattr(query, 'shape', type(query).__name__)}"
            )
        if (
            not isinstance(memory, torch.Tensor)
            or memory.dim() != 3
            or memory.shape[0] != query.shape[0]
        ):
            raise ValueError(
                f"memory must be (B, S, M) with B = {query.shape[0]}, got "
                f"{tuple(getattr(memory, 'shape', ()))}"
            )
        single = query.dim() == 2
        queries = query.unsqueeze(1) if single else query  # (B, Q) -> (B, 1, Q)
        weights = masked_softmax(
            self.score(queries, self.prepare(memory) if keys is None else keys), mask
        )
        context = weights @ memory
        return (context.squeeze(1), weights.squeeze(1)) if single else (context, weights)


class AdditiveAttention(Attention):
    """Bahdanau's score ``vᵀ tanh(W_q q + W_m m)``.

    Chapter 2 (``attention="additive"``) and exercises 2 and 8 use it.

    >>> import torch
    >>> from rnnlab.models.attention import AdditiveAttention
    >>> attention = AdditiveAttention(query_size=4, memory_size=6)
    >>> mask = torch.tensor([[True, True, True], [True, False, False]])  # source lengths 3 and 1
    >>> context, weights = attention(torch.randn(2, 4), torch.randn(2, 3, 6), mask)
    >>> context.shape, weights[1].tolist()  # padding gets exactly 0
    (torch.Size([2, 6]), [1.0, 0.0, 0.0])
    """

    def __init__(self, query_size: int, memory_size: int, attention_size: int | None = None):
        super().__init__()
        attention_size = attention_size or query_size
        self.key = nn.Linear(memory_size, attention_size, bias=False)
        self.query = nn.Linear(query_size, attention_size)
        self.v = nn.Linear(attention_size, 1, bias=False)

    def prepare(self, memory: torch.Tensor) -> torch.Tensor:
        return self.key(memory)

    def score(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        # (B, T, 1, A) + (B, 1, S, A) -> (B, T, S, A) -> v -> (B, T, S)
        return self.v(torch.tanh(self.query(query).unsqueeze(2) + keys.unsqueeze(1))).squeeze(-1)


class MultiplicativeAttention(Attention):
    """Luong's "general" score ``qᵀ W m``.

    Chapter 2's `Seq2Seq.build` default (``attention="multiplicative"``).

    >>> import torch
    >>> from rnnlab.models.attention import MultiplicativeAttention
    >>> attention = MultiplicativeAttention(query_size=4, memory_size=6)
    >>> mask = torch.tensor([[True, True, True], [True, False, False]])
    >>> context, weights = attention(torch.randn(2, 5, 4), torch.randn(2, 3, 6), mask)
    >>> context.shape, weights.sum(-1).allclose(torch.ones(2, 5))
    (torch.Size([2, 5, 6]), True)
    """

    def __init__(self, query_size: int, memory_size: int):
        super().__init__()
        self.key = nn.Linear(memory_size, query_size, bias=False)

    def prepare(self, memory: torch.Tensor) -> torch.Tensor:
        return self.key(memory)

    def score(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        return query @ keys.transpose(1, 2)  # (B, T, Q) @ (B, Q, S) -> (B, T, S)


def make_attention(kind: str, query_size: int, memory_size: int) -> Attention:
    """``"additive"`` (Bahdanau) or ``"multiplicative"`` (Luong) attention."""
    kinds = {"additive": AdditiveAttention, "multiplicative": MultiplicativeAttention}
    return kinds[check_choice("attention", kind, kinds)](query_size, memory_size)
