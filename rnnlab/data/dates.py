"""Synthetic date translation: dates as people write them → ISO 8601 (``"Mon 22 Apr 19"`` →
``"2019-04-22"``).

A small, exact translation task: the output is always 10 characters, the inputs come in many
formats and lengths, and several formats put the year last, so a model that must answer while it
reads (a synced RNN) cannot know the first output characters yet. Dates run from 1950 to 2049;
two-digit years 50–99 mean 19xx, 00–49 mean 20xx. English month and day names, whatever the locale.
"""

from __future__ import annotations

import datetime as dt
import random

from ..checks import check_choice, check_positive

__all__ = ["DATE_FORMATS", "format_date", "make_dates"]

_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_FIRST, _LAST = dt.date(1950, 1, 1), dt.date(2049, 12, 31)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


# Each format is a str.format template over: d (day), dd (two digits), o (ordinal), m, mm, M (month
# name), Mon (its first three letters), y (four digits), yy (two digits), W (weekday), Wd (three
# letters).
DATE_FORMATS = (
    "{M} {d}, {y}",
    "{d} {M} {y}",
    "{dd}/{mm}/{y}",
    "{dd}.{mm}.{y}",
    "{d}.{m}.{yy}",
    "{dd}-{mm}-{yy}",
    "{Wd} {d} {Mon} {yy}",
    "{Mon} {d} {y}",
    "{d} {Mon} {y}",
    "{d}-{Mon}-{y}",
    "{W}, {M} {d}, {y}",
    "{w} {d} {m_lower} {y}",
    "{M} {o}, {y}",
    "the {o} of {M} {y}",
    "{W} the {o} of {M}, {y}",
    "{MON} {d}, {y}",
    "{y}/{mm}/{dd}",
    "{y}{mm}{dd}",
)


def format_date(date: dt.date, fmt: str) -> str:
    """Write ``date`` in one of the `DATE_FORMATS` templates."""
    if not isinstance(date, dt.date):
        raise TypeError(f"date must be a datetime.date, got {type(date).__name__}")
    check_choice("fmt", fmt, DATE_FORMATS)
    month, weekday = _MONTHS[date.month - 1], _DAYS[date.weekday()]
    return fmt.format(
        d=date.day,
        dd=f"{date.day:02d}",
        o=_ordinal(date.day),
        m=date.month,
        mm=f"{date.month:02d}",
        M=month,
        Mon=month[:3],
        MON=month[:3].upper(),
        m_lower=month.lower(),
        y=date.year,
        yy=f"{date.year % 100:02d}",
        W=weekday,
        Wd=weekday[:3],
        w=weekday.lower(),
    )


def make_dates(n: int, seed: int = 0, *, with_formats: bool = False) -> list[tuple[str, ...]]:
    """``n`` distinct ``(human, iso)`` pairs, e.g. ``("the 22nd of April 2019", "2019-04-22")``.

    Dates are uniform over 1950–2049 and formats uniform over `DATE_FORMATS`; the same ``seed``
    always gives the same list, and no human string repeats (so any split of it has no overlap).
    With ``with_formats=True`` each item is ``(human, iso, format)``, to measure accuracy per
    format.
    """
    check_positive(n=n)
    span = (_LAST - _FIRST).days + 1
    if n > span * len(DATE_FORMATS) // 2:
        raise ValueError(
            f"n = {n} is too many distinct dates; at most {span * len(DATE_FORMATS) // 2}"
        )
    rng = random.Random(seed)
    seen: set[str] = set()
    items = []
    while len(items) < n:
        date = _FIRST + dt.timedelta(days=rng.randrange(span))
        fmt = rng.choice(DATE_FORMATS)
        human = format_date(date, fmt)
        if human not in seen:
            seen.add(human)
            items.append(
                (human, date.isoformat(), fmt) if with_formats else (human, date.isoformat())
            )
    return items
