"""Checkpoint I/O (rnnlab.checkpoint): random-number states come back exactly, and a write that
fails at any point leaves the previous checkpoint whole and loadable."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch
from torch import nn

import rnnlab.checkpoint as checkpoint
from rnnlab.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state


def _draws(device: str = "cpu") -> tuple:
    return (
        random.random(),
        float(np.random.rand()),
        torch.rand(3).tolist(),
        torch.rand(3, device=device).tolist(),
    )


def _model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Linear(3, 2)


def test_a_restored_random_state_repeats_every_generators_draws():
    state = rng_state()
    first = _draws()
    assert _draws() != first  # the generators moved on
    set_rng_state(state)
    assert _draws() == first


def test_the_random_state_survives_a_checkpoint_file(tmp_path):
    save_checkpoint(tmp_path / "m.pt", _model(0), rng=rng_state())
    first = _draws()
    set_rng_state(load_checkpoint(tmp_path / "m.pt", _model(1))["rng"])
    assert _draws() == first


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_restored_random_state_repeats_the_gpus_draws():
    state = rng_state()
    first = _draws("cuda")
    assert _draws("cuda") != first
    set_rng_state(state)
    assert _draws("cuda") == first


@pytest.mark.parametrize("fails_at", ["write", "flush", "rename"])
def test_a_failed_write_leaves_the_previous_checkpoint_whole(tmp_path, monkeypatch, fails_at):
    path = save_checkpoint(tmp_path / "m.pt", _model(0), epoch=1)
    good = path.read_bytes()

    def half_written(payload, handle):
        handle.write(b"\x80half a checkpoint")
        raise OSError("disk full")

    def broken(*args):
        raise OSError("power cut")

    if fails_at == "write":
        monkeypatch.setattr(checkpoint.torch, "save", half_written)
    elif fails_at == "flush":
        monkeypatch.setattr(checkpoint.os, "fsync", broken)
    else:
        monkeypatch.setattr(checkpoint.os, "replace", broken)
    with pytest.raises(OSError):
        save_checkpoint(path, _model(1), epoch=2)
    monkeypatch.undo()
    assert path.read_bytes() == good
    assert load_checkpoint(path, _model(2))["epoch"] == 1
    assert os.listdir(tmp_path) == ["m.pt"]  # no temporary file left behind


def test_a_completed_write_replaces_the_checkpoint(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", _model(0), epoch=1)
    save_checkpoint(path, _model(1), epoch=2)
    target = _model(2)
    assert load_checkpoint(path, target)["epoch"] == 2
    assert torch.equal(target.weight, _model(1).weight)
