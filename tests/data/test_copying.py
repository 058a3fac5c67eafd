"""rnnlab.data.copying: the copy task's pairs vary in length only."""

import pytest

from rnnlab.data.copying import ALPHABET, copy_pairs, copy_vocab


def test_copy_pairs_vary_length_only():
    pairs = copy_pairs(60, lengths=range(5, 11), seed=0)
    assert all(s == t and set(s) <= set(ALPHABET) for s, t in pairs)
    assert sorted(len(s) for s, _ in pairs) == sorted(list(range(5, 11)) * 10)
    assert (
        len({s for s, _ in pairs}) == 60 and copy_pairs(60, lengths=range(5, 11), seed=0) == pairs
    )
    held_out = copy_pairs(30, lengths=range(5, 11), seed=1, exclude={s for s, _ in pairs})
    assert not {s for s, _ in held_out} & {s for s, _ in pairs}
    assert len(copy_vocab()) == 4 + len(ALPHABET)
    with pytest.raises(ValueError, match="count"):
        copy_pairs(0, lengths=[5])
    with pytest.raises(TypeError, match="lengths"):
        copy_pairs(5, lengths=5)
    with pytest.raises(ValueError, match="lengths"):
        copy_pairs(5, lengths=[0, 3])
    with pytest.raises(ValueError, match="alphabet"):
        copy_pairs(5, lengths=[3], alphabet="aa")
    with pytest.raises(ValueError, match="too many"):
        copy_pairs(100, lengths=[2], alphabet="ab")
