"""UCI Sentiment Labelled Sentences: 3,000 real review sentences (Amazon, IMDb, Yelp), 1 = positive.

Read with care (see ``files/sentiment/SOURCE.md``): the IMDb file holds unbalanced quotes (a CSV
reader drops a quarter of it) and U+0085 inside sentences (``str.splitlines`` breaks lines there),
so each file is split on ``"\\n"`` and each line on its LAST tab.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch.utils.data import DataLoader

from ..samplers import BucketBatchSampler
from ..sequences import collate_padded, pad_sequences
from .shipped import read_text
from .splits import split_items
from .vocab import Vocab, word_tokens

SOURCES = ("amazon_cells", "imdb", "yelp")


class Sentence(NamedTuple):
    text: str
    label: int
    source: str


def parse_labelled(text: str, source: str) -> list[Sentence]:
    """Parse ``sentence<TAB>label`` lines (label 0 or 1); a malformed line fails naming its
    number."""
    rows = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        sentence, tab, label = line.rpartition("\t")
        if not tab or label.strip() not in ("0", "1"):
            raise ValueError(
                f"{source} line {number}: expected 'sentence<TAB>0|1', got {line[:60]!r}"
            )
        rows.append(Sentence(sentence.strip(), int(label), source))
    return rows


def load_sentiment(sources: Sequence[str] = SOURCES) -> list[Sentence]:
    """All labelled sentences of the chosen ``sources`` (default: all three, 3,000 sentences)."""
    if isinstance(sources, str) or not sources:
        raise ValueError(f"sources must be a non-empty list drawn from {SOURCES}, got {sources!r}")
    for source in sources:
        if source not in SOURCES:
            raise ValueError(f"sources holds {source!r}; known sources: {SOURCES}")
    return [
        row
        for source in sources
        for row in parse_labelled(read_text(f"sentiment/{source}_labelled.txt"), source)
    ]


def sentiment_split(
    seed: int = 0, fractions: tuple[float, float, float] = (0.7, 0.1, 0.2)
) -> list[list[Sentence]]:
    """Train / validation / test sentences, shuffled with ``seed`` (sources mixed)."""
    return split_items(load_sentiment(), fractions, seed)


def encode_sentences(rows: Sequence[Sentence] | Sequence[str], vocab: Vocab) -> list[torch.Tensor]:
    """Word ids of each sentence (an empty sentence becomes a single ``<unk>`` so every length is ≥
    1)."""
    texts = [row.text if isinstance(row, Sentence) else row for row in rows]
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"rows[{i}] must be a Sentence or a string, got {type(text).__name__}")
    return [vocab.encode(word_tokens(text) or ["<unk>"]) for text in texts]


def sentiment_loader(
    rows: Sequence[Sentence],
    vocab: Vocab,
    *,
    batch_size: int = 32,
    shuffle: bool = False,
    seed: int = 0,
) -> DataLoader:
    """Batches ``(tokens (B, T), lengths (B,), labels (B,))`` padded with 0, ready for `rnnlab.fit`.

    With ``shuffle=True`` the batches come from a `BucketBatchSampler`: sentences of similar length
    travel together (little padding, about twice as fast here) and the batch order is random; each
    epoch gets a new order (`rnnlab.fit` calls ``loader.batch_sampler.set_epoch(epoch)``, see
    `rnnlab.train.pin_epoch`).
    """
    if not rows:
        raise ValueError("rows is empty: nothing to load")
    encoded = encode_sentences(rows, vocab)
    samples = [(ids, row.label) for ids, row in zip(encoded, rows, strict=True)]
    if shuffle:
        sampler = BucketBatchSampler(
            [len(ids) for ids in encoded], batch_size, shuffle=True, seed=seed
        )
        return DataLoader(samples, batch_sampler=sampler, collate_fn=collate_padded)
    return DataLoader(samples, batch_size=batch_size, collate_fn=collate_padded)


def build_vocab(rows: Sequence[Sentence], min_freq: int = 2) -> Vocab:
    """Vocabulary of the training sentences' words seen at least ``min_freq`` times (rarer words
    become ``<unk>``, so the model learns what to do with a word it has never seen)."""
    return Vocab.build([word_tokens(row.text) for row in rows], min_freq=min_freq)


def texts_to_batch(texts: Sequence[str], vocab: Vocab) -> tuple[torch.Tensor, torch.Tensor]:
    """Free text → ``(tokens (B, T), lengths (B,))`` for a `SequenceClassifier`."""
    if isinstance(texts, str) or not texts:
        raise ValueError("texts must be a non-empty list of strings")
    return pad_sequences(encode_sentences(texts, vocab))
