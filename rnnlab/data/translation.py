"""English→French sentence pairs from the shipped Tatoeba file, normalised, filtered and split.

Source: "Tab-delimited Bilingual Sentence Pairs" (fra-eng, 2017-09-29) prepared by manythings.org
from the Tatoeba Project, CC-BY 2.0 (France). Attribution: www.manythings.org/anki and tatoeba.org
(see ``files/fra_eng/SOURCE.md``).

Normalisation: Unicode NFC, lower case, typographic apostrophes → ``'``, every kind of space
(including the U+202F and U+00A0 that French typography puts before ``! ? : ;``) → one space;
tokens are words and punctuation marks (`rnnlab.data.vocab.word_tokens`), with elisions split after
the apostrophe (``"j'ai" → "j'" "ai"``) so that French does not need a word for every
``l'…``/``j'…``.

The default filter is the one of the PyTorch seq2seq tutorial: short sentences (≤ 10 tokens each
side) whose English starts with "i am", "he is", "she is", "you are", "we are", "they are" (or a
contraction). Tatoeba often has several French translations of one English sentence, so a random
split puts about half of the test English sentences in training too;
``split_pairs(..., disjoint_english=True)`` keeps every English sentence on one side of the split.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import cache

from ..checks import check_int, check_str
from .shipped import read_text
from .splits import split_indices
from .vocab import word_tokens

__all__ = ["ENGLISH_PREFIXES", "detokenize", "load_pairs", "normalise", "split_pairs", "tokens"]

ATTRIBUTION = "English–French pairs: www.manythings.org/anki and tatoeba.org (CC-BY 2.0 France)"
ENGLISH_PREFIXES = (
    "i am",
    "i' m",
    "he is",
    "he' s",
    "she is",
    "she' s",
    "you are",
    "you' re",
    "we are",
    "we' re",
    "they are",
    "they' re",
)

_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u00ad\ufeff"))
_ELISION = re.compile(r"^(\w+')(\w.*)$")


def normalise(text: str) -> str:
    """NFC, lower case, straight apostrophes, all spaces (U+202F, U+00A0, tabs …) as single ASCII
    spaces."""
    text = (
        unicodedata.normalize("NFC", check_str("text", text))
        .translate(_INVISIBLE)
        .lower()
        .replace("’", "'")
        .replace("‘", "'")
    )
    return " ".join(text.split())


def tokens(text: str) -> list[str]:
    """Normalised word and punctuation tokens, elisions split:
    ``"J’ai faim !" → ["j'", "ai", "faim", "!"]``."""
    out = []
    for token in word_tokens(normalise(text)):
        while (match := _ELISION.match(token)) is not None:
            out.append(match.group(1))
            token = match.group(2)
        out.append(token)
    return out


def detokenize(words: Sequence[str]) -> str:
    """Readable text from tokens: elisions re-joined (``"j' ai" → "j'ai"``), no space before
    ``. ,``."""
    text = " ".join(words).replace("' ", "'")
    return re.sub(r" ([.,])", r"\1", text)


@cache
def _lines() -> tuple[tuple[str, str], ...]:
    return tuple(
        tuple(line.split("\t")[:2]) for line in read_text("fra_eng/fra.txt.gz").split("\n") if line
    )


@cache
def _load(max_tokens: int | None, prefixes: tuple[str, ...] | None) -> tuple[tuple[str, str], ...]:
    starts = None if prefixes is None else tuple(p.strip() + " " for p in prefixes)
    first_words = None if prefixes is None else tuple({p.split()[0].rstrip("'") for p in prefixes})
    seen: dict[tuple[str, str], None] = {}
    for english, french in _lines():
        if first_words is not None and not english.lower().startswith(first_words):
            continue  # cheap pre-filter before tokenising
        en = " ".join(tokens(english))
        if (max_tokens is not None and en.count(" ") >= max_tokens) or (
            starts is not None and not (en + " ").startswith(starts)
        ):
            continue
        fr = " ".join(tokens(french))
        if max_tokens is None or fr.count(" ") < max_tokens:
            seen[(en, fr)] = None
    return tuple(seen)


def load_pairs(
    max_tokens: int | None = 10, prefixes: Sequence[str] | None = ENGLISH_PREFIXES
) -> list[tuple[str, str]]:
    """Distinct ``(english, french)`` pairs as space-separated normalised tokens, in file order.

    Keeps pairs with at most ``max_tokens`` tokens on each side and English starting with one of
    ``prefixes`` (token strings such as ``"i' m"``); ``None`` turns either filter off.
    """
    check_int("max_tokens", max_tokens, minimum=1, optional=True)
    if isinstance(prefixes, str):
        raise TypeError(
            "prefixes must be a list of strings such as ['i am', 'he is'], not one string"
        )
    return list(_load(max_tokens, None if prefixes is None else tuple(prefixes)))


def split_pairs(
    pairs: Sequence[tuple[str, str]],
    *,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    disjoint_english: bool = False,
) -> list[list[tuple[str, str]]]:
    """Deterministic train/validation/test parts of ``pairs``.

    With ``disjoint_english=True`` the distinct English sentences are split (each with all its
    French translations), so no test English sentence is ever seen in training.
    """
    if len(pairs) == 0:
        raise ValueError("pairs is empty")
    if not disjoint_english:
        return [[pairs[i] for i in part] for part in split_indices(len(pairs), fractions, seed)]
    groups: dict[str, list[tuple[str, str]]] = {}
    for pair in pairs:
        groups.setdefault(pair[0], []).append(pair)
    english = list(groups)
    return [
        [pair for i in part for pair in groups[english[i]]]
        for part in split_indices(len(english), fractions, seed)
    ]
