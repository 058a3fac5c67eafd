"""rnnlab.checks: wrong type → TypeError, wrong value → ValueError, both naming the argument and
what came.

Also: the inline copies of the int check cannot come back (a scan of the package's source).
"""

from __future__ import annotations

import ast
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import rnnlab
from rnnlab.checks import (
    check_bool,
    check_choice,
    check_int,
    check_number,
    check_positive,
    check_probability,
    check_str,
    check_tokens,
)

FAST = settings(max_examples=40, deadline=None)
PACKAGE = Path(rnnlab.__file__).resolve().parent
NOT_INTS = st.one_of(
    st.booleans(),
    st.floats(allow_nan=False),
    st.text(max_size=3),
    st.none(),
    st.lists(st.integers(), max_size=2),
    st.just(torch.tensor(3)),
    st.just(np.float64(2.0)),
)


@FAST
@given(value=NOT_INTS, name=st.from_regex(r"[a-z_]{1,12}", fullmatch=True))
def test_anything_but_an_int_is_a_type_error_naming_the_argument(value, name):
    with pytest.raises(
        TypeError, match=rf"^{name} must be an int, got {re.escape(type(value).__name__)} "
    ):
        check_int(name, value)
    with pytest.raises(TypeError, match=rf"^{name} must be an int"):
        check_positive(**{name: value})


@FAST
@given(minimum=st.integers(-100, 100), below=st.integers(1, 1000))
def test_an_int_under_the_minimum_is_a_value_error_showing_it(minimum, below):
    value = minimum - below
    wanted = "a positive int" if minimum == 1 else f"an int ≥ {minimum}"
    with pytest.raises(ValueError, match=rf"^size must be {wanted}, got {value}$"):
        check_int("size", value, minimum=minimum)
    with pytest.raises(ValueError, match=rf"^size must be an int ≤ {-minimum}, got {-value}$"):
        check_int("size", -value, maximum=-minimum)


@FAST
@given(value=st.integers(-1000, 1000), low=st.integers(-50, 50), width=st.integers(0, 50))
def test_check_int_accepts_exactly_the_range(value, low, width):
    high = low + width
    if low <= value <= high:
        assert check_int("x", value, minimum=low, maximum=high) == value
    else:
        with pytest.raises(
            ValueError, match=rf"x must be an int in \[{low}, {high}\], got {value}"
        ):
            check_int("x", value, minimum=low, maximum=high)


def test_numpy_integers_count_and_come_back_as_python_ints():
    got = check_int("n", np.int64(3), minimum=1)
    assert got == 3 and type(got) is int
    got = check_number("lr", np.float32(0.5), above=0)
    assert got == 0.5 and type(got) is float


def test_bool_is_not_a_number_here():
    for check in (
        lambda v: check_int("n", v),
        lambda v: check_number("p", v),
        lambda v: check_positive(n=v),
        lambda v: check_probability(p=v),
    ):
        with pytest.raises(TypeError, match="got bool True"):
            check(True)


def test_optional_lets_none_through_and_says_so_otherwise():
    assert check_int("max_tokens", None, minimum=1, optional=True) is None
    assert check_number("decay", None, above=0, optional=True) is None
    with pytest.raises(TypeError, match="max_tokens must be an int or None, got str '3'"):
        check_int("max_tokens", "3", optional=True)
    with pytest.raises(TypeError, match="max_tokens must be an int, got NoneType None"):
        check_int("max_tokens", None)


@FAST
@given(value=st.floats(allow_nan=True, allow_infinity=True))
def test_check_number_bounds_open_and_closed(value):
    inside = math.isfinite(value) and 0 < value <= 1
    if inside:
        assert check_number("lr_decay", value, above=0, maximum=1) == value
    else:
        with pytest.raises(
            ValueError, match=r"^lr_decay must be a finite number in \(0, 1\], got "
        ):
            check_number("lr_decay", value, above=0, maximum=1)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_check_number_refuses_nan_and_infinity_even_without_bounds(value):
    with pytest.raises(ValueError, match=r"^t must be a finite number, got "):
        check_number("t", value)


def test_check_number_takes_one_bound_per_side():
    with pytest.raises(TypeError, match="at most one lower bound"):
        check_number("x", 0.5, minimum=0, above=0)


def test_probability_is_half_open():
    check_probability(dropout=0, word_dropout=0.99)
    with pytest.raises(
        ValueError, match=r"word_dropout must be a finite number in \[0, 1\), got 1"
    ):
        check_probability(dropout=0.1, word_dropout=1)
    with pytest.raises(TypeError, match="dropout must be a number, got str '0.1'"):
        check_probability(dropout="0.1")


def test_check_bool_refuses_ints():
    assert check_bool("flag", np.bool_(True)) is True
    with pytest.raises(TypeError, match="flag must be True or False, got int 1"):
        check_bool("flag", 1)


def test_check_choice_type_then_value():
    assert check_choice("cell", "gru", {"gru": nn.GRU, "lstm": nn.LSTM}) == "gru"
    with pytest.raises(ValueError, match=r"cell must be one of \['gru', 'lstm'\], got 'rnn'"):
        check_choice("cell", "rnn", ("gru", "lstm"))
    with pytest.raises(
        TypeError, match=r"cell must be one of \['gru', 'lstm'\] \(a string\), got type"
    ):
        check_choice("cell", nn.GRU, ("gru", "lstm"))


def test_check_tokens():
    tokens = torch.tensor([[1, 2], [3, 0]], dtype=torch.int32)
    got = check_tokens("src", tokens, 4)
    assert got.dtype == torch.int64 and torch.equal(got, tokens.long())
    assert check_tokens("tgt", torch.tensor([1, 2]), 3, dims=1).shape == (2,)
    with pytest.raises(TypeError, match="src must be a 2-D tensor of token ids, got list"):
        check_tokens("src", [[1, 2]], 4)
    with pytest.raises(TypeError, match="src must hold integer token ids"):
        check_tokens("src", tokens.float(), 4)
    with pytest.raises(
        ValueError, match=r"src must be a 2-D tensor of token ids, got shape \(2,\)"
    ):
        check_tokens("src", torch.tensor([1, 2]), 4)
    with pytest.raises(ValueError, match="src is empty"):
        check_tokens("src", torch.zeros(2, 0, dtype=torch.long), 4)
    with pytest.raises(ValueError, match=r"src holds id 4, outside the vocabulary \[0, 4\)"):
        check_tokens("src", tokens + 1, 4)


def inline_int_checks(root: Path, skip: Path | None = None) -> list[str]:
    """``file:line`` of every boolean expression under ``root`` that tests both
    ``isinstance(x, bool)`` and ``isinstance(x, int...)``: an int check written out by hand."""

    def classes(node: ast.AST) -> list[str]:
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "isinstance"):
            return []
        second = node.args[1] if len(node.args) == 2 else None
        return [getattr(n, "id", "") for n in getattr(second, "elts", [second])]

    def tests(node: ast.AST, kind: str) -> bool:
        # bool: isinstance(x, bool) alone (excluding bools); int: int among the classes
        return classes(node) == ["bool"] if kind == "bool" else kind in classes(node)

    found = []
    for path in sorted(root.rglob("*.py")):
        if path == skip:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.BoolOp):
                inside = list(ast.walk(node))
                if any(tests(n, "bool") for n in inside) and any(tests(n, "int") for n in inside):
                    found.append(f"{path.relative_to(root)}:{node.lineno}")
    return sorted(set(found))


def test_no_inline_int_check_outside_checks_module():
    """The ``isinstance(x, bool) or not isinstance(x, int)`` checks live only in
    rnnlab/checks.py."""
    found = inline_int_checks(PACKAGE, skip=PACKAGE / "checks.py")
    assert not found, (
        "use rnnlab.checks (check_int, check_number, ...) instead of an inline check: "
        + ", ".join(found)
    )


def test_the_scan_finds_the_checks_module_own_checks_and_a_planted_one(tmp_path):
    # unskipped, the scan must find rnnlab/checks.py's own real int checks (lines 40 and 44 today)
    assert [f for f in inline_int_checks(PACKAGE) if f.startswith("checks.py:")]
    (tmp_path / "fine.py").write_text("def f(flag):\n    return isinstance(flag, bool)\n")
    (tmp_path / "hand.py").write_text(
        "def f(n):\n    x = 1\n    if isinstance(n, bool) or not isinstance(n, (int, float)):\n"
        "        raise TypeError\n"
    )
    assert inline_int_checks(tmp_path) == ["hand.py:3"]


def _models():
    from rnnlab.distributed.parallel import LayerPerDeviceLSTM, PackedLSTMEncoder
    from rnnlab.models.ctc import CTCTagger
    from rnnlab.models.encoder_decoder import Seq2Seq
    from rnnlab.models.forecast import SequenceRegressor
    from rnnlab.models.generator import SequenceGenerator
    from rnnlab.models.seq2vec import SequenceClassifier
    from rnnlab.models.synced import SyncedTagger
    from rnnlab.models.unroll import make_lstm
    from rnnlab.models.video import VideoClassifier

    return {
        "SequenceClassifier": lambda h: SequenceClassifier(10, 2, hidden_size=h),
        "SequenceRegressor": lambda h: SequenceRegressor(1, 1, hidden_size=h),
        "SequenceGenerator": lambda h: SequenceGenerator(10, 4, hidden_size=h),
        "SyncedTagger": lambda h: SyncedTagger(10, 10, hidden_size=h),
        "CTCTagger": lambda h: CTCTagger(10, 10, hidden_size=h),
        "Seq2Seq.build": lambda h: Seq2Seq.build(10, 10, hidden_size=h),
        "VideoClassifier": lambda h: VideoClassifier(3, hidden_size=h),
        "LayerPerDeviceLSTM": lambda h: LayerPerDeviceLSTM(3, h, ["cpu"]),
        "PackedLSTMEncoder": lambda h: PackedLSTMEncoder(3, h),
        "make_lstm": lambda h: make_lstm(3, h),
    }


@pytest.mark.parametrize("model", sorted(_models()))
def test_every_model_says_the_same_about_a_bad_hidden_size(model):
    """One convention: a float hidden_size is a TypeError, a zero one a ValueError, in every
    model."""
    build = _models()[model]
    with pytest.raises(TypeError, match=r"^hidden_size must be an int, got float 8\.0$"):
        build(8.0)
    with pytest.raises(
        ValueError, match=r"^hidden_size must be (a positive int|an int ≥ 2), got 0$"
    ):
        build(0)


def test_check_str():
    assert check_str("name", "dates") == "dates"
    with pytest.raises(TypeError, match="name must be a string, got int 3"):
        check_str("name", 3)
