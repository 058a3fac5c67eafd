"""rnnlab.data.captions: chapter 1's digit images and the captions that name them."""

import pytest
import torch

from rnnlab.data.captions import (
    HEIGHT,
    MAX_DIGITS,
    WIDTH,
    CaptionStream,
    caption_vocab,
    decode_captions,
    exact_match,
    make_captions,
)
from rnnlab.data.digits import digit_split, load_digits


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
    assert exact_match(data.tokens, data.tokens).all()
    assert not exact_match(data.tokens[:, :1], data.tokens).any()  # cut before <eos>: never a match
    with pytest.raises(ValueError, match="split must be one of"):
        make_captions(3, "holdout")


def test_caption_stream_composes_new_images_each_epoch():
    stream = CaptionStream(10, batch_size=4, seed=3)
    first, second = list(stream), list(stream)
    assert len(first) == len(stream) == 3 and first[-1][0].shape[0] == 2
    assert not torch.equal(first[0][0], second[0][0])
