"""The embedded Reber grammar: generated strings are valid, near-misses are invalid and one edit
away."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnlab.data.reber import (
    ALPHABET,
    embedded_reber_string,
    is_embedded_reber,
    is_reber,
    near_miss,
    reber_dataset,
    reber_string,
)


def test_known_strings():
    for s in ("BTXSE", "BPVVE", "BTSSXXTVVE", "BPTTVPXTTVVE"):
        assert is_reber(s), s
    for s in ("BTSE", "BPVE", "TXSE", "BTXSEE", "B", ""):
        assert not is_reber(s), s
    assert (
        is_embedded_reber("BTBTXSETE")
        and not is_embedded_reber("BTBTXSEPE")
        and not is_embedded_reber("BPBTXSETE")
    )


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_generated_strings_are_valid_and_near_misses_are_not(seed):
    rng = random.Random(seed)
    assert is_reber(reber_string(rng))
    s = embedded_reber_string(rng)
    assert is_embedded_reber(s) and set(s) <= set(ALPHABET)
    miss = near_miss(rng)
    assert not is_embedded_reber(miss) and set(miss) <= set(ALPHABET)
    # one symbol away from a valid string: fixing one position makes it valid
    fixes = (miss[:i] + c + miss[i + 1 :] for i in range(len(miss)) for c in "TPSXV")
    assert any(is_embedded_reber(f) for f in fixes)


def test_near_misses_include_the_long_range_trap():
    rng = random.Random(0)
    misses = [near_miss(rng) for _ in range(400)]
    swapped = [m for m in misses if is_reber(m[2:-2]) and m[1] != m[-2]]
    assert 0.4 < len(swapped) / len(misses) < 0.6


def test_dataset_is_reproducible_balanced_and_labelled():
    strings, labels = reber_dataset(1000, seed=3)
    assert (strings, labels) == reber_dataset(1000, seed=3)
    assert strings != reber_dataset(1000, seed=4)[0]
    assert all(is_embedded_reber(s) == y for s, y in zip(strings, labels, strict=True))
    assert 0.45 < sum(labels) / 1000 < 0.55
    assert all(reber_dataset(50, seed=1, valid_fraction=1.0)[1])


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda: reber_string(3), TypeError),
        (lambda: near_miss(None), TypeError),
        (lambda: is_reber(5), TypeError),
        (lambda: is_embedded_reber(None), TypeError),
        (lambda: reber_dataset(0, 1), ValueError),
        (lambda: reber_dataset(5, "a"), TypeError),
        (lambda: reber_dataset(5, 1, valid_fraction=1.5), ValueError),
    ],
)
def test_bad_inputs(call, error):
    with pytest.raises(error):
        call()
