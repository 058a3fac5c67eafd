"""Data-parallel training with DistributedDataParallel: chapter 1's sentiment classifier, or a
next-word model.

Run it the way real jobs run (the same file on a laptop, on N GPUs, on several machines)::

    torchrun --standalone --nproc-per-node=2 -m rnnlab.distributed.train --steps 60 --device cpu
    torchrun --standalone --nproc-per-node=8 -m rnnlab.distributed.train --device cuda --save x.pt

Each of the N processes holds a full copy of the model and reads its own 1/N of every global batch
(a `DistributedSampler` shards one shared shuffle, re-drawn each epoch by ``set_epoch``). After
``backward`` DDP has averaged the gradients over all processes, so every copy takes the same
optimizer step and the weights stay identical. N processes with ``global_batch / N`` samples each
train exactly like one process with the whole batch when two things hold: no randomness inside the
model (each rank draws its own dropout masks: ``--dropout``) and a loss whose per-rank means average
to the global mean. ``--task next-word`` averages its loss over real tokens, and ranks hold
different token counts; the default ``--average global`` divides each rank's loss sum by the token
count over all ranks (`rnnlab.distributed.loss.global_mean`, one all-reduce of one number),
``--average rank`` is the usual per-rank mean, which drifts. gloo carries the gradients between CPU
processes, NCCL between GPUs. Only rank 0 logs and writes the checkpoint (a plain
`rnnlab.save_checkpoint` file of the unwrapped model, so `rnnlab.load_checkpoint` loads it into a
plain ``build_model(**checkpoint["config"])``). Started without torchrun, it runs as a group of one
process. Several runs can share one process group (and pay the start-up once): separate their
arguments with ``--then``; the reported result is then ``{"runs": [one result per run]}``.

Its data come from `rnnlab.distributed.data`, its one-process reference from
`rnnlab.distributed.reference`, its compute/communication split from `rnnlab.bench.ddp`. The loop
is its own (`run_steps`), not `rnnlab.fit`: a rank takes exactly ``--steps`` optimizer steps on its
shards, with no epochs, validation or resume. (Just over 400 lines: the command line is a quarter
of them, kept beside the loop it sets up, as nanoGPT keeps its settings in its train.py.)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader

from ..bench.ddp import measure_split
from ..checkpoint import save_checkpoint
from ..checks import check_choice
from ..config import pick_device, seed_everything, synchronize
from ..data.vocab import BOS, EOS
from ..models.seq2vec import SequenceClassifier, predict_loader
from ..models.synced import SyncedTagger
from ..sequences import collate_padded, masked_cross_entropy
from ..train import to_device
from .data import Batch, Sample, batches, make_data, make_loader, merge_batches
from .launcher import free_port, report
from .loss import AVERAGES, average_loss

TASKS = ("sentiment", "next-word")
THEN = "--then"  # separates the arguments of runs made one after another in the same process group


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line (see ``--help``); checks values that argparse alone would let through."""
    parser = argparse.ArgumentParser(
        prog="torchrun --nproc-per-node=N -m rnnlab.distributed.train",
        description=__doc__.split("\n")[0],
    )
    parser.add_argument("--steps", type=int, default=100, help="optimizer steps (default 100)")
    parser.add_argument(
        "--global-batch",
        type=int,
        default=32,
        help="samples per step over ALL processes; each gets global/N",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the data split, the weights and the shuffle"
    )
    parser.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate")
    parser.add_argument("--embed-dim", type=int, default=32)
    parser.add_argument("--hidden-size", type=int, default=64)
    parser.add_argument(
        "--cell",
        choices=("gru", "lstm"),
        default="gru",
        help="the sentiment model's RNN (next-word uses a GRU)",
    )
    parser.add_argument(
        "--task",
        choices=TASKS,
        default="sentiment",
        help=(
            "sentiment: a label per sentence; next-word: predict each next word, loss averaged "
            "over real tokens"
        ),
    )
    parser.add_argument(
        "--dropout",
        type=float,
        default=0.0,
        help="dropout of the sentiment model (each rank draws its own masks)",
    )
    parser.add_argument(
        "--average",
        choices=AVERAGES,
        default="global",
        help="global: loss sum / item count over ALL ranks (exact); rank: each rank's own mean",
    )
    parser.add_argument(
        "--bucket",
        action="store_true",
        help="batches of similar lengths (rnnlab.samplers.BucketBatchSampler)",
    )
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="cpu (gloo) or cuda (NCCL, one GPU per process)",
    )
    parser.add_argument(
        "--save", default=None, metavar="PATH", help="write a checkpoint here at the end (rank 0)"
    )
    parser.add_argument(
        "--log-every",
        type=int,
        default=20,
        help="rank 0 prints the mean loss every this many steps",
    )
    parser.add_argument(
        "--timing",
        type=int,
        default=0,
        metavar="K",
        help="after training, time K steps of compute alone and K all-reduces alone",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="seconds a rank waits for its peers before failing",
    )
    args = parser.parse_args(argv)
    for name in ("steps", "global_batch", "embed_dim", "hidden_size", "log_every"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be ≥ 1, got {getattr(args, name)}")
    if args.timing < 0 or args.lr <= 0 or args.timeout <= 0:
        parser.error("--timing must be ≥ 0, --lr and --timeout > 0")
    if not 0 <= args.dropout < 1:
        parser.error(f"--dropout must be in [0, 1), got {args.dropout}")
    if args.task == "next-word" and (args.dropout or args.cell != "gru"):
        parser.error(
            "--dropout and --cell apply to --task sentiment; the next-word model is a plain GRU"
        )
    return args


def build_model(
    vocab_size: int,
    *,
    task: str = "sentiment",
    embed_dim: int = 32,
    hidden_size: int = 64,
    cell: str = "gru",
    dropout: float = 0.0,
) -> nn.Module:
    """The model every rank trains (and what a checkpoint of this script loads into):
    ``build_model(**checkpoint["config"])``.

    sentiment: a `SequenceClassifier` (mean pooling); next-word: a `SyncedTagger` reading
    ``<bos> w1 … wn`` and predicting ``w1 … wn <eos>``.
    """
    check_choice("task", task, TASKS)
    if task == "next-word":
        return SyncedTagger(vocab_size, vocab_size, embed_dim=embed_dim, hidden_size=hidden_size)
    return SequenceClassifier(
        vocab_size,
        2,
        embed_dim=embed_dim,
        hidden_size=hidden_size,
        cell=cell,
        pooling="mean",
        dropout=dropout,
    )


def loss_terms(model: nn.Module, batch: Batch, task: str) -> tuple[torch.Tensor, int]:
    """``(summed loss, items)`` of a batch: sentiment sums cross-entropy over sentences, next-word
    over real tokens."""
    check_choice("task", task, TASKS)
    tokens, lengths, labels = batch
    if task == "sentiment":
        return F.cross_entropy(model(tokens, lengths), labels, reduction="sum"), len(labels)
    rows = torch.arange(len(lengths), device=tokens.device)
    inputs = F.pad(tokens, (1, 0), value=BOS)  # (B, T + 1): <bos> w1 … wn, padding
    targets = F.pad(tokens, (0, 1))  # (B, T + 1): w1 … wn, then <eos> written at position n
    targets[rows, lengths.to(tokens.device)] = EOS
    real = lengths + 1
    # (B, T + 1, V): one-way, so step t has read <bos> w1 … wt only
    logits = model(inputs, real, inputs.shape[1])
    return masked_cross_entropy(logits, targets, real, reduction="sum"), int(real.sum())


def setup(device: str, timeout: float) -> tuple[int, int, torch.device]:
    """Join the process group (env:// rendezvous, as torchrun sets it up); return rank, world size
    and device."""
    if dist.is_initialized():  # an earlier run of this process joined it
        if (dist.get_backend() == "nccl") != (device == "cuda"):
            raise ValueError(
                f"--device {device} differs from the earlier runs' in this process group "
                f"({dist.get_backend()})"
            )
        where = (
            pick_device(f"cuda:{os.environ.get('LOCAL_RANK', '0')}")
            if device == "cuda"
            else torch.device("cpu")
        )
        return dist.get_rank(), dist.get_world_size(), where
    if "WORLD_SIZE" not in os.environ:  # plain `python -m ...`: a group of one
        os.environ.update(
            RANK="0",
            LOCAL_RANK="0",
            WORLD_SIZE="1",
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(free_port()),
        )
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "cuda":
        where = pick_device(f"cuda:{local_rank}")  # a clear error when this GPU does not exist
        torch.cuda.set_device(where)
        backend = "nccl"
    else:
        where, backend = torch.device("cpu"), "gloo"
    dist.init_process_group(
        backend=backend,
        timeout=timedelta(seconds=timeout),
        device_id=where if backend == "nccl" else None,
    )
    return dist.get_rank(), dist.get_world_size(), where


def _global_mean(value: float, device: torch.device) -> float:
    tensor = torch.tensor([value], device=device)
    dist.all_reduce(tensor)
    return float(tensor) / dist.get_world_size()


def accuracy(model: nn.Module, samples: Sequence[Sample]) -> float:
    """Share of ``samples`` the model labels correctly (`predict_loader`: in eval mode)."""
    loader = DataLoader(samples, batch_size=256, collate_fn=collate_padded)
    probs, labels = predict_loader(model, loader)
    return float((probs.argmax(dim=1) == labels).float().mean())


def prepare(
    args: argparse.Namespace, world: int, shard_ranks: Sequence[int], device: torch.device
) -> dict[str, Any]:
    """What every run needs, identical on every rank: seeded weights, test data, and the
    ``args.steps`` batches made of the shards of ``shard_ranks`` (out of ``world``) merged, plus
    each shard's ``(loader, sampler)``."""
    seed_everything(args.seed)
    train_samples, test_samples, vocab = make_data(args.seed)
    shards = [
        make_loader(train_samples, args.global_batch, r, world, args.seed, bucket=args.bucket)
        for r in shard_ranks
    ]
    config = {
        "vocab_size": len(vocab),
        "task": args.task,
        "embed_dim": args.embed_dim,
        "hidden_size": args.hidden_size,
        "cell": args.cell,
        "dropout": args.dropout,
    }
    model = build_model(**config).to(device)
    data = (
        merge_batches(parts)
        for parts in zip(
            *(batches(loader, sampler, args.steps) for loader, sampler in shards), strict=True
        )
    )
    return {"model": model, "data": data, "shards": shards, "test": test_samples, "config": config}


def run_steps(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: Iterator[Any],
    args: argparse.Namespace,
    device: torch.device,
    rank: int = 0,
) -> dict[str, Any]:
    """The training loop (the same with or without DDP); returns the logged mean losses and step
    timings."""
    step_seconds, logged = [], []
    for step, batch in enumerate(data, start=1):
        batch = to_device(batch, device)
        synchronize(device)
        tic = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = average_loss(*loss_terms(model, batch, args.task), args.average)
        loss.backward()  # under DDP the gradients are averaged over all ranks during this call
        optimizer.step()
        synchronize(device)
        step_seconds.append(time.perf_counter() - tic)
        if step % args.log_every == 0 or step == args.steps:
            # every rank takes part
            mean_loss = _global_mean(loss.item(), device) if dist.is_initialized() else loss.item()
            logged.append((step, mean_loss))
            if rank == 0:
                print(f"step {step:>5}/{args.steps}  loss {mean_loss:.4f}", flush=True)
    # the first step pays one-off costs
    step_time = statistics.median(step_seconds[1:] or step_seconds)
    return {
        "steps": args.steps,
        "global_batch": args.global_batch,
        "losses": logged,
        "final_loss": logged[-1][1],
        "step_seconds": step_time,
        "samples_per_second": args.global_batch / step_time,
    }


def grad_bytes(model: nn.Module) -> int:
    """Bytes of gradient that DDP averages over the ranks at every step."""
    return sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)


def train(args: argparse.Namespace) -> dict[str, Any]:
    """Run the training this process is part of (joining the process group unless it already has);
    returns this rank's result. The caller leaves the group (`main` does, after its last run)."""
    rank, world, device = setup(args.device, args.timeout)
    run = prepare(args, world, [rank], device)
    model = run["model"]
    ddp = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    # from here on the random numbers are dropout's: each rank draws its own masks (the weights are
    # equal already, seeded alike by prepare and broadcast from rank 0 by DDP)
    torch.manual_seed(args.seed + 1 + rank)
    optimizer = torch.optim.Adam(ddp.parameters(), lr=args.lr)
    if rank == 0:
        print(
            f"{world} process(es), backend {dist.get_backend()}, {args.global_batch // world} "
            "samples each per step; "
            f"{grad_bytes(model) / 1e6:.2f} MB of gradients to average per step",
            flush=True,
        )
    result = run_steps(ddp, optimizer, run["data"], args, device, rank)
    result.update(rank=rank, world_size=world, grad_bytes=grad_bytes(model))
    if rank == 0 and args.task == "sentiment":
        result["test_accuracy"] = accuracy(model, run["test"])
        print(f"test accuracy {result['test_accuracy']:.3f}", flush=True)
    if rank == 0 and args.save:
        save_checkpoint(
            args.save,
            model,
            optimizer,
            config=run["config"],
            steps=args.steps,
            world_size=world,
            global_batch=args.global_batch,
            seed=args.seed,
        )
        print(f"saved {args.save}", flush=True)
    if args.timing:
        loader, sampler = run["shards"][0]
        result.update(
            measure_split(
                ddp,
                optimizer,
                batches(loader, sampler, args.timing + 1),
                lambda model, batch: loss_terms(model, batch, args.task)[0],
                args.timing,
                device,
            )
        )
    dist.barrier()
    return result


def split_runs(argv: Sequence[str]) -> list[list[str]]:
    """Cut a command line at each ``--then`` into the arguments of consecutive runs (empty runs are
    an error)."""
    runs: list[list[str]] = [[]]
    for arg in argv:
        if arg == THEN:
            runs.append([])
        else:
            runs[-1].append(arg)
    if len(runs) > 1 and not all(runs):
        raise SystemExit(
            f"error: an empty run around {THEN}: put arguments before and after each {THEN}"
        )
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    """Run each ``--then``-separated run in turn in one process group; report the result (a list for
    several runs)."""
    runs = [parse_args(run) for run in split_runs(sys.argv[1:] if argv is None else argv)]
    try:
        results = [train(args) for args in runs]
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    report(results[0] if len(results) == 1 else {"runs": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
