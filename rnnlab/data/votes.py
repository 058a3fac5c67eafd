"""Vote counting: sentences of positive, negative and neutral words; the label says which side has
more.

A synthetic task whose answer is a property of the whole sentence and whose lengths vary a lot
(lognormal: most sentences short, a few very long), like review text. Every word matters equally
wherever it stands, so a mean over the sentence's steps is the natural summary, and padding, if it
is counted, dilutes exactly that mean. Chapter 5 uses it to measure what forgetting the mask costs.
"""

from __future__ import annotations

import math

import torch

from ..checks import check_int, check_number, check_positive
from .vocab import Vocab

POSITIVE = [
    "good",
    "great",
    "fine",
    "nice",
    "superb",
    "lovely",
    "happy",
    "bright",
    "fun",
    "warm",
    "kind",
    "best",
]
NEGATIVE = [
    "bad",
    "awful",
    "poor",
    "sad",
    "dull",
    "ugly",
    "worst",
    "cold",
    "rude",
    "grim",
    "weak",
    "vile",
]
NEUTRAL = ["the", "a", "movie", "was", "and", "it", "plot", "actor", "but", "then", "of", "very"]

__all__ = ["vote_sentences", "vote_vocab"]


def vote_vocab() -> Vocab:
    """The task's vocabulary: specials, then positive, negative and neutral words."""
    return Vocab(POSITIVE + NEGATIVE + NEUTRAL)


def vote_sentences(
    n: int, *, seed: int = 0, median: float = 12.0, sigma: float = 0.9, max_len: int = 120
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """``n`` sentences as token-id tensors and their labels (1: more positive than negative words,
    else 0).

    Lengths are lognormal around ``median`` (spread ``sigma``), clipped to ``[2, max_len]``; words
    are drawn uniformly, and a sentence with a tie is drawn again, so every label is defined.
    """
    check_positive(n=n)
    check_int("max_len", max_len, minimum=2)
    check_number("median", median, minimum=1)
    check_number("sigma", sigma, above=0)
    vocab = vote_vocab()
    positive = torch.tensor([vocab.stoi[w] for w in POSITIVE])
    negative = torch.tensor([vocab.stoi[w] for w in NEGATIVE])
    low, high = min(vocab.stoi[w] for w in POSITIVE), len(vocab)
    g = torch.Generator().manual_seed(seed)
    lengths = (
        torch.exp(math.log(median) + sigma * torch.randn(n, generator=g))
        .round()
        .clamp(2, max_len)
        .long()
    )
    sentences, labels = [], []
    for length in lengths.tolist():
        while True:
            tokens = torch.randint(low, high, (length,), generator=g)
            votes = int(torch.isin(tokens, positive).sum()) - int(
                torch.isin(tokens, negative).sum()
            )
            if votes != 0:
                break
        sentences.append(tokens)
        labels.append(int(votes > 0))
    return sentences, torch.tensor(labels)
