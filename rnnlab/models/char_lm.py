"""A character-level language model: reads text one character at a time and predicts the next.

`CharLanguageModel` is an embedding, a GRU (or LSTM, or plain RNN) and a linear head over the
characters. It trains on `text_chunks`: the sentences joined into one stream (each framed by
``<bos>`` … ``<eos>``) cut into equal pieces, the target of each character being the one after it.
`sample_text` writes new text by feeding the model its own output, one character at a time, drawn
from ``softmax(logits / temperature)`` by `rnnlab.models.decoding.sample_decode`; a prompt is read
first and the text goes on from its last character. `real_word_share` measures how much of what it
wrote are words it has seen.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_int, check_positive, check_probability, check_str, check_tokens
from ..data.vocab import BOS, EOS, PAD, UNK, Vocab, check_writer_vocab
from ..modes import eval_mode
from .cells import recurrent_layer
from .decoding import map_state, sample_decode
from .settings import RecordsSettings

__all__ = [
    "CharLanguageModel",
    "char_vocab",
    "real_word_share",
    "sample_text",
    "text_chunks",
    "words",
]

_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")  # letters, with inner apostrophes ("don't")


def _check_texts(texts: Any) -> list[str]:
    if isinstance(texts, str) or not isinstance(texts, Iterable):
        raise TypeError(f"texts must be a list of strings, got {type(texts).__name__}")
    texts = [check_str(f"texts[{i}]", t) for i, t in enumerate(texts)]
    if not any(texts):
        raise ValueError("texts holds no character: nothing to learn from")
    return texts


def char_vocab(texts: Sequence[str]) -> Vocab:
    """The characters of ``texts`` (sorted), after the special tokens (``<pad>`` … ``<eos>``)."""
    return Vocab(sorted(set("".join(_check_texts(texts)))))


def text_chunks(
    texts: Sequence[str], vocab: Vocab, length: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(inputs, targets)``, each ``(N, length)`` int64: the stream ``<bos> text <eos> <bos> …``
    cut into ``N`` pieces, ``targets`` being ``inputs`` shifted one character on.

    The stream's tail that does not fill a whole piece is dropped.
    """
    texts = _check_texts(texts)
    check_int("length", length, minimum=1)
    if not isinstance(vocab, Vocab):
        raise TypeError(f"vocab must be an rnnlab Vocab, got {type(vocab).__name__}")
    stream = torch.cat([vocab.encode(list(t), bos=True, eos=True) for t in texts])
    count = (len(stream) - 1) // length
    if count == 0:
        raise ValueError(
            f"length = {length} is longer than the whole text ({len(stream) - 1} characters "
            "and markers): nothing to cut"
        )
    used = stream[: count * length + 1]
    return used[:-1].view(count, length), used[1:].view(count, length)


class CharLanguageModel(RecordsSettings, nn.Module):
    """Characters ``(B, T)`` → scores of the next character ``(B, T, vocab_size)``.

    Chapter 0 (text generation with a temperature) trains it on the English side of the shipped
    Tatoeba pairs and samples from it with `sample_text`.

    >>> import torch
    >>> from rnnlab.models.char_lm import CharLanguageModel
    >>> model = CharLanguageModel(vocab_size=10, embed_dim=4, hidden_size=8)
    >>> logits, state = model(torch.tensor([[4, 5, 6]]))
    >>> tuple(logits.shape), tuple(state.shape)
    ((1, 3, 10), (1, 1, 8))
    """

    def __init__(
        self,
        vocab_size: int,
        *,
        embed_dim: int = 32,
        hidden_size: int = 256,
        num_layers: int = 1,
        cell: str = "gru",
        dropout: float = 0.0,
    ):
        super().__init__()
        check_positive(
            vocab_size=vocab_size,
            embed_dim=embed_dim,
            hidden_size=hidden_size,
            num_layers=num_layers,
        )
        check_probability(dropout=dropout)
        check_writer_vocab(vocab_size)
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.cell = cell
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.rnn = recurrent_layer(
            cell, embed_dim, hidden_size, num_layers=num_layers, dropout=dropout
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, vocab_size)

    def initial_state(self, batch_size: int) -> Any:
        """The zero state of ``batch_size`` sequences, batch on dim 0: ``(B, layers, H)`` (a pair of
        them for an LSTM)."""
        check_int("batch_size", batch_size, minimum=1)
        zeros = torch.zeros(
            batch_size, self.num_layers, self.hidden_size, device=self.head.weight.device
        )
        return (zeros, zeros.clone()) if self.cell == "lstm" else zeros

    def forward(self, tokens: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """Logits ``(B, T, V)`` for every position of ``tokens`` ``(B, T)``, and the state after the
        last one (batch on dim 0, as `initial_state`); ``state`` continues an earlier call."""
        tokens = check_tokens("tokens", tokens, self.vocab_size)
        if state is None:
            state = self.initial_state(tokens.shape[0])
        # the decoder's state has the batch on dim 0; nn.GRU's on dim 1
        outputs, state = self.rnn(
            self.embed(tokens), map_state(state, lambda t: t.transpose(0, 1).contiguous())
        )
        logits = self.head(self.dropout(outputs))
        return logits, map_state(state, lambda t: t.transpose(0, 1))

    def step(self, tokens: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """One character: previous ids ``(B,)`` → logits ``(B, V)`` and the next state (the
        `rnnlab.models.decoding` convention).

        ``<pad>``, ``<unk>`` and ``<bos>`` get a score of minus infinity: the model writes
        characters and ``<eos>``, never a marker that only frames or fills its training text.
        """
        logits, state = self(tokens.unsqueeze(1), state)
        logits = logits.squeeze(1).clone()
        logits[:, [PAD, UNK, BOS]] = -math.inf
        return logits, state

    def loss(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of the next character, in nats per character."""
        targets = check_tokens("targets", targets, self.vocab_size)
        if targets.shape != inputs.shape:
            raise ValueError(
                f"targets must have the shape of inputs {tuple(inputs.shape)}, "
                f"got {tuple(targets.shape)}"
            )
        logits, _ = self(inputs)
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten())


def sample_text(
    model: CharLanguageModel,
    vocab: Vocab,
    prompt: str = "",
    *,
    count: int = 1,
    temperature: float = 1.0,
    max_len: int = 80,
    generator: torch.Generator | None = None,
) -> list[str]:
    """``count`` texts that start with ``prompt`` and go on with characters drawn from the model at
    ``temperature``, each until ``<eos>`` or ``max_len`` new characters.

    The model reads ``<bos>`` and the prompt, then samples (in eval mode, its training mode restored
    after). Every character of the prompt must be in ``vocab``.
    """
    if not isinstance(model, CharLanguageModel):
        raise TypeError(f"model must be a CharLanguageModel, got {type(model).__name__}")
    prompt = check_str("prompt", prompt)
    check_positive(count=count)
    unknown = sorted({c for c in prompt if c not in vocab.stoi})
    if unknown:
        raise ValueError(f"prompt holds characters the model never saw: {unknown}")
    ids = vocab.encode(list(prompt), bos=True).to(model.head.weight.device)  # (1 + len(prompt),)
    with eval_mode(model), torch.no_grad():
        state = model.initial_state(count)
        if len(ids) > 1:
            _, state = model(ids[:-1].unsqueeze(0).expand(count, -1), state)
        tokens, _ = sample_decode(
            model.step,
            state,
            bos=int(ids[-1]),
            eos=EOS,
            max_len=max_len,
            temperature=temperature,
            generator=generator,
        )
    return [prompt + "".join(vocab.decode(row.tolist())) for row in tokens]


def words(text: str) -> list[str]:
    """The words of ``text``: runs of letters, with inner apostrophes (``"don't"``); lower case."""
    return _WORD.findall(check_str("text", text).lower())


def real_word_share(texts: Sequence[str], known: set[str] | frozenset[str]) -> float:
    """The share of the words in ``texts`` that are in ``known`` (e.g. the training text's words).

    A word is a run of letters (see `words`); a text without one adds nothing. Fails when no text
    holds a word, since the share is then undefined.
    """
    if not isinstance(known, (set, frozenset)) or not known:
        raise ValueError("known must be a non-empty set of words")
    found = [w for t in _check_texts(texts) for w in words(t)]
    if not found:
        raise ValueError("texts hold no word, so no share of real words exists")
    return sum(w in known for w in found) / len(found)
