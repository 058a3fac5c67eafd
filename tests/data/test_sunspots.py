"""rnnlab.data.sunspots: chapter 1's monthly sunspots and windows that never cross a split."""

import numpy as np
import pytest

from rnnlab.data.sunspots import load_sunspots, parse_monthly, sunspot_windows


def test_sunspots_parse_every_month():
    stamps, values = load_sunspots()
    assert len(values) == 3126 and stamps[0] == 1749 and abs(stamps[-1] - (2009 + 5 / 12)) < 1e-9
    assert values[0] == 58.0 and values[-1] == 2.6 and (values >= 0).all()
    with pytest.raises(ValueError, match="no 'YEAR"):
        parse_monthly("title\nfooter\n")


def test_sunspot_windows_never_cross_the_boundaries():
    parts = sunspot_windows(24, 6, test_months=120, val_months=120, every_step=True)
    last_train = parts["train"].stamps[-1] + 5 / 12
    assert (
        last_train < parts["val"].stamps[0]
        and parts["val"].stamps[-1] + 5 / 12 < parts["test"].stamps[0]
    )
    assert parts["train"].y.shape[1:] == (24, 6) and parts["test"].y.shape[1:] == (6,)
    _, values = load_sunspots()
    np.testing.assert_allclose(parts["test"].y[-1] * 100, values[-6:], rtol=1e-6)
