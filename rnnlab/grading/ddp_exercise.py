"""Exercise 6's harness: run a learner's hand-written data-parallel code on gloo workers.

A worker process cannot import a notebook, so each check sends the learner's function *source* to
``world_size`` workers started by `rnnlab.distributed.launch`
(``python -m rnnlab.grading.ddp_exercise TASK SOURCE SEED``), which run it for a few SGD steps and
report what they ended with.

- `check_average_gradients` (task ``gradients``): each worker trains two copies of the same small
  GRU classifier on its share of every batch: one with the learner's ``average_gradients(model)``
  after ``backward()``, one wrapped in ``DistributedDataParallel``; and a third copy alone on the
  whole batch. Each reports the largest weight difference to DDP and to the single process, and
  whether the ranks agree. The model has one parameter that no loss reaches (its ``.grad`` stays
  None), as real models often do, and the world size is a parameter: averaging by a hard-coded 2,
  or an ``all_reduce`` of a missing gradient, does not pass with 3 workers.
- `check_global_mean` (task ``token_mean``): a small GRU tagger, one prediction per token, trained
  under DDP on sequences of different lengths, so the ranks hold **unequal numbers of real tokens**.
  One DDP copy calls backward on the learner's ``global_token_mean(logits, targets, mask)``, another
  on the usual per-rank mean; a third copy trains alone on the whole batch with the mean over all
  its real tokens. Each worker reports both copies' largest weight difference to the single
  process, its token counts, and whether the ranks agree: only a loss averaged over every rank's
  tokens makes DDP equal one process here.
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


class TinyTagger(nn.Module):
    """Embedding → GRU → linear at every step: one prediction per token, as a language model
    makes."""

    def __init__(self, vocab_size: int, hidden_size: int):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, 8)
        self.rnn = nn.GRU(8, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        states, _ = self.rnn(self.embed(tokens))
        return self.head(states)


def _token_problem(
    seed: int, world_size: int
) -> tuple[Callable[[], nn.Module], list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]]:
    """A tagger factory and a few global batches ``(tokens, targets, lengths)`` from ``seed``.

    Each rank's share (``per_rank`` consecutive rows) draws its lengths from its own range, so the
    ranks hold different numbers of real tokens (never equal, never none).
    """
    g = torch.Generator().manual_seed(seed)
    vocab_size, hidden_size = (
        int(torch.randint(lo, hi, (1,), generator=g)) for lo, hi in ((5, 16), (4, 16))
    )
    per_rank = int(torch.randint(2, 6, (1,), generator=g))
    steps_t = int(torch.randint(6, 12, (1,), generator=g))
    init_seed = int(torch.randint(0, 2**31, (1,), generator=g))
    batches = []
    for _ in range(3):
        while True:
            lengths = torch.cat(
                [
                    torch.randint(
                        1 + (steps_t - 1) * r // world_size,
                        steps_t + 1,
                        (per_rank,),
                        generator=g,
                    )
                    for r in range(world_size)
                ]
            )
            counts = lengths.view(world_size, per_rank).sum(1)
            if len(set(counts.tolist())) == world_size:  # every rank a different token count
                break
        tokens = torch.randint(0, vocab_size, (per_rank * world_size, steps_t), generator=g)
        targets = torch.randint(0, vocab_size, (per_rank * world_size, steps_t), generator=g)
        batches.append((tokens, targets, lengths))

    def make() -> nn.Module:
        torch.manual_seed(init_seed)
        return TinyTagger(vocab_size, hidden_size)

    return make, batches


def _load(source_file: str, name: str) -> Callable[..., Any]:
    """The learner's function ``name``, defined from its source in a namespace holding torch, dist,
    nn and F."""
    import torch.distributed as dist

    namespace: dict[str, Any] = {"torch": torch, "dist": dist, "nn": nn, "F": F}
    exec(compile(Path(source_file).read_text(), source_file, "exec"), namespace)
    return namespace[name]


def _ranks_agree(model: nn.Module) -> bool:
    import torch.distributed as dist

    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    gathered = [torch.zeros_like(flat) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, flat)
    return all(torch.equal(gathered[0], t) for t in gathered)


def token_mean_worker(source_file: str, seed: int) -> dict[str, Any]:
    """Inside a launched worker: the learner's loss and a per-rank mean under DDP, against one
    process."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    global_token_mean = _load(source_file, "global_token_mean")

    def rank_mean(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits[mask], targets[mask])

    make, batches = _token_problem(seed, world)
    learner, per_rank, single = (
        DistributedDataParallel(make()),
        DistributedDataParallel(make()),
        make(),
    )
    optimizers = [torch.optim.SGD(m.parameters(), lr=0.5) for m in (learner, per_rank, single)]
    tokens = []
    for x, y, lengths in batches:
        mask = torch.arange(x.shape[1]) < lengths.unsqueeze(1)
        shard = slice(rank * len(y) // world, (rank + 1) * len(y) // world)
        tokens.append(int(mask[shard].sum()))
        for model, optimizer, loss_fn, rows in (
            (learner, optimizers[0], global_token_mean, shard),
            (per_rank, optimizers[1], rank_mean, shard),
            (single, optimizers[2], rank_mean, slice(None)),
        ):
            optimizer.zero_grad()
            loss = loss_fn(model(x[rows]), y[rows], mask[rows])
            if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
                raise TypeError("global_token_mean must return a tensor holding one number")
            loss.reshape(()).backward()
            optimizer.step()
    result = {
        "rank": rank,
        "tokens": tokens,
        "vs_single": _max_diff(learner.module, single),
        "rank_mean_vs_single": _max_diff(per_rank.module, single),
        "ranks_agree": _ranks_agree(learner.module),
    }
    dist.destroy_process_group()
    return result


def worker(source_file: str, seed: int) -> dict[str, Any]:
    """Inside a launched worker: train manual, DDP and single-process copies; return the
    differences."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    average_gradients = _load(source_file, "average_gradients")
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
    result = {
        "rank": rank,
        "vs_ddp": _max_diff(manual, ddp.module),
        "vs_single": _max_diff(manual, single),
        "ranks_agree": _ranks_agree(manual),
    }
    dist.destroy_process_group()
    return result


WORKERS = {
    "gradients": ("average_gradients", worker),
    "token_mean": ("global_token_mean", token_mean_worker),
}


def _run_in_workers(
    func: Callable[..., Any], task: str, seed: int, world_size: int, timeout: float
) -> list[dict[str, Any]]:
    """Send ``func``'s source to ``world_size`` workers running ``task``; one report per rank."""
    from ..distributed import launch

    name = WORKERS[task][0]
    if not callable(func) or getattr(func, "__name__", "") != name:
        raise TypeError(f"{name} must be your function named {name}")
    check_int("world_size", world_size, minimum=2)
    if is_stub(func):
        raise NotImplementedError(f"{name} is still a stub: write its body first")
    source = textwrap.dedent(inspect.getsource(func))
    with tempfile.TemporaryDirectory(prefix="rnnlab-ddp-") as tmp:
        path = Path(tmp) / f"{name}.py"
        path.write_text(source)
        return launch(
            world_size,
            "rnnlab.grading.ddp_exercise",
            [task, str(path), str(int(seed))],
            timeout=timeout,
            stream=False,
        )


def check_average_gradients(
    average_gradients: Callable[[nn.Module], Any],
    seed: int = 0,
    world_size: int = 2,
    timeout: float = 120,
) -> list[dict[str, Any]]:
    """Run ``average_gradients`` on ``world_size`` gloo workers beside DDP; one report dict per rank
    (see module doc)."""
    return _run_in_workers(average_gradients, "gradients", seed, world_size, timeout)


def check_global_mean(
    global_token_mean: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    seed: int = 0,
    world_size: int = 2,
    timeout: float = 120,
) -> list[dict[str, Any]]:
    """Train with ``global_token_mean`` under DDP on ranks with unequal token counts, beside a
    per-rank mean and one process; one report dict per rank (see module doc)."""
    return _run_in_workers(global_token_mean, "token_mean", seed, world_size, timeout)


def main(argv: list[str] | None = None) -> int:
    from ..distributed import report

    task, source_file, seed = argv if argv is not None else sys.argv[1:]
    report(WORKERS[task][1](source_file, int(seed)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
