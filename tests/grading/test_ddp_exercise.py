"""rnnlab.grading.ddp_exercise: the harnesses refuse stubs, give every rank the same problem, and
tell a global token mean from a per-rank one."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F


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


def test_token_problem_gives_every_rank_a_different_token_count():
    from rnnlab.grading.ddp_exercise import _token_problem

    for world in (2, 3):
        (make_a, batches_a), (_, batches_b) = _token_problem(7, world), _token_problem(7, world)
        for (x, y, lengths), (x2, y2, lengths2) in zip(batches_a, batches_b, strict=True):
            assert torch.equal(x, x2) and torch.equal(y, y2) and torch.equal(lengths, lengths2)
            counts = lengths.view(world, -1).sum(1).tolist()
            assert len(set(counts)) == world and min(lengths.tolist()) >= 1
        assert make_a()(batches_a[0][0]).shape == (
            *batches_a[0][0].shape,
            make_a().head.out_features,
        )


def test_global_mean_harness_refuses_stubs_and_strangers():
    from rnnlab.grading.ddp_exercise import check_global_mean

    def global_token_mean(logits, targets, mask): ...

    with pytest.raises(NotImplementedError, match="still a stub"):
        check_global_mean(global_token_mean)
    with pytest.raises(TypeError, match="named global_token_mean"):
        check_global_mean(print)


def test_only_a_loss_over_every_ranks_tokens_matches_one_process():
    """Two gloo workers: the global token mean ends with the one-process weights, the per-rank mean
    used as a loss (what the harness reports beside it) and a mean forgetting the world size do
    not."""
    from rnnlab.grading.ddp_exercise import check_global_mean

    def global_token_mean(logits, targets, mask):
        count = mask.sum()
        dist.all_reduce(count)
        loss_sum = F.cross_entropy(logits[mask], targets[mask], reduction="sum")
        return loss_sum * dist.get_world_size() / count

    reports = check_global_mean(global_token_mean, seed=3, world_size=2)
    assert all(r["ranks_agree"] for r in reports)
    assert max(r["vs_single"] for r in reports) < 1e-5
    assert min(r["rank_mean_vs_single"] for r in reports) > 1e-3
    assert all(
        len(set(counts)) == 2 for counts in zip(*(r["tokens"] for r in reports), strict=True)
    )

    def global_token_mean(logits, targets, mask):  # noqa: F811 (the learner's name, a wrong body)
        count = mask.sum()
        dist.all_reduce(count)
        return F.cross_entropy(logits[mask], targets[mask], reduction="sum") / count

    assert max(r["vs_single"] for r in check_global_mean(global_token_mean, seed=3)) > 1e-3
