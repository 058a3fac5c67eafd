"""rnnlab.plots.architectures: chapter 1's figures draw and refuse mismatched input."""

import numpy as np
import pytest
import torch

from rnnlab.data.captions import (
    HEIGHT,
    WIDTH,
)
from rnnlab.plots.architectures import (
    plot_captions,
    plot_error_by_horizon,
    plot_forecast,
    plot_shapes,
)


def test_figures_draw():
    plot_shapes()
    truth = np.random.rand(30, 3)
    plot_forecast(np.arange(30), truth[:, 0], {"model": truth[:, 0] + 1}, horizon=1)
    plot_error_by_horizon({"a": [1.0, 2.0, 3.0]})
    plot_captions(torch.rand(3, 1, HEIGHT, WIDTH), ["one", "two", "x"], ["one", "two", "three"])
    with pytest.raises(ValueError, match="one caption per image"):
        plot_captions(torch.rand(3, 1, HEIGHT, WIDTH), ["one"])
