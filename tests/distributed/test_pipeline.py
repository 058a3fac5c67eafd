"""rnnlab.distributed.pipeline: clocked layer-per-device LSTMs equal the one-device stack, forward
and backward, and run on the schedule whose idle share is (S − 1) / (P + S − 1)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnlab.distributed.pipeline import (
    ClockedLSTM,
    WavefrontLSTM,
    bubble_fraction,
    idle_slots,
    measure_layouts,
    measured_bubble,
    square_loss,
    time_fused,
)


def _stack_grads(stack: torch.nn.LSTM, x: torch.Tensor) -> list[torch.Tensor]:
    stack.zero_grad(set_to_none=True)
    square_loss(stack(x)[0]).backward()
    return [p.grad for p in stack.parameters()]


def _split_grads(model: ClockedLSTM) -> list[torch.Tensor]:
    """The layers' gradients in nn.LSTM(num_layers=S)'s parameter order (layer by layer, same
    names)."""
    return [p.grad for layer in model.layers for p in layer.parameters()]


@settings(max_examples=12, deadline=None)
@given(
    stages=st.integers(1, 3),
    split=st.sampled_from(["batch", "time"]),
    pieces=st.integers(1, 5),
    seed=st.integers(0, 1000),
)
def test_clocked_stack_equals_the_one_device_stack_forward_and_backward(
    stages, split, pieces, seed
):
    torch.manual_seed(seed)
    stack = torch.nn.LSTM(3, 5, num_layers=stages, batch_first=True)
    x = torch.randn(5, 6, 3)
    model = ClockedLSTM.from_stacked(stack, ["cpu"] * stages, pieces=pieces, split=split)
    torch.testing.assert_close(model(x), stack(x)[0], rtol=0, atol=1e-6)
    expected = _stack_grads(stack, x)
    loss = model.train_step(x, square_loss)
    assert loss == pytest.approx(square_loss(stack(x)[0]).item(), rel=1e-5)
    for got, want in zip(_split_grads(model), expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
    # the schedule: at forward tick t stage s runs piece t − s; the backward runs it in reverse
    ticks = pieces + stages - 1
    for run in model.timeline:
        back = run.phase == "backward"
        assert run.tick == (ticks - 1 - run.piece - run.stage if back else run.piece + run.stage)
    assert len(model.timeline) == 2 * stages * pieces
    for phase in ("forward", "backward"):
        assert idle_slots(model.timeline, phase) == pytest.approx(bubble_fraction(stages, pieces))


def test_a_stage_starts_a_piece_only_after_the_stage_before_has_finished_it():
    torch.manual_seed(1)
    stack = torch.nn.LSTM(4, 6, num_layers=2, batch_first=True)
    model = WavefrontLSTM.from_stacked(stack, ["cpu", "cpu"], time_blocks=4)
    model.train_step(torch.randn(3, 8, 4), square_loss)
    runs = {(r.phase, r.stage, r.piece): r for r in model.timeline}
    for piece in range(4):
        assert runs["forward", 1, piece].start >= runs["forward", 0, piece].end
        assert runs["backward", 0, piece].start >= runs["backward", 1, piece].end
        if piece:  # the wavefront: a layer's block waits for its own previous block (the state)
            assert runs["forward", 0, piece].start >= runs["forward", 0, piece - 1].end
    assert 0.0 <= measured_bubble(model.timeline) < 1.0


def test_gradients_accumulate_like_backward_does():
    torch.manual_seed(2)
    stack = torch.nn.LSTM(2, 3, num_layers=2, batch_first=True)
    model = ClockedLSTM.from_stacked(stack, ["cpu", "cpu"], pieces=2, split="batch")
    x = torch.randn(4, 3, 2)
    model.train_step(x, square_loss)
    once = [g.clone() for g in _split_grads(model)]
    model.train_step(x, square_loss)
    for twice, single in zip(_split_grads(model), once, strict=True):
        torch.testing.assert_close(twice, 2 * single)


def test_bubble_formula_and_bad_arguments():
    assert bubble_fraction(2, 1) == 0.5 and bubble_fraction(1, 5) == 0.0
    assert bubble_fraction(4, 8) == pytest.approx(3 / 11)
    with pytest.raises(ValueError, match="pieces"):
        bubble_fraction(2, 0)
    with pytest.raises(ValueError, match="timeline"):
        measured_bubble([])
    with pytest.raises(ValueError, match="timeline"):
        idle_slots([])
    with pytest.raises(ValueError, match="time_blocks"):
        WavefrontLSTM(2, 2, ["cpu"], time_blocks=0)
    with pytest.raises(ValueError, match="split"):
        ClockedLSTM(2, 2, ["cpu"], split="depth")
    model = WavefrontLSTM(2, 2, ["cpu", "cpu"], time_blocks=4)
    with pytest.raises(ValueError, match="3 time steps into 4 pieces"):
        model(torch.zeros(1, 3, 2))
    with pytest.raises(ValueError, match=r"\(B, T, 2\)"):
        model(torch.zeros(1, 4, 5))
    with pytest.raises(TypeError, match="loss_fn"):
        model.train_step(torch.zeros(1, 4, 2), "mse")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="scalar"):
        model.train_step(torch.zeros(1, 4, 2), lambda out: out)


def test_measure_layouts_rows():
    torch.manual_seed(3)
    stack = torch.nn.LSTM(4, 4, num_layers=2, batch_first=True)
    x = torch.randn(4, 6, 4)
    rows = measure_layouts(
        stack, x, ["cpu", "cpu"], [("time", 1), ("time", 3), ("batch", 2)], repeats=1
    )
    assert [(r["split"], r["pieces"]) for r in rows] == [("time", 1), ("time", 3), ("batch", 2)]
    for row in rows:
        assert row["clock_idle"] == pytest.approx(row["formula"]) and 0 <= row["measured"] < 1
        assert (
            0 < row["forward_seconds"] < row["seconds"]
            and 0 < row["backward_seconds"] < row["seconds"]
        )
    assert rows[0]["formula"] == 0.5 and time_fused(stack, x, repeats=1) > 0
