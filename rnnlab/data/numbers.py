"""Spelling out numbers: a seq2seq task whose output length varies and is not the input's.

``"417" -> "four hundred seventeen"``, ``"7" -> "seven"``,
``"900010" -> "nine hundred thousand ten"``: 3 input characters give 3 words here, 1 give 1, 6 give
4 or up to 9. A model has to decide for itself when to stop (``<eos>``), which is what chapter 5
uses it for. Generated from a seed; no files.
"""

from __future__ import annotations

import random

from ..checks import check_int, check_positive
from .vocab import Vocab, char_tokens

ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
MAX_VALUE = 999_999

__all__ = ["MAX_VALUE", "number_pairs", "number_to_words", "number_vocabs"]


def _below_thousand(n: int) -> list[str]:
    words = [ONES[n // 100], "hundred"] if n >= 100 else []
    n %= 100
    if n >= 20:
        words.append(TENS[n // 10])
        n %= 10
        if n:
            words.append(ONES[n])
    elif n or not words:
        words.append(ONES[n])
    return words


def number_to_words(n: int) -> str:
    """English words for ``0 ≤ n ≤ 999 999``, without "and" or hyphens:
    ``417 -> "four hundred seventeen"``."""
    n = check_int("n", n, minimum=0, maximum=MAX_VALUE)
    thousands, rest = divmod(n, 1000)
    words = _below_thousand(thousands) + ["thousand"] if thousands else []
    if rest or not words:
        words += _below_thousand(rest)
    return " ".join(words)


def number_pairs(
    count: int, *, max_digits: int = 6, seed: int = 0, exclude: set[str] | None = None
) -> list[tuple[str, str]]:
    """``count`` distinct ``(digits, words)`` pairs; the number of digits (1 to ``max_digits``) is
    drawn uniformly first.

    Drawing the digit count first gives short and long numbers equal weight (uniform numbers would
    be almost all of the longest kind). ``exclude`` holds digit strings to leave out, e.g. a
    training set's.
    """
    check_positive(count=count)
    check_int("max_digits", max_digits, minimum=1, maximum=6)
    exclude = set() if exclude is None else set(exclude)
    available = 10**max_digits - len(exclude)
    if count > available // 2:
        raise ValueError(
            f"count={count} is too many: at most {available // 2} numbers can be drawn here"
        )
    rng = random.Random(seed)
    chosen = set(exclude)
    out = []
    while len(out) < count:
        digits = rng.randint(1, max_digits)
        n = rng.randint(0 if digits == 1 else 10 ** (digits - 1), 10**digits - 1)
        text = str(n)
        if text not in chosen:
            chosen.add(text)
            out.append((text, number_to_words(n)))
    return out


def number_vocabs() -> tuple[Vocab, Vocab]:
    """``(source, target)`` vocabularies: the ten digits (characters) and the number words."""
    return Vocab(char_tokens("0123456789")), Vocab(ONES + TENS[2:] + ["hundred", "thousand"])
