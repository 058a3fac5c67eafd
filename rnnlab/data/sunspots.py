"""Monthly mean sunspot numbers, January 1749 – June 2009 (NOAA, public domain; 3,126 months).

The shipped file is fixed-width text with a title, a header and footer notes, and blank lines
between some rows; only rows whose first field is a four-digit year hold data.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np

from ..checks import check_positive
from .shipped import read_text
from .windows import sliding_windows

_ROW = re.compile(r"^\s*(\d{4})\s+(.*)$")


def parse_monthly(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse ``YEAR v_jan … v_dec`` rows into month stamps ``(N,)`` (year + (month-1)/12) and values
    ``(N,)``."""
    stamps, values = [], []
    for number, line in enumerate(text.split("\n"), start=1):
        match = _ROW.match(line)
        if not match:
            continue
        year, fields = int(match.group(1)), match.group(2).split()
        if not 1 <= len(fields) <= 12:
            raise ValueError(
                f"line {number}: year {year} has {len(fields)} monthly values, expected 1 to 12"
            )
        if stamps and len(values) % 12:
            raise ValueError(f"line {number}: year {year} follows a year with fewer than 12 months")
        for month, field in enumerate(fields):
            stamps.append(year + month / 12)
            values.append(float(field))
    if not values:
        raise ValueError("text holds no 'YEAR v_jan … v_dec' rows")
    return np.asarray(stamps), np.asarray(values, dtype=np.float32)


def load_sunspots() -> tuple[np.ndarray, np.ndarray]:
    """Month stamps (e.g. 1749.0, 1749.083…) and monthly mean sunspot numbers, oldest first."""
    return parse_monthly(read_text("timeseries/sunspots_monthly.dat"))


class Windows(NamedTuple):
    """Inputs ``x`` ``(N, window)``, targets ``y`` ``(N, horizon)`` (``(N, window, horizon)`` when
    every step is a target), and the month stamp of each window's first target."""

    x: np.ndarray
    y: np.ndarray
    stamps: np.ndarray


def sunspot_windows(
    window: int = 60,
    horizon: int = 12,
    *,
    test_months: int = 240,
    val_months: int = 240,
    scale: float = 100.0,
    every_step: bool = False,
) -> dict[str, Windows]:
    """Train / val / test windows of the monthly series divided by ``scale``; targets never cross a
    boundary.

    ``test`` windows forecast the last ``test_months`` months, ``val`` the ``val_months`` before
    them, and ``train`` everything earlier. ``every_step=True`` gives the train and val targets of a
    seq2seq forecaster (the next ``horizon`` values after every step); the test targets are always
    ``(N, horizon)``.
    """
    stamps, values = load_sunspots()
    check_positive(test_months=test_months, val_months=val_months)
    x, y = sliding_windows(values / scale, window, horizon)
    _, y_steps = sliding_windows(values / scale, window, horizon, every_step=True)
    first = np.arange(len(x)) + window
    last = first + horizon - 1
    cut = len(values) - test_months
    val_cut = len(values) - test_months - val_months
    parts = {
        "train": last < val_cut,
        "val": (first >= val_cut) & (last < cut),
        "test": first >= cut,
    }
    if not parts["train"].any():
        raise ValueError(
            f"window={window}, horizon={horizon} and the held-out months leave no training windows"
        )
    return {
        name: Windows(
            x[keep], (y_steps if every_step and name != "test" else y)[keep], stamps[first[keep]]
        )
        for name, keep in parts.items()
    }
