"""The adding problem (Hochreiter & Schmidhuber, 1997; Le et al., 2015): a task only memory solves.

Each sequence has ``length`` steps of two features: a random value in [0, 1) and a marker that is 1
at exactly two steps (one in the first half, one in the second) and 0 elsewhere. The target is the
sum of the two marked values. Predicting the mean sum, 1, scores a mean squared error of 1/6 ≈ 0.167
(the variance of a sum of two uniform values), so any model below that has learned to remember what
it saw at a marked step until the end. The first mark can sit ``length - 1`` steps before the
answer is asked for: the length is the knob that makes memory hard. Generated from a seed; no files.
"""

from __future__ import annotations

import torch

from ..checks import check_int, check_positive

__all__ = ["MEAN_PREDICTOR_MSE", "adding_problem"]

MEAN_PREDICTOR_MSE = 1 / 6  # Var(U1 + U2) for two independent U(0, 1): what guessing 1 scores


def adding_problem(
    count: int, length: int, *, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``count`` sequences of ``length`` steps: ``(x, y, marks)``.

    ``x`` is float32 ``(count, length, 2)`` (value, marker), ``y`` float32 ``(count,)`` the sum of
    the two marked values, ``marks`` int64 ``(count, 2)`` the two marked steps (first half, second
    half). The same ``seed`` gives the same sequences; the global random state is left alone.
    """
    check_positive(count=count)
    check_int("length", length, minimum=2)
    check_int("seed", seed, minimum=0, maximum=2**63 - 1)
    generator = torch.Generator().manual_seed(seed)
    values = torch.rand(count, length, generator=generator)
    half = length // 2
    first = torch.randint(0, half, (count,), generator=generator)
    second = torch.randint(half, length, (count,), generator=generator)
    marks = torch.stack([first, second], dim=1)
    marker = torch.zeros(count, length)
    marker.scatter_(1, marks, 1.0)
    x = torch.stack([values, marker], dim=-1)
    y = values.gather(1, marks).sum(dim=1)
    return x, y, marks
