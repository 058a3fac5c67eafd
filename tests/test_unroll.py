import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from rnnlab.models.unroll import RUNNERS, StaticUnroller, make_lstm, run_checkpointed, run_dynamic, run_fused, run_packed, runners


def _batch(lengths, input_size=3, steps=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    steps = steps or max(lengths)
    return torch.randn(len(lengths), steps, input_size, generator=g, dtype=torch.float64)


def _reference(lstm, x, lengths):
    """Each sequence alone through nn.LSTM, no padding at all: the ground truth every runner must match."""
    outputs = torch.zeros(x.shape[0], x.shape[1], lstm.hidden_size, dtype=x.dtype)
    h_last = torch.zeros(x.shape[0], lstm.hidden_size, dtype=x.dtype)
    for b, n in enumerate(lengths):
        out, (h, _) = lstm(x[b : b + 1, :n])
        outputs[b, :n], h_last[b] = out[0], h[0, 0]
    return outputs, h_last


@settings(max_examples=8, deadline=None)
@given(lengths=st.lists(st.integers(1, 7), min_size=1, max_size=5), extra=st.integers(0, 2), seed=st.integers(0, 1000))
def test_four_runners_agree_with_unpadded_reference(lengths, extra, seed):
    lstm = make_lstm(3, 5, seed=seed, dtype=torch.float64)
    x = _batch(lengths, steps=max(lengths) + extra, seed=seed)
    want_out, want_h = _reference(lstm, x, lengths)
    with torch.no_grad():
        for name, run in {**runners(lstm), "checkpointed": lambda x, n: run_checkpointed(lstm, x, n, segment=2)}.items():
            out, h = run(x, lengths)
            assert out.shape == want_out.shape and h.shape == want_h.shape, name
            torch.testing.assert_close(out, want_out, atol=1e-10, rtol=0, msg=name)
            torch.testing.assert_close(h, want_h, atol=1e-10, rtol=0, msg=name)


def test_runners_give_the_same_gradients():
    lstm = make_lstm(4, 6, seed=3, dtype=torch.float64)
    lengths = [5, 2, 7, 7, 1]
    x = _batch(lengths, input_size=4, seed=1)
    grads = {}
    for name, run in runners(lstm).items():
        lstm.zero_grad()
        out, h = run(x, lengths)
        (out.pow(2).sum() + h.sum()).backward()
        grads[name] = torch.cat([p.grad.flatten() for p in lstm.parameters()])
    for name in RUNNERS:
        torch.testing.assert_close(grads[name], grads["fused"], atol=1e-10, rtol=0, msg=name)


@pytest.mark.parametrize("lengths", [[1], [1, 1, 1], [4, 4, 4], [6]])
def test_dynamic_loop_handles_length_one_and_equal_lengths(lengths):
    lstm = make_lstm(3, 4, seed=0, dtype=torch.float64)
    x = _batch(lengths)
    want_out, want_h = _reference(lstm, x, lengths)
    for enforce_sorted in (False, True):
        out, h = run_dynamic(lstm, x, lengths, enforce_sorted=enforce_sorted)
        torch.testing.assert_close(out, want_out, atol=1e-12, rtol=0)
        torch.testing.assert_close(h, want_h, atol=1e-12, rtol=0)


def test_outputs_are_zero_on_padding():
    lstm = make_lstm(3, 4)
    x = torch.randn(3, 6, 3)
    for name, run in runners(lstm).items():
        out, _ = run(x, [6, 2, 4])
        assert out[1, 2:].abs().sum() == 0 and out[2, 4:].abs().sum() == 0, name


def test_static_graph_is_built_once_per_length_and_grows_with_it():
    lstm = make_lstm(3, 4)
    static = StaticUnroller(lstm)
    static(torch.randn(2, 5, 3), [5, 3])
    first = static.graphs[5]
    static(torch.randn(4, 5, 3), [1, 2, 3, 5])
    assert static.graphs[5] is first and set(static.build_seconds) == {5}
    assert static.graph_nodes(20) > 3 * static.graph_nodes(5)
    assert {name for name, _ in first.named_parameters()} >= {"lstm.weight_hh_l0"}
    assert first.get_parameter("lstm.weight_hh_l0") is lstm.weight_hh_l0


def test_make_lstm_is_seeded_and_leaves_the_global_rng_alone():
    torch.manual_seed(7)
    a = make_lstm(3, 4, seed=1)
    after = torch.rand(1)
    torch.manual_seed(7)
    b = make_lstm(3, 4, seed=1)
    assert torch.equal(torch.rand(1), after)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


ALL = [run_fused, run_packed, run_dynamic, lambda lstm, x, n: StaticUnroller(lstm)(x, n),
       lambda lstm, x, n: run_checkpointed(lstm, x, n, segment=2)]


@pytest.mark.parametrize("run", ALL)
@pytest.mark.parametrize(("lengths", "error", "match"), [
    ([4, 5], ValueError, "longer than the padded"),
    ([4, 0], ValueError, "≥ 1"),
    ([4], ValueError, "2 sequences"),
    ([4.0, 2.0], TypeError, "integers"),
])
def test_bad_lengths_are_named(run, lengths, error, match):
    lstm = make_lstm(3, 4)
    with pytest.raises(error, match=match):
        run(lstm, torch.randn(2, 4, 3), lengths)


@pytest.mark.parametrize("run", ALL)
def test_bad_inputs_are_named(run):
    lstm = make_lstm(3, 4)
    with pytest.raises(ValueError, match=r"x must have shape \(B, T, 3\)"):
        run(lstm, torch.randn(2, 4, 5), [4, 4])
    with pytest.raises(ValueError, match=r"x must have shape"):
        run(lstm, torch.randn(4, 3), [4, 4])
    with pytest.raises(TypeError, match="float64"):
        run(lstm, torch.randn(2, 4, 3, dtype=torch.float64), [4, 4])
    with pytest.raises(TypeError, match="lstm must be a torch.nn.LSTM"):
        run(nn.GRU(3, 4, batch_first=True), torch.randn(2, 4, 3), [4, 4])
    with pytest.raises(ValueError, match="batch_first=True"):
        run(nn.LSTM(3, 4), torch.randn(2, 4, 3), [4, 4])


def test_unsorted_lengths_rejected_where_sorted_is_promised():
    lstm = make_lstm(3, 4)
    with pytest.raises(ValueError, match="sorted longest first"):
        run_dynamic(lstm, torch.randn(3, 4, 3), [2, 4, 1], enforce_sorted=True)
    run_dynamic(lstm, torch.randn(3, 4, 3), [2, 4, 1])  # the default sorts for you


def test_bad_sizes_and_steps():
    with pytest.raises(ValueError, match="hidden_size"):
        make_lstm(3, 0)
    with pytest.raises(TypeError, match="dtype"):
        make_lstm(3, 4, dtype=torch.int64)
    with pytest.raises(ValueError, match="steps"):
        StaticUnroller(make_lstm(3, 4)).build(0)
    with pytest.raises(ValueError, match="segment"):
        run_checkpointed(make_lstm(3, 4), torch.randn(2, 4, 3), [4, 4], segment=0)
