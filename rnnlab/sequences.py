"""The variable-length toolkit: padding, masks, packing, masked pooling and losses, collation.

Batches of similar lengths (the bucketing sampler) and what padding a batching costs are in
`rnnlab.samplers`.

Conventions used throughout (and by every model in the course):

- ``B`` is the batch size, ``T`` the padded length, ``lengths`` a 1-D int64 tensor of shape ``(B,)``
  holding each sequence's true length (every length ≥ 1 and ≤ ``T``).
- Tensors are batch-first: ``(B, T, ...)``.
- A mask is a ``(B, T)`` bool tensor, True on real positions, False on padding; real positions
  always come first (a "prefix" mask).

Every function checks what it is given and names the offending argument in its error, so a mistake
surfaces here rather than as a shape error deep inside a model.

(Over 400 lines: chapter 5's toolkit (masks, padding, packing, `run_rnn`, masked pooling and
loss) is one vocabulary read together; each function is short.)
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from torch.nn.utils.rnn import (
    PackedSequence,
    pack_padded_sequence,
    pad_packed_sequence,
    pad_sequence,
)

from .checks import check_int

__all__ = [
    "check_lengths",
    "collate_padded",
    "last_real_state",
    "lengths_to_mask",
    "masked_cross_entropy",
    "masked_max",
    "masked_mean",
    "pack",
    "pad_sequences",
    "run_rnn",
    "unpack",
]


def check_lengths(
    lengths: Any,
    *,
    batch_size: int | None = None,
    max_len: int | None = None,
    name: str = "lengths",
) -> torch.Tensor:
    """Validate sequence lengths and return them as a 1-D int64 tensor on their own device.

    Accepts a list of ints or an integer tensor. Raises ``TypeError`` for float or bool lengths and
    ``ValueError`` for a wrong shape, a length < 1, a length > ``max_len`` or a count other than
    ``batch_size``.
    """
    if isinstance(lengths, torch.Tensor):
        if (
            lengths.dtype.is_floating_point
            or lengths.dtype.is_complex
            or lengths.dtype == torch.bool
        ):
            raise TypeError(f"{name} must hold integers, got dtype {lengths.dtype}")
        if lengths.is_meta:
            raise ValueError(
                f"{name} is on the meta device and holds no values; pass real lengths (a CPU "
                "tensor or a list)"
            )
        tensor = lengths.to(torch.int64)
    else:
        if isinstance(lengths, (str, bytes)) or not hasattr(lengths, "__iter__"):
            raise TypeError(
                f"{name} must be a list or 1-D tensor of integers, got {type(lengths).__name__}"
            )
        values = []
        for value in lengths:
            try:
                if isinstance(value, bool):
                    raise TypeError
                values.append(operator.index(value))
            except TypeError:
                raise TypeError(
                    f"{name} must hold integers, got {type(value).__name__} {value!r}"
                ) from None
        tensor = torch.tensor(values, dtype=torch.int64)
    if tensor.dim() != 1:
        raise ValueError(
            f"{name} must be 1-D with one length per sequence, got shape {tuple(tensor.shape)}"
        )
    if tensor.numel() == 0:
        raise ValueError(f"{name} is empty: a batch needs at least one sequence")
    if batch_size is not None and tensor.numel() != batch_size:
        raise ValueError(
            f"{name} has {tensor.numel()} entries but the batch has {batch_size} sequences"
        )
    # one read of the values (not two): the details are looked up only when something is wrong
    wrong = tensor < 1 if max_len is None else (tensor < 1) | (tensor > max_len)
    if bool(wrong.any()):
        smallest, largest = int(tensor.min()), int(tensor.max())
        if smallest < 1:
            raise ValueError(
                f"{name} must all be ≥ 1, got a length of {smallest}; drop empty sequences before "
                "batching"
            )
        raise ValueError(
            f"{name} has a length of {largest}, longer than the padded time dimension {max_len}"
        )
    return tensor


def _check_batch_first(x: Any, name: str, min_dim: int = 2) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a tensor, got {type(x).__name__}")
    if x.dim() < min_dim:
        raise ValueError(
            f"{name} must be batch-first with at least {min_dim} dims (B, T, ...), got shape "
            f"{tuple(x.shape)}"
        )
    return x


def pad_sequences(
    seqs: Sequence[Any], padding_value: float = 0, batch_first: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack sequences of different lengths into one padded tensor.

    ``seqs`` holds tensors of shape ``(L_i, *)`` (or lists of numbers) with the same trailing shape
    and dtype. Returns ``(padded, lengths)``: ``padded`` is ``(B, T, *)`` (``(T, B, *)`` when
    ``batch_first=False``) with ``T = max L_i``, ``lengths`` the int64 CPU tensor of the ``L_i``.
    """
    if isinstance(seqs, torch.Tensor) or not isinstance(seqs, Sequence):
        raise TypeError(f"seqs must be a list of sequences, got {type(seqs).__name__}")
    if len(seqs) == 0:
        raise ValueError("seqs is empty: a batch needs at least one sequence")
    tensors = [s if isinstance(s, torch.Tensor) else torch.as_tensor(s) for s in seqs]
    first = tensors[0]
    for i, t in enumerate(tensors):
        if t.dim() == 0:
            raise ValueError(f"seqs[{i}] is a scalar; each sequence needs a time dimension")
        if t.shape[0] == 0:
            raise ValueError(f"seqs[{i}] has length 0; drop empty sequences before padding")
        if t.shape[1:] != first.shape[1:]:
            raise ValueError(
                f"seqs[{i}] has feature shape {tuple(t.shape[1:])}, but seqs[0] has "
                f"{tuple(first.shape[1:])}"
            )
        if t.dtype != first.dtype:
            raise TypeError(f"seqs[{i}] has dtype {t.dtype}, but seqs[0] has {first.dtype}")
    lengths = torch.tensor([t.shape[0] for t in tensors], dtype=torch.int64)
    return pad_sequence(tensors, batch_first=batch_first, padding_value=padding_value), lengths


def lengths_to_mask(lengths: Any, max_len: int | None = None) -> torch.Tensor:
    """``(B, T)`` bool mask, True where ``t < lengths[b]``; ``T`` is ``max_len`` or the longest
    length."""
    max_len = check_int("max_len", max_len, minimum=1, optional=True)
    lengths = check_lengths(lengths, max_len=max_len)
    return prefix_mask(lengths, int(lengths.max()) if max_len is None else max_len)


def prefix_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """`lengths_to_mask` for lengths already checked (a 1-D integer tensor, each in
    ``[1, max_len]``): no check, no read of the values, so a model's forward can call it freely."""
    # (1, T) < (B, 1) -> (B, T)
    return torch.arange(max_len, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


def _mask_for(x: torch.Tensor, lengths_or_mask: Any, name: str = "lengths_or_mask") -> torch.Tensor:
    batch, steps = x.shape[0], x.shape[1]
    if isinstance(lengths_or_mask, torch.Tensor) and lengths_or_mask.dtype == torch.bool:
        if lengths_or_mask.shape != (batch, steps):
            raise ValueError(
                f"{name} mask has shape {tuple(lengths_or_mask.shape)}, expected (B, T) = "
                f"{(batch, steps)}"
            )
        if not lengths_or_mask.any(dim=1).all():
            raise ValueError(
                f"{name} has a row with no real position; every sequence needs length ≥ 1"
            )
        return lengths_or_mask.to(x.device)
    lengths = check_lengths(lengths_or_mask, batch_size=batch, max_len=steps, name=name)
    return prefix_mask(lengths.to(x.device), steps)


def masked_mean(x: torch.Tensor, lengths_or_mask: Any) -> torch.Tensor:
    """Mean of ``x`` ``(B, T, *)`` over real time steps only: ``(B, *)``.

    Padding never counts, whatever it holds: padded positions are *selected away* (``torch.where``),
    not multiplied by 0, because ``nan * 0`` and ``inf * 0`` are NaN. Gradients reach real steps
    only.
    """
    x = _check_batch_first(x, "x")
    # (B, T) -> (B, T, 1, ...): one trailing 1 per feature dim of x, to broadcast over them
    mask = _mask_for(x, lengths_or_mask).view(x.shape[0], x.shape[1], *([1] * (x.dim() - 2)))
    real = torch.where(mask, x, torch.zeros((), dtype=x.dtype, device=x.device))
    return real.sum(dim=1) / mask.sum(dim=1).to(x.dtype)


def masked_max(x: torch.Tensor, lengths_or_mask: Any) -> torch.Tensor:
    """Max of ``x`` ``(B, T, *)`` over real time steps only: ``(B, *)``. Padding can never win,
    whatever it holds."""
    x = _check_batch_first(x, "x")
    # (B, T) -> (B, T, 1, ...), as in masked_mean
    mask = _mask_for(x, lengths_or_mask).view(x.shape[0], x.shape[1], *([1] * (x.dim() - 2)))
    return x.masked_fill(~mask, torch.finfo(x.dtype).min).amax(dim=1)


def last_real_state(outputs: torch.Tensor, lengths: Any) -> torch.Tensor:
    """The output at each sequence's last real step: ``outputs[b, lengths[b] - 1]``, shape
    ``(B, *)``.

    Use it instead of ``outputs[:, -1]``, which for every shorter sequence is a padding step.
    """
    outputs = _check_batch_first(outputs, "outputs")
    lengths = check_lengths(lengths, batch_size=outputs.shape[0], max_len=outputs.shape[1]).to(
        outputs.device
    )
    # (B,) -> (B, 1, 1, ...) -> (B, 1, *): each row's last real step, once per feature
    index = (
        (lengths - 1).view(-1, 1, *([1] * (outputs.dim() - 2))).expand(-1, 1, *outputs.shape[2:])
    )
    return outputs.gather(1, index).squeeze(1)  # (B, 1, *) -> (B, *)


def masked_cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, lengths_or_mask: Any, reduction: str = "mean"
) -> torch.Tensor:
    """Cross-entropy of ``logits`` ``(B, T, V)`` against ``targets`` ``(B, T)`` over real tokens
    only.

    ``reduction="mean"`` averages over real tokens (not over sequences, not over padded positions);
    ``"sum"`` adds them; ``"none"`` returns ``(B, T)`` with zeros on padding. Padding contributes
    nothing whatever the logits hold there (NaN and inf included: only real positions are ever
    computed), so the result does not change when a batch is padded further, and no gradient reaches
    the padding.
    """
    logits = _check_batch_first(logits, "logits", min_dim=3)
    if not isinstance(targets, torch.Tensor) or targets.dtype != torch.int64:
        raise TypeError(
            "targets must be an int64 tensor of class ids, got "
            f"{getattr(targets, 'dtype', type(targets).__name__)}"
        )
    if targets.shape != logits.shape[:2]:
        raise ValueError(
            f"targets has shape {tuple(targets.shape)}, but logits has (B, T) = "
            f"{tuple(logits.shape[:2])}"
        )
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    mask = _mask_for(logits, lengths_or_mask)
    vocab = logits.shape[-1]
    # the real positions as row numbers of (B*T, V): index_select's backward is a cheap index_add,
    # while boolean indexing's (index_put with accumulation) costs more than the loss on a CPU
    rows = mask.reshape(-1).nonzero().squeeze(1)
    real = targets.reshape(-1).index_select(0, rows)  # (real tokens,)
    real_logits = logits.reshape(-1, vocab).index_select(0, rows)  # (real tokens, V)
    try:  # cross_entropy checks the ids itself (on a CPU): no read of ours on the way
        real_losses = F.cross_entropy(real_logits, real, reduction="none")  # (real tokens,)
    except IndexError as err:
        raise ValueError(
            f"targets holds class ids outside [0, {vocab}) on real positions ({err})"
        ) from None
    if reduction == "none":
        return torch.zeros(
            targets.shape, dtype=real_losses.dtype, device=logits.device
        ).masked_scatter(mask, real_losses)
    total = real_losses.sum()
    return total if reduction == "sum" else total / mask.sum()


def pack(x: torch.Tensor, lengths: Any, batch_first: bool = True) -> PackedSequence:
    """Pack a padded batch for an RNN, in any order of lengths (the original order is restored by
    `unpack`).

    Lengths may live on any device; torch needs them on the CPU, so they are moved there.
    """
    x = _check_batch_first(x, "x")
    batch, steps = (x.shape[0], x.shape[1]) if batch_first else (x.shape[1], x.shape[0])
    lengths = check_lengths(lengths, batch_size=batch, max_len=steps).cpu()
    return pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False)


def unpack(
    packed: PackedSequence,
    batch_first: bool = True,
    total_length: int | None = None,
    padding_value: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse of `pack`: ``(padded, lengths)`` in the batch's original order.

    Pass ``total_length`` to pad to a fixed ``T`` (needed under DataParallel, where each replica
    would otherwise pad only to its own longest sequence).
    """
    if not isinstance(packed, PackedSequence):
        raise TypeError(f"packed must be a PackedSequence, got {type(packed).__name__}")
    return pad_packed_sequence(
        packed, batch_first=batch_first, total_length=total_length, padding_value=padding_value
    )


def run_rnn(
    rnn: nn.RNNBase, x: torch.Tensor, lengths: Any
) -> tuple[torch.Tensor, torch.Tensor | tuple[torch.Tensor, torch.Tensor]]:
    """Run ``rnn`` over the real steps of a padded batch ``x`` ``(B, T, I)``, as `pack` → ``rnn`` →
    `unpack` does: ``(outputs (B, T, D·H), final)``, outputs 0 on padding, ``final`` the state
    after each sequence's last real step (``(layers·D, B, H)``; ``(h, c)`` for an LSTM).

    Why not just pack? On a CPU the packed kernel slices its input step by step and autograd pays
    for every slice: training through a packed GRU costs 1.5–3× what the same GRU costs on a padded
    batch (``python -m rnnlab bench packing`` measures it). So on a CPU a GRU or plain RNN runs
    here on the padded batch instead, one layer and direction at a time with ``rnn``'s own weights:
    a forward direction may read padding *after* the real steps (nothing real depends on it, its
    final state is taken at the last real step), and a backward direction reads each sequence
    reversed within its length, so it starts at the last real token as packing makes it. The
    numbers are the same (tests/test_sequences.py holds it to float rounding, gradients
    included). An LSTM (whose cell state is not among its outputs) and every other device
    (cuDNN's packed kernel is fast) take the packed route. ``rnn`` must be batch-first.
    """
    if not isinstance(rnn, (nn.GRU, nn.RNN, nn.LSTM)):
        raise TypeError(f"rnn must be a torch nn.GRU, nn.RNN or nn.LSTM, got {type(rnn).__name__}")
    if not rnn.batch_first:
        raise ValueError("rnn must be built with batch_first=True (x is (B, T, I))")
    x = _check_batch_first(x, "x", min_dim=3)
    if x.dim() != 3 or x.shape[-1] != rnn.input_size:
        raise ValueError(
            f"x must be (B, T, I) with I = the rnn's input_size {rnn.input_size}, got shape "
            f"{tuple(x.shape)}"
        )
    lengths = check_lengths(lengths, batch_size=x.shape[0], max_len=x.shape[1])
    return run_checked_rnn(rnn, x, lengths)


def run_checked_rnn(
    rnn: nn.RNNBase, x: torch.Tensor, lengths: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor | tuple[torch.Tensor, torch.Tensor]]:
    """`run_rnn` for arguments already checked (a batch-first ``rnn``, ``x`` ``(B, T, I)``, and
    ``lengths`` from `check_lengths`): a model that checked them where they entered calls this."""
    lengths = lengths.to(x.device)
    if isinstance(rnn, nn.LSTM) or x.device.type != "cpu":
        outputs, final = rnn(pack(x, lengths))
        return unpack(outputs, total_length=x.shape[1])[0], final
    steps = torch.arange(x.shape[1], device=x.device)
    real = steps < lengths.unsqueeze(1)  # (B, T)
    # index t of a sequence reversed within its length (padding stays where it is): its own inverse
    reverse = torch.where(real, lengths.unsqueeze(1) - 1 - steps, steps).unsqueeze(-1)  # (B, T, 1)
    rows = torch.arange(x.shape[0], device=x.device)
    # padding is read (after the real steps) but must stay finite: 0 · NaN would poison gradients
    inputs = torch.where(real.unsqueeze(-1), x, torch.zeros((), dtype=x.dtype))
    finals = []
    for layer in range(rnn.num_layers):
        if layer and rnn.dropout and rnn.training:
            inputs = F.dropout(inputs, rnn.dropout)  # between layers, as nn.GRU does
        one_way = _one_layer(
            type(rnn),
            inputs.shape[-1],
            rnn.hidden_size,
            rnn.bias,
            getattr(rnn, "nonlinearity", "tanh"),
        )
        outputs = []
        for suffix in ["", "_reverse"][: 2 if rnn.bidirectional else 1]:
            weights = {
                f"{name}_l0": getattr(rnn, f"{name}_l{layer}{suffix}")
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
                if rnn.bias or name.startswith("weight")
            }
            if suffix:  # read each sequence backwards, then put the outputs back in time order
                flipped = inputs.gather(1, reverse.expand_as(inputs))
                out = functional_call(one_way, weights, (flipped,))[0]
                out = out.gather(1, reverse.expand_as(out))
                finals.append(out[:, 0])  # the backward direction ends at step 0
            else:
                out = functional_call(one_way, weights, (inputs,))[0]  # (B, T, H)
                finals.append(out[rows, lengths - 1])  # (B, H): after the last real step
            outputs.append(out)
        inputs = torch.cat(outputs, dim=-1)  # (B, T, D·H)
    outputs = torch.where(real.unsqueeze(-1), inputs, torch.zeros((), dtype=x.dtype))
    return outputs, torch.stack(finals)  # final (layers·D, B, H)


@functools.cache
def _one_layer(
    kind: type, input_size: int, hidden_size: int, bias: bool, nonlinearity: str
) -> nn.RNNBase:
    """A one-layer, one-way ``kind`` without weights of its own (on the meta device), for `run_rnn`
    to call with borrowed ones."""
    options = {"nonlinearity": nonlinearity} if kind is nn.RNN else {}
    return kind(input_size, hidden_size, bias=bias, batch_first=True, device="meta", **options)


def collate_padded(
    samples: Sequence[Sequence[Any]], padding_value: float = 0
) -> tuple[torch.Tensor, ...]:
    """Collate function for a DataLoader whose samples are tuples of sequences and labels.

    Each field with a time dimension (a tensor of ≥ 1 dims or a list) becomes two entries,
    ``padded, lengths``; each scalar field (a number or a 0-d tensor) is stacked. So samples
    ``(tokens, label)`` give ``(padded, lengths, labels)`` and ``(src, tgt)`` give
    ``(src, src_lengths, tgt, tgt_lengths)``.
    """
    if not isinstance(samples, Sequence) or len(samples) == 0:
        raise ValueError("samples is empty: a batch needs at least one sample")
    width = len(samples[0]) if isinstance(samples[0], (tuple, list)) else None
    if width is None:
        raise TypeError(f"each sample must be a tuple of fields, got {type(samples[0]).__name__}")
    for i, sample in enumerate(samples):
        if not isinstance(sample, (tuple, list)) or len(sample) != width:
            count = len(sample) if isinstance(sample, (tuple, list)) else "no"
            raise ValueError(f"samples[{i}] has {count} fields, but samples[0] has {width}")
    out: list[torch.Tensor] = []
    for field in range(width):
        values = [s[field] for s in samples]
        scalar = [
            not isinstance(v, (list, tuple)) and torch.as_tensor(v).dim() == 0 for v in values
        ]
        if all(scalar):
            out.append(torch.stack([torch.as_tensor(v) for v in values]))
        elif not any(scalar):
            out.extend(pad_sequences(values, padding_value=padding_value))
        else:
            raise ValueError(f"field {field} mixes scalars and sequences across samples")
    return tuple(out)
