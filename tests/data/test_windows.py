"""rnnlab.data.windows: sliding windows hold the values that follow, and bad input is named."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnlab.data.windows import sliding_windows


@settings(max_examples=30, deadline=None)
@given(n=st.integers(5, 40), window=st.integers(1, 6), horizon=st.integers(1, 4))
def test_sliding_windows_hold_the_values_that_follow(n, window, horizon):
    series = np.arange(n, dtype=np.float32)
    if n < window + horizon:
        with pytest.raises(ValueError, match="too few"):
            sliding_windows(series, window, horizon)
        return
    x, y = sliding_windows(series, window, horizon)
    _, ys = sliding_windows(series, window, horizon, every_step=True)
    assert len(x) == n - window - horizon + 1
    np.testing.assert_array_equal(y[:, 0], x[:, -1] + 1)  # the value right after the window
    np.testing.assert_array_equal(ys[:, -1], y)  # the last step's targets are the window's targets
    np.testing.assert_array_equal(ys[:, :, 0], x + 1)  # each step's first target is the next value


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: sliding_windows(np.ones((3, 3)), 1, 1), "series must be 1-D"),
        (lambda: sliding_windows(np.ones(10), 0, 1), "window must be a positive int"),
    ],
)
def test_bad_inputs_name_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
