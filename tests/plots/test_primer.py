"""rnnlab.plots.primer: chapter 0's figures draw and refuse input of the wrong shape."""

import numpy as np
import pytest

from rnnlab.plots.primer import (
    plot_clipping,
    plot_gates,
    plot_gradient_by_step,
    plot_learning_curves,
)


def test_figures_draw():
    norms = {"rnn": np.logspace(-20, 0, 10), "lstm": np.zeros(10)}  # a zero is drawn, not dropped
    fig = plot_gradient_by_step({"a": norms, "b": {"gru": np.ones(10)}})
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 2
    plot_learning_curves({"rnn": [0.2, 0.17]}, baseline=0.167, baseline_label="guess")
    fig = plot_gates(np.random.rand(12), [2, 8], {"input gate": np.random.rand(12, 5)}, top=2)
    assert len(fig.axes) == 2
    fig = plot_clipping(
        {"raw": [1.0, np.inf, np.nan], "clipped": [1.0, 0.5, 0.4]}, {"raw": [1, 2, 3]}
    )
    assert any("not a number" in line.get_label() for line in fig.axes[0].lines)


def test_wrong_shapes_are_named():
    with pytest.raises(ValueError, match="panels"):
        plot_gradient_by_step({})
    with pytest.raises(ValueError, match=r"panels\['a'\]\['rnn'\]"):
        plot_gradient_by_step({"a": {"rnn": np.ones((2, 2))}})
    with pytest.raises(ValueError, match="marks"):
        plot_gates(np.random.rand(5), [7], {"g": np.random.rand(5, 2)})
    with pytest.raises(ValueError, match="gates"):
        plot_gates(np.random.rand(5), [1], {"g": np.random.rand(4, 2)})
    with pytest.raises(ValueError, match="curves"):
        plot_learning_curves({"rnn": []}, baseline=1.0, baseline_label="x")
