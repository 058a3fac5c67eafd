import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from rnnlab.models.unroll import (
    RUNNERS,
    NextStepLSTM,
    StaticUnroller,
    StepCounter,
    fit_next_step,
    make_lstm,
    run_checkpointed,
    run_fused,
    run_masked,
    run_packed,
    run_shrinking,
    runners,
)


def _batch(lengths, input_size=3, steps=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    steps = steps or max(lengths)
    return torch.randn(len(lengths), steps, input_size, generator=g, dtype=torch.float64)


def _reference(lstm, x, lengths):
    """Each sequence alone through nn.LSTM, no padding at all: the ground truth every runner must
    match."""
    outputs = torch.zeros(x.shape[0], x.shape[1], lstm.hidden_size, dtype=x.dtype)
    h_last = torch.zeros(x.shape[0], lstm.hidden_size, dtype=x.dtype)
    for b, n in enumerate(lengths):
        out, (h, _) = lstm(x[b : b + 1, :n])
        outputs[b, :n], h_last[b] = out[0], h[0, 0]
    return outputs, h_last


@settings(max_examples=8, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 7), min_size=1, max_size=5),
    extra=st.integers(0, 2),
    seed=st.integers(0, 1000),
)
def test_five_runners_and_checkpointing_agree_with_unpadded_reference(lengths, extra, seed):
    lstm = make_lstm(3, 5, seed=seed, dtype=torch.float64)
    x = _batch(lengths, steps=max(lengths) + extra, seed=seed)
    want_out, want_h = _reference(lstm, x, lengths)
    with torch.no_grad():
        for name, run in {
            **runners(lstm),
            "checkpointed": lambda x, n: run_checkpointed(lstm, x, n, segment=2),
        }.items():
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
def test_shrinking_loop_handles_length_one_and_equal_lengths(lengths):
    lstm = make_lstm(3, 4, seed=0, dtype=torch.float64)
    x = _batch(lengths)
    want_out, want_h = _reference(lstm, x, lengths)
    for enforce_sorted in (False, True):
        out, h = run_shrinking(lstm, x, lengths, enforce_sorted=enforce_sorted)
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


ALL = [
    run_fused,
    run_packed,
    run_shrinking,
    run_masked,
    lambda lstm, x, n: StaticUnroller(lstm)(x, n),
    lambda lstm, x, n: run_checkpointed(lstm, x, n, segment=2),
]


@pytest.mark.parametrize("run", ALL)
@pytest.mark.parametrize(
    ("lengths", "error", "match"),
    [
        ([4, 5], ValueError, "longer than the padded"),
        ([4, 0], ValueError, "≥ 1"),
        ([4], ValueError, "2 sequences"),
        ([4.0, 2.0], TypeError, "integers"),
    ],
)
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
        run_shrinking(lstm, torch.randn(3, 4, 3), [2, 4, 1], enforce_sorted=True)
    run_shrinking(lstm, torch.randn(3, 4, 3), [2, 4, 1])  # the default sorts for you


def test_bad_sizes_and_steps():
    with pytest.raises(ValueError, match="hidden_size"):
        make_lstm(3, 0)
    with pytest.raises(TypeError, match="dtype"):
        make_lstm(3, 4, dtype=torch.int64)
    with pytest.raises(ValueError, match="steps"):
        StaticUnroller(make_lstm(3, 4)).build(0)
    with pytest.raises(ValueError, match="segment"):
        run_checkpointed(make_lstm(3, 4), torch.randn(2, 4, 3), [4, 4], segment=0)
    with pytest.raises(TypeError, match="segment"):
        run_checkpointed(make_lstm(3, 4), torch.randn(2, 4, 3), [4, 4], segment=2.0)


def test_masked_runs_to_the_longest_sequence_not_the_padded_length():
    lstm = make_lstm(3, 4, seed=2, dtype=torch.float64)
    x = _batch([3, 1], steps=6)
    out, h = run_masked(lstm, x, [3, 1])
    assert out.shape == (2, 6, 4) and out[:, 3:].abs().sum() == 0
    # what comes after the longest sequence is never read: changing it changes nothing
    x2 = x.clone()
    x2[:, 3:] = 100.0
    torch.testing.assert_close(run_masked(lstm, x2, [3, 1]), (out, h), atol=0, rtol=0)


@pytest.mark.parametrize(("length", "segment"), [(10, 3), (12, 4), (7, 7), (5, 1)])
def test_checkpointing_recomputes_every_step_once(length, segment):
    lstm = make_lstm(3, 4, seed=1)
    x = torch.randn(2, length, 3)
    counter = StepCounter()
    out, h = run_checkpointed(lstm, x, [length, 2], segment=segment, counter=counter)
    assert counter.steps == length  # the forward pass: each step once
    (out.sum() + h.sum()).backward()
    assert counter.recomputed(length) == length  # the backward pass: each segment once more


def test_checkpointed_gradients_match_fused():
    lstm = make_lstm(3, 5, seed=4, dtype=torch.float64)
    x, lengths = _batch([6, 3, 9], seed=2), [6, 3, 9]
    grads = []
    for run in (run_fused, lambda *a: run_checkpointed(*a, segment=4)):
        lstm.zero_grad()
        out, h = run(lstm, x, lengths)
        (out.pow(2).sum() + h.sum()).backward()
        grads.append(torch.cat([p.grad.flatten() for p in lstm.parameters()]))
    torch.testing.assert_close(grads[0], grads[1], atol=1e-10, rtol=0)


def test_next_step_model_predicts_changes_and_carries_state():
    model = NextStepLSTM(8, seed=0)
    x = torch.linspace(0, 1, 20).view(2, 10)
    whole, state = model(x)
    first, mid = model(x[:, :4])
    rest, state2 = model(x[:, 4:], mid)
    # carrying the state = one long run
    torch.testing.assert_close(torch.cat([first, rest], 1), whole)
    torch.testing.assert_close(state2, state)
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        model(torch.zeros(2, 3, 1))


@pytest.mark.parametrize(("chunk", "updates"), [(None, 3), (4, 15), (20, 3)])
def test_fit_next_step_counts_updates_and_learns(chunk, updates):
    series = torch.sin(torch.arange(40.0) / 3).view(2, 20)
    model = NextStepLSTM(8, seed=0)
    loss = lambda: float((model(series[:, :-1])[0] - series[:, 1:]).abs().mean().detach())  # noqa: E731
    before = loss()
    info = fit_next_step(model, series, chunk=chunk, epochs=3, lr=1e-2)
    assert info["updates"] == updates and info["seconds"] > 0 and loss() < before


def test_fit_next_step_truncates_the_gradient_to_one_chunk():
    """With chunk k, no update sees a gradient from further back than k steps: the state is
    detached."""
    model = NextStepLSTM(4, seed=0)
    seen = []
    model.rnn.register_forward_hook(
        lambda mod, inputs, out: seen.append(inputs[1] is None or not inputs[1][0].requires_grad)
    )
    fit_next_step(model, torch.randn(2, 13), chunk=4, epochs=1)
    assert seen == [True, True, True]


def test_fit_next_step_rejects_bad_arguments():
    with pytest.raises(TypeError, match="model"):
        fit_next_step(lambda x, state: (x, state), torch.zeros(2, 5), chunk=None, epochs=1)
    with pytest.raises(ValueError, match="streams"):
        fit_next_step(NextStepLSTM(2), torch.zeros(5), chunk=None, epochs=1)
    with pytest.raises(ValueError, match="chunk"):
        fit_next_step(NextStepLSTM(2), torch.zeros(2, 5), chunk=0, epochs=1)
    with pytest.raises(ValueError, match="epochs"):
        fit_next_step(NextStepLSTM(2), torch.zeros(2, 5), chunk=None, epochs=0)
