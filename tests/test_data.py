import numpy as np
import pytest

from rnnlab.data import shipped
from rnnlab.data.shipped import DataCorruptedError, attribution, read_text, shipped_path
from rnnlab.data.splits import split_indices, split_items


@pytest.mark.parametrize("name", sorted(shipped.MANIFEST))
def test_every_shipped_file_matches_its_checksum(name):
    assert shipped_path(name).is_file()


def test_every_dataset_carries_its_source_and_licence():
    for folder in {name.split("/")[0] for name in shipped.MANIFEST}:
        text = attribution(folder)
        assert "licen" in text.lower() or "public domain" in text.lower()


def test_read_text_decompresses():
    assert read_text("fra_eng/fra.txt.gz").startswith("Go.\t")


def test_corruption_is_reported(tmp_path, monkeypatch):
    (tmp_path / "sentiment").mkdir()
    (tmp_path / "sentiment" / "yelp_labelled.txt").write_text("tampered")
    monkeypatch.setattr(shipped, "FILES_DIR", tmp_path)
    shipped._verified.cache_clear()
    try:
        with pytest.raises(DataCorruptedError, match="corrupted"):
            shipped_path("sentiment/yelp_labelled.txt")
        with pytest.raises(DataCorruptedError, match="missing"):
            shipped_path("sentiment/imdb_labelled.txt")
    finally:
        shipped._verified.cache_clear()
    with pytest.raises(KeyError, match="not a shipped data file"):
        shipped_path("nope.txt")


def test_splits_are_deterministic_and_complete():
    a = split_indices(103, (0.7, 0.2, 0.1), seed=4)
    b = split_indices(103, (0.7, 0.2, 0.1), seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert sorted(np.concatenate(a).tolist()) == list(range(103))
    assert [len(p) for p in a] == [72, 21, 10]
    assert not np.array_equal(a[0], split_indices(103, (0.7, 0.2, 0.1), seed=5)[0])
    assert split_items("abcd", (0.5, 0.5), seed=0)[0] + split_items("abcd", (0.5, 0.5), seed=0)[1] != []


@pytest.mark.parametrize("fractions, message", [((0.5, 0.4), "sum to 1"), ((1.2, -0.2), "non-negative"), ((), "non-negative")])
def test_bad_split_fractions_are_named(fractions, message):
    with pytest.raises(ValueError, match=f"fractions.*{message}|{message}"):
        split_indices(10, fractions)
