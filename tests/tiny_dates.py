"""Eight dates, their character vocabularies, a batch of them and a small Seq2Seq: shared by the
translation tests."""

import torch

from rnnlab import seed_everything
from rnnlab.data.dates import make_dates
from rnnlab.data.parallel import encode_pairs, pair_loader
from rnnlab.data.vocab import PAD, Vocab, char_tokens
from rnnlab.models.encoder_decoder import Seq2Seq

DATES = make_dates(8, seed=3)
SRC_VOCAB = Vocab.build(char_tokens(s) for s, _ in make_dates(300, seed=1))
TGT_VOCAB = Vocab.build(char_tokens("0123456789-"))


def batch_of(pairs, pad_extra=0):
    """``pairs`` as one (src, src_len, tgt_in, tgt_out, tgt_len) batch; ``pad_extra`` adds that many
    times more padding."""
    src, tgt = encode_pairs(pairs, SRC_VOCAB, TGT_VOCAB, char_tokens, char_tokens)
    s, s_len, t_in, t_out, t_len = next(
        iter(pair_loader(src, tgt, batch_size=len(pairs), shuffle=False))
    )
    if pad_extra:
        s, t_in, t_out = (
            torch.cat([x, x.new_full((x.shape[0], pad_extra * x.shape[1]), PAD)], 1)
            for x in (s, t_in, t_out)
        )
    return s, s_len, t_in, t_out, t_len


def model(attention="multiplicative", seed=0):
    """A small Seq2Seq for the dates; "initial-state-only" is the plain decoder that sees the source
    only in its first state."""
    seed_everything(seed)
    if attention == "initial-state-only":
        return Seq2Seq.build(
            len(SRC_VOCAB),
            len(TGT_VOCAB),
            embed_dim=16,
            hidden_size=32,
            attention=None,
            feed_context=False,
        )
    return Seq2Seq.build(
        len(SRC_VOCAB), len(TGT_VOCAB), embed_dim=16, hidden_size=32, attention=attention
    )
