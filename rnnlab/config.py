"""Run-wide settings: the quick/full budget, seeding, device choice.

One code path serves two modes. Tests set ``RNNLAB_QUICK=1`` so every notebook runs in seconds;
a learner gets the full budget that reaches each chapter's quality targets. Notebooks never branch
on the mode themselves: they ask ``budget(full=..., quick=...)`` and state claims with ``expect``
(`rnnlab.claims`), whose target depends on the mode.
"""

from __future__ import annotations

import os
import random
from typing import Any, TypeVar

import numpy as np
import torch

from .checks import check_int

T = TypeVar("T")

_MISSING: Any = object()
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def _env_flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        f"environment variable {name}={raw!r}: expected one of 1/0, true/false, yes/no, on/off"
    )


def is_quick() -> bool:
    """True when ``RNNLAB_QUICK`` asks for the small test-suite budget."""
    return _env_flag("RNNLAB_QUICK", default=False)


def cache_enabled() -> bool:
    """True unless ``RNNLAB_CACHE=0`` turns the train-once model cache off (tests and full checks
    do)."""
    return _env_flag("RNNLAB_CACHE", default=True)


def budget(full: T = _MISSING, quick: T = _MISSING) -> T:
    """Return ``quick`` in quick mode and ``full`` otherwise.

    Both values are required so that every notebook states what each mode costs, e.g.
    ``epochs = budget(full=20, quick=2)``.
    """
    missing = [name for name, value in (("full", full), ("quick", quick)) if value is _MISSING]
    if missing:
        raise TypeError(f"budget() needs both full= and quick=; missing: {', '.join(missing)}")
    return quick if is_quick() else full


def seed_everything(seed: int) -> int:
    """Seed Python, NumPy and PyTorch (CPU and every GPU) so a run repeats; returns the seed."""
    seed = check_int("seed", seed, minimum=0, maximum=2**32 - 1)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return seed


def synchronize(device: torch.device) -> None:
    """Wait until ``device`` has finished its queued work (a CUDA GPU runs asynchronously), so a
    clock read after it times the work; on a CPU there is nothing to wait for."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def pick_device(override: str | torch.device | None = None) -> torch.device:
    """Choose where to compute: ``override`` (or ``RNNLAB_DEVICE``) if given, else CUDA if present,
    else CPU.

    An override naming a device that does not exist fails here with a clear message rather than at
    the first tensor copy.
    """
    requested = override if override is not None else os.environ.get("RNNLAB_DEVICE") or None
    if requested is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(requested)
    except (RuntimeError, TypeError) as err:
        raise ValueError(
            f"device {requested!r} is not a device name such as 'cpu', 'cuda' or 'cuda:1'"
        ) from err
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {requested!r} asked for, but this machine has no CUDA GPU; use 'cpu'"
            )
        index = device.index or 0
        if index >= torch.cuda.device_count():
            raise ValueError(
                f"device {requested!r} asked for, but only {torch.cuda.device_count()} GPU(s) exist"
            )
    elif device.type not in ("cpu", "mps"):
        raise ValueError(
            f"device {requested!r}: rnnlab supports 'cpu' and 'cuda[:N]' (and 'mps' on Macs)"
        )
    return device
