"""rnnlab.distributed.parallel: one layer per device equals one device, missing devices are named,
DataParallel's gather."""

from __future__ import annotations

import pytest
import torch

from rnnlab.distributed.parallel import (
    LayerPerDeviceLSTM,
    PackedLSTMEncoder,
    data_parallel_status,
    make_data_parallel,
    scatter_gather,
)


def test_one_layer_per_device_equals_the_single_device_stack():
    torch.manual_seed(0)
    stack = torch.nn.LSTM(6, 8, num_layers=3, batch_first=True)
    x = torch.randn(5, 7, 6)
    split = LayerPerDeviceLSTM.from_stacked(stack, ["cpu", "cpu", "cpu"])
    assert [str(p.device) for p in split.parameters()][:1] == ["cpu"] and len(split.layers) == 3
    torch.testing.assert_close(split(x), stack(x)[0], rtol=0, atol=1e-6)


def test_devices_that_do_not_exist_are_named():
    with pytest.raises(ValueError, match=r"devices\[1\]"):
        LayerPerDeviceLSTM(4, 4, ["cpu", "cuda:7"])
    with pytest.raises(ValueError, match="devices"):
        LayerPerDeviceLSTM(4, 4, "cpu")
    with pytest.raises(ValueError, match="devices"):
        LayerPerDeviceLSTM(4, 4, [])
    with pytest.raises(ValueError, match="layers"):
        LayerPerDeviceLSTM.from_stacked(
            torch.nn.LSTM(4, 4, num_layers=2, batch_first=True), ["cpu"]
        )
    with pytest.raises(ValueError, match=r"\(B, T, 4\)"):
        LayerPerDeviceLSTM(4, 4, ["cpu"])(torch.zeros(2, 3, 5))


def test_data_parallel_gather_needs_total_length():
    torch.manual_seed(2)
    x, lengths = torch.randn(4, 6, 3), torch.tensor([6, 5, 2, 1])
    fixed = PackedLSTMEncoder(3, 5)
    whole = fixed(x, lengths)
    torch.testing.assert_close(
        scatter_gather(fixed, x, lengths, replicas=2), whole, rtol=0, atol=1e-6
    )
    buggy = PackedLSTMEncoder(3, 5, keep_total_length=False)
    buggy.load_state_dict(fixed.state_dict())
    with pytest.raises(ValueError, match="total_length"):
        scatter_gather(buggy, x, lengths, replicas=2)
    usable, why = data_parallel_status()
    assert usable == (torch.cuda.device_count() >= 2) and "GPU" in why
    if not usable:
        with pytest.raises(ValueError, match="at least 2 GPUs"):
            make_data_parallel(fixed)
