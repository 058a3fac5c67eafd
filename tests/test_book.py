"""The site builder runs a chapter again only when what it was made from changed."""

from __future__ import annotations

import nbformat
import pytest

from rnnlab.book import chapter_stamp, stale_chapters, stamp_executed


def _chapter(path, text="print(1)"):
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# Chapter 9 — a test"),
            nbformat.v4.new_code_cell(text),
        ]
    )
    nbformat.write(notebook, path)
    return path


def test_an_executed_copy_is_reused_until_its_chapter_or_mode_changes(tmp_path):
    chapter = _chapter(tmp_path / "09_test.ipynb")
    executed = tmp_path / "executed"
    assert stale_chapters([chapter], executed, "full") == [chapter]  # never executed
    executed.mkdir()
    nbformat.write(nbformat.read(chapter, as_version=4), executed / chapter.name)
    assert stale_chapters([chapter], executed, "full") == [chapter]  # executed, but not stamped
    stamp_executed([chapter], executed, "full")
    assert stale_chapters([chapter], executed, "full") == []
    assert stale_chapters([chapter], executed, "quick") == [chapter]  # another mode
    _chapter(chapter, "print(2)")
    assert stale_chapters([chapter], executed, "full") == [chapter]  # the chapter changed


def test_stamp_covers_rnnlab_source_and_rejects_unknown_modes(tmp_path, monkeypatch):
    import rnnlab.book as book

    chapter = _chapter(tmp_path / "09_test.ipynb")
    before = chapter_stamp(chapter, "full")
    monkeypatch.setattr(book, "source_hash", lambda: "rnnlab edited once")
    one = chapter_stamp(chapter, "full")
    monkeypatch.setattr(book, "source_hash", lambda: "rnnlab edited twice")
    assert len({before, one, chapter_stamp(chapter, "full")}) == 3
    with pytest.raises(ValueError, match=r"mode must be one of \['full', 'quick'\]"):
        chapter_stamp(chapter, "fast")


def test_build_refuses_when_executed_chapters_are_missing(tmp_path):
    from rnnlab.book import build_site

    (tmp_path / "chapters").mkdir()
    _chapter(tmp_path / "chapters" / "01_x.ipynb")
    with pytest.raises(ValueError, match=r"executed chapters missing .*01_x.ipynb"):
        build_site(tmp_path / "nothing", tmp_path / "out", project=tmp_path, mode="quick")


def test_index_counts_and_lists_every_chapter_chapter_0_included(tmp_path):
    from rnnlab.book import _index, _toc

    chapters = [
        _chapter(tmp_path / "00_primer.ipynb"),
        _chapter(tmp_path / "01_x.ipynb"),
        _chapter(tmp_path / "02_y.ipynb"),
    ]
    index = _index(chapters, [], "quick")
    assert "3 chapters, each answering" in index
    assert index.count("- [Chapter 9 — a test](chapters/") == 3
    assert "(chapters/00_primer)" in index and "chapters/00_primer" in _toc(chapters, [])
