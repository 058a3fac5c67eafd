"""The synced baselines of chapter 2: the (delayed) synced tagger, CTC and its decoders, the copy task."""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnlab import seed_everything
from rnnlab.data.copying import ALPHABET, copy_pairs, copy_vocab
from rnnlab.models.ctc import BLANK, CTCTagger, ctc_beam_search, ctc_greedy, ctc_loss, frames_needed, upsample
from rnnlab.models.synced import SyncedTagger, tagger_loss

A, B = 1, 2  # two output tokens beside the blank (0)


def log_probs_of(rows):
    """A (1, F, V) tensor of log-probabilities from per-frame probability rows."""
    return torch.tensor([rows], dtype=torch.float64).log()


def test_greedy_collapses_runs_and_drops_blanks():
    # frames:  a    a    -    a    b    b    -     (argmax of each row)
    rows = [[0.1, 0.8, 0.1], [0.2, 0.7, 0.1], [0.9, 0.05, 0.05], [0.1, 0.6, 0.3], [0.1, 0.2, 0.7], [0.2, 0.1, 0.7],
            [0.8, 0.1, 0.1]]
    assert ctc_greedy(log_probs_of(rows), [7]) == [[A, A, B]]
    assert ctc_greedy(log_probs_of(rows), [2]) == [[A]]  # frames past the length are not read


def test_beam_search_sums_the_paths_greedy_misses():
    # Two frames, P(blank) = 0.6 and P(a) = 0.4 in each. Greedy reads "- -" → "" (p = 0.36); but "a" is
    # written by "a a", "a -" and "- a": 0.16 + 0.24 + 0.24 = 0.64, so prefix beam search returns "a".
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
        loss = F.ctc_loss(log_probs_of(rows).transpose(0, 1), torch.tensor([best]), [frames], [len(best)], reduction="sum")
        assert math.exp(-float(loss)) == pytest.approx(probability[tuple(best)], rel=1e-6)


def test_frames_needed_counts_a_blank_between_equal_neighbours():
    tgt = torch.tensor([[2, 0, 0, 0, 1], [5, 5, 5, 0, 0]])  # 2000-1 style repeats; the second row is 3 long + padding
    assert frames_needed(tgt, [5, 3]).tolist() == [7, 5]


def test_upsample_repeats_each_token_and_keeps_padding_at_the_end():
    frames, lengths = upsample(torch.tensor([[4, 5, 6], [7, 8, 0]]), [3, 2], 2)
    assert frames.tolist() == [[4, 4, 5, 5, 6, 6], [7, 7, 8, 8, 0, 0]] and lengths.tolist() == [6, 4]


def _batch(seed=0, batch=5, vocab=12, out_vocab=7, out_len=4):
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([9, 3, 6, 1, 9][:batch])
    src = torch.randint(4, vocab, (batch, 9), generator=gen) * (torch.arange(9) < lengths.unsqueeze(1))
    tgt = torch.randint(4, out_vocab, (batch, out_len), generator=gen)
    return src, lengths, tgt, torch.full((batch,), out_len)


@pytest.mark.parametrize("delay", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_synced_tagger_shapes_and_batch_independence(delay, bidirectional):
    seed_everything(0)
    m = SyncedTagger(12, 7, embed_size=8, hidden_size=10, num_layers=2, bidirectional=bidirectional, delay=delay).eval()
    src, lengths, tgt, tgt_lengths = _batch()
    logits = m(src, lengths, 4)
    assert logits.shape == (5, 4, 7)
    for i in range(5):  # each row alone, unpadded, gives the same outputs: padding and batch mates are never read
        alone = m(src[i : i + 1, : lengths[i]], lengths[i : i + 1], 4)
        torch.testing.assert_close(alone[0], logits[i], atol=1e-5, rtol=1e-4)
    assert torch.isfinite(tagger_loss(m, (src, lengths, tgt, tgt_lengths)))


def test_frame_layouts_write_while_reading_or_after_reading():
    src, lengths = torch.tensor([[4, 5, 6, 0, 0], [4, 5, 6, 7, 8]]), torch.tensor([3, 5])
    synced = SyncedTagger(12, 7, embed_size=4, hidden_size=4)
    frames, frame_lengths, positions = synced.frames(src, lengths, 4)
    assert frame_lengths.tolist() == [4, 5] and positions.tolist() == [[0, 1, 2, 3]] * 2
    assert frames[0, :4].tolist() == [4, 5, 6, 0]  # one blank frame: the input is shorter than the output
    delayed = SyncedTagger(12, 7, embed_size=4, hidden_size=4, delay=True)
    frames, frame_lengths, positions = delayed.frames(src, lengths, 4)
    assert frame_lengths.tolist() == [7, 9] and positions.tolist() == [[3, 4, 5, 6], [5, 6, 7, 8]]
    assert frames[1].tolist() == [4, 5, 6, 7, 8, 0, 0, 0, 0]


def test_one_way_synced_output_ignores_later_input_but_delayed_output_does_not():
    seed_everything(0)
    src, lengths = torch.randint(4, 12, (2, 8)), torch.tensor([8, 8])
    later = src.clone()
    later[:, 6] = 4 if int(src[0, 6]) != 4 else 5
    synced = SyncedTagger(12, 7, embed_size=8, hidden_size=10).eval()
    torch.testing.assert_close(synced(later, lengths, 4), synced(src, lengths, 4))
    delayed = SyncedTagger(12, 7, embed_size=8, hidden_size=10, delay=True).eval()
    assert not torch.allclose(delayed(later, lengths, 4), delayed(src, lengths, 4))


def test_ctc_tagger_trains_and_decodes():
    seed_everything(0)
    m = CTCTagger(12, 7, embed_size=8, hidden_size=10, bidirectional=True, upsample=2)
    src, lengths, tgt, tgt_lengths = _batch()
    log_probs, frame_lengths = m(src, lengths)
    assert log_probs.shape == (5, 18, 7) and frame_lengths.tolist() == [18, 6, 12, 2, 18]
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(5, 18))
    keep = lengths >= 3  # rows whose 2·length frames can hold 4 tokens (plus any blanks between repeats)
    batch = (src[keep], lengths[keep], tgt[keep], tgt_lengths[keep])
    loss = ctc_loss(m, batch)
    loss.backward()
    assert torch.isfinite(loss) and m.rnn.embed.weight.grad is not None
    assert all(isinstance(row, list) for row in m.decode(src, lengths, beam_width=3))


def test_ctc_loss_says_when_the_output_cannot_fit():
    m = CTCTagger(12, 7, embed_size=4, hidden_size=4, upsample=1)
    src, lengths, tgt, tgt_lengths = _batch()
    with pytest.raises(ValueError, match="larger upsample"):
        ctc_loss(m, (src, lengths, tgt, tgt_lengths))


def test_bad_inputs_name_the_argument():
    with pytest.raises(TypeError, match="delay"):
        SyncedTagger(12, 7, delay="yes")
    with pytest.raises(TypeError, match="bidirectional"):
        CTCTagger(12, 7, bidirectional=1)
    with pytest.raises(ValueError, match="upsample"):
        CTCTagger(12, 7, upsample=0)
    with pytest.raises(ValueError, match="hidden_size"):
        SyncedTagger(12, 7, hidden_size=0)
    m = SyncedTagger(12, 7, embed_size=4, hidden_size=4)
    src, lengths, tgt, tgt_lengths = _batch()
    with pytest.raises(TypeError, match="src"):
        m(src.float(), lengths, 4)
    with pytest.raises(ValueError, match="src"):
        m(src + 20, lengths, 4)
    with pytest.raises(ValueError, match="src_lengths"):
        m(src, lengths[:2], 4)
    with pytest.raises(ValueError, match="out_len"):
        m(src, lengths, 0)
    with pytest.raises(TypeError, match="batch"):
        tagger_loss(m, (src, lengths))
    with pytest.raises(ValueError, match="beam_width"):
        ctc_beam_search(torch.zeros(1, 2, 3), [2], beam_width=0)
    with pytest.raises(ValueError, match="log_probs"):
        ctc_greedy(torch.zeros(2, 3), [2])
    with pytest.raises(ValueError, match="lengths"):
        ctc_greedy(torch.zeros(1, 2, 3), [3])
    with pytest.raises(TypeError, match="src"):
        upsample([[4, 5]], [2], 2)
    with pytest.raises(ValueError, match="factor"):
        upsample(torch.tensor([[4, 5]]), [2], 0)
    with pytest.raises(ValueError, match="prune"):
        ctc_beam_search(torch.zeros(1, 2, 3), [2], beam_width=2, prune=1.5)


def test_copy_pairs_vary_length_only():
    pairs = copy_pairs(60, lengths=range(5, 11), seed=0)
    assert all(s == t and set(s) <= set(ALPHABET) for s, t in pairs)
    assert sorted(len(s) for s, _ in pairs) == sorted(list(range(5, 11)) * 10)
    assert len({s for s, _ in pairs}) == 60 and copy_pairs(60, lengths=range(5, 11), seed=0) == pairs
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
