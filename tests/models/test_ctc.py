"""rnnlab.models.ctc: CTC's greedy and beam decoders against brute force and nn.CTCLoss, the CTC
tagger."""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnlab import seed_everything
from rnnlab.models.ctc import (
    BLANK,
    CTCTagger,
    ctc_beam_search,
    ctc_greedy,
    ctc_loss,
    frames_needed,
    upsample,
)

A, B = 1, 2  # two output tokens beside the blank (0)


def log_probs_of(rows):
    """A (1, F, V) tensor of log-probabilities from per-frame probability rows."""
    return torch.tensor([rows], dtype=torch.float64).log()


def test_greedy_collapses_runs_and_drops_blanks():
    # frames:  a    a    -    a    b    b    -     (argmax of each row)
    rows = [
        [0.1, 0.8, 0.1],
        [0.2, 0.7, 0.1],
        [0.9, 0.05, 0.05],
        [0.1, 0.6, 0.3],
        [0.1, 0.2, 0.7],
        [0.2, 0.1, 0.7],
        [0.8, 0.1, 0.1],
    ]
    assert ctc_greedy(log_probs_of(rows), [7]) == [[A, A, B]]
    assert ctc_greedy(log_probs_of(rows), [2]) == [[A]]  # frames past the length are not read


def test_beam_search_sums_the_paths_greedy_misses():
    # Two frames, P(blank) = 0.6 and P(a) = 0.4 in each. Greedy reads "- -" → "" (p = 0.36); but "a"
    # is written by "a a", "a -" and "- a": 0.16 + 0.24 + 0.24 = 0.64, so prefix beam search returns
    # "a".
    rows = [[0.6, 0.4], [0.6, 0.4]]
    assert ctc_greedy(log_probs_of(rows), [2]) == [[]]
    assert ctc_beam_search(log_probs_of(rows), [2], beam_width=2) == [[A]]


def test_beam_search_needs_a_blank_between_equal_tokens():
    # "a - a" is the only likely way to write "a a"; "a a a" collapses to "a".
    rows = [[0.05, 0.9, 0.05], [0.9, 0.05, 0.05], [0.05, 0.9, 0.05]]
    assert ctc_beam_search(log_probs_of(rows), [3], beam_width=3) == [[A, A]]
    rows = [[0.05, 0.9, 0.05]] * 3
    assert ctc_beam_search(log_probs_of(rows), [3], beam_width=3) == [[A]]


def _output_probability(rows, output):
    """Brute force: the total probability of every frame path that reads as ``output``."""
    total = 0.0
    for path in itertools.product(range(len(rows[0])), repeat=len(rows)):
        read = [s for i, s in enumerate(path) if s != BLANK and (i == 0 or s != path[i - 1])]
        if read == list(output):
            total += math.prod(rows[t][s] for t, s in enumerate(path))
    return total


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(st.floats(0.05, 1.0), min_size=3, max_size=3), min_size=1, max_size=4))
def test_wide_beam_finds_the_likeliest_output_and_agrees_with_ctc_loss(raw):
    rows = [[p / sum(row) for p in row] for row in raw]
    frames = len(rows)
    outputs = {tuple(o) for n in range(frames + 1) for o in itertools.product((A, B), repeat=n)}
    probability = {o: _output_probability(rows, o) for o in outputs}
    best = ctc_beam_search(log_probs_of(rows), [frames], beam_width=50, prune=0)[0]
    assert probability[tuple(best)] == pytest.approx(max(probability.values()), rel=1e-9)
    if best:  # nn.CTCLoss sums the same paths
        loss = F.ctc_loss(
            log_probs_of(rows).transpose(0, 1),
            torch.tensor([best]),
            [frames],
            [len(best)],
            reduction="sum",
        )
        assert math.exp(-float(loss)) == pytest.approx(probability[tuple(best)], rel=1e-6)


def test_frames_needed_counts_a_blank_between_equal_neighbours():
    # 2000-1 style repeats; the second row is 3 long + padding
    tgt = torch.tensor([[2, 0, 0, 0, 1], [5, 5, 5, 0, 0]])
    assert frames_needed(tgt, [5, 3]).tolist() == [7, 5]


def test_upsample_repeats_each_token_and_keeps_padding_at_the_end():
    frames, lengths = upsample(torch.tensor([[4, 5, 6], [7, 8, 0]]), [3, 2], 2)
    assert frames.tolist() == [[4, 4, 5, 5, 6, 6], [7, 7, 8, 8, 0, 0]] and lengths.tolist() == [
        6,
        4,
    ]


def test_ctc_tagger_trains_and_decodes(tagging_batch):
    seed_everything(0)
    m = CTCTagger(12, 7, embed_dim=8, hidden_size=10, bidirectional=True, upsample=2)
    src, lengths, tgt, tgt_lengths = tagging_batch
    log_probs, frame_lengths = m(src, lengths)
    assert log_probs.shape == (5, 18, 7) and frame_lengths.tolist() == [18, 6, 12, 2, 18]
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(5, 18))
    # rows whose 2·length frames can hold 4 tokens (plus any blanks between repeats)
    keep = lengths >= 3
    batch = (src[keep], lengths[keep], tgt[keep], tgt_lengths[keep])
    loss = ctc_loss(m, batch)
    loss.backward()
    assert torch.isfinite(loss) and m.frame_rnn.embed.weight.grad is not None
    assert all(isinstance(row, list) for row in m.decode(src, lengths, beam_width=3))


def test_ctc_loss_says_when_the_output_cannot_fit(tagging_batch):
    m = CTCTagger(12, 7, embed_dim=4, hidden_size=4, upsample=1)
    src, lengths, tgt, tgt_lengths = tagging_batch
    with pytest.raises(ValueError, match="larger upsample"):
        ctc_loss(m, (src, lengths, tgt, tgt_lengths))
