"""rnnlab.models.cells: one table of recurrent cells and one way to build a layer from it."""

import pytest
import torch
from torch import nn

from rnnlab.models.cells import CELLS, recurrent_layer


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_builds_a_batch_first_layer_of_the_named_cell(cell):
    layer = recurrent_layer(cell, 3, 5, num_layers=2, bidirectional=True, dropout=0.25)
    assert type(layer) is CELLS[cell] and layer.batch_first and layer.bidirectional
    assert (layer.input_size, layer.hidden_size, layer.num_layers, layer.dropout) == (3, 5, 2, 0.25)
    outputs, _ = layer(torch.zeros(4, 6, 3))  # (B, T, I) in, (B, T, 2H) out
    assert outputs.shape == (4, 6, 10)


def test_a_single_layer_gets_no_dropout_between_layers():
    assert recurrent_layer("gru", 3, 5, dropout=0.5).dropout == 0.0


def test_an_unknown_cell_is_named():
    with pytest.raises(ValueError, match="cell must be one of"):
        recurrent_layer("transformer", 3, 5)
    assert set(CELLS) == {"gru", "lstm", "rnn"} and all(
        issubclass(c, nn.RNNBase) for c in CELLS.values()
    )
