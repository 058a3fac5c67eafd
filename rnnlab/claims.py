"""``expect`` and its claims ledger: every number a chapter states, checked where it is measured.

A notebook states each measured fact with ``expect("name", value, full=..., quick=...)``: the
line prints the value beside the target of the current mode and fails the cell when the target is
missed. Every ``expect`` is recorded, met or missed, so a chapter can end with ``claims()``: the
table of what was measured in this kernel against each target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import Any

import torch

from .checks import check_number, check_str
from .config import is_quick

__all__ = ["Claim", "Claims", "claims", "expect"]


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
