"""rnnlab.data.sentiment: the 3000 labelled sentences of chapter 1, their split and batches."""

import pytest
import torch

from rnnlab.data.sentiment import (
    build_vocab,
    load_sentiment,
    parse_labelled,
    sentiment_loader,
    sentiment_split,
    texts_to_batch,
)


def test_all_3000_sentences_are_read_despite_the_traps():
    rows = load_sentiment()
    assert len(rows) == 3000
    for source in ("amazon_cells", "imdb", "yelp"):
        labels = [r.label for r in rows if r.source == source]
        assert len(labels) == 1000 and sum(labels) == 500
    assert any("\x85" in r.text for r in rows)  # U+0085 stays inside its sentence
    assert all(r.text == r.text.strip() and r.text for r in rows)


def test_parse_labelled_splits_on_the_last_tab_and_rejects_bad_lines():
    assert (
        parse_labelled('a "quoted\ttab\x85 text  \t1\n', "x")[0].text == 'a "quoted\ttab\x85 text'
    )
    with pytest.raises(ValueError, match="line 2"):
        parse_labelled("fine\t0\nno label here\n", "x")
    with pytest.raises(ValueError, match="sources"):
        load_sentiment(["twitter"])


def test_sentiment_split_and_loader():
    train, val, test = sentiment_split(0)
    assert (len(train), len(val), len(test)) == (2100, 300, 600)
    vocab = build_vocab(train)
    tokens, lengths, labels = next(iter(sentiment_loader(train[:5], vocab, batch_size=5)))
    assert (
        tokens.shape[0] == 5
        and tokens.dtype == torch.int64
        and lengths.min() >= 1
        and labels.shape == (5,)
    )
    tokens, lengths = texts_to_batch(["", "a great phone"], vocab)
    assert lengths.tolist() == [1, 3]
