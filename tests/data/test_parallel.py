"""rnnlab.data.parallel: paired and synced loaders, bucketing, bad input."""

import pytest
import torch

from rnnlab import seed_everything
from rnnlab.data.dates import make_dates
from rnnlab.data.parallel import encode_pairs, pair_loader, synced_loader
from rnnlab.data.vocab import BOS, EOS, char_tokens
from rnnlab.models.synced import SyncedTagger, tagger_loss
from tests.tiny_dates import DATES, SRC_VOCAB, TGT_VOCAB


def test_synced_tagger_trains_on_synced_batches():
    seed_everything(0)
    tagger = SyncedTagger(len(SRC_VOCAB), len(TGT_VOCAB), embed_dim=8, hidden_size=16)
    src, tgt = encode_pairs(DATES, SRC_VOCAB, TGT_VOCAB, char_tokens, char_tokens)
    s, s_len, t, t_len = next(
        iter(synced_loader(src, [x[1:-1] for x in tgt], batch_size=8, shuffle=False))
    )
    assert (
        s_len.tolist() == [len(x) for x in src] and t.shape[1] == 10 and t_len.tolist() == [10] * 8
    )
    assert torch.isfinite(tagger_loss(tagger, (s, s_len, t, t_len)))
    assert tagger.greedy(s, s_len, 10).shape == (8, 10)


def test_loaders_validate():
    src, tgt = encode_pairs(DATES, SRC_VOCAB, TGT_VOCAB, char_tokens, char_tokens)
    assert tgt[0][0] == BOS and tgt[0][-1] == EOS
    with pytest.raises(ValueError, match="batch_size"):
        pair_loader(src, tgt, batch_size=0, shuffle=False)
    with pytest.raises(ValueError, match="src has"):
        pair_loader(src, tgt[:-1], batch_size=2, shuffle=False)
    with pytest.raises(ValueError, match="empty source"):
        encode_pairs([("", "2000-01-01")], SRC_VOCAB, TGT_VOCAB, char_tokens, char_tokens)


def test_bucketed_loader_batches_similar_lengths():
    src, tgt = encode_pairs(make_dates(64, seed=2), SRC_VOCAB, TGT_VOCAB, char_tokens, char_tokens)
    bucketed = pair_loader(src, tgt, batch_size=8, shuffle=True, bucket=True)
    plain = pair_loader(src, tgt, batch_size=8, shuffle=True)
    assert sorted(i for b in bucketed for i in b[1].tolist()) == sorted(len(s) for s in src)
    assert sum(b[0].numel() for b in bucketed) < 0.8 * sum(b[0].numel() for b in plain)
