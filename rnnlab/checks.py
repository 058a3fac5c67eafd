"""Argument checks shared across rnnlab, each raising an error that names the argument and what it got.

They live in the core layer so that every layer (data, models, distributed) can use them without
importing a model module.
"""

from __future__ import annotations

from typing import Any

__all__ = ["check_choice", "check_positive", "check_probability"]


def check_choice(name: str, value: Any, choices: tuple[str, ...] | dict) -> None:
    """Raise ValueError naming ``name`` when ``value`` is not one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")


def check_positive(**values: Any) -> None:
    """Raise ValueError naming the argument for any value that is not a positive int."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")


def check_probability(**values: Any) -> None:
    """Raise ValueError naming the argument for any value outside [0, 1)."""
    for name, value in values.items():
        if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must be a probability in [0, 1), got {value!r}")
