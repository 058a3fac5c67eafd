"""Exercise 6's harness: run a learner's hand-written gradient averaging on gloo workers beside DDP.

A worker process cannot import a notebook, so `check_average_gradients` sends the function's
*source* to ``world_size`` workers started by `rnnlab.distributed.launch`
(``python -m rnnlab.grading.ddp_exercise``). Each worker trains two copies of the same small GRU
classifier on its share of every batch for a few SGD steps: one with the learner's
``average_gradients(model)`` after ``backward()``, one wrapped in ``DistributedDataParallel``. It
also trains a third copy alone on the whole batch. Each worker reports the largest weight difference
to DDP and to the single process, and whether the ranks agree.

The model has one parameter that no loss reaches (its ``.grad`` stays None), as real models often do
(a frozen or unused head), and the world size is a parameter: averaging by a hard-coded 2, or an
``all_reduce`` of a missing gradient, does not pass with 3 workers.
"""

from __future__ import annotations

import inspect
import sys
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..checks import check_int
from .checks import is_stub


class TinyClassifier(nn.Module):
    """Embedding → GRU → linear on the last step: small, but every gradient path of a real RNN
    model."""

    def __init__(self, vocab_size: int, hidden_size: int, num_classes: int):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, 8)
        self.gru = nn.GRU(8, hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, num_classes)
        self.unused = nn.Linear(hidden_size, 1)  # never in the loss: its .grad stays None

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        states, _ = self.gru(self.embed(tokens))
        return self.out(states[:, -1])


def _problem(
    seed: int, world_size: int
) -> tuple[Callable[[], nn.Module], list[tuple[torch.Tensor, torch.Tensor]]]:
    """A model factory and a few global batches, all drawn from ``seed`` (identical on every
    rank)."""
    g = torch.Generator().manual_seed(seed)
    vocab_size, hidden_size, num_classes = (
        int(torch.randint(lo, hi, (1,), generator=g)) for lo, hi in ((5, 20), (4, 24), (2, 6))
    )
    per_rank = int(torch.randint(2, 9, (1,), generator=g))
    steps_t = int(torch.randint(3, 12, (1,), generator=g))
    init_seed = int(torch.randint(0, 2**31, (1,), generator=g))
    batches = [
        (
            torch.randint(0, vocab_size, (per_rank * world_size, steps_t), generator=g),
            torch.randint(0, num_classes, (per_rank * world_size,), generator=g),
        )
        for _ in range(3)
    ]

    def make() -> nn.Module:
        torch.manual_seed(init_seed)
        return TinyClassifier(vocab_size, hidden_size, num_classes)

    return make, batches


def _max_diff(a: nn.Module, b: nn.Module) -> float:
    return max(
        float((p - q).abs().max()) for p, q in zip(a.parameters(), b.parameters(), strict=True)
    )


def worker(source_file: str, seed: int) -> dict[str, Any]:
    """Inside a launched worker: train manual, DDP and single-process copies; return the
    differences."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    namespace: dict[str, Any] = {"torch": torch, "dist": dist, "nn": nn}
    exec(compile(Path(source_file).read_text(), source_file, "exec"), namespace)
    average_gradients = namespace["average_gradients"]
    make, batches = _problem(seed, world)
    manual, single = make(), make()
    ddp = DistributedDataParallel(make(), find_unused_parameters=True)
    optimizers = [torch.optim.SGD(m.parameters(), lr=0.5) for m in (manual, ddp, single)]
    for x, y in batches:
        shard = slice(rank * len(y) // world, (rank + 1) * len(y) // world)
        for model, optimizer, (xs, ys) in zip(
            (manual, ddp, single), optimizers, ((x[shard], y[shard]),) * 2 + ((x, y),), strict=True
        ):
            optimizer.zero_grad()
            F.cross_entropy(model(xs), ys).backward()
            if model is manual:
                average_gradients(manual)
            optimizer.step()
    flat = torch.cat([p.detach().flatten() for p in manual.parameters()])
    gathered = [torch.zeros_like(flat) for _ in range(world)]
    dist.all_gather(gathered, flat)
    result = {
        "rank": rank,
        "vs_ddp": _max_diff(manual, ddp.module),
        "vs_single": _max_diff(manual, single),
        "ranks_agree": all(torch.equal(gathered[0], t) for t in gathered),
    }
    dist.destroy_process_group()
    return result


def check_average_gradients(
    average_gradients: Callable[[nn.Module], Any],
    seed: int = 0,
    world_size: int = 2,
    timeout: float = 120,
) -> list[dict[str, Any]]:
    """Run ``average_gradients`` on ``world_size`` gloo workers beside DDP; one report dict per rank
    (see module doc)."""
    from ..distributed import launch

    if (
        not callable(average_gradients)
        or getattr(average_gradients, "__name__", "") != "average_gradients"
    ):
        raise TypeError("average_gradients must be your function named average_gradients")
    check_int("world_size", world_size, minimum=2)
    if is_stub(average_gradients):
        raise NotImplementedError("average_gradients is still a stub: write its body first")
    source = textwrap.dedent(inspect.getsource(average_gradients))
    with tempfile.TemporaryDirectory(prefix="rnnlab-ddp-") as tmp:
        path = Path(tmp) / "average_gradients.py"
        path.write_text(source)
        return launch(
            world_size,
            "rnnlab.grading.ddp_exercise",
            [str(path), str(int(seed))],
            timeout=timeout,
            stream=False,
        )


def main(argv: list[str] | None = None) -> int:
    from ..distributed import report

    source_file, seed = argv if argv is not None else sys.argv[1:]
    report(worker(source_file, int(seed)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
