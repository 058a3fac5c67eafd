"""Stacked LSTM layers on several devices, run on a clock so the devices overlap: micro-batches and
the wavefront.

One layer per device (`rnnlab.distributed.parallel.LayerPerDeviceLSTM`) run in order keeps one
device busy at a time. Cutting the work into ``P`` pieces lets stage ``s`` work on piece ``p`` while
stage ``s + 1`` works on piece ``p − 1``: at tick ``t`` stage ``s`` runs piece ``t − s``. Two ways
to cut:

* **micro-batches** (GPipe): the batch is cut into ``P`` groups of sequences; the pieces are
  independent.
* **the wavefront** (GNMT's layer-per-GPU LSTM): the *time axis* is cut into ``P`` blocks; layer
  ``k`` runs block ``b`` while layer ``k − 1`` already runs block ``b + 1``, handing its state from
  block to block. A stacked RNN pipelines along time with no change to the batch.

Either way the clock has ``P + S − 1`` ticks for ``S`` stages, so a share ``(S − 1) / (P + S − 1)``
of the stage-ticks is idle (the "bubble"); ``P = 1`` is the plain sequential placement.
`ClockedLSTM.train_step` runs the backward pass on a clock too (reversed), each stage
differentiating its own pieces, so both passes overlap. Every stage runs in its own thread, as each
GPU runs its own kernels; on CPU "stand-in" devices (``["cpu", "cpu"]`` with one intra-op thread)
each thread takes a core.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import torch
from torch import nn

from ..checks import check_choice, check_positive
from .parallel import LayerPerDeviceLSTM, check_input

SPLITS = {"batch": 0, "time": 1}  # the dimension of a (B, T, F) input that is cut into pieces
State = tuple[torch.Tensor, torch.Tensor]


class StageRun(NamedTuple):
    """One job on the clock: ``stage`` ran ``piece`` at ``tick`` of the ``phase`` pass, from
    ``start`` to ``end`` (s)."""

    stage: int
    piece: int
    tick: int
    phase: str
    start: float
    end: float


class ClockedLSTM(LayerPerDeviceLSTM):
    """A layer-per-device stacked LSTM run on a clock over ``pieces`` pieces cut along ``split``
    ("batch" or "time").

    ``forward`` gives the outputs of the one-device ``nn.LSTM(num_layers=S)`` it copies (autograd
    works as usual). ``train_step(x, loss_fn)`` runs forward and backward on the clock and leaves
    the gradients in ``.grad``. ``timeline`` holds one `StageRun` per job of the last call.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        devices: Sequence[str | torch.device],
        *,
        pieces: int = 4,
        split: str = "batch",
    ):
        super().__init__(input_size, hidden_size, devices)
        check_positive(pieces=pieces)
        check_choice("split", split, SPLITS)
        self.pieces = pieces
        self.split = split
        self.timeline: list[StageRun] = []

    def _cut(self, x: torch.Tensor) -> list[torch.Tensor]:
        check_input(x, self.layers[0].input_size)
        size = x.shape[SPLITS[self.split]]
        if self.pieces > size:
            raise ValueError(
                f"cannot cut {size} {'sequences' if self.split == 'batch' else 'time steps'} into "
                f"{self.pieces} pieces: use at most {size}"
            )
        return list(x.tensor_split(self.pieces, dim=SPLITS[self.split]))

    def _forward_job(
        self,
        s: int,
        p: int,
        inputs: list[list[Any]],
        states: list[list[Any]],
        keep: list[list[Any]] | None,
    ) -> None:
        """Stage ``s`` on piece ``p``: its input comes from stage ``s − 1``, its state (time split)
        from piece ``p − 1``."""
        x = inputs[s][p].to(self.devices[s])
        state = states[s][p - 1] if self.split == "time" and p > 0 else None
        # train_step: cut the graph at the piece's borders; each piece is differentiated on its own
        if keep is not None:
            x = x.detach().requires_grad_(s > 0)
            state = tuple(t.detach().requires_grad_() for t in state) if state is not None else None
        out, new_state = self.layers[s](x, state)
        inputs[s + 1][p], states[s][p] = out, new_state
        if keep is not None:
            keep[s][p] = (x, state, out, new_state)

    def _backward_job(
        self,
        s: int,
        p: int,
        keep: list[list[Any]],
        grad_out: list[list[Any]],
        grad_state: list[list[Any]],
    ) -> None:
        """Stage ``s`` on piece ``p``: the output's gradient comes from stage ``s + 1``, the final
        state's from piece ``p + 1``."""
        x, state, out, new_state = keep[s][p]
        tensors, grads = [out], [grad_out[s + 1][p].to(out.device)]
        if self.split == "time" and p + 1 < self.pieces:
            tensors += list(new_state)
            grads += list(grad_state[s][p + 1])
        # fills the layer's .grad and the piece's input and state gradients
        torch.autograd.backward(tensors, grads)
        grad_out[s][p] = x.grad if s > 0 else None
        grad_state[s][p] = tuple(t.grad for t in state) if state is not None else None

    def _run(
        self, phase: str, job: Callable[[int, int], None], pool: ThreadPoolExecutor, origin: float
    ) -> None:
        stages = len(self.layers)
        pieces = self.pieces
        grad = torch.is_grad_enabled()

        def timed(s: int, p: int, tick: int) -> None:
            with torch.set_grad_enabled(grad):  # grad mode is per thread
                start = time.perf_counter() - origin
                job(s, p)
                device = self.devices[s]
                if device.type == "cuda":
                    torch.cuda.synchronize(device)  # the job ends when its kernels end
                self.timeline.append(
                    StageRun(s, p, tick, phase, start, time.perf_counter() - origin)
                )

        for tick in range(pieces + stages - 1):
            # forward: stage s runs piece tick - s; backward runs the pieces and the stages in
            # reverse
            jobs = [
                (s, tick - s if phase == "forward" else pieces + stages - 2 - tick - s)
                for s in range(stages)
            ]
            busy = [pool.submit(timed, s, p, tick) for s, p in jobs if 0 <= p < pieces]
            for (
                future
            ) in busy:  # the clock: the next tick starts when every stage has finished this one
                future.result()

    def _gather(self, outputs: list[Any]) -> torch.Tensor:
        return torch.cat(outputs, dim=SPLITS[self.split])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs ``(B, T, H)`` of the last layer, on the last device, for inputs
        ``(B, T, input_size)``."""
        stages = len(self.layers)
        inputs: list[list[Any]] = [self._cut(x)] + [[None] * self.pieces for _ in range(stages)]
        states: list[list[Any]] = [[None] * self.pieces for _ in range(stages)]
        self.timeline = []
        with ThreadPoolExecutor(max_workers=stages, thread_name_prefix="stage") as pool:
            self._run(
                "forward",
                lambda s, p: self._forward_job(s, p, inputs, states, None),
                pool,
                time.perf_counter(),
            )
        self.timeline.sort()
        return self._gather(inputs[-1])

    def train_step(self, x: torch.Tensor, loss_fn: Callable[[torch.Tensor], torch.Tensor]) -> float:
        """Forward and backward on the clock; adds the gradients of ``loss_fn(outputs)`` to the
        parameters' ``.grad``.

        ``loss_fn`` maps the outputs ``(B, T, H)`` (on the last device) to a scalar. Returns the
        loss.
        """
        if not callable(loss_fn):
            raise TypeError(
                f"loss_fn must be a function of the outputs, got {type(loss_fn).__name__}"
            )
        stages = len(self.layers)
        inputs: list[list[Any]] = [self._cut(x)] + [[None] * self.pieces for _ in range(stages)]
        states: list[list[Any]] = [[None] * self.pieces for _ in range(stages)]
        keep: list[list[Any]] = [[None] * self.pieces for _ in range(stages)]
        grad_out: list[list[Any]] = [[None] * self.pieces for _ in range(stages + 1)]
        grad_state: list[list[Any]] = [[None] * self.pieces for _ in range(stages)]
        self.timeline = []
        origin = time.perf_counter()
        with (
            torch.enable_grad(),
            ThreadPoolExecutor(max_workers=stages, thread_name_prefix="stage") as pool,
        ):
            self._run(
                "forward", lambda s, p: self._forward_job(s, p, inputs, states, keep), pool, origin
            )
            outputs = self._gather([out.detach() for out in inputs[-1]]).requires_grad_()
            loss = loss_fn(outputs)
            if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
                raise ValueError(f"loss_fn must return a scalar tensor, got {type(loss).__name__}")
            loss.backward()
            grad_out[-1] = list(outputs.grad.tensor_split(self.pieces, dim=SPLITS[self.split]))
            self._run(
                "backward",
                lambda s, p: self._backward_job(s, p, keep, grad_out, grad_state),
                pool,
                origin,
            )
        self.timeline.sort(key=lambda run: (run.phase != "forward", run.tick, run.stage))
        return float(loss.detach())


class WavefrontLSTM(ClockedLSTM):
    """`ClockedLSTM` over ``time_blocks`` blocks of time steps: layer k runs block b while layer k −
    1 runs block b + 1."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        devices: Sequence[str | torch.device],
        *,
        time_blocks: int = 8,
    ):
        check_positive(time_blocks=time_blocks)
        super().__init__(input_size, hidden_size, devices, pieces=time_blocks, split="time")


def bubble_fraction(stages: int, pieces: int) -> float:
    """The idle share of a clocked pass with ``stages`` stages and ``pieces`` pieces:
    ``(S − 1) / (P + S − 1)``."""
    check_positive(stages=stages, pieces=pieces)
    return (stages - 1) / (pieces + stages - 1)


def _phase(timeline: Sequence[StageRun], phase: str | None) -> list[StageRun]:
    runs = [run for run in timeline if phase is None or run.phase == phase]
    if not runs:
        raise ValueError(
            f"timeline has no {phase or ''} runs: run a ClockedLSTM first".replace("  ", " ")
        )
    return runs


def idle_slots(timeline: Sequence[StageRun], phase: str = "forward") -> float:
    """The idle share counted on the clock: 1 − (jobs that ran) / (stages × ticks that were used) in
    ``phase``."""
    runs = _phase(timeline, phase)
    stages = len({run.stage for run in runs})
    ticks = len({run.tick for run in runs})
    return 1.0 - len(runs) / (stages * ticks)


def measured_bubble(timeline: Sequence[StageRun], phase: str | None = None) -> float:
    """The idle share in seconds: 1 − (time the stages were busy) / (stages × wall time), for
    ``phase`` or both."""
    runs = _phase(timeline, phase)
    stages = len({run.stage for run in runs})
    wall = max(run.end for run in runs) - min(run.start for run in runs)
    busy = sum(run.end - run.start for run in runs)
    return max(0.0, 1.0 - busy / (stages * wall))


def square_loss(outputs: torch.Tensor) -> torch.Tensor:
    """A stand-in loss for timing: the mean square of the outputs (any scalar loss costs the same
    backward)."""
    return outputs.square().mean()


def time_fused(stack: nn.LSTM, x: torch.Tensor, repeats: int = 3) -> float:
    """Median seconds of forward + backward of ``stack`` itself on one device (the fused kernel):
    the reference."""
    check_positive(repeats=repeats)
    seconds = []
    for _ in range(repeats + 1):  # the first run warms up
        stack.zero_grad(set_to_none=True)
        tic = time.perf_counter()
        square_loss(stack(x)[0]).backward()
        seconds.append(time.perf_counter() - tic)
    return statistics.median(seconds[1:])


def measure_layouts(
    stack: nn.LSTM,
    x: torch.Tensor,
    devices: Sequence[str | torch.device],
    layouts: Sequence[tuple[str, int]],
    repeats: int = 3,
) -> list[dict[str, Any]]:
    """Time a training step (forward + backward) of ``stack`` split one layer per device, for each
    ``(split, pieces)``.

    One row per layout: ``split``, ``pieces``, median ``seconds`` of a step over ``repeats`` runs
    (after a warm-up) and of each pass (``forward_seconds``, ``backward_seconds``), the idle share
    on the clock (``clock_idle``, forward pass), the formula (``formula``), the idle share in
    seconds (``measured``, both passes), and the ``timeline`` of the median run.
    """
    check_positive(repeats=repeats)
    rows = []
    for split, pieces in layouts:
        model = ClockedLSTM.from_stacked(stack, devices, pieces=pieces, split=split)
        runs = []
        for _ in range(repeats + 1):
            model.zero_grad(set_to_none=True)
            tic = time.perf_counter()
            model.train_step(x, square_loss)
            runs.append((time.perf_counter() - tic, model.timeline))
        seconds, timeline = sorted(runs[1:], key=lambda run: run[0])[len(runs[1:]) // 2]
        forward, backward = (_phase(timeline, phase) for phase in ("forward", "backward"))
        rows.append(
            {
                "split": split,
                "pieces": pieces,
                "seconds": seconds,
                "forward_seconds": max(r.end for r in forward) - min(r.start for r in forward),
                "backward_seconds": max(r.end for r in backward) - min(r.start for r in backward),
                "clock_idle": idle_slots(timeline),
                "formula": bubble_fraction(len(model.layers), pieces),
                "measured": measured_bubble(timeline),
                "timeline": timeline,
            }
        )
    return rows
