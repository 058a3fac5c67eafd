import math

import pytest
import torch

from rnnlab.claims import expect
from rnnlab.config import budget, pick_device, seed_everything


def test_budget_follows_quick_mode(monkeypatch):
    monkeypatch.setenv("RNNLAB_QUICK", "1")
    assert budget(full=20, quick=2) == 2
    monkeypatch.setenv("RNNLAB_QUICK", "0")
    assert budget(full=20, quick=2) == 20
    monkeypatch.delenv("RNNLAB_QUICK")
    assert budget(full=20, quick=2) == 20


@pytest.mark.parametrize(
    "kwargs, missing", [({"full": 1}, "quick"), ({"quick": 1}, "full"), ({}, "full, quick")]
)
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
        expect(
            "loss",
            math.nan,
            full=-math.inf if higher else math.inf,
            quick=-math.inf if higher else math.inf,
            higher_is_better=higher,
        )


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


@pytest.fixture
def empty_ledger(monkeypatch):
    import sys

    # sys.modules: ``rnnlab.claims`` the attribute is the function rnnlab re-exports
    monkeypatch.setattr(sys.modules["rnnlab.claims"], "_LEDGER", {})


def test_ledger_records_met_and_missed_claims_with_both_targets(empty_ledger, monkeypatch):
    from rnnlab import claims

    monkeypatch.setenv("RNNLAB_QUICK", "1")
    expect("acc", 0.5, full=0.9, quick=0.2)
    with pytest.raises(AssertionError):
        expect("mae", 13.0, full=12, quick=10, higher_is_better=False)
    ledger = claims()
    assert [(c.name, c.value, c.target, c.full, c.quick, c.mode, c.met) for c in ledger] == [
        ("acc", 0.5, 0.2, 0.9, 0.2, "quick", True),
        ("mae", 13.0, 10.0, 12.0, 10.0, "quick", False),
    ]
    text = repr(ledger)
    assert "2 claims checked in this kernel, 1 met, 1 missed" in text
    assert "✗ missed" in text.splitlines()[-1] and "≤ 10" in text.splitlines()[-1]
    html = ledger._repr_html_()
    assert html.count("<tr>") == 3 and "≥ 0.9" in html and "≥ 0.2" in html


def test_ledger_full_mode_and_rerun_replaces_in_place(empty_ledger, monkeypatch):
    from rnnlab import claims

    monkeypatch.setenv("RNNLAB_QUICK", "0")
    expect("a", 1.0, full=0.5, quick=0.1)
    expect("b", 1.0, full=0.5, quick=0.1)
    # a cell run again: one row, the latest value, first-seen order
    expect("a", 0.7, full=0.5, quick=0.1)
    assert [(c.name, c.value, c.target, c.mode) for c in claims()] == [
        ("a", 0.7, 0.5, "full"),
        ("b", 1.0, 0.5, "full"),
    ]


def test_ledger_escapes_html(empty_ledger):
    from rnnlab import claims

    expect("<b>x</b>", 1.0, full=0.0, quick=0.0)
    assert "<b>x</b>" not in claims()._repr_html_() and "&lt;b&gt;" in claims()._repr_html_()


def test_a_new_kernel_starts_with_an_empty_ledger(empty_ledger):
    import subprocess
    import sys

    expect("here", 1.0, full=0.0, quick=0.0)
    code = "import rnnlab; print(len(rnnlab.claims()))"
    assert (
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()
        == "0"
    )
