"""What gradient averaging costs: a from-scratch ring all-reduce (for teaching only) and its
arithmetic.

Real training calls ``torch.distributed.all_reduce`` through DDP (NCCL on GPUs, gloo on CPUs); the
ring below simulates N workers inside one process so each message can be followed. In a ring every
worker sends ``2 (N - 1) / N`` times the gradient bytes per step, whatever N is: the bandwidth cost
stays flat while the latency cost (``2 (N - 1)`` messages in sequence) grows with N.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from ..checks import check_number, check_positive

# Rough per-GPU all-reduce bandwidths (bytes/s) and per-message latencies (s) of common links.
LINKS: dict[str, tuple[float, float]] = {
    "NVLink (one 8-GPU server)": (150e9, 10e-6),
    "PCIe 4 (no NVLink)": (12e9, 20e-6),
    "100 Gb/s network (2 machines)": (10e9, 50e-6),
    "10 Gb/s network": (1.1e9, 100e-6),
}


def ring_all_reduce(tensors: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], int]:
    """Sum ``tensors`` (one per simulated worker) the way a ring all-reduce does; return every
    worker's result and the number of bytes worker 0 sent.

    Each tensor is cut into N chunks. Reduce-scatter: N − 1 rounds, each worker passing one chunk to
    its right-hand neighbour, which adds it to its own; afterwards worker ``i`` holds the full sum
    of chunk ``i + 1``. All-gather: N − 1 more rounds pass the finished chunks around until everyone
    has all of them.
    """
    if isinstance(tensors, torch.Tensor) or not isinstance(tensors, Sequence) or len(tensors) == 0:
        raise ValueError("tensors must be a non-empty list of tensors, one per worker")
    first = tensors[0]
    for i, tensor in enumerate(tensors):
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"tensors[{i}] must be a tensor, got {type(tensor).__name__}")
        if tensor.shape != first.shape or tensor.dtype != first.dtype:
            raise ValueError(
                f"tensors[{i}] is {tuple(tensor.shape)} {tensor.dtype}; tensors[0] is "
                f"{tuple(first.shape)} {first.dtype}"
            )
    n = len(tensors)
    chunks = [list(t.detach().flatten().clone().tensor_split(n)) for t in tensors]
    sent = 0
    for phase in ("reduce-scatter", "all-gather"):
        for step in range(n - 1):
            # every worker sends at once: compute all messages of this round before applying any
            shift = 0 if phase == "reduce-scatter" else 1
            messages = [
                (i, (i - step + shift) % n, chunks[i][(i - step + shift) % n].clone())
                for i in range(n)
            ]
            for sender, c, payload in messages:
                receiver = (sender + 1) % n
                if phase == "reduce-scatter":
                    chunks[receiver][c] += payload
                else:
                    chunks[receiver][c] = payload
            sent += messages[0][2].numel() * first.element_size()
    return [torch.cat(parts).view_as(first) for parts in chunks], sent


def ring_bytes_per_worker(grad_bytes: int, world_size: int) -> float:
    """Bytes each worker sends per all-reduce of ``grad_bytes`` in a ring of ``world_size``: 2 (N −
    1) / N × bytes."""
    check_positive(grad_bytes=grad_bytes, world_size=world_size)
    return 2 * (world_size - 1) / world_size * grad_bytes


def all_reduce_seconds(
    grad_bytes: int, world_size: int, bandwidth: float, latency: float = 0.0
) -> float:
    """Time of one ring all-reduce: ``2 (N − 1)`` latencies plus the ring's bytes over the link's
    bandwidth (bytes/s)."""
    check_number("bandwidth", bandwidth, above=0)  # bytes/s
    check_number("latency", latency, minimum=0)  # seconds
    return (
        2 * (world_size - 1) * latency + ring_bytes_per_worker(grad_bytes, world_size) / bandwidth
    )


class CostRow(NamedTuple):
    link: str
    world_size: int
    mb_sent: float
    comm_ms: float
    compute_ms: float
    comm_share: float  # of a step where nothing overlaps


def cost_table(
    grad_bytes: int,
    compute_seconds: float,
    world_sizes: Sequence[int] = (2, 8, 16),
    links: dict[str, tuple[float, float]] | None = None,
) -> list[CostRow]:
    """For each link and N: megabytes each GPU sends per step, all-reduce milliseconds, and the
    share of a step spent communicating when ``compute_seconds`` of forward+backward do not overlap
    with it."""
    check_number("compute_seconds", compute_seconds, above=0)
    rows = []
    for link, (bandwidth, latency) in (links or LINKS).items():
        for n in world_sizes:
            comm = all_reduce_seconds(grad_bytes, n, bandwidth, latency)
            rows.append(
                CostRow(
                    link,
                    n,
                    ring_bytes_per_worker(grad_bytes, n) / 1e6,
                    comm * 1e3,
                    compute_seconds * 1e3,
                    comm / (comm + compute_seconds),
                )
            )
    return rows
