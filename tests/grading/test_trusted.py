"""rnnlab.grading.trusted: what it accepts as a learner's result, what it refuses, and what
``assert_untouched`` notices (the graded submissions that try these are in
tests/project/test_wrong_solutions.py)."""

from __future__ import annotations

import builtins
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.overrides import TorchFunctionMode

import rnnlab.sequences
from rnnlab.grading import trusted

FAST = settings(max_examples=30, deadline=None)


class SaysEqual(torch.Tensor):
    """A learner's tensor that answers "equal" to every comparison."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in (torch.equal, torch.allclose, torch.Tensor.__eq__, torch.Tensor.eq):
            return True
        if func in (torch.Tensor.item, torch.Tensor.tolist):
            return 0.75
        return super().__torch_function__(func, types, args, kwargs or {})


def test_a_plain_tensor_is_the_same_object_and_its_dtype_is_checked():
    x = torch.ones(2, 3, requires_grad=True) * 2
    assert trusted.tensor(x) is x and trusted.tensor(x, torch.float32) is x
    with pytest.raises(AssertionError, match="torch.int64"):
        trusted.tensor(x, torch.int64)


@pytest.mark.parametrize(
    "x",
    [
        torch.zeros(3).as_subclass(SaysEqual),
        torch.nn.Parameter(torch.zeros(3)),
        [0.0, 0.0],
        None,
        0.0,
    ],
    ids=["torch_function subclass", "Parameter", "list", "None", "float"],
)
def test_anything_but_a_plain_tensor_is_refused(x):
    with pytest.raises(AssertionError, match="plain torch.Tensor"):
        trusted.tensor(x)
    with pytest.raises(AssertionError):
        trusted.equal(x, torch.ones(3))
    with pytest.raises(AssertionError):
        trusted.allclose(torch.ones(3), x)


def test_the_subclass_fools_torch_but_not_trusted():
    liar, truth = torch.zeros(3).as_subclass(SaysEqual), torch.ones(3)
    assert torch.equal(liar, truth) and liar.tolist() == 0.75  # what the tests used to believe
    with pytest.raises(AssertionError, match="SaysEqual"):
        trusted.plain([liar])


def test_a_tensor_whose_own_attributes_hide_its_methods_is_refused():
    x = torch.zeros(2)
    x.tolist = lambda: [1.0, 1.0]
    with pytest.raises(AssertionError, match="tolist"):
        trusted.tensor(x)


@FAST
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=8), st.floats(0, 1))
def test_equal_and_allclose_agree_with_torch(values, shift):
    a = torch.tensor(values)
    b = a + shift
    assert trusted.equal(a, b) == torch.equal(a, b)
    assert trusted.allclose(a, b, atol=1e-3) == torch.allclose(a, b, atol=1e-3)


def test_the_captured_comparisons_stay_right_when_torch_is_patched(monkeypatch):
    monkeypatch.setattr(torch, "equal", lambda *a, **k: True)
    monkeypatch.setattr(torch, "allclose", lambda *a, **k: True)
    assert not trusted.equal(torch.zeros(2), torch.ones(2))
    assert not trusted.allclose(torch.zeros(2), torch.ones(2))
    assert trusted.equal(torch.ones(2), torch.ones(2))


class Float(float):
    def __eq__(self, other):
        return True

    def __sub__(self, other):
        return 0.0


@FAST
@given(st.one_of(st.booleans(), st.integers(), st.floats(allow_nan=False)))
def test_number_keeps_plain_numbers_and_their_type(x):
    assert trusted.number(x) == x and type(trusted.number(x)) is type(x)


@FAST
@given(st.floats(allow_nan=False))
def test_number_reads_a_float_subclass_by_floats_own_methods(x):
    got = trusted.number(Float(x))
    assert type(got) is float and got == x and (got - 1.0 == x - 1.0)


@pytest.mark.parametrize("x", [torch.tensor(0.5), "0.5", None, [0.5]])
def test_number_refuses_what_is_not_a_python_number(x):
    with pytest.raises(AssertionError, match="Python number"):
        trusted.number(x)


PLAIN = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=12,
)


@FAST
@given(PLAIN)
def test_plain_values_come_back_equal_and_of_plain_types(x):
    got = trusted.plain(x)
    assert got == x and type(got) is type(x)


class Lying(list):
    def __eq__(self, other):
        return True

    def __iter__(self):
        return iter([[1, 2], [3]])


def test_plain_rebuilds_a_container_subclass_from_what_it_holds():
    got = trusted.plain(Lying([[7]]))
    assert type(got) is list and got == [[7]] and got != [[1, 2], [3]]
    with pytest.raises(AssertionError, match="object"):
        trusted.plain({"a": object()})


def test_nothing_is_changed_after_a_plain_import():
    trusted.assert_untouched()


@pytest.mark.parametrize(
    "owner, name",
    [
        (torch, "allclose"),
        (torch, "equal"),
        (torch.testing, "assert_close"),
        (torch.nn.functional, "cross_entropy"),
        (builtins, "abs"),
        (builtins, "isinstance"),
        (rnnlab.sequences, "lengths_to_mask"),
        (torch.nn.LSTM, "forward"),
        (trusted, "equal"),
    ],
)
def test_a_patched_attribute_is_named(monkeypatch, owner, name):
    real = getattr(owner, name)  # the patch behaves as the original (pytest itself needs builtins)
    monkeypatch.setattr(owner, name, lambda *a, **k: real(*a, **k))
    with pytest.raises(AssertionError, match=name):
        trusted.assert_untouched()


def test_a_method_added_to_tensor_is_named(monkeypatch):
    monkeypatch.setattr(torch.Tensor, "tolist", lambda self: [], raising=False)
    monkeypatch.setattr(torch.Tensor, "__eq__", lambda self, other: True, raising=False)
    with pytest.raises(AssertionError, match=r"torch.Tensor.tolist \(added\)"):
        trusted.assert_untouched()


def test_a_replaced_module_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.nn.functional", object())
    with pytest.raises(AssertionError, match=r"sys.modules\['torch.nn.functional'\]"):
        trusted.assert_untouched()


class Everything(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        return True


def test_a_torch_mode_left_on_is_named():
    mode = Everything()
    mode.__enter__()
    try:
        with pytest.raises(AssertionError, match="mode"):
            trusted.assert_untouched()
    finally:
        mode.__exit__(None, None, None)
    trusted.assert_untouched()


@pytest.mark.parametrize(
    "learner", ["all = lambda *a: True", "abs = lambda x: 0", "import numpy as torch", "F = None"]
)
def test_the_notebooks_own_names_that_hide_what_the_tests_mean_are_named(learner):
    namespace = {"__name__": "__main__"}
    exec(learner, namespace)
    with pytest.raises(AssertionError, match="the notebook's own"):
        exec("from rnnlab.grading import trusted\ntrusted.assert_untouched()", namespace)
    exec("import torch\nfrom rnnlab.grading import trusted\nx = 1\ntrusted.assert_untouched()", {})


def test_copying_a_tensor_is_no_patch():
    # copyreg caches torch.Tensor.__slotnames__ on the first deepcopy or pickle of a tensor
    import copy
    import pickle

    copy.deepcopy(torch.ones(2))
    pickle.dumps(torch.nn.Linear(2, 2))
    trusted.assert_untouched()
