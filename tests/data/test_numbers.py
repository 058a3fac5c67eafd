"""Spelling out numbers: the words are right, the pairs are distinct and spread over lengths."""

import pytest

from rnnlab.data.numbers import MAX_VALUE, number_pairs, number_to_words, number_vocabs
from rnnlab.data.vocab import word_tokens


@pytest.mark.parametrize(
    "n, words",
    [
        (0, "zero"),
        (7, "seven"),
        (13, "thirteen"),
        (20, "twenty"),
        (21, "twenty one"),
        (100, "one hundred"),
        (105, "one hundred five"),
        (417, "four hundred seventeen"),
        (1000, "one thousand"),
        (1001, "one thousand one"),
        (20020, "twenty thousand twenty"),
        (900010, "nine hundred thousand ten"),
        (110000, "one hundred ten thousand"),
        (MAX_VALUE, "nine hundred ninety nine thousand nine hundred ninety nine"),
    ],
)
def test_number_to_words(n, words):
    assert number_to_words(n) == words


def test_pairs_are_distinct_cover_every_length_and_respect_exclude():
    train = number_pairs(600, seed=0)
    assert len({s for s, _ in train}) == 600
    assert {len(s) for s, _ in train} == set(range(1, 7))
    assert all(number_to_words(int(s)) == w for s, w in train)
    test = number_pairs(100, seed=1, exclude={s for s, _ in train})
    assert not {s for s, _ in test} & {s for s, _ in train}
    assert max(len(s) for s, _ in number_pairs(50, max_digits=2)) == 2
    assert number_pairs(20, seed=3) == number_pairs(20, seed=3)


def test_vocabs_cover_every_word():
    src, tgt = number_vocabs()
    assert all(ch in src for ch in "0123456789")
    words = {w for n in range(0, MAX_VALUE + 1, 997) for w in word_tokens(number_to_words(n))}
    assert all(w in tgt for w in words)


@pytest.mark.parametrize(
    "call, error, name",
    [
        (lambda: number_to_words(-1), ValueError, "n"),
        (lambda: number_to_words(10**6), ValueError, "n"),
        (lambda: number_to_words(4.0), TypeError, "n"),
        (lambda: number_pairs(0), ValueError, "count"),
        (lambda: number_pairs(60, max_digits=2), ValueError, "count"),
        (lambda: number_pairs(5, max_digits=7), ValueError, "max_digits"),
    ],
)
def test_bad_input(call, error, name):
    with pytest.raises(error, match=name):
        call()
