"""The copy task: a sequence of random letters in, the same letters out. Length is the only knob.

``"kdafe" -> "kdafe"``. Every position is drawn uniformly and independently from a small alphabet,
so nothing about the task changes with length except how much there is to remember: an input of
``n`` letters carries ``n · log2(len(alphabet))`` bits that a decoder must get back. That makes it
the cleanest test of the fixed-size context of an encoder–decoder (chapter 2): a decoder that sees
the input only through one vector must squeeze all of it through that vector; one with attention can
look each letter up again. Generated from a seed; no files.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from ..checks import check_int, check_positive, check_str
from .vocab import Vocab, char_tokens

__all__ = ["ALPHABET", "copy_pairs", "copy_vocab"]

ALPHABET = "abcdefghi"


def copy_pairs(
    count: int,
    *,
    lengths: Sequence[int],
    alphabet: str = ALPHABET,
    seed: int = 0,
    exclude: set[str] | None = None,
) -> list[tuple[str, str]]:
    """``count`` distinct ``(letters, letters)`` pairs, lengths cycling through ``lengths`` (equal
    numbers of each).

    ``exclude`` holds inputs to leave out (e.g. the training set's), so held-out pairs are new
    inputs.
    """
    check_positive(count=count)
    if isinstance(lengths, (str, bytes)) or not isinstance(lengths, Sequence) or len(lengths) == 0:
        raise TypeError(
            f"lengths must be a non-empty sequence of ints such as range(5, 51), got {lengths!r}"
        )
    for i, n in enumerate(lengths):
        check_int(f"lengths[{i}]", n, minimum=1)
    if len(set(check_str("alphabet", alphabet))) < 2 or len(set(alphabet)) != len(alphabet):
        raise ValueError(
            f"alphabet must be a str of at least 2 distinct characters, got {alphabet!r}"
        )
    per_length = -(-count // len(lengths))
    if per_length > len(alphabet) ** min(lengths) // 2:
        raise ValueError(
            f"count={count} is too many for inputs of length {min(lengths)} from {len(alphabet)} "
            "letters"
        )
    rng = random.Random(seed)
    seen = set(exclude or ())
    out = []
    while len(out) < count:
        n = lengths[len(out) % len(lengths)]
        text = "".join(rng.choice(alphabet) for _ in range(n))
        if text not in seen:
            seen.add(text)
            out.append((text, text))
    return out


def copy_vocab(alphabet: str = ALPHABET) -> Vocab:
    """The vocabulary of the copy task (the same on both sides): the special tokens and the
    letters."""
    return Vocab(char_tokens(alphabet))
