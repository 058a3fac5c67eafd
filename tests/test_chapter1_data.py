"""Chapter 1 data (sentiment sentences, monthly sunspots, digit captions) and its figures and widgets."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from rnnlab.data.captions import (  # noqa: E402
    HEIGHT,
    MAX_DIGITS,
    WIDTH,
    CaptionStream,
    caption_vocab,
    decode_captions,
    exact_match,
    make_captions,
)
from rnnlab.data.digits import digit_split, load_digits  # noqa: E402
from rnnlab.data.sentiment import (  # noqa: E402
    build_vocab,
    load_sentiment,
    parse_labelled,
    sentiment_loader,
    sentiment_split,
    texts_to_batch,
)
from rnnlab.data.sunspots import load_sunspots, parse_monthly, sunspot_windows  # noqa: E402
from rnnlab.plots.architectures import plot_captions, plot_error_by_horizon, plot_forecast, plot_shapes  # noqa: E402
from rnnlab.widgets.architectures import horizon_explorer, horizon_summary, sentiment_box, sentiment_verdict  # noqa: E402


def test_all_3000_sentences_are_read_despite_the_traps():
    rows = load_sentiment()
    assert len(rows) == 3000
    for source in ("amazon_cells", "imdb", "yelp"):
        labels = [r.label for r in rows if r.source == source]
        assert len(labels) == 1000 and sum(labels) == 500
    assert any("\x85" in r.text for r in rows)  # U+0085 stays inside its sentence
    assert all(r.text == r.text.strip() and r.text for r in rows)


def test_parse_labelled_splits_on_the_last_tab_and_rejects_bad_lines():
    assert parse_labelled('a "quoted\ttab\x85 text  \t1\n', "x")[0].text == 'a "quoted\ttab\x85 text'
    with pytest.raises(ValueError, match="line 2"):
        parse_labelled("fine\t0\nno label here\n", "x")
    with pytest.raises(ValueError, match="sources"):
        load_sentiment(["twitter"])


def test_sentiment_split_and_loader():
    train, val, test = sentiment_split(0)
    assert (len(train), len(val), len(test)) == (2100, 300, 600)
    vocab = build_vocab(train)
    tokens, lengths, labels = next(iter(sentiment_loader(train[:5], vocab, batch_size=5)))
    assert tokens.shape[0] == 5 and tokens.dtype == torch.int64 and lengths.min() >= 1 and labels.shape == (5,)
    tokens, lengths = texts_to_batch(["", "a great phone"], vocab)
    assert lengths.tolist() == [1, 3]


def test_sunspots_parse_every_month():
    stamps, values = load_sunspots()
    assert len(values) == 3126 and stamps[0] == 1749 and abs(stamps[-1] - (2009 + 5 / 12)) < 1e-9
    assert values[0] == 58.0 and values[-1] == 2.6 and (values >= 0).all()
    with pytest.raises(ValueError, match="no 'YEAR"):
        parse_monthly("title\nfooter\n")


def test_sunspot_windows_never_cross_the_boundaries():
    parts = sunspot_windows(24, 6, test_months=120, val_months=120, every_step=True)
    last_train = parts["train"].stamps[-1] + 5 / 12
    assert last_train < parts["val"].stamps[0] and parts["val"].stamps[-1] + 5 / 12 < parts["test"].stamps[0]
    assert parts["train"].y.shape[1:] == (24, 6) and parts["test"].y.shape[1:] == (6,)
    _, values = load_sunspots()
    np.testing.assert_allclose(parts["test"].y[-1] * 100, values[-6:], rtol=1e-6)


def test_captions_name_the_digits_left_to_right_and_use_only_their_split():
    data = make_captions(40, "test", seed=1)
    _, labels = load_digits()
    test_pool = set(digit_split(0)[2].tolist())
    assert data.images.shape == (40, 1, HEIGHT, WIDTH) and float(data.images.max()) <= 1.0
    vocab = caption_vocab()
    for caption, used, n in zip(data.captions, data.digits, data.lengths, strict=True):
        assert set(used) <= test_pool and 1 <= len(used) <= MAX_DIGITS
        assert caption.split() == [vocab.itos[4 + labels[i]] for i in used]
        assert int(n) == len(used) + 1
    assert decode_captions(data.tokens) == data.captions
    assert exact_match(data.tokens, data.tokens) == 1.0
    assert exact_match(data.tokens[:, :1], data.tokens) == 0.0  # cut before <eos>: never a match
    wrong = data.tokens.clone()
    wrong[:10, 0] = 0  # a <pad> where the first word belongs: 10 of the 40 captions miss
    assert exact_match(wrong, data.tokens) == 0.75
    with pytest.raises(ValueError, match="split must be one of"):
        make_captions(3, "holdout")


def test_caption_stream_composes_new_images_each_epoch():
    stream = CaptionStream(10, batch_size=4, seed=3)
    first, second = list(stream), list(stream)
    assert len(first) == len(stream) == 3 and first[-1][0].shape[0] == 2
    assert not torch.equal(first[0][0], second[0][0])


def test_figures_draw():
    plot_shapes()
    truth = np.random.rand(30, 3)
    plot_forecast(np.arange(30), truth[:, 0], {"model": truth[:, 0] + 1}, horizon=1)
    plot_error_by_horizon({"a": [1.0, 2.0, 3.0]})
    plot_captions(torch.rand(3, 1, HEIGHT, WIDTH), ["one", "two", "x"], ["one", "two", "three"])
    with pytest.raises(ValueError, match="one caption per image"):
        plot_captions(torch.rand(3, 1, HEIGHT, WIDTH), ["one"])


def test_widget_logic():
    verdict = sentiment_verdict(lambda texts: [0.9] * len(texts), "Great!")
    assert verdict["label"] == "positive" and verdict["positive"] == 0.9
    assert "error" in sentiment_verdict(lambda texts: [0.5], "   ")
    box = sentiment_box(lambda texts: [0.2] * len(texts))
    box.children[0].value = "awful"
    assert "negative" in box.children[1].value
    truth = np.zeros((5, 3))
    errors = horizon_summary(truth, {"a": truth + 1, "b": truth - 2}, 2)
    assert errors == {"a": 1.0, "b": 2.0}
    with pytest.raises(ValueError, match="horizon must be"):
        horizon_summary(truth, {"a": truth}, 4)
    ui = horizon_explorer(np.arange(5), truth, {"a": truth + 1})
    ui.children[0].value = 1
    assert ui.result == {"a": 1.0}
