"""rnnlab.data.splits: deterministic, complete splits and named errors."""

import numpy as np
import pytest

from rnnlab.data.splits import split_indices, split_items


def test_splits_are_deterministic_and_complete():
    a = split_indices(103, (0.7, 0.2, 0.1), seed=4)
    b = split_indices(103, (0.7, 0.2, 0.1), seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert sorted(np.concatenate(a).tolist()) == list(range(103))
    assert [len(p) for p in a] == [72, 21, 10]
    assert not np.array_equal(a[0], split_indices(103, (0.7, 0.2, 0.1), seed=5)[0])
    assert (
        split_items("abcd", (0.5, 0.5), seed=0)[0] + split_items("abcd", (0.5, 0.5), seed=0)[1]
        != []
    )


@pytest.mark.parametrize(
    "fractions, message",
    [((0.5, 0.4), "sum to 1"), ((1.2, -0.2), "non-negative"), ((), "non-negative")],
)
def test_bad_split_fractions_are_named(fractions, message):
    with pytest.raises(ValueError, match=f"fractions.*{message}|{message}"):
        split_indices(10, fractions)
