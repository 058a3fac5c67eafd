"""rnnlab.sequences: padding, masks, packing, masked losses and pooling — laws and bad input."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnlab.sequences import (
    check_lengths,
    collate_padded,
    last_real_state,
    lengths_to_mask,
    masked_cross_entropy,
    masked_max,
    masked_mean,
    pack,
    pad_sequences,
    run_rnn,
    unpack,
)

lengths_lists = st.lists(st.integers(1, 12), min_size=1, max_size=8)
FAST = settings(max_examples=25, deadline=None)


def _seqs(lengths, features=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, features, generator=g) for n in lengths]


# ---- laws ---------------------------------------------------------------------------------------


@FAST
@given(lengths_lists, st.booleans())
def test_padding_keeps_every_sequence_and_zeros_the_rest(lengths, batch_first):
    seqs = _seqs(lengths)
    padded, got = pad_sequences(seqs, batch_first=batch_first)
    assert got.tolist() == lengths
    rows = padded if batch_first else padded.transpose(0, 1)
    assert rows.shape[:2] == (len(lengths), max(lengths))
    for row, seq, n in zip(rows, seqs, lengths, strict=True):
        assert torch.equal(row[:n], seq) and not row[n:].any()


@FAST
@given(lengths_lists, st.integers(0, 5))
def test_mask_has_sum_of_lengths_true_entries_and_inverts(lengths, extra):
    mask = lengths_to_mask(lengths, max(lengths) + extra)
    assert mask.dtype == torch.bool and mask.shape == (len(lengths), max(lengths) + extra)
    assert int(mask.sum()) == sum(lengths)
    for row, n in zip(mask, lengths, strict=True):  # a prefix of n True, then False
        assert row[:n].all() and not row[n:].any()


@FAST
@given(lengths_lists, st.integers(1, 6))
def test_masked_loss_and_pooling_unchanged_by_extra_padding(lengths, extra):
    g = torch.Generator().manual_seed(1)
    batch = len(lengths)
    steps = max(lengths)
    vocab = 5
    logits = torch.randn(batch, steps, vocab, generator=g)
    targets = torch.randint(0, vocab, (batch, steps), generator=g)
    more_logits = torch.cat([logits, 100 * torch.randn(batch, extra, vocab, generator=g)], dim=1)
    more_targets = torch.cat([targets, torch.randint(0, vocab, (batch, extra), generator=g)], dim=1)
    for reduction in ("mean", "sum"):
        a = masked_cross_entropy(logits, targets, lengths, reduction=reduction)
        b = masked_cross_entropy(more_logits, more_targets, lengths, reduction=reduction)
        assert torch.allclose(a, b, atol=1e-5)
    # the mean is over real tokens: equal to plain cross-entropy of the real tokens alone
    mask = lengths_to_mask(lengths)
    plain = torch.nn.functional.cross_entropy(logits[mask], targets[mask])
    assert torch.allclose(masked_cross_entropy(logits, targets, mask), plain, atol=1e-6)
    assert torch.allclose(
        masked_mean(logits, lengths), masked_mean(more_logits, lengths), atol=1e-5
    )
    assert torch.equal(masked_max(logits, lengths), masked_max(more_logits, lengths))
    assert torch.equal(last_real_state(logits, lengths), last_real_state(more_logits, lengths))


@FAST
@given(lengths_lists)
def test_pooling_matches_per_sequence_reference(lengths):
    seqs = _seqs(lengths)
    padded, lens = pad_sequences(seqs, padding_value=1e6)
    assert torch.allclose(
        masked_mean(padded, lens), torch.stack([s.mean(0) for s in seqs]), atol=1e-5
    )
    assert torch.equal(masked_max(padded, lens), torch.stack([s.amax(0) for s in seqs]))
    assert torch.equal(last_real_state(padded, lens), torch.stack([s[-1] for s in seqs]))


@FAST
@given(lengths_lists)
def test_pack_unpack_keeps_order(lengths):
    seqs = _seqs(lengths)
    padded, lens = pad_sequences(seqs)
    packed = pack(padded, lens)
    assert packed.batch_sizes.tolist() == [sum(n > t for n in lengths) for t in range(max(lengths))]
    back, back_lens = unpack(packed, total_length=padded.shape[1])
    assert torch.equal(back, padded) and back_lens.tolist() == lengths


def test_packed_rnn_equals_one_sequence_at_a_time():
    rnn = torch.nn.GRU(3, 4, batch_first=True, bidirectional=True)
    seqs = _seqs([5, 2, 7])
    padded, lens = pad_sequences(seqs)
    out, _ = unpack(rnn(pack(padded, lens))[0])
    for b, seq in enumerate(seqs):
        alone, _ = rnn(seq.unsqueeze(0))
        assert torch.allclose(out[b, : len(seq)], alone[0], atol=1e-6)


def _packed_reference(rnn, x, lengths):
    outputs, final = rnn(pack(x, lengths))
    return unpack(outputs, total_length=x.shape[1])[0], final


@settings(max_examples=30, deadline=None)
@given(
    lengths_lists,
    st.sampled_from([torch.nn.GRU, torch.nn.RNN]),
    st.booleans(),
    st.integers(1, 2),
    st.booleans(),
)
def test_run_rnn_equals_packing_outputs_final_state_and_gradients(
    lengths, kind, bidirectional, num_layers, bias
):
    """The unpacked CPU route computes what pack → rnn → unpack computes, and trains the same."""
    torch.manual_seed(len(lengths))
    rnn = kind(
        3, 4, num_layers=num_layers, bidirectional=bidirectional, bias=bias, batch_first=True
    )
    x, lens = pad_sequences(_seqs(lengths))
    x.requires_grad_(True)
    want_out, want_final = _packed_reference(rnn, x, lens)
    got_out, got_final = run_rnn(rnn, x, lens)
    assert got_out.shape == want_out.shape and got_final.shape == want_final.shape
    torch.testing.assert_close(got_out, want_out, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(got_final, want_final, atol=1e-6, rtol=1e-5)
    weights = [x, *rnn.parameters()]
    want = torch.autograd.grad((want_out**2).sum() + want_final.sum(), weights)
    got = torch.autograd.grad((got_out**2).sum() + got_final.sum(), weights)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, atol=1e-5, rtol=1e-4)


@FAST
@given(lengths_lists, st.integers(1, 5), st.booleans())
def test_run_rnn_ignores_whatever_the_padding_holds(lengths, extra, bidirectional):
    """Padding never reaches a real output, the final state or a gradient, whatever it holds (NaN
    included); padded outputs are 0."""
    torch.manual_seed(0)
    rnn = torch.nn.GRU(3, 4, bidirectional=bidirectional, batch_first=True)
    x, lens = pad_sequences(_seqs(lengths))
    longer = torch.cat([x, torch.full((x.shape[0], extra, 3), float("nan"))], dim=1)
    longer[
        lengths_to_mask(lens, longer.shape[1]).logical_not() & (torch.rand(longer.shape[:2]) < 0.5)
    ] = 7.0
    out, final = run_rnn(rnn, x, lens)
    out_longer, final_longer = run_rnn(rnn, longer, lens)
    assert torch.equal(out_longer[:, x.shape[1] :], torch.zeros_like(out_longer[:, x.shape[1] :]))
    torch.testing.assert_close(out_longer[:, : x.shape[1]], out)
    torch.testing.assert_close(final_longer, final)
    grads = torch.autograd.grad(out.sum() + final.sum(), list(rnn.parameters()))
    grads_longer = torch.autograd.grad(
        out_longer.sum() + final_longer.sum(), list(rnn.parameters())
    )
    for g, g_longer in zip(grads, grads_longer, strict=True):  # no NaN leaks into training
        torch.testing.assert_close(g_longer, g)


def test_run_rnn_dropout_between_layers_only_while_training():
    torch.manual_seed(0)
    rnn = torch.nn.GRU(3, 4, num_layers=2, dropout=0.5, batch_first=True)
    x, lens = pad_sequences(_seqs([4, 2]))
    rnn.eval()
    torch.testing.assert_close(run_rnn(rnn, x, lens)[0], _packed_reference(rnn, x, lens)[0])
    rnn.train()
    first, second = run_rnn(rnn, x, lens)[0], run_rnn(rnn, x, lens)[0]
    assert not torch.allclose(first, second)  # a fresh dropout mask each call


def test_run_rnn_lstm_takes_the_packed_route_and_returns_h_and_c():
    rnn = torch.nn.LSTM(3, 4, bidirectional=True, batch_first=True)
    x, lens = pad_sequences(_seqs([5, 1, 3]))
    out, (h, c) = run_rnn(rnn, x, lens)
    want_out, (want_h, want_c) = _packed_reference(rnn, x, lens)
    assert torch.equal(out, want_out) and torch.equal(h, want_h) and torch.equal(c, want_c)


@pytest.mark.parametrize(
    "call, error, name",
    [
        (lambda: run_rnn(torch.nn.Linear(3, 4), torch.ones(1, 2, 3), [2]), TypeError, "rnn"),
        (lambda: run_rnn(torch.nn.GRU(3, 4), torch.ones(1, 2, 3), [2]), ValueError, "batch_first"),
        (
            lambda: run_rnn(torch.nn.GRU(3, 4, batch_first=True), torch.ones(1, 2, 5), [2]),
            ValueError,
            "input_size 3",
        ),
        (
            lambda: run_rnn(torch.nn.GRU(3, 4, batch_first=True), torch.ones(1, 2), [2]),
            ValueError,
            "x",
        ),
        (
            lambda: run_rnn(torch.nn.GRU(3, 4, batch_first=True), torch.ones(2, 2, 3), [2, 3]),
            ValueError,
            "lengths",
        ),
    ],
)
def test_run_rnn_bad_input_names_the_argument(call, error, name):
    with pytest.raises(error, match=name):
        call()


def test_collate_padded_fields():
    tokens, lengths, labels = collate_padded([([1, 2, 3], 0), ([4], 1)])
    assert (
        tokens.tolist() == [[1, 2, 3], [4, 0, 0]]
        and lengths.tolist() == [3, 1]
        and labels.tolist() == [0, 1]
    )


# ---- bad input: a clear ValueError/TypeError naming the argument ---------------------------


@pytest.mark.parametrize(
    "call, error, name",
    [
        (lambda: pad_sequences([]), ValueError, "seqs"),
        (lambda: pad_sequences([torch.ones(2), torch.ones(0)]), ValueError, "seqs[1]"),
        (lambda: pad_sequences(torch.ones(2, 3)), TypeError, "seqs"),
        (lambda: pad_sequences([torch.ones(2, 3), torch.ones(2, 4)]), ValueError, "seqs[1]"),
        (lambda: lengths_to_mask([]), ValueError, "lengths"),
        (lambda: lengths_to_mask([2, 0]), ValueError, "lengths"),
        (lambda: lengths_to_mask([2.0, 1.0]), TypeError, "lengths"),
        (lambda: lengths_to_mask(torch.tensor([2.0, 1.0])), TypeError, "lengths"),
        (lambda: lengths_to_mask([torch.tensor(2.5)]), TypeError, "lengths"),
        (lambda: lengths_to_mask([True, 2]), TypeError, "lengths"),
        (lambda: lengths_to_mask([3, 5], max_len=4), ValueError, "lengths"),
        (
            lambda: lengths_to_mask([3], max_len=2.5),
            TypeError,
            "max_len must be an int or None, got float 2.5",
        ),
        (lambda: lengths_to_mask(torch.tensor([[1, 2]])), ValueError, "lengths"),
        (lambda: lengths_to_mask(torch.tensor([3, 2], device="meta")), ValueError, "lengths"),
        (lambda: masked_mean(torch.ones(2, 3, 4), [3, 4]), ValueError, "lengths_or_mask"),
        (lambda: masked_mean(torch.ones(2, 3, 4), [3, 1, 2]), ValueError, "lengths_or_mask"),
        (
            lambda: masked_mean(torch.ones(2, 3, 4), torch.ones(2, 4, dtype=torch.bool)),
            ValueError,
            "lengths_or_mask",
        ),
        (lambda: masked_max(torch.ones(3), [1]), ValueError, "x"),
        (lambda: masked_max([[1.0]], [1]), TypeError, "x"),
        (lambda: last_real_state(torch.ones(2, 3, 4), [1, 0]), ValueError, "lengths"),
        (lambda: last_real_state(torch.ones(2, 3, 4), [1.5, 2]), TypeError, "lengths"),
        (
            lambda: masked_cross_entropy(
                torch.ones(2, 3, 5), torch.zeros(3, 3, dtype=torch.long), [3, 3]
            ),
            ValueError,
            "targets",
        ),
        (
            lambda: masked_cross_entropy(torch.ones(2, 3, 5), torch.zeros(2, 3), [3, 3]),
            TypeError,
            "targets",
        ),
        (
            lambda: masked_cross_entropy(torch.ones(2, 3, 5), torch.full((2, 3), 7), [3, 3]),
            ValueError,
            "targets",
        ),
        (
            lambda: masked_cross_entropy(
                torch.ones(2, 3, 5), torch.zeros(2, 3, dtype=torch.long), [3]
            ),
            ValueError,
            "lengths_or_mask",
        ),
        (
            lambda: masked_cross_entropy(
                torch.ones(2, 3, 5), torch.zeros(2, 3, dtype=torch.long), [3, 3], "avg"
            ),
            ValueError,
            "reduction",
        ),
        (lambda: pack(torch.ones(2, 3, 1), [3, 4]), ValueError, "lengths"),
        (lambda: pack(torch.ones(2, 3, 1), [3]), ValueError, "lengths"),
        (
            lambda: pack(torch.ones(2, 3, 1), torch.tensor([3, 2], device="meta")),
            ValueError,
            "lengths",
        ),
        (lambda: unpack(torch.ones(2, 3)), TypeError, "packed"),
        (lambda: collate_padded([]), ValueError, "samples"),
        (lambda: collate_padded([([1], 0), ([1, 2],)]), ValueError, "samples[1]"),
        (lambda: collate_padded([([1], 0), (2, 1)]), ValueError, "field 0"),
        (lambda: check_lengths([2, 3], batch_size=3), ValueError, "lengths"),
        (lambda: check_lengths("23"), TypeError, "lengths"),
    ],
)
def test_bad_input_names_the_argument(call, error, name):
    with pytest.raises(error, match=name.replace("[", r"\[").replace("]", r"\]")):
        call()


def test_pack_moves_lengths_to_the_cpu_for_torch():
    """torch wants packing lengths on the CPU; `pack` moves them there rather than failing later."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    x = torch.ones(2, 3, 1, device=device)
    lengths = torch.tensor([3, 1], device=device)
    back, back_lengths = unpack(pack(x, lengths))
    assert back_lengths.tolist() == [3, 1] and back.device == x.device


# ---- padding never leaks: pooling and losses (and gradients) ignore whatever the padding holds ---

GARBAGE = st.sampled_from([float("nan"), float("inf"), float("-inf"), 1e30, -1e30, 0.0, 7.0])


@st.composite
def padded_batches(draw):
    batch = draw(st.integers(1, 4))
    steps = draw(st.integers(1, 6))
    width = draw(st.integers(1, 3))
    lengths = torch.tensor(draw(st.lists(st.integers(1, steps), min_size=batch, max_size=batch)))
    seed = draw(st.integers(0, 2**16))
    x = torch.randn(batch, steps, width, generator=torch.Generator().manual_seed(seed))
    return x, lengths, draw(GARBAGE)


def _fill_padding(x, lengths, value):
    mask = lengths_to_mask(lengths, x.shape[1])
    return torch.where(mask.unsqueeze(-1), x, torch.full_like(x, value))


@settings(max_examples=60, deadline=None)
@given(padded_batches())
def test_pooling_ignores_whatever_the_padding_holds(case):
    x, lengths, value = case
    dirty = _fill_padding(x, lengths, value)
    for pool in (masked_mean, masked_max, last_real_state):
        clean_x = x.clone().requires_grad_()
        dirty_x = dirty.clone().requires_grad_()
        clean, result = pool(clean_x, lengths), pool(dirty_x, lengths)
        assert torch.equal(clean, result), pool.__name__
        clean.sum().backward()
        result.sum().backward()
        # no NaN gradient reaches the padding either
        assert torch.equal(clean_x.grad, dirty_x.grad), pool.__name__


@settings(max_examples=60, deadline=None)
@given(padded_batches(), st.sampled_from(["mean", "sum", "none"]))
def test_masked_cross_entropy_ignores_whatever_the_padding_holds(case, reduction):
    logits, lengths, value = case
    logits = torch.cat([logits, logits.flip(-1)], dim=-1)  # at least 2 classes
    targets = torch.randint(
        0, logits.shape[-1], logits.shape[:2], generator=torch.Generator().manual_seed(1)
    )
    dirty_targets = torch.where(
        lengths_to_mask(lengths, logits.shape[1]), targets, torch.full_like(targets, -100)
    )
    clean_x = logits.clone().requires_grad_()
    dirty_x = _fill_padding(logits, lengths, value).requires_grad_()
    clean = masked_cross_entropy(clean_x, targets, lengths, reduction=reduction)
    dirty = masked_cross_entropy(dirty_x, dirty_targets, lengths, reduction=reduction)
    assert torch.equal(clean, dirty)
    clean.sum().backward()
    dirty.sum().backward()
    assert torch.equal(clean_x.grad, dirty_x.grad)


def test_the_measured_leak_is_gone():
    """The issue's example: ``masked_mean`` of [1, nan] with length 1 was NaN."""
    assert masked_mean(torch.tensor([[1.0, float("nan")]]).unsqueeze(-1), [1]).item() == 1.0
