"""The one-process reference of a DDP run, and how to compare two trained models.

`train_reference` trains in one process, without a process group, on the batches that the ranks of
a DDP run read together: what N processes must end with when the run is exact (chapter 6).
`load_model` rebuilds the model a ``--save`` checkpoint of the script holds, and
`max_weight_difference` says how far two models' weights are apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..checkpoint import load_checkpoint
from ..checks import check_positive
from ..config import pick_device
from .train import build_model, grad_bytes, parse_args, prepare, run_steps

__all__ = ["load_model", "max_weight_difference", "train_reference"]


def train_reference(
    argv: Sequence[str] = (), world_size: int = 1
) -> tuple[nn.Module, dict[str, Any]]:
    """One process, no process group: at each step the whole global batch, made of the shards that
    ``world_size`` ranks would read (the same batches as one process when not bucketing). What a DDP
    run of ``argv`` must equal."""
    if isinstance(argv, str):
        raise TypeError(
            "argv must be a list of command-line arguments such as ['--steps', '10'], got the "
            f"string {argv!r}"
        )
    check_positive(world_size=world_size)  # the number of ranks whose shards to read
    args = parse_args(argv)
    device = pick_device(args.device)
    run = prepare(args, world_size, range(world_size), device)
    optimizer = torch.optim.Adam(run["model"].parameters(), lr=args.lr)
    result = run_steps(run["model"], optimizer, run["data"], args, device)
    return run["model"], {**result, "world_size": 1, "grad_bytes": grad_bytes(run["model"])}


def load_model(path: str | Path) -> nn.Module:
    """The plain model (no DDP wrapper) saved by ``--save PATH``, rebuilt from the settings stored
    beside its weights."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"checkpoint path {str(path)!r} does not exist")
    state = torch.load(path, map_location="cpu", weights_only=True).get("state") or {}
    if "config" not in state:
        raise ValueError(
            f"{str(path)!r} was not written by this script's --save (no model settings in it)"
        )
    model = build_model(**state["config"])
    load_checkpoint(path, model)
    return model


def max_weight_difference(a: nn.Module, b: nn.Module) -> float:
    """The largest ``|a − b|`` over all weights of two models of the same architecture."""
    pairs = zip(a.state_dict().items(), b.state_dict().items(), strict=True)
    diffs = []
    for (name, x), (other, y) in pairs:
        if name != other or x.shape != y.shape:
            raise ValueError(
                f"the models differ: {name} {tuple(x.shape)} vs {other} {tuple(y.shape)}"
            )
        diffs.append(float((x.float() - y.float()).abs().max()) if x.numel() else 0.0)
    return max(diffs)
