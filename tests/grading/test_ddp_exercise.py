"""rnnlab.grading.ddp_exercise: the harness refuses stubs and gives every rank the same problem."""

from __future__ import annotations

import pytest
import torch


def test_ddp_harness_refuses_stubs_and_strangers_before_launching_workers():
    from rnnlab.grading.ddp_exercise import check_average_gradients

    def average_gradients(model): ...

    with pytest.raises(NotImplementedError, match="still a stub"):
        check_average_gradients(average_gradients)
    with pytest.raises(TypeError, match="named average_gradients"):
        check_average_gradients(print)


def test_ddp_harness_problem_is_the_same_on_every_rank():
    from rnnlab.grading.ddp_exercise import _problem

    (make_a, batches_a), (make_b, batches_b) = _problem(5, 2), _problem(5, 2)
    assert all(torch.equal(x, y) for (x, _), (y, _) in zip(batches_a, batches_b, strict=True))
    assert all(
        torch.equal(p, q) for p, q in zip(make_a().parameters(), make_b().parameters(), strict=True)
    )
    # every global batch splits evenly over 2 ranks
    assert all(len(y) % 2 == 0 for _, y in batches_a)
