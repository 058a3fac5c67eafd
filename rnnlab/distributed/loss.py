"""A loss averaged over ALL ranks' items, so data-parallel training equals one process whatever each
rank holds.

DDP averages gradients over the N ranks: ``grad = (1/N) Σ_r ∇L_r``. When each rank's ``L_r`` is the
mean over its own items (tokens, sentences) and the ranks hold different numbers of items, that is
the gradient of a mean of means, not of the mean over the global batch that one process would
compute: a rank with few tokens weighs as much as a rank with many. `global_mean` fixes it with one
all-reduce of a single number: each rank returns
``N × (its loss sum) / (item count over all ranks)``, and DDP's ``1/N`` turns the sum of those into
exactly ``Σ_r loss_sum_r / Σ_r count_r``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist

from ..checks import check_choice, check_int

AVERAGES = ("global", "rank")


def global_count(count: int | torch.Tensor, device: torch.device | str = "cpu") -> int:
    """The sum of ``count`` over all ranks of the default process group (one all-reduce); ``count``
    itself without one."""
    if isinstance(count, torch.Tensor):
        if count.numel() != 1 or count.is_floating_point():
            raise TypeError(
                f"count must be an int or a one-element integer tensor, got {count.dtype} "
                f"{tuple(count.shape)}"
            )
        count = int(count)
    count = check_int("count", count, minimum=0)  # the items this rank holds
    if not (dist.is_available() and dist.is_initialized()):
        return count
    total = torch.tensor([count], dtype=torch.int64, device=device)
    dist.all_reduce(total)
    return int(total)


def global_mean(loss_sum: torch.Tensor, count: int | torch.Tensor) -> torch.Tensor:
    """What to call ``backward`` on under DDP so the averaged gradient is that of the mean over
    every rank's items.

    ``loss_sum`` is this rank's summed loss (a scalar tensor), ``count`` the items it holds (real
    tokens, say). Returns ``world_size × loss_sum / global count``; without a process group, plain
    ``loss_sum / count``. The mean of the returned values over the ranks is the global mean loss
    (what one process would log).
    """
    if not isinstance(loss_sum, torch.Tensor) or loss_sum.dim() != 0:
        raise TypeError(
            "loss_sum must be a scalar tensor (the summed loss of this rank), got "
            f"{_describe(loss_sum)}"
        )
    total = global_count(count, loss_sum.device)
    if total == 0:
        raise ValueError("count is 0 on every rank: there is nothing to average")
    world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
    return loss_sum * (world / total)


def average_loss(
    loss_sum: torch.Tensor, count: int | torch.Tensor, average: str = "global"
) -> torch.Tensor:
    """``average="global"``: `global_mean` (exact under DDP); ``"rank"``: this rank's own mean
    ``loss_sum / count``, the usual code, which DDP turns into a mean of per-rank means."""
    check_choice("average", average, AVERAGES)
    if average == "global":
        return global_mean(loss_sum, count)
    count = int(count)
    if count < 1:
        raise ValueError(f"count must be ≥ 1 to average over this rank's items, got {count}")
    return loss_sum / count


def _describe(value: Any) -> str:
    return (
        f"a tensor of shape {tuple(value.shape)}"
        if isinstance(value, torch.Tensor)
        else type(value).__name__
    )
