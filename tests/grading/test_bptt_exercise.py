"""rnnlab.grading.bptt_exercise: exercise 9's reference is nn.RNN on a packed batch, its problems
put garbage only in the padding, and its checks catch autograd however it is reached."""

from __future__ import annotations

import linecache

import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnlab.grading.bptt_exercise import (
    assert_flat_cost,
    assert_no_autograd,
    assert_own_forward,
    forbid_autograd,
    learner_gradients,
    problem,
    reference_forward,
    reference_gradients,
    relative_error,
    torch_calls,
)


# a hand-written forward and backward, as a learner would write them
def forward(x, lengths, W_x, W_h, b):
    mask = (torch.arange(x.shape[1])[None, :] < lengths[:, None]).to(x.dtype)[..., None]
    h, states = x.new_zeros(x.shape[0], W_h.shape[0]), []
    for t in range(x.shape[1]):
        states.append(h)
        h = mask[:, t] * torch.tanh(x[:, t] @ W_x + h @ W_h + b) + (1 - mask[:, t]) * h
    states.append(h)
    hs = torch.stack(states, dim=1)
    return hs[:, 1:] * mask, h, (x, mask, hs, W_x, W_h)


def backward(d_outputs, d_final, cache):
    x, mask, hs, W_x, W_h = cache
    dx, dW_x, dW_h, db = (torch.zeros_like(v) for v in (x, W_x, W_h, W_h[0]))
    g = d_final
    for t in reversed(range(x.shape[1])):
        g = g + mask[:, t] * d_outputs[:, t]
        da = mask[:, t] * g * (1 - hs[:, t + 1] ** 2)
        dx[:, t], dW_x, dW_h, db = (
            da @ W_x.T,
            dW_x + x[:, t].T @ da,
            dW_h + hs[:, t].T @ da,
            db + da.sum(0),
        )
        g = (1 - mask[:, t]) * g + da @ W_h.T
    return dx, dW_x, dW_h, db


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_the_reference_is_nn_rnn_on_the_packed_batch(seed):
    p = problem(seed)
    B, T, D = p.x.shape
    rnn = nn.RNN(D, p.W_h.shape[0], batch_first=True).double()
    with torch.no_grad():
        for name, value in (("weight_ih", p.W_x.T), ("weight_hh", p.W_h.T), ("bias_ih", p.b)):
            getattr(rnn, f"{name}_l0").copy_(value)
        rnn.bias_hh_l0.zero_()
        packed, h_n = rnn(
            pack_padded_sequence(p.x, p.lengths, batch_first=True, enforce_sorted=False)
        )
    outputs, h_final = reference_forward(p.x, p.lengths, p.W_x, p.W_h, p.b)
    assert torch.allclose(
        outputs, pad_packed_sequence(packed, batch_first=True, total_length=T)[0], atol=1e-12
    )
    assert torch.allclose(h_final, h_n[0], atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_problems_hide_garbage_only_in_the_padding_and_a_hand_written_backward_matches(seed):
    p = problem(seed)
    assert bool(((p.lengths >= 1) & (p.lengths <= p.x.shape[1])).all())
    assert p.x[p.mask].abs().max() < 10 and p.d_outputs[p.mask].abs().max() < 10
    if (~p.mask).any():
        assert p.x[~p.mask].abs().max() > 10
    want = reference_gradients(p)
    assert torch.equal(want["dx"][~p.mask], torch.zeros_like(want["dx"][~p.mask]))
    got = learner_gradients(forward, backward, p)
    assert all(relative_error(got[k], want[k]) < 1e-12 for k in want)


def test_problem_names_bad_lengths():
    assert problem(0, sizes=(2, 5, 1, 1), lengths=[5, 1]).lengths.tolist() == [5, 1]
    with pytest.raises(ValueError, match="lengths must be 2 numbers from 1 to 5"):
        problem(0, sizes=(2, 5, 1, 1), lengths=[6, 1])


AUTOGRAD_CALLS = {
    "torch.autograd.grad": lambda x: torch.autograd.grad((x**2).sum(), x),
    "Tensor.backward": lambda x: (x**2).sum().backward(),
    "torch.func.grad": lambda x: torch.func.grad(lambda y: (y**2).sum())(x.detach()),
    "torch.func.vjp": lambda x: torch.func.vjp(lambda y: y**2, x.detach())[1](torch.ones(3)),
    "autograd.functional.jacobian": lambda x: torch.autograd.functional.jacobian(torch.sin, x),
    "grad mode switched back on": lambda x: _escape(x),
}


def _escape(x):
    with torch.inference_mode(False), torch.enable_grad():
        y = x.detach().clone().requires_grad_(True)
        return torch.autograd.grad(torch.sin(y).sum(), y)


@pytest.mark.parametrize("call", AUTOGRAD_CALLS.values(), ids=AUTOGRAD_CALLS.keys())
def test_forbid_autograd_stops_every_way_into_the_engine_and_restores_it(call):
    x = torch.randn(3, requires_grad=True)
    with pytest.raises(AssertionError, match="autograd ran inside your code"), forbid_autograd():
        call(x)
    assert torch.equal(torch.autograd.grad((x**2).sum(), x)[0], 2 * x.detach())


def _ns(source: str) -> dict:
    namespace: dict = {"__name__": "bptt_answer"}
    linecache.cache["<bptt-answer>"] = (len(source), None, source.splitlines(True), "<bptt-answer>")
    exec(compile(source, "<bptt-answer>", "exec"), namespace)
    return namespace


@pytest.mark.parametrize(
    ("source", "named"),
    [
        ("def f(y, x):\n    y.backward()\n    return x.grad\n", ".backward, .grad"),
        (
            "from torch.autograd import grad as g\ndef f(y, x):\n    return g(y, x)\n",
            "torch.autograd",
        ),
        ("import torch\ndef f(y):\n    return torch.func.vjp(torch.sin, y)\n", "torch.func"),
        (
            "import torch\ndef helper(y):\n    return y.requires_grad_(True)\n"
            "def f(y):\n    return helper(y)\n",
            ".requires_grad_",
        ),
        (
            "import torch\ndef f(x):\n    with torch.enable_grad():\n        return x\n",
            "torch.autograd",
        ),
        (
            "import torch\nimport torch.autograd.functional as F\n"
            "def f(x):\n    return F.jacobian(torch.sin, x)\n",
            "torch.autograd.functional",
        ),
    ],
)
def test_the_source_check_names_autograd_in_the_function_or_its_helpers(source, named):
    with pytest.raises(AssertionError, match=f"f uses {named}.*without autograd"):
        assert_no_autograd(_ns(source)["f"])


def test_the_source_checks_pass_own_code_and_name_stubs_and_nn_rnn():
    assert_no_autograd(forward, backward)
    quiet = _ns(
        "import torch\ndef f(x):\n    with torch.no_grad(), torch.inference_mode():\n"
        "        return torch.tanh(x)\n"
    )["f"]
    assert_no_autograd(quiet)  # switching autograd off is no use of it
    assert_own_forward(forward)
    stub = _ns("def rnn_backward(d_outputs, d_final, cache):\n    ...\n")["rnn_backward"]
    with pytest.raises(AssertionError, match="still a stub"):
        assert_no_autograd(stub)
    packed = _ns(
        "import torch\ndef rnn_forward(x, lengths, W_x, W_h, b):\n"
        "    return torch.nn.RNN(1, 1)(x)\n"
    )["rnn_forward"]
    with pytest.raises(AssertionError, match="torch.nn.modules.rnn.RNN"):
        assert_own_forward(packed)


def test_the_cost_check_passes_backpropagation_and_fails_numerical_differentiation():
    assert_flat_cost(forward, backward)

    def numerical_forward(x, lengths, W_x, W_h, b):
        outputs, h_final, _ = forward(x, lengths, W_x, W_h, b)
        return outputs, h_final, (x, lengths, W_x, W_h, b)

    def numerical_backward(d_outputs, d_final, cache):
        x, lengths, *weights = cache
        out = []
        for k, value in enumerate([x, *weights]):
            grad = torch.zeros_like(value)
            for i in range(value.numel()):
                nudged = value.clone()
                nudged.view(-1)[i] += 1e-6
                args = [x, *weights]
                args[k] = nudged
                outputs, h_final, _ = forward(args[0], lengths, *args[1:])
                grad.view(-1)[i] = ((outputs * d_outputs).sum() + (h_final * d_final).sum()) / 1e-6
            out.append(grad)
        return tuple(out)

    with pytest.raises(AssertionError, match="grows with the number of weights"):
        assert_flat_cost(numerical_forward, numerical_backward)


def test_torch_calls_counts_functions_methods_and_operators():
    x = torch.ones(2, 2)
    result, calls = torch_calls(lambda a: torch.tanh(a @ a).sum(), x)
    assert float(result) == pytest.approx(4 * float(torch.tanh(torch.tensor(2.0)))) and calls == 3


def test_torch_calls_abandons_a_call_past_its_limit():
    def endless(a):
        while True:
            a = a + 1

    assert torch_calls(endless, torch.ones(1), limit=50) == (None, 51)
