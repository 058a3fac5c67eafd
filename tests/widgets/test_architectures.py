"""rnnlab.widgets.architectures: the logic behind chapter 1's widgets."""

import numpy as np
import pytest

from rnnlab.widgets.architectures import (
    horizon_explorer,
    horizon_summary,
    sentiment_box,
    sentiment_verdict,
)


def test_widget_logic():
    verdict = sentiment_verdict(lambda texts: [0.9] * len(texts), "Great!")
    assert verdict["label"] == "positive" and verdict["positive"] == 0.9
    assert "error" in sentiment_verdict(lambda texts: [0.5], "   ")
    box = sentiment_box(lambda texts: [0.2] * len(texts))
    box.children[0].value = "awful"
    assert "negative" in box.children[1].value
    truth = np.zeros((5, 3))
    errors = horizon_summary(truth, {"a": truth + 1, "b": truth - 2}, 2)
    assert errors == {"a": 1.0, "b": 2.0}
    with pytest.raises(ValueError, match="horizon must be"):
        horizon_summary(truth, {"a": truth}, 4)
    ui = horizon_explorer(np.arange(5), truth, {"a": truth + 1})
    ui.children[0].value = 1
    assert ui.result == {"a": 1.0}
