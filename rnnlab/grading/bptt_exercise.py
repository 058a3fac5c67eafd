"""Exercise 9's harness: a reference tanh RNN over a padded batch, its autograd gradients, random
problems with garbage in the padding, and the checks that a learner's backward pass is their own.

The exercise asks for backpropagation through time *by hand*, so an answer that lets autograd do the
work must lose its points however it reaches autograd. Two checks work together:

- `assert_no_autograd` reads the learner's functions (and the helpers they call) with
  `rnnlab.grading.checks.library_uses`: ``torch.autograd.grad``/``backward``/``Function``,
  ``torch.enable_grad``, anything from ``torch.func`` or autograd's functional and forward-mode
  APIs, and any ``.backward``/``.grad``/``.requires_grad_``/``.grad_fn`` attribute fail with a
  message naming them (``torch.no_grad`` is fine);
- `forbid_autograd` is the run-time net under it: inside the block, autograd's engine (which
  ``torch.autograd.grad``, ``Tensor.backward`` and ``torch.func``'s reverse mode all end in)
  refuses to run, however the learner's code got hold of it.

A third shortcut differentiates the forward pass numerically instead of by the chain rule: its cost
grows with the number of weights, an honest backward's does not. `torch_calls` counts the torch
calls a function makes, so a test can compare two problem sizes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from .checks import assert_own_code, is_stub, library_uses

# What the learner's code may not use: autograd's entry points and switches by object, the modules
# of its other ways in by name. ``torch.no_grad`` and ``torch.inference_mode`` stay allowed.
AUTOGRAD_ENTRIES = (
    torch.autograd.grad,
    torch.autograd.backward,
    torch.autograd.Function,
    torch.enable_grad,
    torch.set_grad_enabled,
)
AUTOGRAD_MODULES = (
    "torch.autograd.functional",
    "torch.autograd.forward_ad",
    "torch.func",
    "torch._functorch",
    "functorch",
    "rnnlab",
)
AUTOGRAD_ATTRIBUTES = ("backward", "grad", "grad_fn", "requires_grad_", "retain_grad")
GRADIENTS = ("dx", "dW_x", "dW_h", "db")


@dataclass(frozen=True)
class Problem:
    """One padded batch, weights and upstream gradients: what ``rnn_forward`` and ``rnn_backward``
    receive."""

    x: torch.Tensor  # (B, T, D), finite garbage on padded positions
    lengths: torch.Tensor  # (B,) int64, 1 <= lengths <= T
    W_x: torch.Tensor  # (D, H)
    W_h: torch.Tensor  # (H, H)
    b: torch.Tensor  # (H,)
    d_outputs: torch.Tensor  # (B, T, H), garbage on padded positions
    d_final: torch.Tensor  # (B, H)

    @property
    def mask(self) -> torch.Tensor:
        """(B, T) bool, True on real steps."""
        return torch.arange(self.x.shape[1])[None, :] < self.lengths[:, None]

    def describe(self) -> str:
        B, T, D = self.x.shape
        return f"B={B}, T={T}, D={D}, H={self.W_h.shape[0]}, lengths={self.lengths.tolist()}"


def problem(
    seed: int,
    dtype: torch.dtype = torch.float64,
    sizes: tuple[int, int, int, int] | None = None,
    lengths: Sequence[int] | None = None,
    garbage: float = 100.0,
) -> Problem:
    """A random problem drawn from ``seed``: shapes ``(B, T, D, H)`` random (or ``sizes``), lengths
    from 1 to T (or ``lengths``; the batch may be wider than its longest sequence), and ``garbage``
    times a normal draw on every padded position of ``x`` and ``d_outputs``."""
    g = torch.Generator().manual_seed(seed)

    def draw(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    if sizes is None:
        ranges = ((1, 6), (1, 9), (1, 5), (1, 6))
        sizes = tuple(int(torch.randint(lo, hi, (1,), generator=g)) for lo, hi in ranges)
    B, T, D, H = sizes
    if lengths is None:
        lengths = torch.randint(1, T + 1, (B,), generator=g)
    lengths = torch.as_tensor(lengths, dtype=torch.long)
    if lengths.shape != (B,) or not bool(((lengths >= 1) & (lengths <= T)).all()):
        raise ValueError(f"lengths must be {B} numbers from 1 to {T}, got {lengths.tolist()}")
    mask = (torch.arange(T)[None, :] < lengths[:, None])[..., None]
    x = torch.where(mask, draw(B, T, D), garbage * draw(B, T, D))
    d_outputs = torch.where(mask, draw(B, T, H), garbage * draw(B, T, H))
    tensors = dict(
        x=x, W_x=draw(D, H) / D**0.5, W_h=draw(H, H) / H**0.5, b=draw(H) / 2,
        d_outputs=d_outputs, d_final=draw(B, H),
    )  # fmt: skip
    return Problem(lengths=lengths, **{k: v.to(dtype) for k, v in tensors.items()})


def reference_forward(
    x: torch.Tensor, lengths: torch.Tensor, W_x: torch.Tensor, W_h: torch.Tensor, b: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Outputs ``(B, T, H)`` (zero on padding) and final states ``(B, H)`` (each row's state at its
    last real step): what ``nn.RNN`` computes on the packed batch (tests/grading checks it)."""
    B, T, _ = x.shape
    mask = (torch.arange(T)[None, :] < lengths[:, None])[..., None]
    h = x.new_zeros(B, W_h.shape[0])
    outputs = []
    for t in range(T):
        h = torch.where(mask[:, t], torch.tanh(x[:, t] @ W_x + h @ W_h + b), h)
        outputs.append(torch.where(mask[:, t], h, 0.0))
    return torch.stack(outputs, dim=1), h


def reference_gradients(p: Problem) -> dict[str, torch.Tensor]:
    """Autograd's ``dx, dW_x, dW_h, db`` for the loss
    ``Σ d_outputs·outputs + Σ d_final·h_final``."""
    leaves = [t.detach().clone().requires_grad_(True) for t in (p.x, p.W_x, p.W_h, p.b)]
    with torch.enable_grad():
        outputs, h_final = reference_forward(leaves[0], p.lengths, *leaves[1:])
        loss = (outputs * p.d_outputs).sum() + (h_final * p.d_final).sum()
        return dict(zip(GRADIENTS, torch.autograd.grad(loss, leaves), strict=True))


def relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    """``‖got − want‖ / ‖want‖`` (0 when both are zero), in float64."""
    diff = torch.linalg.vector_norm((got.double() - want.double()).flatten())
    return float(diff / torch.linalg.vector_norm(want.double().flatten()).clamp_min(1e-300))


def assert_no_autograd(*functions: Callable[..., Any]) -> None:
    """Fail (AssertionError) when any of ``functions`` (or a helper they call) is a stub or uses
    autograd, ``torch.func`` or ``rnnlab``."""
    for function in functions:
        what = getattr(function, "__name__", repr(function))
        if not callable(function):
            raise AssertionError(f"{what} must be a function you define")
        if is_stub(function):
            raise AssertionError(f"{what} is still a stub: write its body first")
        uses = library_uses(function, AUTOGRAD_ENTRIES, AUTOGRAD_MODULES, AUTOGRAD_ATTRIBUTES)
        if uses:
            raise AssertionError(
                f"{what} uses {', '.join(uses)}: this exercise asks you to compute the gradients "
                "yourself, with the chain rule, so write it without autograd"
            )


def assert_own_forward(rnn_forward: Callable[..., Any]) -> None:
    """Fail (AssertionError) when ``rnn_forward`` is a stub or lets ``nn.RNN``, packing or
    ``rnnlab`` run the recurrence the question asks for."""
    assert_own_code(
        rnn_forward,
        forbidden=(torch.rnn_tanh, torch.rnn_tanh_cell),
        modules=("rnnlab", "torch.nn.modules.rnn", "torch.nn.utils.rnn"),
    )


class _RefusingEngine:
    def run_backward(self, *_: Any, **__: Any) -> None:
        raise AssertionError(
            "autograd ran inside your code: compute the gradients yourself, with the chain rule"
        )

    def __getattr__(self, name: str) -> Any:  # anything else the engine offers: refused as well
        return self.run_backward


@contextlib.contextmanager
def forbid_autograd() -> Iterator[None]:
    """Inside the block, autograd's backward engine raises AssertionError; grad mode is off."""
    from torch.autograd.variable import Variable

    engine = Variable._execution_engine
    Variable._execution_engine = _RefusingEngine()
    try:
        with torch.no_grad():
            yield
    finally:
        Variable._execution_engine = engine


class _TooManyCalls(Exception):
    pass


class _CountCalls(TorchFunctionMode):
    def __init__(self, limit: float) -> None:
        super().__init__()
        self.calls, self.limit = 0, limit

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        self.calls += 1
        if self.calls > self.limit:  # the verdict is known: stop a slow function here
            raise _TooManyCalls
        return func(*args, **(kwargs or {}))


def torch_calls(
    function: Callable[..., Any], *args: Any, limit: float = float("inf")
) -> tuple[Any, int]:
    """``function(*args)`` and how many torch functions and tensor methods it called on the way;
    past ``limit`` calls the call is abandoned (result None), its verdict being known."""
    result = None
    with _CountCalls(limit) as counter, contextlib.suppress(_TooManyCalls):
        result = function(*args)
    return result, counter.calls


def learner_gradients(
    rnn_forward: Callable[..., Any], rnn_backward: Callable[..., Any], p: Problem
) -> dict[str, torch.Tensor]:
    """The learner's ``dx, dW_x, dW_h, db`` for ``p``, forward and backward run under
    `forbid_autograd` on inputs that do not require gradients; shapes and dtypes checked."""
    with forbid_autograd():
        forward = rnn_forward(p.x.clone(), p.lengths.clone(), p.W_x, p.W_h, p.b)
        if not (isinstance(forward, tuple) and len(forward) == 3):
            raise AssertionError("rnn_forward must return (outputs, h_final, cache)")
        got = rnn_backward(p.d_outputs.clone(), p.d_final.clone(), forward[2])
    if not (isinstance(got, tuple) and len(got) == 4):
        raise AssertionError("rnn_backward must return (dx, dW_x, dW_h, db)")
    out = dict(zip(GRADIENTS, got, strict=True))
    for name, like in zip(GRADIENTS, (p.x, p.W_x, p.W_h, p.b), strict=True):
        grad = out[name]
        if (
            not isinstance(grad, torch.Tensor)
            or grad.shape != like.shape
            or grad.dtype != like.dtype
        ):
            raise AssertionError(
                f"{name} must be a {like.dtype} tensor of shape {tuple(like.shape)}, got "
                f"{getattr(grad, 'dtype', type(grad).__name__)} {tuple(getattr(grad, 'shape', ()))}"
                f" ({p.describe()})"
            )
    return out


def assert_flat_cost(rnn_forward: Callable[..., Any], rnn_backward: Callable[..., Any]) -> None:
    """Fail (AssertionError) when ``rnn_backward``'s torch calls grow with the sizes of the weights
    at a fixed batch and length: backpropagation makes the same calls for any D and H, numerical
    differentiation (a forward pass per perturbed weight) makes more for every weight."""
    counts: list[int] = []
    bound = float("inf")  # the calls allowed at the larger size, once the smaller one is counted
    for sizes in ((3, 6, 2, 3), (3, 6, 8, 12)):
        p = problem(0, sizes=sizes)  # the same lengths at both sizes
        with forbid_autograd():
            cache = rnn_forward(p.x, p.lengths, p.W_x, p.W_h, p.b)[2]
            counts.append(torch_calls(rnn_backward, p.d_outputs, p.d_final, cache, limit=bound)[1])
        bound = 1.5 * counts[0] + 20
    if counts[1] > bound:
        raise AssertionError(
            f"rnn_backward made {counts[0]} torch calls for D=2, H=3 and {counts[1]} for D=8, "
            "H=12 (same batch, same lengths): its work grows with the number of weights, as "
            "numerical differentiation's does; the chain rule makes one pass back through time"
        )
