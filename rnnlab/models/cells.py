"""The recurrent layers rnnlab's models are built from: one table of cells and one way to build a
layer.

Every model that lets you choose its RNN takes ``cell="gru"``, ``cell="lstm"`` or ``cell="rnn"``
(the plain tanh RNN, the baseline the gated cells are measured against) and builds it here, batch
first, so the same words mean the same layer in every model.
"""

from __future__ import annotations

from torch import nn

from ..checks import check_choice

__all__ = ["CELLS", "recurrent_layer"]

CELLS = {"gru": nn.GRU, "lstm": nn.LSTM, "rnn": nn.RNN}


def recurrent_layer(
    cell: str,
    input_size: int,
    hidden_size: int,
    *,
    num_layers: int = 1,
    bidirectional: bool = False,
    dropout: float = 0.0,
) -> nn.RNNBase:
    """A batch-first GRU, LSTM or tanh RNN (``cell``) of ``num_layers`` layers.

    ``dropout`` acts between stacked layers only (where ``nn.GRU``/``nn.LSTM`` apply it), so a
    single layer gets none instead of PyTorch's warning.
    """
    check_choice("cell", cell, CELLS)
    return CELLS[cell](
        input_size,
        hidden_size,
        num_layers=num_layers,
        batch_first=True,
        bidirectional=bidirectional,
        dropout=dropout if num_layers > 1 else 0.0,
    )
