"""rnnlab.data.dates: reproducible human-written dates in many formats."""

import datetime as dt

import pytest

from rnnlab.data.dates import DATE_FORMATS, format_date, make_dates


def test_make_dates():
    pairs = make_dates(500, seed=7)
    assert pairs == make_dates(500, seed=7) and pairs != make_dates(500, seed=8)
    assert len({h for h, _ in pairs}) == 500
    for human, iso in pairs:
        assert dt.date.fromisoformat(iso).year in range(1950, 2050) and human
    date = dt.date(2019, 4, 22)
    assert format_date(date, "{Wd} {d} {Mon} {yy}") == "Mon 22 Apr 19"
    assert format_date(date, "{W} the {o} of {M}, {y}") == "Monday the 22nd of April, 2019"
    assert len({format_date(date, f) for f in DATE_FORMATS}) == len(DATE_FORMATS)
    with pytest.raises(ValueError, match="n must"):
        make_dates(0)


def test_make_dates_with_formats():
    triples = make_dates(50, seed=4, with_formats=True)
    assert [t[:2] for t in triples] == make_dates(50, seed=4)
    assert all(format_date(dt.date.fromisoformat(iso), fmt) == human for human, iso, fmt in triples)
