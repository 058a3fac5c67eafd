"""The argument checks every public rnnlab function uses: one home, one convention.

The convention: a value of the wrong *type* raises ``TypeError``, a value of the right type but the
wrong *value* raises ``ValueError``, and both messages name the argument and show what was given
(its ``repr``). So a learner who passes ``hidden_size=8.0`` or ``hidden_size=0`` learns which
argument is wrong at the call, not from a shape error ten calls deep.

Two rules hold for every check here:

- ``bool`` is not a number. ``True`` is an ``int`` to Python, but ``num_layers=True`` is a mistake.
- NumPy scalars count as numbers (``np.int64(3)`` is an int), and each check returns a plain Python
  value (``int``, ``float``), so the caller can keep the returned value.

The checks live in the core layer, so data, models, training and tools all use them without
importing each other. Module-specific validators of compound things (a checkpoint, a batch) stay in
their modules but are built from these.
"""

from __future__ import annotations

import math
from typing import Any, Literal, overload

import numpy as np
import torch

__all__ = [
    "check_bool",
    "check_choice",
    "check_int",
    "check_number",
    "check_positive",
    "check_probability",
    "check_str",
    "check_tokens",
]


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _given(value: Any) -> str:
    """What was given, for a TypeError: its type and its repr."""
    return f"{type(value).__name__} {value!r}"


def _bounds(
    minimum: float | None,
    maximum: float | None,
    above: float | None = None,
    below: float | None = None,
) -> str:
    """The allowed range in words, e.g. ``≥ 1``, ``in [0, 1)``, ``> 0``."""
    low = f"[{minimum}" if minimum is not None else f"({above}" if above is not None else None
    high = f"{maximum}]" if maximum is not None else f"{below})" if below is not None else None
    if low is not None and high is not None:
        return f"in {low}, {high}"
    if low is not None:
        return f"≥ {minimum}" if minimum is not None else f"> {above}"
    if high is not None:
        return f"≤ {maximum}" if maximum is not None else f"< {below}"
    return "any value"


@overload
def check_int(
    name: str,
    value: Any,
    *,
    minimum: int | None = ...,
    maximum: int | None = ...,
    optional: Literal[False] = ...,
) -> int: ...
@overload
def check_int(
    name: str,
    value: Any,
    *,
    minimum: int | None = ...,
    maximum: int | None = ...,
    optional: Literal[True],
) -> int | None: ...
def check_int(
    name: str,
    value: Any,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    optional: bool = False,
) -> int | None:
    """``value`` as a Python int if it is an integer in ``[minimum, maximum]`` (either bound may be
    left open).

    ``TypeError`` if it is not an integer (a ``bool``, a float such as ``3.0``, a string, a tensor);
    ``ValueError`` if it is out of range. With ``optional=True``, ``None`` is allowed and returned.
    """
    if value is None and optional:
        return None
    if not _is_int(value):
        raise TypeError(
            f"{name} must be an int{' or None' if optional else ''}, got {_given(value)}"
        )
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        wanted = (
            "a positive int"
            if (minimum, maximum) == (1, None)
            else f"an int {_bounds(minimum, maximum)}"
        )
        raise ValueError(f"{name} must be {wanted}, got {value!r}")
    return int(value)


@overload
def check_number(
    name: str,
    value: Any,
    *,
    minimum: float | None = ...,
    maximum: float | None = ...,
    above: float | None = ...,
    below: float | None = ...,
    finite: bool = ...,
    optional: Literal[False] = ...,
) -> float: ...
@overload
def check_number(
    name: str,
    value: Any,
    *,
    minimum: float | None = ...,
    maximum: float | None = ...,
    above: float | None = ...,
    below: float | None = ...,
    finite: bool = ...,
    optional: Literal[True],
) -> float | None: ...
def check_number(
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
    below: float | None = None,
    finite: bool = True,
    optional: bool = False,
) -> float | None:
    """``value`` as a float if it is a finite real number within the bounds given.

    ``minimum``/``maximum`` are inclusive bounds, ``above``/``below`` exclusive ones (give at most
    one of each side): a learning-rate decay is ``above=0, maximum=1``, a dropout rate
    ``minimum=0, below=1``. ``TypeError`` if it is not a real number (a ``bool``, a string, a
    tensor); ``ValueError`` if it is NaN, infinite or out of range. ``finite=False`` lets NaN and
    ±inf through the type check untouched (a measured value may be NaN; the bounds still apply to
    infinities). With ``optional=True``, ``None`` is allowed and returned.
    """
    if (minimum is not None and above is not None) or (maximum is not None and below is not None):
        raise TypeError(
            "check_number takes at most one lower bound (minimum or above) and one upper (maximum "
            "or below)"
        )
    if value is None and optional:
        return None
    if not _is_number(value):
        raise TypeError(
            f"{name} must be a number{' or None' if optional else ''}, got {_given(value)}"
        )
    if math.isnan(value) and not finite:
        return float(value)
    wrong = (
        (finite and not math.isfinite(value))
        or (minimum is not None and value < minimum)
        or (maximum is not None and value > maximum)
        or (above is not None and value <= above)
        or (below is not None and value >= below)
    )
    if wrong:
        range_ = _bounds(minimum, maximum, above, below)
        what = "a finite number" if finite else "a number"
        raise ValueError(
            f"{name} must be {what}{'' if range_ == 'any value' else ' ' + range_}, got {value!r}"
        )
    return float(value)


def check_nonempty(name: str, values: Any) -> None:
    """A list of settings to measure or rows to show must hold at least one."""
    if not values:
        raise ValueError(f"{name} is empty: give at least one value")


def check_positive(**values: Any) -> None:
    """Check each keyword argument is an int ≥ 1 (a size, a count):
    ``check_positive(hidden_size=h, num_layers=n)``."""
    for name, value in values.items():
        check_int(name, value, minimum=1)


def check_probability(**values: Any) -> None:
    """Check each keyword argument is a rate in ``[0, 1)`` (a dropout):
    ``check_probability(dropout=p)``."""
    for name, value in values.items():
        check_number(name, value, minimum=0, below=1)


def check_bool(name: str, value: Any) -> bool:
    """``value`` if it is a ``bool`` (a flag); ``TypeError`` for anything else, even ``0``/``1``."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {_given(value)}")
    return bool(value)


def check_str(name: str, value: Any) -> str:
    """``value`` if it is a ``str`` (a name, a text); ``TypeError`` for anything else. What it must
    hold is the caller's check."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {_given(value)}")
    return value


def check_choice(name: str, value: Any, choices: tuple[str, ...] | dict[str, Any]) -> str:
    """``value`` if it is one of the names in ``choices`` (a tuple, or a dict's keys).

    ``TypeError`` if it is not a string (``cell=nn.GRU`` instead of ``cell="gru"``), ``ValueError``
    if it is a string that is not one of them.
    """
    if not isinstance(value, str):  # the choices are names: say which, not just "a string"
        raise TypeError(f"{name} must be one of {sorted(choices)} (a string), got {_given(value)}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def check_tokens(
    name: str, tokens: Any, vocab_size: int, *, dims: int = 2, ids: bool = True
) -> torch.Tensor:
    """``tokens`` as an int64 tensor, if it is a non-empty ``dims``-D tensor of integer ids in
    ``[0, vocab_size)``.

    ``TypeError`` for something other than a tensor of integers (a list, a float or bool tensor);
    ``ValueError`` for the wrong number of dims, an empty batch, or an id outside the vocabulary
    (which would otherwise fail deep inside an embedding lookup, or not at all on some devices).
    ``ids=False`` checks the type and shape only, which reads nothing back from the tensor: a
    model's forward does that and looks the ids up only when its embedding refuses one
    (`embed_tokens`).
    """
    if not isinstance(tokens, torch.Tensor):
        raise TypeError(
            f"{name} must be a {dims}-D tensor of token ids, got {type(tokens).__name__}"
        )
    if tokens.dtype.is_floating_point or tokens.dtype.is_complex or tokens.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer token ids (int64), got dtype {tokens.dtype}")
    if tokens.dim() != dims:
        raise ValueError(
            f"{name} must be a {dims}-D tensor of token ids, got shape {tuple(tokens.shape)}"
        )
    if tokens.numel() == 0:
        raise ValueError(
            f"{name} is empty (shape {tuple(tokens.shape)}): a batch needs at least one token"
        )
    if ids and bool(((tokens < 0) | (tokens >= vocab_size)).any()):  # one read of the values
        low, high = int(tokens.min()), int(tokens.max())
        raise ValueError(
            f"{name} holds id {low if low < 0 else high}, outside the vocabulary [0, {vocab_size})"
        )
    return tokens.long()


def embed_tokens(embed: torch.nn.Embedding, tokens: torch.Tensor, name: str) -> torch.Tensor:
    """``embed(tokens)``; an id outside the vocabulary fails naming ``name`` and the id.

    The ids are only looked at when the embedding refuses one, so the lookup costs no read of the
    values. (On a GPU an id out of range stops the device instead: the loaders and `Translator`
    make ids from the vocabulary, so none reaches a model.)
    """
    try:
        return embed(tokens)
    except IndexError:
        check_tokens(name, tokens, embed.num_embeddings)  # raises, naming the id
        raise
