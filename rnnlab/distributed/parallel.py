"""Splitting one RNN over several devices: one layer per device, and DataParallel's pitfalls.

Model parallelism (Géron's classic answer for RNNs) puts layer ``i`` of a stacked LSTM on device
``i`` and passes the activations along. Run in order it keeps one device busy at a time;
`rnnlab.distributed.pipeline` runs the layers on a clock so they overlap (micro-batches, or a
wavefront along time). Without GPUs, CPU "stand-in" devices (``devices=["cpu", "cpu"]``) run the
same code.

DataParallel (one process, the batch scattered over GPUs, outputs gathered) is shown only on ≥ 2
GPUs; `scatter_gather` reproduces its scatter/gather on any device to show the packed-sequence
pitfall.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from ..checks import check_bool, check_positive
from ..config import pick_device
from ..models.settings import RecordsSettings
from ..sequences import check_lengths, pack, unpack


def check_devices(devices: Any) -> list[torch.device]:
    """Each entry of ``devices`` as a `torch.device` that exists here; a clear error names the one
    that does not."""
    if (
        isinstance(devices, (str, torch.device))
        or not isinstance(devices, Sequence)
        or len(devices) == 0
    ):
        raise ValueError(
            "devices must be a non-empty list such as ['cuda:0', 'cuda:1'] or ['cpu', 'cpu'], got "
            f"{devices!r}"
        )
    checked = []
    for i, device in enumerate(devices):
        try:
            checked.append(pick_device(device))
        except ValueError as err:
            raise ValueError(f"devices[{i}]: {err}") from err
    return checked


class LayerPerDeviceLSTM(RecordsSettings, nn.Module):
    """A stacked LSTM whose layer ``i`` lives on ``devices[i]``; activations hop from device to
    device."""

    def __init__(self, input_size: int, hidden_size: int, devices: Sequence[str | torch.device]):
        super().__init__()
        check_positive(input_size=input_size, hidden_size=hidden_size)
        self.devices = check_devices(devices)
        self.layers = nn.ModuleList(
            nn.LSTM(input_size if i == 0 else hidden_size, hidden_size, batch_first=True).to(device)
            for i, device in enumerate(self.devices)
        )

    @classmethod
    def from_stacked(
        cls, lstm: nn.LSTM, devices: Sequence[str | torch.device], **kwargs: Any
    ) -> LayerPerDeviceLSTM:
        """Copy the weights of a one-device ``nn.LSTM(num_layers=len(devices), batch_first=True)``
        layer by layer."""
        if (
            not isinstance(lstm, nn.LSTM)
            or lstm.bidirectional
            or lstm.proj_size
            or not lstm.batch_first
        ):
            raise TypeError(
                "lstm must be a unidirectional nn.LSTM with batch_first=True and no projection"
            )
        if lstm.num_layers != len(devices):
            raise ValueError(
                f"devices has {len(devices)} entries but the LSTM has {lstm.num_layers} layers "
                "(one device per layer)"
            )
        model = cls(lstm.input_size, lstm.hidden_size, devices, **kwargs)
        with torch.no_grad():
            for i, layer in enumerate(model.layers):
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(layer, f"{name}_l0").copy_(getattr(lstm, f"{name}_l{i}"))
        return model

    def stage(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """Run layer ``i`` on its device (the input is copied there first)."""
        return self.layers[i](x.to(self.devices[i]))[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs ``(B, T, H)`` of the last layer, on the last device, for inputs
        ``(B, T, input_size)``."""
        check_input(x, self.layers[0].input_size)
        for i in range(len(self.layers)):
            x = self.stage(i, x)
        return x


def check_input(x: Any, input_size: int) -> None:
    """Raise ValueError unless ``x`` is a non-empty ``(B, T, input_size)`` tensor."""
    if (
        not isinstance(x, torch.Tensor)
        or x.dim() != 3
        or x.shape[-1] != input_size
        or x.shape[0] == 0
    ):
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be a (B, T, {input_size}) tensor with B ≥ 1, got {shape}")


# --- DataParallel ---------------------------------------------------------------------------


def data_parallel_status() -> tuple[bool, str]:
    """``(usable, why)``: DataParallel needs at least 2 GPUs; ``why`` says what this machine has."""
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count < 2:
        return (
            False,
            f"DataParallel needs at least 2 GPUs; this machine has {count}, so the DataParallel "
            "cell is skipped",
        )
    return True, f"{count} GPUs: DataParallel will split each batch {count} ways"


def make_data_parallel(module: nn.Module) -> nn.DataParallel:
    """Wrap ``module`` (moved to cuda:0) in ``nn.DataParallel`` over all GPUs; a clear error on
    fewer than 2."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    usable, why = data_parallel_status()
    if not usable:
        raise ValueError(why)
    return nn.DataParallel(module.to("cuda:0"))


class PackedLSTMEncoder(RecordsSettings, nn.Module):
    """An LSTM over a padded batch with lengths, written to survive DataParallel.

    Two lines matter under DataParallel: ``flatten_parameters()`` (each replica's weights are views
    that are no longer one contiguous block, so cuDNN warns and copies them on every call) and
    ``total_length`` (each replica pads its output only to ITS longest sequence, and gathering
    replicas of different lengths fails). ``keep_total_length=False`` leaves the bug in, for the
    demonstration.
    """

    def __init__(self, input_size: int, hidden_size: int, *, keep_total_length: bool = True):
        super().__init__()
        check_positive(input_size=input_size, hidden_size=hidden_size)
        self.rnn = nn.LSTM(input_size, hidden_size, batch_first=True)
        self.keep_total_length = check_bool("keep_total_length", keep_total_length)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        self.rnn.flatten_parameters()
        lengths = check_lengths(lengths, batch_size=x.shape[0], max_len=x.shape[1])
        outputs, _ = self.rnn(pack(x, lengths))
        return unpack(outputs, total_length=x.shape[1] if self.keep_total_length else None)[0]


def scatter_gather(
    module: Callable[..., torch.Tensor], *inputs: torch.Tensor, replicas: int
) -> torch.Tensor:
    """What DataParallel does to a batch, on one device: split every input along dim 0 into
    ``replicas`` parts, run ``module`` on each part, concatenate the outputs along dim 0."""
    check_positive(replicas=replicas)
    parts = [module(*args) for args in zip(*(t.chunk(replicas) for t in inputs), strict=True)]
    shapes = {tuple(p.shape[1:]) for p in parts}
    if len(shapes) > 1:
        raise ValueError(
            f"replica outputs disagree in shape {sorted(shapes)}: each replica padded to its own "
            "longest sequence; pass total_length=T to pad_packed_sequence (rnnlab.sequences.unpack)"
        )
    return torch.cat(parts)
