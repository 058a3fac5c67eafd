import math

import pytest
import torch

from rnnlab.config import budget, expect, pick_device, seed_everything


def test_budget_follows_quick_mode(monkeypatch):
    monkeypatch.setenv("RNNLAB_QUICK", "1")
    assert budget(full=20, quick=2) == 2
    monkeypatch.setenv("RNNLAB_QUICK", "0")
    assert budget(full=20, quick=2) == 20
    monkeypatch.delenv("RNNLAB_QUICK")
    assert budget(full=20, quick=2) == 20


@pytest.mark.parametrize("kwargs, missing", [({"full": 1}, "quick"), ({"quick": 1}, "full"), ({}, "full, quick")])
def test_budget_needs_both_values(kwargs, missing):
    with pytest.raises(TypeError, match=f"missing: {missing}"):
        budget(**kwargs)


def test_bad_quick_flag_is_named(monkeypatch):
    monkeypatch.setenv("RNNLAB_QUICK", "maybe")
    with pytest.raises(ValueError, match="RNNLAB_QUICK"):
        budget(full=1, quick=2)


def test_expect_prints_and_passes(capsys, monkeypatch):
    monkeypatch.setenv("RNNLAB_QUICK", "0")
    assert expect("acc", 0.95, full=0.9, quick=0.1) == 0.95
    assert capsys.readouterr().out.startswith("acc = 0.95 (target ≥ 0.9)")


def test_expect_uses_quick_target(monkeypatch):
    monkeypatch.setenv("RNNLAB_QUICK", "1")
    expect("acc", 0.15, full=0.9, quick=0.1)
    with pytest.raises(AssertionError, match=r"acc = 0.05 \(target ≥ 0.1\)"):
        expect("acc", 0.05, full=0.9, quick=0.1)


def test_expect_lower_is_better(monkeypatch):
    monkeypatch.setenv("RNNLAB_QUICK", "0")
    expect("mae", 10.0, full=12, quick=50, higher_is_better=False)
    with pytest.raises(AssertionError, match="target ≤ 12"):
        expect("mae", 13.0, full=12, quick=50, higher_is_better=False)


@pytest.mark.parametrize("higher", [True, False])
def test_nan_never_passes(higher):
    with pytest.raises(AssertionError, match="nan"):
        expect("loss", math.nan, full=-math.inf if higher else math.inf, quick=-math.inf if higher else math.inf,
               higher_is_better=higher)


def test_expect_accepts_one_element_tensor_and_rejects_others():
    expect("x", torch.tensor(1.0), full=0.5, quick=0.5)
    with pytest.raises(ValueError, match="single number"):
        expect("x", torch.ones(2), full=0.5, quick=0.5)
    with pytest.raises(TypeError, match="must be a number"):
        expect("x", "0.9", full=0.5, quick=0.5)


def test_seed_everything_repeats():
    seed_everything(3)
    a = torch.rand(3)
    seed_everything(3)
    assert torch.equal(a, torch.rand(3))
    with pytest.raises(TypeError, match="seed"):
        seed_everything(1.5)
    with pytest.raises(ValueError, match="seed"):
        seed_everything(-1)


def test_pick_device(monkeypatch):
    monkeypatch.delenv("RNNLAB_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert pick_device().type == expected
    assert pick_device("cpu").type == "cpu"
    monkeypatch.setenv("RNNLAB_DEVICE", "cpu")
    assert pick_device().type == "cpu"
    with pytest.raises(ValueError, match="device 'banana'"):
        pick_device("banana")
    with pytest.raises(ValueError, match="cuda:99"):
        pick_device("cuda:99")
