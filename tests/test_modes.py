"""rnnlab.eval_mode: eval mode inside the block, every submodule's own mode back after (also when it
raises)."""

from __future__ import annotations

import pytest
from torch import nn

import rnnlab


class _Frozen(nn.Module):
    def __init__(self):
        super().__init__()
        self.frozen = nn.Dropout(0.5)
        self.trained = nn.Dropout(0.5)


@pytest.mark.parametrize("training", [True, False])
def test_eval_mode_restores_every_submodule_also_on_error(training):
    model = _Frozen().train(training)
    model.frozen.eval()
    before = [m.training for m in model.modules()]
    with rnnlab.eval_mode(model) as inside:
        assert inside is model and not any(m.training for m in model.modules())
    assert [m.training for m in model.modules()] == before
    with pytest.raises(RuntimeError, match="boom"), rnnlab.eval_mode(model):
        raise RuntimeError("boom")
    assert [m.training for m in model.modules()] == before


def test_eval_mode_needs_a_module():
    with (
        pytest.raises(TypeError, match="eval_mode needs an nn.Module, got str"),
        rnnlab.eval_mode("model"),
    ):
        pass
