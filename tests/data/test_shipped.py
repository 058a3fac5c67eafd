"""rnnlab.data.shipped: every shipped file matches its checksum and names its source and licence."""

import pytest

from rnnlab.data import shipped
from rnnlab.data.shipped import DataCorruptedError, attribution, read_text, shipped_path


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
