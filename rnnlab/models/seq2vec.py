"""Sequence → vector: read a whole token sequence, answer with one vector of class scores.

Embedding → GRU/LSTM (over the real steps only, `rnnlab.sequences.run_rnn`: padding never reaches
a real step's output) → a pooled summary of the outputs over real steps only → a linear layer.
Sentiment, topic labels and "what happens in this clip" are all this shape. Padding never changes
the answer: the RNN's real outputs ignore it and every pooling reads real steps only (see
`rnnlab.sequences`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..checks import (
    check_bool,
    check_choice,
    check_int,
    check_positive,
    check_probability,
    check_tokens,
)
from ..modes import eval_mode
from ..sequences import check_lengths, last_real_state, masked_max, masked_mean, run_rnn
from .cells import recurrent_layer
from .settings import RecordsSettings

POOLINGS = ("last", "mean", "max", "mean+max")


class SequenceClassifier(RecordsSettings, nn.Module):
    """Embedding → (bi)GRU/LSTM → masked pooling → class logits.

    ``pooling``: ``"last"`` (the state after the last real token; for a bidirectional RNN the
    backward half is read at step 0, where that direction ends), ``"mean"``, ``"max"`` or
    ``"mean+max"`` over real steps. ``word_dropout`` zeroes whole word embeddings while training
    (the model learns not to lean on any single word); ``dropout`` acts on embeddings and on the
    pooled vector. ``mask_padding=False`` reproduces a classic bug for chapter 5 to measure: the RNN
    reads the padding as if it were input and the pooling counts padded steps (``"last"`` reads the
    final padded step), so a prediction depends on how long the other sequences in its batch are.

    Chapter 1 (sentiment) and chapter 5 (variable-length batches) use it.

    >>> import torch
    >>> from rnnlab.models.seq2vec import SequenceClassifier
    >>> model = SequenceClassifier(vocab_size=20, num_classes=2, hidden_size=8)
    >>> tokens = torch.randint(1, 20, (3, 7))  # 3 sentences of up to 7 token ids
    >>> model(tokens, lengths=[7, 4, 2]).shape  # one score per class
    torch.Size([3, 2])
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        *,
        embed_dim: int = 64,
        hidden_size: int = 64,
        cell: str = "gru",
        num_layers: int = 1,
        bidirectional: bool = False,
        pooling: str = "last",
        dropout: float = 0.0,
        word_dropout: float = 0.0,
        padding_idx: int | None = 0,
        mask_padding: bool = True,
    ):
        super().__init__()
        check_positive(
            vocab_size=vocab_size,
            num_classes=num_classes,
            embed_dim=embed_dim,
            hidden_size=hidden_size,
            num_layers=num_layers,
        )
        check_choice("pooling", pooling, POOLINGS)
        check_probability(dropout=dropout, word_dropout=word_dropout)
        check_int("padding_idx", padding_idx, minimum=0, maximum=vocab_size - 1, optional=True)
        check_bool("bidirectional", bidirectional)
        self.mask_padding = check_bool("mask_padding", mask_padding)
        self.vocab_size = vocab_size
        self.pooling = pooling
        self.word_dropout = word_dropout
        self.hidden_size = hidden_size
        self.directions = 2 if bidirectional else 1
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=padding_idx)
        self.rnn = recurrent_layer(
            cell,
            embed_dim,
            hidden_size,
            num_layers=num_layers,
            bidirectional=bidirectional,
            dropout=dropout,
        )
        self.dropout = nn.Dropout(dropout)
        width = hidden_size * self.directions * (2 if pooling == "mean+max" else 1)
        self.head = nn.Linear(width, num_classes)

    def encode(self, tokens: torch.Tensor, lengths: Any) -> torch.Tensor:
        """The pooled sequence vector ``(B, D)`` that the classifier head reads."""
        tokens = check_tokens("tokens", tokens, self.vocab_size)
        lengths = check_lengths(lengths, batch_size=tokens.shape[0], max_len=tokens.shape[1])
        x = self.embed(tokens)
        if self.training and self.word_dropout > 0:
            keep = torch.rand(tokens.shape, device=x.device) >= self.word_dropout
            x = x * keep.unsqueeze(-1)  # (B, T, 1): a dropped word loses its whole embedding
        if not self.mask_padding:  # the bug: padding is read and pooled as if it were real
            outputs, _ = self.rnn(self.dropout(x))
            return self.pool(outputs, torch.full_like(lengths, tokens.shape[1]))
        outputs, _ = run_rnn(self.rnn, self.dropout(x), lengths)
        return self.pool(outputs, lengths)

    def pool(self, outputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Summarise per-step outputs ``(B, T, dirs*H)`` over real steps."""
        if self.pooling == "last":
            last = last_real_state(outputs, lengths)
            if self.directions == 1:
                return last
            return torch.cat(
                [last[:, : self.hidden_size], outputs[:, 0, self.hidden_size :]], dim=1
            )
        if self.pooling == "mean":
            return masked_mean(outputs, lengths)
        if self.pooling == "max":
            return masked_max(outputs, lengths)
        return torch.cat([masked_mean(outputs, lengths), masked_max(outputs, lengths)], dim=1)

    def forward(self, tokens: torch.Tensor, lengths: Any) -> torch.Tensor:
        """Class logits ``(B, num_classes)`` for token ids ``(B, T)`` with true ``lengths``
        ``(B,)``."""
        return self.head(self.dropout(self.encode(tokens, lengths)))

    @torch.no_grad()
    def predict_proba(self, tokens: torch.Tensor, lengths: Any) -> torch.Tensor:
        """Class probabilities ``(B, num_classes)`` in eval mode (dropout off); the model's mode is
        restored."""
        with eval_mode(self):
            tokens = check_tokens("tokens", tokens, self.vocab_size).to(self.head.weight.device)
            return torch.softmax(self(tokens, lengths), dim=-1)


@torch.no_grad()
def predict_loader(model: nn.Module, loader: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Class probabilities ``(N, C)`` and labels ``(N,)`` over a loader of
    ``(tokens, lengths, labels)`` batches.

    The model runs in eval mode (dropout off) and is put back in its previous mode after.
    """
    device = next(model.parameters()).device
    probs, labels = [], []
    with eval_mode(model):
        for tokens, lengths, target in loader:
            probs.append(torch.softmax(model(tokens.to(device), lengths), dim=-1).cpu())
            labels.append(target)
    if not probs:
        raise ValueError("loader is empty: nothing to predict")
    return torch.cat(probs), torch.cat(labels)
