"""Four ways to run one LSTM over a padded batch, with the same weights and the same answer.

TensorFlow 1 offered ``static_rnn`` (the cell copied once per time step into a graph built before
running) and ``dynamic_rnn`` (a ``while_loop`` that runs the cell as long as the data asks). PyTorch's
eager mode has no such split, so the course puts four concrete runners side by side:

- ``static``: the cell unrolled for exactly ``T`` steps into one graph by ``torch.fx.symbolic_trace``,
  built once per padded length and cached (like ``static_rnn`` with ``sequence_length``: every
  sequence runs all ``T`` steps, a mask freezes the state of those that have ended).
  Why FX rather than ``torch.jit.trace`` or ``torch.compile``: ``torch.jit.trace`` is deprecated in
  torch 2.13 (it warns) and re-optimises the graph during its first calls; ``torch.compile`` with the
  default inductor backend took 90–140 s to build a 10–25 step LSTM on this course's 2-core CPU, and
  even the ``aot_eager`` backend 4–26 s. FX builds the same unrolled graph (it is the graph format
  ``torch.compile`` works on) in a fraction of a second, with no C++ compiler, on any device.
- ``dynamic``: a Python loop over time that sorts the batch by length and shrinks it as sequences end,
  so no step is spent on padding (what ``dynamic_rnn`` does, and what packing does in C++).
- ``packed``: ``nn.LSTM`` on a ``PackedSequence``.
- ``fused``: ``nn.LSTM`` on the padded batch (cuDNN on a GPU, oneDNN or ATen on a CPU); padding is
  computed and thrown away afterwards.
- ``checkpointed``: the fused kernel run in time segments under ``torch.utils.checkpoint``, PyTorch's
  answer to ``dynamic_rnn(swap_memory=True)``: keep less for the backward pass, recompute it instead.

Every runner returns ``(outputs, h_last)``: ``outputs`` ``(B, T, H)`` with zeros on padding and
``h_last`` ``(B, H)`` the hidden state at each sequence's last real step.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..sequences import check_lengths, last_real_state, lengths_to_mask, pack, unpack

__all__ = ["RUNNERS", "StaticUnroller", "make_lstm", "run_checkpointed", "run_dynamic", "run_fused", "run_packed", "runners"]

RUNNERS = ("static", "dynamic", "packed", "fused")

Runner = Callable[[torch.Tensor, Any], tuple[torch.Tensor, torch.Tensor]]


def make_lstm(input_size: int, hidden_size: int, *, seed: int = 0, dtype: torch.dtype = torch.float32,
              device: str | torch.device = "cpu") -> nn.LSTM:
    """A single-layer, batch-first ``nn.LSTM`` with weights drawn from ``seed`` (the runners all accept it)."""
    for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        if value < 1:
            raise ValueError(f"{name} must be ≥ 1, got {value}")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    lstm = nn.LSTM(input_size, hidden_size, batch_first=True)
    torch.random.set_rng_state(generator_state)
    return lstm.to(device=device, dtype=dtype)


def _check(lstm: Any, x: Any, lengths: Any) -> torch.Tensor:
    """Validate the shared arguments of every runner; return ``lengths`` as int64 on ``x``'s device."""
    if not isinstance(lstm, nn.LSTM):
        raise TypeError(f"lstm must be a torch.nn.LSTM, got {type(lstm).__name__}")
    if lstm.num_layers != 1 or lstm.bidirectional or not lstm.batch_first or lstm.proj_size or not lstm.bias:
        raise ValueError("lstm must be single-layer, one-directional, batch_first=True, with biases and no proj_size")
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a tensor, got {type(x).__name__}")
    if x.dim() != 3 or x.shape[2] != lstm.input_size:
        raise ValueError(f"x must have shape (B, T, {lstm.input_size}), got {tuple(x.shape)}")
    if x.dtype != lstm.weight_ih_l0.dtype or x.device != lstm.weight_ih_l0.device:
        raise TypeError(f"x is {x.dtype} on {x.device} but the lstm is {lstm.weight_ih_l0.dtype} on {lstm.weight_ih_l0.device}")
    return check_lengths(lengths, batch_size=x.shape[0], max_len=x.shape[1]).to(x.device)


def _masked(outputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    return outputs * lengths_to_mask(lengths, outputs.shape[1]).unsqueeze(-1).to(outputs.dtype)


def run_fused(lstm: nn.LSTM, x: torch.Tensor, lengths: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``nn.LSTM`` on the padded batch: the fused kernel runs every step of every row, padding included."""
    lengths = _check(lstm, x, lengths)
    outputs, _ = lstm(x)
    return _masked(outputs, lengths), last_real_state(outputs, lengths)


def run_packed(lstm: nn.LSTM, x: torch.Tensor, lengths: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``nn.LSTM`` on a ``PackedSequence``: the kernel stops each row at its length."""
    lengths = _check(lstm, x, lengths)
    packed_out, (h_n, _) = lstm(pack(x, lengths))
    outputs, _ = unpack(packed_out, total_length=x.shape[1])
    return outputs, h_n[0]


def _step(xw_t: torch.Tensor, h: torch.Tensor, c: torch.Tensor, w_hh: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One LSTM step given the input's share of the gates ``xw_t = x_t W_ih^T + b`` (gate order i, f, g, o, as nn.LSTM)."""
    i, f, g, o = (xw_t + h @ w_hh.t()).chunk(4, dim=1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def _input_gates(lstm: nn.LSTM, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """All time steps' input projections in one matrix product (cuDNN and oneDNN do the same), one tensor per step.

    Split with ``unbind`` rather than indexed ``xw[:, t]`` inside the loop: the backward pass of each
    index would fill a zero tensor the size of all ``T`` steps, making backward cost grow as ``T²``.
    """
    return F.linear(x, lstm.weight_ih_l0, lstm.bias_ih_l0 + lstm.bias_hh_l0).unbind(1)


def run_dynamic(lstm: nn.LSTM, x: torch.Tensor, lengths: Any, *, enforce_sorted: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """A Python loop over time whose batch shrinks as sequences end: step ``t`` runs only the rows still going.

    The rows are sorted longest first so the live ones are always a prefix ``[:n_t]``. With
    ``enforce_sorted=True`` the caller promises lengths are already non-increasing (no sort is done,
    and unsorted lengths are an error), like ``pack_padded_sequence``'s flag of the same name.
    """
    lengths = _check(lstm, x, lengths)
    if enforce_sorted:
        if bool((lengths[1:] > lengths[:-1]).any()):
            raise ValueError(f"lengths must be sorted longest first when enforce_sorted=True, got {lengths.tolist()}")
        order = None
    else:
        lengths, order = torch.sort(lengths, descending=True, stable=True)
        x = x[order]
    batch, hidden = x.shape[0], lstm.hidden_size
    live = [int(n) for n in (lengths.unsqueeze(0) > torch.arange(int(lengths[0]), device=x.device).unsqueeze(1)).sum(1).tolist()]
    xw, w_hh = _input_gates(lstm, x), lstm.weight_hh_l0
    h = c = x.new_zeros(batch, hidden)
    outputs, finished = [], []
    for t, n in enumerate(live):
        if n < h.shape[0]:
            finished.append(h[n:])
            h, c = h[:n], c[:n]
        h, c = _step(xw[t][:n], h, c, w_hh)
        outputs.append(F.pad(h, (0, 0, 0, batch - n)))
    h_last = torch.cat([h, *reversed(finished)])
    outputs = torch.stack(outputs, dim=1)
    outputs = F.pad(outputs, (0, 0, 0, x.shape[1] - outputs.shape[1]))
    if order is not None:
        inverse = torch.argsort(order)
        outputs, h_last = outputs[inverse], h_last[inverse]
    return outputs, h_last


class _Unrolled(nn.Module):
    """The LSTM cell written out ``steps`` times; a mask freezes the state of rows that have ended."""

    def __init__(self, lstm: nn.LSTM, steps: int) -> None:
        super().__init__()
        self.lstm, self.steps = lstm, steps

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        xw, w_hh = _input_gates(self.lstm, x), self.lstm.weight_hh_l0
        h = c = torch.zeros_like(xw[0][:, : self.lstm.hidden_size])
        outputs = []
        for t in range(self.steps):
            h_new, c_new = _step(xw[t], h, c, w_hh)
            keep = mask[:, t : t + 1]
            h, c = torch.where(keep, h_new, h), torch.where(keep, c_new, c)
            outputs.append(h_new * keep)
        return torch.stack(outputs, dim=1), h


class StaticUnroller:
    """The ``static_rnn`` of this course: one FX graph per padded length ``T``, built on first use and cached.

    ``build_seconds[T]`` records how long building the graph for ``T`` took; ``graph_nodes(T)`` how big
    it is. The graph shares ``lstm``'s parameters, so training either trains both.
    """

    def __init__(self, lstm: nn.LSTM) -> None:
        if not isinstance(lstm, nn.LSTM):
            raise TypeError(f"lstm must be a torch.nn.LSTM, got {type(lstm).__name__}")
        self.lstm = lstm
        self.graphs: dict[int, torch.fx.GraphModule] = {}
        self.build_seconds: dict[int, float] = {}

    def build(self, steps: int) -> torch.fx.GraphModule:
        """The unrolled graph for ``steps`` time steps (built now unless cached)."""
        if isinstance(steps, bool) or not isinstance(steps, int):
            raise TypeError(f"steps must be an int, got {type(steps).__name__}")
        if steps < 1:
            raise ValueError(f"steps must be ≥ 1, got {steps}")
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


def run_checkpointed(lstm: nn.LSTM, x: torch.Tensor, lengths: Any, *, segment: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The fused kernel over time segments of ``segment`` steps, each under ``torch.utils.checkpoint``.

    Only each segment's input state is kept for the backward pass; the segment's activations are
    recomputed then. Same result as `run_fused`; about one extra forward pass of compute.
    """
    lengths = _check(lstm, x, lengths)
    if isinstance(segment, bool) or not isinstance(segment, int) or segment < 1:
        raise ValueError(f"segment must be an int ≥ 1, got {segment!r}")
    state, outputs = None, []
    for start in range(0, x.shape[1], segment):
        out, state = checkpoint(lstm, x[:, start : start + segment], state, use_reentrant=False)
        outputs.append(out)
    outputs = torch.cat(outputs, dim=1)
    return _masked(outputs, lengths), last_real_state(outputs, lengths)


def runners(lstm: nn.LSTM) -> dict[str, Runner]:
    """The four runners of `RUNNERS` bound to one ``lstm`` (the static one with its own graph cache)."""
    return {"static": StaticUnroller(lstm), "dynamic": lambda x, lengths: run_dynamic(lstm, x, lengths),
            "packed": lambda x, lengths: run_packed(lstm, x, lengths), "fused": lambda x, lengths: run_fused(lstm, x, lengths)}
