"""rnnlab.baselines: persistence repeats the last value, the linear AR model fits a linear
recurrence, bad input."""

import numpy as np
import pytest

from rnnlab.baselines import LinearAR, persistence_forecast
from rnnlab.data.windows import sliding_windows


def test_baselines():
    windows = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    np.testing.assert_array_equal(persistence_forecast(windows, 2), [[3, 3], [6, 6]])
    series = np.sin(np.arange(300) / 5.0)
    x, y = sliding_windows(series, 20, 3)
    ar = LinearAR(order=10, alpha=1e-6).fit(x, y)
    assert np.abs(ar.predict(x) - y).max() < 1e-2  # a sine wave obeys a linear recurrence


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: persistence_forecast(np.ones(3), 1), "windows must be a non-empty 2-D"),
        (lambda: LinearAR(order=5).fit(np.ones((4, 3)), np.ones((4, 1))), "fewer than order=5"),
    ],
)
def test_bad_inputs_name_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
