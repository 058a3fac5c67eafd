"""Five ways to run one LSTM over a padded batch, with the same weights and the same answer.

TensorFlow 1 offered ``static_rnn`` (the cell copied once per time step into a graph built before
running) and ``dynamic_rnn`` (a ``tf.while_loop`` over time). ``static_rnn`` skipped the steps past
the batch's longest sequence and copied the state through past each row's end. ``dynamic_rnn`` used
``sequence_length`` "to copy-through state and zero-out outputs when past a batch element's sequence
length" (its docstring's words from mid-2016 on; what it added about correctness and performance
flipped between versions, chapter 4 quotes each). Its loop ran all ``T`` padded steps in 2016 and
stopped at the batch's longest sequence later (``loop_bound = minimum(time_steps, maximum(1,
max_sequence_length))``). Neither stopped per sequence inside a batch. The runners here are named by
what they do:

- ``static``: the cell unrolled for exactly ``T`` steps into one graph by
  ``torch.fx.symbolic_trace``, built once per padded length and cached; a mask freezes the state of
  rows that have ended (``static_rnn`` with ``sequence_length``).
  Why FX rather than ``torch.jit.trace`` or ``torch.compile``: ``torch.jit.trace`` is deprecated in
  torch 2.13 (it warns) and re-optimises the graph during its first calls; ``torch.compile`` with
  the default inductor backend took 90–140 s to build a 10–25 step LSTM on this course's 2-core CPU,
  and even the ``aot_eager`` backend 4–26 s. FX builds the same unrolled graph (it is the graph
  format ``torch.compile`` works on) in a fraction of a second, with no C++ compiler, on any device.
- ``masked``: a Python loop to the batch's longest sequence that runs every row at every step,
  copies the state through and zeroes the outputs past each row's end: what later ``dynamic_rnn``
  did.
- ``shrinking``: a Python loop that sorts the batch by length and shrinks it as sequences end, so no
  step is spent on padding: per-sequence stopping, which neither TF1 function did.
- ``packed``: ``nn.LSTM`` on a ``PackedSequence``: the same per-sequence stopping, loop in C++.
- ``fused``: ``nn.LSTM`` on the padded batch (cuDNN on a GPU, oneDNN or ATen on a CPU); padding is
  computed and thrown away afterwards.

Beside them, ``run_checkpointed``: the fused kernel in time segments under
``torch.utils.checkpoint`` (keep less for the backward pass, recompute it then), with a
`StepCounter` that counts the recomputed steps; and `NextStepLSTM` / `fit_next_step`, a stateful
forecaster trained with full or truncated backpropagation through time.

Every runner returns ``(outputs, h_last)``: ``outputs`` ``(B, T, H)`` with zeros on padding and
``h_last`` ``(B, H)`` the hidden state at each sequence's last real step.

(Over 400 lines: chapter 4 reads the five runners side by side, so they stay in one file.)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..checks import check_positive
from ..sequences import check_lengths, last_real_state, lengths_to_mask, pack, unpack
from .settings import RecordsSettings

__all__ = [
    "RUNNERS",
    "NextStepLSTM",
    "StaticUnroller",
    "StepCounter",
    "fit_next_step",
    "make_lstm",
    "run_checkpointed",
    "run_fused",
    "run_masked",
    "run_packed",
    "run_shrinking",
    "runners",
]

RUNNERS = ("static", "masked", "shrinking", "packed", "fused")

Runner = Callable[[torch.Tensor, Any], tuple[torch.Tensor, torch.Tensor]]


def make_lstm(
    input_size: int,
    hidden_size: int,
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
) -> nn.LSTM:
    """A single-layer, batch-first ``nn.LSTM`` with weights drawn from ``seed`` (the runners all
    accept it)."""
    check_positive(input_size=input_size, hidden_size=hidden_size)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    lstm = nn.LSTM(input_size, hidden_size, batch_first=True)
    torch.random.set_rng_state(generator_state)
    return lstm.to(device=device, dtype=dtype)


def _check(lstm: Any, x: Any, lengths: Any) -> torch.Tensor:
    """Validate the shared arguments of every runner; return ``lengths`` as int64 on ``x``'s
    device."""
    if not isinstance(lstm, nn.LSTM):
        raise TypeError(f"lstm must be a torch.nn.LSTM, got {type(lstm).__name__}")
    if (
        lstm.num_layers != 1
        or lstm.bidirectional
        or not lstm.batch_first
        or lstm.proj_size
        or not lstm.bias
    ):
        raise ValueError(
            "lstm must be single-layer, one-directional, batch_first=True, with biases and no "
            "proj_size"
        )
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a tensor, got {type(x).__name__}")
    if x.dim() != 3 or x.shape[2] != lstm.input_size:
        raise ValueError(f"x must have shape (B, T, {lstm.input_size}), got {tuple(x.shape)}")
    if x.dtype != lstm.weight_ih_l0.dtype or x.device != lstm.weight_ih_l0.device:
        raise TypeError(
            f"x is {x.dtype} on {x.device} but the lstm is {lstm.weight_ih_l0.dtype} on "
            f"{lstm.weight_ih_l0.device}"
        )
    return check_lengths(lengths, batch_size=x.shape[0], max_len=x.shape[1]).to(x.device)


def _zero_padding(outputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    # mask (B, T) -> (B, T, 1), broadcast over H
    return outputs * lengths_to_mask(lengths, outputs.shape[1]).unsqueeze(-1).to(outputs.dtype)


def run_fused(lstm: nn.LSTM, x: torch.Tensor, lengths: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``nn.LSTM`` on the padded batch: the fused kernel runs every step of every row, padding
    included."""
    lengths = _check(lstm, x, lengths)
    outputs, _ = lstm(x)
    return _zero_padding(outputs, lengths), last_real_state(outputs, lengths)


def run_packed(lstm: nn.LSTM, x: torch.Tensor, lengths: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``nn.LSTM`` on a ``PackedSequence``: the kernel stops each row at its length."""
    lengths = _check(lstm, x, lengths)
    packed_out, (h_n, _) = lstm(pack(x, lengths))
    outputs, _ = unpack(packed_out, total_length=x.shape[1])
    return outputs, h_n[0]


def _step(
    x_t: torch.Tensor, h: torch.Tensor, c: torch.Tensor, lstm: nn.LSTM
) -> tuple[torch.Tensor, torch.Tensor]:
    """One LSTM cell step on the rows of ``x_t`` ``(n, I)``, ``h``, ``c`` ``(n, H)`` (gate order i,
    f, g, o, as nn.LSTM).

    The input is projected here, per step and per live row, as TF1's cells did: a loop that skips a
    row skips all of its work.
    """
    gates = F.linear(x_t, lstm.weight_ih_l0, lstm.bias_ih_l0) + F.linear(
        h, lstm.weight_hh_l0, lstm.bias_hh_l0
    )
    i, f, g, o = gates.chunk(4, dim=1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def _masked_loop(
    lstm: nn.LSTM, x: torch.Tensor, mask: torch.Tensor, steps: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every row through ``steps`` cell steps; past a row's end (``mask`` False) its state is copied
    through, its output zeroed.

    ``x`` ``(B, ≥ steps, I)``, ``mask`` ``(B, ≥ steps)`` bool → outputs ``(B, steps, H)``, last real
    ``h`` ``(B, H)``. Shared by ``static`` (traced once per ``steps``) and ``masked`` (run eagerly
    to the batch's longest sequence).
    """
    inputs = x[:, :steps].unbind(1)  # one (B, I) tensor per step; unbind keeps backward linear in T
    h = c = inputs[0].new_zeros(x.shape[0], lstm.hidden_size)
    outputs = []
    for t in range(steps):
        h_new, c_new = _step(inputs[t], h, c, lstm)
        keep = mask[:, t : t + 1]
        h, c = torch.where(keep, h_new, h), torch.where(keep, c_new, c)
        outputs.append(h_new * keep)
    return torch.stack(outputs, dim=1), h


def run_masked(lstm: nn.LSTM, x: torch.Tensor, lengths: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """What ``dynamic_rnn`` did: loop to the batch's longest sequence, every row at every step,
    padding masked.

    Its cost depends on ``max(lengths)`` and the batch size, not on how much of the batch is
    padding.
    """
    lengths = _check(lstm, x, lengths)
    steps = int(lengths.max())
    outputs, h_last = _masked_loop(lstm, x, lengths_to_mask(lengths, steps), steps)
    return F.pad(outputs, (0, 0, 0, x.shape[1] - steps)), h_last


def run_shrinking(
    lstm: nn.LSTM, x: torch.Tensor, lengths: Any, *, enforce_sorted: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """A Python loop over time whose batch shrinks as sequences end: step ``t`` runs only the rows
    still going.

    The rows are sorted longest first so the live ones are always a prefix ``[:n_t]``. With
    ``enforce_sorted=True`` the caller promises lengths are already non-increasing (no sort is done,
    and unsorted lengths are an error), like ``pack_padded_sequence``'s flag of the same name.
    """
    lengths = _check(lstm, x, lengths)
    if enforce_sorted:
        if bool((lengths[1:] > lengths[:-1]).any()):
            raise ValueError(
                "lengths must be sorted longest first when enforce_sorted=True, got "
                f"{lengths.tolist()}"
            )
        order = None
    else:
        lengths, order = torch.sort(lengths, descending=True, stable=True)
        x = x[order]
    batch = x.shape[0]
    hidden = lstm.hidden_size
    # (1, B) > (T, 1) -> (T, B): which rows are still running at each step; summed: how many
    steps = torch.arange(int(lengths[0]), device=x.device).unsqueeze(1)
    live = (lengths.unsqueeze(0) > steps).sum(1).tolist()
    inputs = x.unbind(1)  # one (B, I) tensor per step; unbind keeps backward linear in T
    h = c = x.new_zeros(batch, hidden)
    outputs, finished = [], []
    for t, n in enumerate(live):
        if n < h.shape[0]:
            finished.append(h[n:])
            h, c = h[:n], c[:n]
        h, c = _step(inputs[t][:n], h, c, lstm)
        outputs.append(F.pad(h, (0, 0, 0, batch - n)))
    h_last = torch.cat([h, *reversed(finished)])
    outputs = torch.stack(outputs, dim=1)
    outputs = F.pad(outputs, (0, 0, 0, x.shape[1] - outputs.shape[1]))
    if order is not None:
        inverse = torch.argsort(order)
        outputs, h_last = outputs[inverse], h_last[inverse]
    return outputs, h_last


class _Unrolled(nn.Module):
    """The LSTM cell written out ``steps`` times (`_masked_loop` traced for a fixed ``steps``)."""

    def __init__(self, lstm: nn.LSTM, steps: int) -> None:
        super().__init__()
        self.lstm = lstm
        self.steps = steps

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return _masked_loop(self.lstm, x, mask, self.steps)


class StaticUnroller:
    """The ``static_rnn`` of this course: one FX graph per padded length ``T``, built on first use
    and cached.

    ``build_seconds[T]`` records how long building the graph for ``T`` took; ``graph_nodes(T)`` how
    big it is. The graph shares ``lstm``'s parameters, so training either trains both.
    """

    def __init__(self, lstm: nn.LSTM) -> None:
        if not isinstance(lstm, nn.LSTM):
            raise TypeError(f"lstm must be a torch.nn.LSTM, got {type(lstm).__name__}")
        self.lstm = lstm
        self.graphs: dict[int, torch.fx.GraphModule] = {}
        self.build_seconds: dict[int, float] = {}

    def build(self, steps: int) -> torch.fx.GraphModule:
        """The unrolled graph for ``steps`` time steps (built now unless cached)."""
        check_positive(steps=steps)
        if steps not in self.graphs:
            start = time.perf_counter()
            self.graphs[steps] = torch.fx.symbolic_trace(_Unrolled(self.lstm, steps))
            self.build_seconds[steps] = time.perf_counter() - start
        return self.graphs[steps]

    def graph_nodes(self, steps: int) -> int:
        """How many operations the graph for ``steps`` holds (it grows linearly with ``steps``)."""
        return len(self.build(steps).graph.nodes)

    def __call__(self, x: torch.Tensor, lengths: Any) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = _check(self.lstm, x, lengths)
        return self.build(x.shape[1])(x, lengths_to_mask(lengths, x.shape[1]))


class StepCounter:
    """Counts the time steps a checkpointed run computes: ``steps`` grows by a segment's length each
    time it runs.

    After forward + backward of a run over ``T`` steps, ``steps - T`` is how many steps the backward
    pass recomputed (``recomputed(T)``).
    """

    def __init__(self) -> None:
        self.steps = 0

    def recomputed(self, forward_steps: int) -> int:
        """Steps computed beyond the ``forward_steps`` of the forward pass."""
        return self.steps - forward_steps


def run_checkpointed(
    lstm: nn.LSTM,
    x: torch.Tensor,
    lengths: Any,
    *,
    segment: int,
    counter: StepCounter | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The fused kernel over time segments of ``segment`` steps, each under
    ``torch.utils.checkpoint``.

    Only each segment's input (``x`` slice and state) is kept for the backward pass; the segment's
    activations are recomputed then, one segment at a time. Same result as `run_fused`. Pass a
    `StepCounter` to count every step computed, in the forward pass and in the recomputation.
    """
    lengths = _check(lstm, x, lengths)
    check_positive(segment=segment)

    def run_segment(
        x_seg: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None
    ) -> tuple[torch.Tensor, Any]:
        if counter is not None:
            counter.steps += x_seg.shape[1]
        return lstm(x_seg, state)

    state, outputs = None, []
    for start in range(0, x.shape[1], segment):
        out, state = checkpoint(
            run_segment, x[:, start : start + segment], state, use_reentrant=False
        )
        outputs.append(out)
    outputs = torch.cat(outputs, dim=1)
    return _zero_padding(outputs, lengths), last_real_state(outputs, lengths)


def runners(lstm: nn.LSTM) -> dict[str, Runner]:
    """The five runners of `RUNNERS` bound to one ``lstm`` (the static one with its own graph
    cache)."""
    return {
        "static": StaticUnroller(lstm),
        "masked": lambda x, lengths: run_masked(lstm, x, lengths),
        "shrinking": lambda x, lengths: run_shrinking(lstm, x, lengths),
        "packed": lambda x, lengths: run_packed(lstm, x, lengths),
        "fused": lambda x, lengths: run_fused(lstm, x, lengths),
    }


class NextStepLSTM(RecordsSettings, nn.Module):
    """A stateful one-step-ahead forecaster: LSTM over ``(B, T)`` values, predicts each next value
    as a change from the current one.

    Chapter 4 uses it (truncated backpropagation, through `rnnlab.bench.unroll`).

    >>> import torch
    >>> from rnnlab.models.unroll import NextStepLSTM
    >>> model = NextStepLSTM(hidden_size=8)
    >>> predictions, state = model(torch.randn(2, 30))  # 2 streams of 30 values
    >>> predictions.shape, state[0].shape
    (torch.Size([2, 30]), torch.Size([1, 2, 8]))
    """

    def __init__(self, hidden_size: int = 32, *, seed: int = 0) -> None:
        super().__init__()
        check_positive(hidden_size=hidden_size)
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        self.rnn = nn.LSTM(1, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, 1)
        torch.random.set_rng_state(generator_state)

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, Any]:
        """Predictions ``(B, T)`` of ``x[:, t + 1]`` for every ``t``, and the state after the last
        step (pass it on)."""
        if not isinstance(x, torch.Tensor) or x.dim() != 2:
            raise ValueError(
                f"x must be a (B, T) tensor of values, got {getattr(x, 'shape', type(x).__name__)}"
            )
        outputs, state = self.rnn(x.unsqueeze(-1), state)  # (B, T) -> (B, T, 1) -> (B, T, H)
        return x + self.head(outputs).squeeze(-1), state


def _chunks(length: int, chunk: int | None) -> Iterator[slice]:
    step = length if chunk is None else chunk
    return (slice(start, start + step) for start in range(0, length, step))


def fit_next_step(
    model: nn.Module, streams: torch.Tensor, *, chunk: int | None, epochs: int, lr: float = 1e-2
) -> dict[str, Any]:
    """Train ``model`` to predict each next value of ``streams`` ``(B, L)`` (B contiguous pieces of
    one series), L1 loss, Adam. ``model`` is a `NextStepLSTM` or any module
    ``model(x (B, T), state) -> (predictions (B, T), state)`` whose state is a tuple of tensors.

    ``chunk=None`` is full backpropagation through time: one update per epoch, gradients through all
    ``L - 1`` steps. ``chunk=k`` is truncated BPTT: the streams are read ``k`` steps at a time, the
    state is carried from chunk to chunk but detached, so each update backpropagates through at most
    ``k`` steps and the memory held for backward does not grow with ``L``. Returns ``updates`` and
    ``seconds``. Not `rnnlab.fit`: the state flows from chunk to chunk within an epoch, and fit's
    batches are independent of one another.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(
            "model must be a module model(x (B, T), state) -> (predictions (B, T), state), such "
            f"as NextStepLSTM; got {type(model).__name__}"
        )
    if not isinstance(streams, torch.Tensor) or streams.dim() != 2 or streams.shape[1] < 2:
        raise ValueError(
            "streams must be a (B, L ≥ 2) tensor, got "
            f"{getattr(streams, 'shape', type(streams).__name__)}"
        )
    if chunk is not None:
        check_positive(chunk=chunk)
    check_positive(epochs=epochs)
    inputs, targets = streams[:, :-1], streams[:, 1:]
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    updates = 0
    start = time.perf_counter()
    for _ in range(epochs):
        state = None
        for part in _chunks(inputs.shape[1], chunk):
            predicted, state = model(inputs[:, part], state)
            state = tuple(s.detach() for s in state)
            loss = (predicted - targets[:, part]).abs().mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            updates += 1
    return {"updates": updates, "seconds": time.perf_counter() - start}
