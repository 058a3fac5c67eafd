"""Monthly mean sunspot numbers, January 1749 – June 2009 (NOAA, public domain; 3,126 months).

The shipped file is fixed-width text with a title, a header and footer notes, and blank lines
between some rows; only rows whose first field is a four-digit year hold data.
"""

from __future__ import annotations

import re

import numpy as np

from .shipped import read_text

_ROW = re.compile(r"^\s*(\d{4})\s+(.*)$")


def parse_monthly(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse ``YEAR v_jan … v_dec`` rows into month stamps ``(N,)`` (year + (month-1)/12) and values ``(N,)``."""
    stamps, values = [], []
    for number, line in enumerate(text.split("\n"), start=1):
        match = _ROW.match(line)
        if not match:
            continue
        year, fields = int(match.group(1)), match.group(2).split()
        if not 1 <= len(fields) <= 12:
            raise ValueError(f"line {number}: year {year} has {len(fields)} monthly values, expected 1 to 12")
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
