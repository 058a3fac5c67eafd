"""Run-wide settings: the quick/full budget, seeding, device choice, `expect` and its claims ledger.

One code path serves two modes. Tests set ``RNNLAB_QUICK=1`` so every notebook runs in seconds;
a learner gets the full budget that reaches each chapter's quality targets. Notebooks never branch
on the mode themselves: they ask ``budget(full=..., quick=...)`` and state claims with ``expect``.
Every ``expect`` is recorded, met or missed, so a chapter can end with ``claims()``: the list of
what was measured in this kernel against each target.
"""

from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass
from html import escape
from typing import Any, TypeVar

import numpy as np
import torch

from .checks import check_int, check_number, check_str

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


def _as_float(name: str, label: str, value: Any) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(
                f"expect({name!r}): {label} must be a single number, got a tensor of shape "
                f"{tuple(value.shape)}"
            )
        value = value.item()
    return check_number(f"expect({name!r}): {label}", value, finite=False)


@dataclass(frozen=True)
class Claim:
    """One ``expect`` call: what was measured, against which target, in which mode, and whether it
    held."""

    name: str
    value: float
    full: float
    quick: float
    higher_is_better: bool
    mode: str  # "quick" or "full": which of the two targets applied
    met: bool

    @property
    def target(self) -> float:
        """The target of the mode this claim was checked in."""
        return self.quick if self.mode == "quick" else self.full

    @property
    def sign(self) -> str:
        return "≥" if self.higher_is_better else "≤"


_COLUMNS = ("claim", "measured", "target", "full target", "quick target", "mode", "met")


class Claims(list):
    """The claims ledger: a list of `Claim`, shown as a table (HTML in Jupyter, plain text
    elsewhere)."""

    def rows(self) -> list[tuple[str, ...]]:
        """One row of strings per claim, in the order of ``_COLUMNS``."""
        return [
            (
                c.name,
                f"{c.value:.4g}",
                f"{c.sign} {c.target:.4g}",
                f"{c.sign} {c.full:.4g}",
                f"{c.sign} {c.quick:.4g}",
                c.mode,
                "✓" if c.met else "✗ missed",
            )
            for c in self
        ]

    def summary(self) -> str:
        missed = sum(not c.met for c in self)
        return (
            f"{len(self)} claims checked in this kernel, {len(self) - missed} met, {missed} missed"
        )

    def __repr__(self) -> str:
        rows = [_COLUMNS, *self.rows()]
        widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
        lines = [
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in rows
        ]
        return "\n".join([self.summary(), *lines])

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{escape(name)}</th>" for name in _COLUMNS)
        body = "".join(
            "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>"
            for row in self.rows()
        )
        return (
            f"<p>{escape(self.summary())}</p><table class='rnnlab-claims'>"
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        )


_LEDGER: dict[str, Claim] = {}


def claims() -> Claims:
    """Every claim ``expect`` checked in this kernel (the latest check of each name, in first-seen
    order).

    A chapter's last cell calls it, so a learner ends with what was measured on their machine
    against each target. The ledger lives in the running process: a new kernel starts with an empty
    one.
    """
    return Claims(_LEDGER.values())


def clear_claims() -> None:
    """Empty the ledger (tests; a chapter never needs it)."""
    _LEDGER.clear()


def expect(
    name: str, value: Any, *, full: float, quick: float, higher_is_better: bool = True
) -> float:
    """Check a claim a notebook makes, print it beside its target and record it in the ledger.

    Prints ``name = value (target ≥ t)`` (or ``≤`` when lower is better) with the target of the
    current mode, and raises ``AssertionError`` carrying that same line when the target is missed.
    NaN never passes. Met or missed, the check is recorded for `claims` (a re-run of the same name
    replaces its earlier record). Returns the value so a cell can keep using it.
    """
    if not check_str("expect(): name", name).strip():
        raise ValueError(f"expect(): name must be a non-empty string, got {name!r}")
    measured = _as_float(name, "value", value)
    full_target = _as_float(name, "full", full)
    quick_target = _as_float(name, "quick", quick)
    if math.isnan(full_target) or math.isnan(quick_target):
        raise ValueError(f"expect({name!r}): target is NaN")
    mode = "quick" if is_quick() else "full"
    target = quick_target if mode == "quick" else full_target
    sign = "≥" if higher_is_better else "≤"
    line = f"{name} = {measured:.4g} (target {sign} {target:.4g})"
    ok = not math.isnan(measured) and (
        measured >= target if higher_is_better else measured <= target
    )
    _LEDGER[name] = Claim(
        name, measured, full_target, quick_target, bool(higher_is_better), mode, ok
    )
    if not ok:
        raise AssertionError(f"{line}  ✗ missed")
    print(f"{line}  ✓")
    return measured
