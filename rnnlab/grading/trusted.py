"""What a hidden test may trust when the learner's code runs in the same Python process.

Otter runs the tests inside the learner's kernel, after the learner's cells: a learner's object can
say anything about itself (a ``torch.Tensor`` subclass whose ``__torch_function__`` makes every
comparison say "equal"), and the learner's code can patch torch, builtins or rnnlab
(``torch.allclose = lambda *a, **k: True``, or the rnnlab function a test compares against). So
the grading driver imports this module in the kernel *before the learner's first cell*, and at
import it

- takes its own references to the functions the tests compare with (torch's C functions, builtins),
- snapshots the attributes of torch, its tensor and module classes, builtins and the rnnlab modules
  the tests use.

The tests then pass every learner result through `tensor`, `number` or `plain` (a plain
``torch.Tensor`` or plain Python values, else AssertionError: the test scores 0), compare with
`equal` and `allclose`, and end with `assert_untouched`, which fails when anything snapshotted was
patched. Imported after learner code (``grader.check`` in a learner's own session) it still works,
but trusts what it finds.

Not covered (the design is in-process, like otter's): a submission that patches otter, doctest or
this module itself, replaces the notebook's own helper objects, or runs code of its own while a test
runs (threads, finalizers, trace hooks). See the README's grading section.
"""

from __future__ import annotations

import builtins
import importlib
import math
import random
import sys
import types
from typing import Any

import torch

# an optimizer's first step imports torch._dynamo, which rewraps torch.manual_seed and others:
# imported before the snapshot, that is no patch
import torch._dynamo  # noqa: F401
import torch.nn.functional
import torch.nn.utils.rnn
import torch.testing

# The rnnlab modules whose functions the tests call or compare against.
RNNLAB_MODULES = (
    "rnnlab.sequences",
    "rnnlab.models.attention",
    "rnnlab.models.decoding",
    "rnnlab.models.encoder_decoder",
    "rnnlab.data.dates",
    "rnnlab.data.reber",
    "rnnlab.data.videos",
    "rnnlab.data.vocab",
    "rnnlab.data.votes",
    "rnnlab.grading.bptt_exercise",
    "rnnlab.grading.checks",
    "rnnlab.grading.ddp_exercise",
)
TORCH_MODULES = (
    "torch",
    "torch.autograd",
    "torch.linalg",
    "torch.nn",
    "torch.nn.functional",
    "torch.nn.utils.rnn",
    "torch.optim",  # its classes' ``step`` is rewrapped by their first instance: not snapshotted
    "torch.testing",
)
# The builtins the tests and this module use (not all: IPython swaps ``input`` at every cell).
BUILTINS = (
    "abs", "all", "any", "bool", "bytes", "dict", "enumerate", "float", "frozenset", "getattr",
    "hasattr", "int", "isinstance", "len", "list", "map", "max", "min", "range", "round", "set",
    "sorted", "str", "sum", "super", "tuple", "type", "vars", "zip",
)  # fmt: skip

# Our own references, taken before any learner code runs.
_type, _isinstance, _vars, _getframe, _sys_modules = (
    type,
    isinstance,
    vars,
    sys._getframe,
    sys.modules,
)
_float, _int, _str = float.__float__, int.__int__, str.__str__
_tuple_len, _tuple_item, _list_len, _list_item = (
    tuple.__len__, tuple.__getitem__, list.__len__, list.__getitem__,
)  # fmt: skip
_dict_items, _set_iter = dict.items, set.__iter__
_Tensor = torch.Tensor
_equal = torch._C._VariableFunctions.equal
_allclose = torch._C._VariableFunctions.allclose
_dispatch_keys, _PYTHON = torch._C._dispatch_keys, torch._C.DispatchKey.Python
_function_modes, _dispatch_modes = (
    torch._C._len_torch_function_stack,
    torch._C._len_torch_dispatch_stack,
)
_MISSING = object()
_SELF = sys.modules[__name__]


def _modules() -> dict[str, types.ModuleType]:
    return {name: importlib.import_module(name) for name in (*TORCH_MODULES, *RNNLAB_MODULES)}


def _classes(modules: dict[str, types.ModuleType]) -> dict[str, type]:
    """torch.Tensor, torch.nn's module classes and the classes rnnlab's modules define."""
    out = {"torch.Tensor": torch.Tensor, "torch.nn.Parameter": torch.nn.Parameter}
    for name, module in modules.items():
        if name == "torch.nn" or name.startswith("rnnlab."):
            for attr, value in _vars(module).items():
                if _isinstance(value, type) and value.__module__.startswith(("torch.nn", name)):
                    out[f"{name}.{attr}"] = value
    return out


def _snapshot() -> dict[str, tuple[Any, dict[str, Any], bool]]:
    """``{label: (owner, its attributes, strict)}``: strict (classes) also counts added names."""
    modules = _modules()
    out = {
        name: (module, {k: v for k, v in _vars(module).items() if not k.startswith("__")}, False)
        for name, module in modules.items()
    }
    out.update({label: (cls, dict(_vars(cls)), True) for label, cls in _classes(modules).items()})
    out["builtins"] = (builtins, {name: getattr(builtins, name) for name in BUILTINS}, False)
    return out


_SNAPSHOT = _snapshot()
_SYS_MODULES = {name: owner for name, (owner, _, _) in _SNAPSHOT.items() if name in sys.modules}


def tensor(x: Any, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``x`` itself if it is a plain ``torch.Tensor`` (of ``dtype`` when given); else
    AssertionError. Refused: subclasses (their ``__torch_function__`` can answer anything), tensors
    with Python dispatch, and tensors whose own attributes hide the class's methods (``t.tolist =
    ...``)."""
    if _type(x) is not _Tensor:
        raise AssertionError(f"expected a plain torch.Tensor, got {_type(x).__name__}")
    if _dispatch_keys(x).has(_PYTHON):
        raise AssertionError("expected a plain torch.Tensor, got one with Python dispatch")
    hiding = [name for name in _vars(x) if hasattr(_Tensor, name)]
    if hiding:
        raise AssertionError(f"a tensor whose own attributes replace Tensor's: {hiding}")
    if dtype is not None and x.dtype != dtype:
        raise AssertionError(f"expected a {dtype} tensor, got {x.dtype}")
    return x


def number(x: Any) -> bool | int | float:
    """``x`` as a plain bool, int or float (an int or float subclass, such as NumPy's float64, is
    converted by the base type's own method); else AssertionError."""
    if _type(x) in (bool, int, float):
        return x
    if _isinstance(x, float):
        return _float(x)
    if _isinstance(x, int):
        return _int(x)
    raise AssertionError(f"expected a Python number, got {_type(x).__name__}")


def plain(x: Any) -> Any:
    """``x`` rebuilt from plain values: None, ``...``, numbers, strings, bytes and plain tensors, in
    tuples, lists, dicts and sets (subclasses rebuilt as the base type, read by its own methods);
    else AssertionError."""
    if x is None or x is Ellipsis or _type(x) is bytes:
        return x
    if _type(x) is _Tensor:
        return tensor(x)
    if _isinstance(x, (bool, int, float)):
        return number(x)
    if _isinstance(x, str):
        return _str(x)
    if _isinstance(x, tuple):
        return tuple(plain(_tuple_item(x, i)) for i in range(_tuple_len(x)))
    if _isinstance(x, list):
        return [plain(_list_item(x, i)) for i in range(_list_len(x))]
    if _isinstance(x, dict):
        return {plain(k): plain(v) for k, v in _dict_items(x)}
    if _isinstance(x, (set, frozenset)):
        kind = _type(x) if _type(x) in (set, frozenset) else set
        return kind(plain(v) for v in _set_iter(x))
    raise AssertionError(f"expected plain Python values or tensors, got {_type(x).__name__}")


def equal(a: Any, b: Any) -> bool:
    """``torch.equal`` as it was before the learner's code ran, on plain tensors only."""
    return _equal(tensor(a), tensor(b))


def allclose(a: Any, b: Any, rtol: float = 1e-05, atol: float = 1e-08) -> bool:
    """``torch.allclose`` as it was before the learner's code ran, on plain tensors only."""
    return _allclose(tensor(a), tensor(b), rtol=rtol, atol=atol)


# names Python itself adds to a class on first use: copyreg caches ``__slotnames__`` when an
# instance is first copied or pickled (``copy.deepcopy(model)`` in honest code): no patch
CACHED_BY_PYTHON = frozenset({"__slotnames__"})


def _patched() -> list[str]:
    problems = []
    for label, (owner, attributes, strict) in _SNAPSHOT.items():
        now = _vars(owner)
        problems += [f"{label}.{k}" for k, v in attributes.items() if now.get(k, _MISSING) is not v]
        if strict:
            problems += [
                f"{label}.{k} (added)"
                for k in now
                if k not in attributes and k not in CACHED_BY_PYTHON
            ]
    problems += [
        f"sys.modules[{k!r}]" for k, v in _SYS_MODULES.items() if _sys_modules.get(k) is not v
    ]
    if _function_modes() or _dispatch_modes():
        problems.append("a torch function or dispatch mode left on")
    return problems


def _hidden_names(namespace: dict[str, Any]) -> list[str]:
    """Names of the notebook (the tests' globals) that hide what the tests mean by them."""
    meant = {name: getattr(builtins, name) for name in BUILTINS}
    meant.update(torch=torch, nn=torch.nn, F=torch.nn.functional, math=math, random=random)
    meant.update(trusted=_SELF)
    return [k for k, v in meant.items() if namespace.get(k, v) is not v]


def assert_untouched() -> None:
    """AssertionError naming what was patched since this module was imported (torch's, builtins' or
    rnnlab's attributes, ``sys.modules``, a torch mode left on), or which of the caller's global
    names (the notebook's) hide a builtin, torch, ``nn``, ``F``, ``math``, ``random`` or this
    module."""
    problems = _patched()
    hidden = _hidden_names(_getframe(1).f_globals)
    if hidden:
        problems.append(f"the notebook's own {', '.join(hidden)} (rename yours)")
    if problems:
        raise AssertionError(f"changed since grading began: {', '.join(problems[:8])}")


_SNAPSHOT[__name__] = (_SELF, {k: v for k, v in _vars(_SELF).items() if k[0] != "_"}, False)
